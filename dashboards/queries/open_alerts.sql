-- Open alerts.
-- The latest version of every alert raised in the range that is still
-- firing (events keep folding into it within its rule's cooldown), most
-- severe first. Alerts are stored once per version; argMax over version
-- picks the newest, which also works where FINAL would be slow.
--
-- Parameters:
--   {from:DateTime} start of the range (UTC), by the time the alert fired
--   {to:DateTime}   end of the range (UTC), exclusive
SELECT
    id,
    argMax(rule, version) AS rule_id,
    argMax(toString(severity), version) AS level,
    argMax(title, version) AS alert_title,
    argMax(replaceRegexpOne(IPv6NumToString(src_ip), '^::ffff:', ''), version) AS address,
    argMax(user, version) AS account,
    argMax(count, version) AS events,
    min(first_ts) AS first_event,
    max(last_ts) AS last_event,
    argMax(summary, version) AS alert_summary
FROM alerts
WHERE ts >= {from:DateTime} AND ts < {to:DateTime}
GROUP BY id
HAVING argMax(state, version) = 'firing'
ORDER BY max(toUInt8(severity)) DESC, last_event DESC, id
LIMIT 1000;
