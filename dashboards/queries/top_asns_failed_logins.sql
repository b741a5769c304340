-- Top autonomous systems by failed logins.
-- Failed logins per origin network (ASN and its organisation), with how many
-- addresses of the network took part. Hosting providers that carry a brute
-- force from many addresses stand out here.
--
-- Parameters:
--   {from:DateTime} start of the range (UTC)
--   {to:DateTime}   end of the range (UTC), exclusive
SELECT
    asn,
    any(as_org) AS network,
    count() AS failures,
    uniqExact(src_ip) AS addresses,
    uniqExact(user) AS users
FROM events
WHERE action = 'login' AND outcome = 'failure' AND asn != 0
  AND toStartOfHour(ts) >= toStartOfHour({from:DateTime})
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
GROUP BY asn
ORDER BY failures DESC, asn
LIMIT 50;
