-- Alerts by rule.
-- How often each rule fired in the range, how many of its alerts are still
-- open, how many events they counted, and when it last fired.
--
-- Parameters:
--   {from:DateTime} start of the range (UTC), by the time the alert fired
--   {to:DateTime}   end of the range (UTC), exclusive
SELECT
    rule_id,
    any(level) AS level,
    count() AS alerts,
    countIf(alert_state = 'firing') AS open,
    sum(events) AS events,
    max(fired) AS last_fired
FROM
(
    SELECT
        id,
        argMax(rule, version) AS rule_id,
        argMax(toString(severity), version) AS level,
        argMax(state, version) AS alert_state,
        argMax(count, version) AS events,
        max(ts) AS fired
    FROM alerts
    WHERE ts >= {from:DateTime} AND ts < {to:DateTime}
    GROUP BY id
)
GROUP BY rule_id
ORDER BY alerts DESC, rule_id;
