-- events: one row per event.Event; column names are the canonical field names.
CREATE TABLE IF NOT EXISTS events
(
    ts                DateTime64(3, 'UTC')                CODEC(Delta(8), ZSTD(1)),
    host              LowCardinality(String)              CODEC(ZSTD(1)),
    kind              Enum8('unknown' = 0, 'auth' = 1, 'web' = 2, 'error' = 3, 'audit' = 4),
    source            LowCardinality(String)              CODEC(ZSTD(1)),
    parser            LowCardinality(String)              CODEC(ZSTD(1)),
    program           LowCardinality(String)              CODEC(ZSTD(1)),
    pid               UInt32                              CODEC(ZSTD(1)),
    action            LowCardinality(String)              CODEC(ZSTD(1)),
    outcome           Enum8('unknown' = 0, 'success' = 1, 'failure' = 2),
    reason            LowCardinality(String)              CODEC(ZSTD(1)),
    auth_method       LowCardinality(String)              CODEC(ZSTD(1)),
    mfa               LowCardinality(String)              CODEC(ZSTD(1)),
    user              String                              CODEC(ZSTD(1)),
    user_role         LowCardinality(String)              CODEC(ZSTD(1)),
    target_user       String                              CODEC(ZSTD(1)),
    session_id        String                              CODEC(ZSTD(1)),
    src_ip            IPv6                                CODEC(ZSTD(1)),
    src_port          UInt16                              CODEC(ZSTD(1)),
    src_host          String                              CODEC(ZSTD(1)),
    src_host_verified Bool,
    src_zone          LowCardinality(String)              CODEC(ZSTD(1)),
    geo_country       LowCardinality(String)              CODEC(ZSTD(1)),
    geo_city          LowCardinality(String)              CODEC(ZSTD(1)),
    geo_lat           Float64                             CODEC(ZSTD(1)),
    geo_lon           Float64                             CODEC(ZSTD(1)),
    geo_accuracy_km   UInt16                              CODEC(ZSTD(1)),
    asn               UInt32                              CODEC(ZSTD(1)),
    as_org            LowCardinality(String)              CODEC(ZSTD(1)),
    http_method       LowCardinality(String)              CODEC(ZSTD(1)),
    http_host         LowCardinality(String)              CODEC(ZSTD(1)),
    http_path         String                              CODEC(ZSTD(1)),
    http_query        String                              CODEC(ZSTD(1)),
    http_status       UInt16                              CODEC(ZSTD(1)),
    http_bytes        UInt64                              CODEC(T64, ZSTD(1)),
    http_referer      String                              CODEC(ZSTD(1)),
    user_agent        String                              CODEC(ZSTD(1)),
    severity          LowCardinality(String)              CODEC(ZSTD(1)),
    message           String                              CODEC(ZSTD(1)),
    attrs             Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    raw               String                              CODEC(ZSTD(1)),
    event_id          FixedString(16)                     CODEC(ZSTD(1)),
    INDEX idx_user     user           TYPE bloom_filter(0.01)      GRANULARITY 4,
    INDEX idx_src_host src_host       TYPE bloom_filter(0.01)      GRANULARITY 4,
    INDEX idx_event_id event_id       TYPE bloom_filter(0.001)     GRANULARITY 4,
    INDEX idx_message  lower(message) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (kind, outcome, toStartOfHour(ts), src_ip, ts)
TTL toDateTime(ts) + INTERVAL {retention_days} DAY DELETE
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;
