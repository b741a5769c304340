-- Successful login after failures from the same address.
-- Addresses that failed at least min_failures logins and then logged in,
-- with the account they got into. This is what a guessed password looks
-- like; check the account.
--
-- Parameters:
--   {min_failures:UInt32} failures needed before the success (5 is the rule catalog's threshold)
--   {from:DateTime}       start of the range (UTC)
--   {to:DateTime}         end of the range (UTC), exclusive
SELECT
    replaceRegexpOne(IPv6NumToString(src_ip), '^::ffff:', '') AS address,
    any(geo_country) AS country,
    any(asn) AS as_number,
    countIf(outcome = 'failure') AS failures,
    uniqExactIf(user, outcome = 'failure') AS users_tried,
    minIf(ts, outcome = 'failure') AS first_failure,
    minIf(ts, outcome = 'success') AS first_success,
    argMinIf(user, ts, outcome = 'success') AS success_user
FROM events
WHERE action = 'login' AND outcome IN ('failure', 'success')
  AND toStartOfHour(ts) >= toStartOfHour({from:DateTime})
  AND ts >= {from:DateTime} AND ts < {to:DateTime}
GROUP BY src_ip
HAVING failures >= {min_failures:UInt32}
   AND countIf(outcome = 'success') > 0
   AND first_failure < first_success
ORDER BY failures DESC, address
LIMIT 1000;
