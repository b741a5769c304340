-- Countries seen per user.
-- For each account with a successful login in the range, the countries its
-- logins came from, most countries first. More than one country is worth a
-- look (travel, VPN, or a stolen password).
--
-- Parameters:
--   {from:DateTime} start of the range (UTC)
--   {to:DateTime}   end of the range (UTC), exclusive
SELECT
    user,
    uniqExact(geo_country) AS countries,
    arraySort(groupUniqArray(geo_country)) AS country_list,
    count() AS logins,
    uniqExact(src_ip) AS addresses,
    max(ts) AS last_login
FROM events
WHERE action = 'login' AND outcome = 'success' AND user != '' AND geo_country != ''
  AND toStartOfHour(ts) >= toStartOfHour({from:DateTime})
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
GROUP BY user
ORDER BY countries DESC, logins DESC, user
LIMIT 1000;
