-- Evidence of one alert.
-- The raw log lines behind an alert (its latest version), oldest first, one
-- row per line; the rules engine keeps at most 20 of 2 KiB each. Take the id
-- from a Slack message, the alerts dashboard or open_alerts.sql.
--
-- Parameters:
--   {id:String} the alert's id
SELECT
    arrayJoin(lines) AS line
FROM
(
    SELECT argMax(evidence, version) AS lines
    FROM alerts
    WHERE id = {id:String}
);
