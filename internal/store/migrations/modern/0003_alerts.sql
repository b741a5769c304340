-- alerts: one row per version of an event.Alert; the newest version of an id wins.
CREATE TABLE IF NOT EXISTS alerts
(
    id          String,
    rule        LowCardinality(String),
    title       String                 CODEC(ZSTD(1)),
    severity    Enum8('info' = 0, 'low' = 1, 'medium' = 2, 'high' = 3, 'critical' = 4),
    tags        Array(LowCardinality(String)),
    state       LowCardinality(String),
    ts          DateTime64(3, 'UTC'),
    first_ts    DateTime64(3, 'UTC'),
    last_ts     DateTime64(3, 'UTC'),
    count       UInt64,
    group       Map(LowCardinality(String), String),
    src_ip      IPv6,
    user        String,
    host        LowCardinality(String),
    geo_country LowCardinality(String),
    summary     String                 CODEC(ZSTD(1)),
    description String                 CODEC(ZSTD(1)),
    evidence    Array(String)          CODEC(ZSTD(1)),
    event_ids   Array(FixedString(16)) CODEC(ZSTD(1)),
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;
