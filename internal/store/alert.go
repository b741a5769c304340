package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-sec/vigil/internal/event"
)

// AlertWriter stores each version of an alert in the alerts table, a
// ReplacingMergeTree keyed by id whose version column is the write time in
// nanoseconds, strictly increasing per writer. Read the current state with
// FINAL or argMax(…, version).
type AlertWriter struct {
	conn     driver.Conn
	cfg      Config
	logger   *slog.Logger
	mu       sync.Mutex
	dialect  Dialect
	lastVers uint64
}

// NewAlertWriter prepares a connection to cfg.DSN; like NewWriter it does
// not dial until the first alert.
func NewAlertWriter(cfg Config, logger *slog.Logger) (*AlertWriter, error) {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "store")
	if cfg.DSN == "" {
		return nil, errors.New("store: no clickhouse dsn")
	}
	conn, _, err := open(cfg, logger)
	if err != nil {
		return nil, err
	}
	return &AlertWriter{conn: conn, cfg: cfg, logger: logger}, nil
}

func alertColumns(d Dialect) []string {
	cols := []string{"id", "rule", "title", "severity", "tags", "state", "ts"}
	if d == Baseline {
		cols = append(cols, "ts_ms")
	}
	cols = append(cols, "first_ts", "last_ts", "count")
	if d == Baseline {
		cols = append(cols, "group.key", "group.value")
	} else {
		cols = append(cols, "group")
	}
	return append(cols, "src_ip", "user", "host", "geo_country", "summary", "description", "evidence", "event_ids", "version")
}

func severityValue(s event.Severity) string {
	if s.Rank() < 0 {
		return string(event.SeverityInfo)
	}
	return string(s)
}

// WriteAlert inserts one version of a. It retries with backoff until the
// insert succeeds or ctx ends; give ctx a deadline.
func (w *AlertWriter) WriteAlert(ctx context.Context, a event.Alert) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	vers := max(uint64(time.Now().UnixNano()), w.lastVers+1)
	w.lastVers = vers
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := w.insert(ctx, &a, vers)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("store alert %s: %w", a.ID, err)
		}
		if attempt == 1 {
			w.logger.Warn("clickhouse alert insert failed, retrying", "rule", a.Rule, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("store alert %s: %w", a.ID, err)
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (w *AlertWriter) insert(ctx context.Context, a *event.Alert, vers uint64) error {
	if w.dialect == "" {
		if _, err := Migrate(ctx, w.conn, "", w.cfg.retentionDays()); err != nil {
			return err
		}
		d, err := dialectOf(ctx, w.conn)
		if err != nil {
			return err
		}
		w.dialect = d
	}
	d := w.dialect
	ts := clampTime(a.Ts)
	row := []any{a.ID, a.Rule, a.Title, severityValue(a.Severity), nonNil(a.Tags), string(a.State)}
	if d == Baseline {
		row = append(row, ts.Truncate(time.Second), uint16(ts.Nanosecond()/int(time.Millisecond)),
			clampTime(a.FirstTs).Truncate(time.Second), clampTime(a.LastTs).Truncate(time.Second), a.Count)
		keys, values := splitAttrs(a.Group)
		row = append(row, keys, values, addr16(a.SrcIP))
	} else {
		g := a.Group
		if g == nil {
			g = map[string]string{}
		}
		ip := "::"
		if a.SrcIP.IsValid() {
			ip = a.SrcIP.String()
		}
		row = append(row, ts, clampTime(a.FirstTs), clampTime(a.LastTs), a.Count, g, ip)
	}
	ids := make([]string, len(a.EventIDs))
	for i, id := range a.EventIDs {
		ids[i] = string(id[:])
	}
	row = append(row, a.User, a.Host, a.GeoCountry, a.Summary, a.Description, nonNil(a.Evidence), ids, vers)
	cols := alertColumns(d)
	b, err := w.conn.PrepareBatch(ctx, insertSQL("alerts", cols))
	if err != nil {
		return fmt.Errorf("prepare alert insert: %w", err)
	}
	defer func() { _ = b.Close() }()
	if err := b.Append(row...); err != nil {
		return fmt.Errorf("append alert: %w", err)
	}
	return b.Send()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clip(s)
}

// Close closes the connection.
func (w *AlertWriter) Close() error { return w.conn.Close() }
