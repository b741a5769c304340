-- Top countries by failed logins.
-- Failed logins (sshd and helpdesk) per source country, with how many
-- addresses and accounts were involved. An empty country is an address
-- geo-IP could not place (internal networks, or no database).
--
-- Parameters:
--   {from:DateTime} start of the range (UTC)
--   {to:DateTime}   end of the range (UTC), exclusive
SELECT
    geo_country,
    count() AS failures,
    uniqExact(src_ip) AS addresses,
    uniqExact(user) AS users
FROM events
WHERE action = 'login' AND outcome = 'failure'
  AND toStartOfHour(ts) >= toStartOfHour({from:DateTime})
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
GROUP BY geo_country
ORDER BY failures DESC, geo_country
LIMIT 50;
