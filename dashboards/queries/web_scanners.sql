-- Web scanners.
-- Addresses that asked for many paths the server did not have (404), or
-- sent a user agent from vigil's default scanner_user_agents list. A high
-- not_found count over many distinct paths is a content scan.
--
-- Parameters:
--   {min_not_found:UInt32} 404 answers needed to list an address
--   {from:DateTime}        start of the range (UTC)
--   {to:DateTime}          end of the range (UTC), exclusive
SELECT
    replaceRegexpOne(IPv6NumToString(src_ip), '^::ffff:', '') AS address,
    any(geo_country) AS country,
    any(asn) AS as_number,
    count() AS requests,
    countIf(http_status = 404) AS not_found,
    uniqExact(http_path) AS paths,
    any(user_agent) AS agent,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM events
WHERE kind = 'web'
  AND toStartOfHour(ts) >= toStartOfHour({from:DateTime})
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
GROUP BY src_ip
HAVING not_found >= {min_not_found:UInt32}
    OR countIf(match(user_agent, '(?i)sqlmap|nikto|gobuster|feroxbuster|fuzz faster u fool|ffuf|nmap|masscan|zgrab|zmap|nuclei|wpscan|whatweb|wfuzz|commix|dirbuster|dirb/|hydra|nessus|openvas|acunetix|netsparker|arachni|skipfish|w3af|burpsuite|owasp zap|jaeles|havij|sqlninja|zmeu|morfeus')) > 0
ORDER BY not_found DESC, address
LIMIT 1000;
