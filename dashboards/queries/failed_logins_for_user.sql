-- Failed logins for one user.
-- Each failed login (sshd and helpdesk) for the account in the range, newest
-- first, with where it came from.
--
-- Parameters:
--   {user:String}   the account name as the log wrote it
--   {from:DateTime} start of the range (UTC)
--   {to:DateTime}   end of the range (UTC), exclusive
SELECT
    ts,
    replaceRegexpOne(IPv6NumToString(src_ip), '^::ffff:', '') AS address,
    src_host,
    geo_country,
    asn,
    program,
    reason,
    auth_method,
    raw
FROM events
WHERE action = 'login' AND outcome = 'failure'
  AND user = {user:String}
  AND toStartOfHour(ts) >= toStartOfHour({from:DateTime})
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
ORDER BY ts DESC
LIMIT 10000;
