-- Everything one address did in a time range.
-- All kinds of events from the address, newest first: logins, web requests,
-- helpdesk actions, errors. IPv4 addresses are compared without the ::ffff:
-- prefix that storage adds.
--
-- Parameters:
--   {ip:String}     the address as vigil shows it: 203.0.113.7 or 2001:db8::7
--   {from:DateTime} start of the range (UTC)
--   {to:DateTime}   end of the range (UTC), exclusive
SELECT
    ts,
    kind,
    action,
    outcome,
    user,
    host,
    http_method,
    http_path,
    http_status,
    geo_country,
    raw
FROM events
WHERE replaceRegexpOne(IPv6NumToString(src_ip), '^::ffff:', '') = {ip:String}
  AND toStartOfHour(ts) >= toStartOfHour({from:DateTime})
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
ORDER BY ts DESC
LIMIT 10000;
