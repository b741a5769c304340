-- Agent replies from external hostnames.
-- Helpdesk replies sent from an address outside the internal networks,
-- grouped by agent and address, with the verified reverse-DNS name when
-- there is one. A compromised agent account answering tickets from outside
-- shows up here.
--
-- Parameters:
--   {from:DateTime} start of the range (UTC)
--   {to:DateTime}   end of the range (UTC), exclusive
SELECT
    user,
    replaceRegexpOne(IPv6NumToString(src_ip), '^::ffff:', '') AS address,
    any(src_host) AS hostname,
    max(src_host_verified) AS verified,
    any(geo_country) AS country,
    count() AS replies,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM events
WHERE kind = 'audit' AND action = 'reply' AND src_zone = 'external'
  AND toStartOfHour(ts) >= toStartOfHour({from:DateTime})
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
GROUP BY user, address
ORDER BY replies DESC, user
LIMIT 1000;
