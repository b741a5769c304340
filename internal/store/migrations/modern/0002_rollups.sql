-- Failed logins per minute by source address and by user, fed by materialized views.
CREATE TABLE IF NOT EXISTS failed_logins_by_ip_1m
(
    minute      DateTime('UTC'),
    src_ip      IPv6,
    geo_country LowCardinality(String),
    failures    SimpleAggregateFunction(sum, UInt64),
    users       AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, src_ip, geo_country)
TTL minute + INTERVAL {retention_days} DAY DELETE
;

CREATE MATERIALIZED VIEW IF NOT EXISTS failed_logins_by_ip_1m_mv TO failed_logins_by_ip_1m AS
SELECT toStartOfMinute(toDateTime(ts)) AS minute, src_ip, geo_country,
       count() AS failures, uniqState(user) AS users
FROM events
WHERE action = 'login' AND outcome = 'failure'
GROUP BY minute, src_ip, geo_country;

CREATE TABLE IF NOT EXISTS failed_logins_by_user_1m
(
    minute    DateTime('UTC'),
    user      String,
    failures  SimpleAggregateFunction(sum, UInt64),
    src_ips   AggregateFunction(uniq, IPv6),
    countries AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (user, minute)
TTL minute + INTERVAL {retention_days} DAY DELETE
;

CREATE MATERIALIZED VIEW IF NOT EXISTS failed_logins_by_user_1m_mv TO failed_logins_by_user_1m AS
SELECT toStartOfMinute(toDateTime(ts)) AS minute, user,
       count() AS failures, uniqState(src_ip) AS src_ips,
       uniqState(CAST(geo_country AS String)) AS countries
FROM events
WHERE action = 'login' AND outcome = 'failure'
GROUP BY minute, user;
