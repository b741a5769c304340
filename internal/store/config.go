package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config says where events go and how they are batched, spooled and kept.
// The config package composes it under the clickhouse and store keys.
type Config struct {
	// DSN of the ClickHouse server, native protocol:
	// clickhouse://user@host:9000/database. Empty means no ClickHouse: events
	// go to the local archive.
	DSN string `yaml:"dsn"`
	// Password overrides the DSN's password when set (read from a secret
	// file by the caller).
	Password string `yaml:"-"`
	// Database overrides the DSN's database when set.
	Database string `yaml:"database"`
	// BatchRows and BatchInterval bound a batch: it is sent when it holds
	// BatchRows rows or its first row waited BatchInterval.
	BatchRows     int           `yaml:"batch_rows"`
	BatchInterval time.Duration `yaml:"batch_interval"`
	// SpoolDir holds the write-ahead spool; SpoolMaxBytes caps it (the
	// oldest segment is dropped, and counted, beyond it).
	SpoolDir      string `yaml:"spool_dir"`
	SpoolMaxBytes int64  `yaml:"spool_max_bytes"`
	// Retention is how long events are kept; older daily partitions are
	// dropped. Zero keeps everything.
	Retention time.Duration `yaml:"retention"`
	// ArchiveDir and ArchiveMaxBytes configure the NDJSON archive used when
	// DSN is empty.
	ArchiveDir      string `yaml:"archive_dir"`
	ArchiveMaxBytes int64  `yaml:"archive_max_bytes"`
	// ObserveInsert, when set, is called after every INSERT attempt with
	// its duration, its row count and its error: the daemon's insert
	// latency histogram.
	ObserveInsert func(d time.Duration, rows int, err error) `yaml:"-"`
}

// Defaults.
const (
	DefaultBatchRows       = 10000
	DefaultBatchInterval   = time.Second
	DefaultSpoolMaxBytes   = 1 << 30 // 1 GiB
	DefaultRetention       = 90 * 24 * time.Hour
	DefaultArchiveMaxBytes = 1 << 30 // 1 GiB
)

// DefaultConfig returns the defaults. The directories are empty: the
// config package places them under the state directory.
func DefaultConfig() Config {
	return Config{
		BatchRows:       DefaultBatchRows,
		BatchInterval:   DefaultBatchInterval,
		SpoolMaxBytes:   DefaultSpoolMaxBytes,
		Retention:       DefaultRetention,
		ArchiveMaxBytes: DefaultArchiveMaxBytes,
	}
}

// withDefaults fills zero fields with the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BatchRows <= 0 {
		c.BatchRows = d.BatchRows
	}
	if c.BatchInterval <= 0 {
		c.BatchInterval = d.BatchInterval
	}
	if c.SpoolMaxBytes <= 0 {
		c.SpoolMaxBytes = d.SpoolMaxBytes
	}
	if c.ArchiveMaxBytes <= 0 {
		c.ArchiveMaxBytes = d.ArchiveMaxBytes
	}
	return c
}

// Validate checks what needs no I/O. Each problem names its key.
func (c Config) Validate() error {
	var errs []error
	if c.DSN != "" {
		if _, err := parseDSN(c.DSN); err != nil {
			errs = append(errs, fmt.Errorf("dsn: %w", err))
		}
		if c.SpoolDir == "" {
			errs = append(errs, errors.New("spool_dir: required with a dsn"))
		}
	}
	if c.BatchRows < 0 || c.BatchRows > 1_000_000 {
		errs = append(errs, fmt.Errorf("batch_rows: must be between 1 and 1000000, got %d", c.BatchRows))
	}
	if c.BatchInterval < 0 || c.BatchInterval > time.Minute {
		errs = append(errs, fmt.Errorf("batch_interval: must be between 0 and 1m, got %s", c.BatchInterval))
	}
	if c.SpoolMaxBytes < 0 || (c.SpoolMaxBytes > 0 && c.SpoolMaxBytes < 1<<20) {
		errs = append(errs, fmt.Errorf("spool_max_bytes: must be at least 1 MiB, got %d", c.SpoolMaxBytes))
	}
	if c.ArchiveMaxBytes < 0 || (c.ArchiveMaxBytes > 0 && c.ArchiveMaxBytes < 1<<20) {
		errs = append(errs, fmt.Errorf("archive_max_bytes: must be at least 1 MiB, got %d", c.ArchiveMaxBytes))
	}
	if c.Retention < 0 || (c.Retention > 0 && c.Retention < 24*time.Hour) {
		errs = append(errs, fmt.Errorf("retention: must be 0 (keep all) or at least 24h, got %s", c.Retention))
	}
	if c.Database != "" && strings.ContainsAny(c.Database, "`'\" ;.") {
		errs = append(errs, fmt.Errorf("database: invalid name %q", c.Database))
	}
	return errors.Join(errs...)
}

// retentionDays is the retention in whole days, at least 1; 0 when
// retention is off.
func (c Config) retentionDays() int {
	if c.Retention <= 0 {
		return 0
	}
	d := int(c.Retention / (24 * time.Hour))
	return max(d, 1)
}
