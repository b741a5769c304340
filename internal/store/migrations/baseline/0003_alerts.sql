-- alerts: one row per version of an event.Alert; the newest version of an id wins.
CREATE TABLE IF NOT EXISTS alerts
(
    id          String,
    rule        String,
    title       String,
    severity    Enum8('info' = 0, 'low' = 1, 'medium' = 2, 'high' = 3, 'critical' = 4),
    tags        Array(String),
    state       String,
    ts          DateTime('UTC'),
    ts_ms       UInt16,
    first_ts    DateTime('UTC'),
    last_ts     DateTime('UTC'),
    count       UInt64,
    group       Nested(key String, value String),
    src_ip      FixedString(16),
    user        String,
    host        String,
    geo_country String,
    summary     String,
    description String,
    evidence    Array(String),
    event_ids   Array(FixedString(16)),
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;
