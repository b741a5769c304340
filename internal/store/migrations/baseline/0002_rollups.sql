-- Failed logins per minute by source address and by user, fed by materialized views.
CREATE TABLE IF NOT EXISTS failed_logins_by_ip_1m
(
    minute      DateTime('UTC'),
    src_ip      FixedString(16),
    geo_country String,
    failures    AggregateFunction(count),
    users       AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, src_ip, geo_country);

CREATE MATERIALIZED VIEW IF NOT EXISTS failed_logins_by_ip_1m_mv TO failed_logins_by_ip_1m AS
SELECT toStartOfMinute(ts) AS minute, src_ip, geo_country,
       countState() AS failures, uniqState(user) AS users
FROM events
WHERE action = 'login' AND outcome = 'failure'
GROUP BY minute, src_ip, geo_country;

CREATE TABLE IF NOT EXISTS failed_logins_by_user_1m
(
    minute    DateTime('UTC'),
    user      String,
    failures  AggregateFunction(count),
    src_ips   AggregateFunction(uniq, FixedString(16)),
    countries AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (user, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS failed_logins_by_user_1m_mv TO failed_logins_by_user_1m AS
SELECT toStartOfMinute(ts) AS minute, user,
       countState() AS failures, uniqState(src_ip) AS src_ips, uniqState(geo_country) AS countries
FROM events
WHERE action = 'login' AND outcome = 'failure'
GROUP BY minute, user;
