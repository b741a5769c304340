package store

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.DSN, good.SpoolDir = "clickhouse://vigil:s3cret@127.0.0.1:9000/vigil", "/var/lib/vigil/spool"
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults without a dsn: %v", err)
	}
	for name, c := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"http":        {func(c *Config) { c.DSN = "http://127.0.0.1:8123/vigil" }, "dsn: scheme http"},
		"scheme":      {func(c *Config) { c.DSN = "mysql://x/y" }, "dsn: scheme"},
		"no host":     {func(c *Config) { c.DSN = "clickhouse:///vigil" }, "dsn: no host"},
		"lc setting":  {func(c *Config) { c.DSN += "?allow_experimental_low_cardinality_type=1" }, "allow_experimental_low_cardinality_type"},
		"no spool":    {func(c *Config) { c.SpoolDir = "" }, "spool_dir: required"},
		"batch":       {func(c *Config) { c.BatchRows = 2_000_000 }, "batch_rows"},
		"interval":    {func(c *Config) { c.BatchInterval = time.Hour }, "batch_interval"},
		"spool cap":   {func(c *Config) { c.SpoolMaxBytes = 1000 }, "spool_max_bytes"},
		"retention":   {func(c *Config) { c.Retention = time.Hour }, "retention"},
		"database":    {func(c *Config) { c.Database = "x; DROP" }, "database"},
		"bad url":     {func(c *Config) { c.DSN = "clickhouse://vigil:s3cret@127.0.0.1:port/x" }, "dsn"},
		"archive cap": {func(c *Config) { c.ArchiveMaxBytes = 5 }, "archive_max_bytes"},
	} {
		cfg := good
		c.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
}

func TestRetentionDays(t *testing.T) {
	for in, want := range map[time.Duration]int{0: 0, DefaultRetention: 90, 36 * time.Hour: 1, 24 * time.Hour: 1} {
		if got := (Config{Retention: in}).retentionDays(); got != want {
			t.Errorf("retentionDays(%s) = %d, want %d", in, got, want)
		}
	}
}
