-- Sensitive paths answered 2xx.
-- Web requests for data directories, dot files, backups and admin pages that
-- the server answered with a success: files that should never be served and
-- were. The pattern matches what vigil's default sensitive_paths list
-- matches (ingest/enrich.DefaultLists; a test holds them together).
--
-- Parameters:
--   {from:DateTime} start of the range (UTC)
--   {to:DateTime}   end of the range (UTC), exclusive
SELECT
    ts,
    replaceRegexpOne(IPv6NumToString(src_ip), '^::ffff:', '') AS address,
    geo_country,
    http_host,
    http_method,
    http_path,
    http_status,
    http_bytes,
    user_agent
FROM events
WHERE kind = 'web' AND http_status >= 200 AND http_status < 300
  AND match(http_path, '(?i)^/data(/|$)|/\\.git(/|$)|/\\.(svn|hg|bzr)/|/\\.env(\\.|$)|/\\.(htpasswd|htaccess|ds_store|bash_history)$|/\\.(aws|ssh)/|/id_(rsa|ed25519)$|\\.(sql|sql\\.gz|sql\\.zip|sql\\.bz2|sql\\.xz|sqlite|db|bak|old|orig|save|swp)$|~$|/backup\\.(zip|tar\\.gz|tgz|rar|7z)$|/(config|wp-config|configuration|settings)\\.php\\.|/(composer\\.json|composer\\.lock|package\\.json|docker-compose\\.yml|debug\\.log|error\\.log|error_log|phpinfo\\.php)$|^/server-status(/|$)|^/server-info$')
  AND toStartOfHour(ts) >= toStartOfHour({from:DateTime})
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
ORDER BY ts DESC
LIMIT 10000;
