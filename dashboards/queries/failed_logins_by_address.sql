-- Failed logins by address.
-- Source addresses with the most failed logins (sshd and helpdesk) in the
-- range, how many accounts each tried, and where it is.
--
-- Parameters:
--   {from:DateTime} start of the range (UTC)
--   {to:DateTime}   end of the range (UTC), exclusive
SELECT
    replaceRegexpOne(IPv6NumToString(src_ip), '^::ffff:', '') AS address,
    any(geo_country) AS country,
    any(asn) AS as_number,
    any(as_org) AS network,
    count() AS failures,
    uniqExact(user) AS users,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM events
WHERE action = 'login' AND outcome = 'failure'
  AND toStartOfHour(ts) >= toStartOfHour({from:DateTime})
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
GROUP BY src_ip
ORDER BY failures DESC, address
LIMIT 1000;
