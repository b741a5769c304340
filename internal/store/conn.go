package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// parseDSN turns a clickhouse:// DSN into driver options for the native
// protocol with LZ4. HTTP DSNs are refused: the driver's HTTP transport
// sends a setting that servers older than 23.2 reject on every call.
func parseDSN(dsn string) (*clickhouse.Options, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Error prints the DSN, password included; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("parse: %w", err)
	}
	switch u.Scheme {
	case "clickhouse", "tcp":
	case "http", "https":
		return nil, fmt.Errorf("scheme %s: only the native protocol (clickhouse://host:9000) is supported", u.Scheme)
	default:
		return nil, fmt.Errorf("scheme %q: want clickhouse://host:port/database", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host")
	}
	for k := range u.Query() {
		if strings.Contains(strings.ToLower(k), "low_cardinality") {
			return nil, fmt.Errorf("parameter %s: do not set it; servers that no longer know it fail every query", k)
		}
	}
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), dsn, "<dsn>"))
	}
	if opts.Protocol != clickhouse.Native {
		return nil, errors.New("only the native protocol is supported")
	}
	return opts, nil
}

// open returns a native connection for cfg. It does not dial: the first
// query does.
func open(cfg Config, logger *slog.Logger) (driver.Conn, string, error) {
	opts, err := parseDSN(cfg.DSN)
	if err != nil {
		return nil, "", fmt.Errorf("clickhouse dsn: %w", err)
	}
	if cfg.Password != "" {
		opts.Auth.Password = cfg.Password
	}
	if cfg.Database != "" {
		opts.Auth.Database = cfg.Database
	}
	if opts.Auth.Database == "" {
		opts.Auth.Database = "default"
	}
	opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	if opts.DialTimeout == 0 || opts.DialTimeout == 30*time.Second {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 2 * time.Minute
	}
	opts.MaxOpenConns = 4
	opts.MaxIdleConns = 2
	opts.ConnMaxLifetime = time.Hour
	// The driver warns on every connection to a server older than the
	// versions it is tested with; keep only its errors.
	opts.Logger = slog.New(levelFilter{logger.Handler(), slog.LevelError}).With("component", "clickhouse-go")
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, "", fmt.Errorf("clickhouse open: %w", err)
	}
	return conn, opts.Auth.Database, nil
}

// levelFilter drops records below min.
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (h levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFilter{h.Handler.WithAttrs(as), h.min}
}

func (h levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{h.Handler.WithGroup(name), h.min}
}

// serverVersion returns the server's major and minor version.
func serverVersion(ctx context.Context, conn driver.Conn) (string, error) {
	var v string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return "", fmt.Errorf("select version(): %w", err)
	}
	return v, nil
}

// DialectFor returns the dialect for a server version string such as
// "18.16.1" or "24.8.4.13": modern from 23.8 on, baseline before.
func DialectFor(version string) Dialect {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return Baseline
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return Baseline
	}
	if major > 23 || (major == 23 && minor >= 8) {
		return Modern
	}
	return Baseline
}
