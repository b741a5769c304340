package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/vigil-sec/vigil/internal/event"
)

// scanChunkRows is about how many rows one query of ScanEvents reads.
// Events are not stored in time order (the sort key starts with kind and
// outcome), so for ORDER BY ts the server sorts every row a query selects
// before it sends the first, and the driver allows the whole answer one
// read timeout (2 minutes unless the DSN sets read_timeout), however slowly
// fn takes it. ScanEvents therefore reads in slices of time, cut at whole
// minutes, of about this many rows: bigger slices read faster (fewer
// queries over the same granules), smaller ones bound the server's sort.
const scanChunkRows = 100_000

// EventFilter selects the events ScanEvents reads. An empty slice allows any value.
//
// It applies to events as ScanEvents returns them: Since <= Ts < Until
// holds for the stored, millisecond time, and an event written with a kind
// or outcome the table cannot hold comes back, and is matched, as
// "unknown". A kind other than auth, web, error, audit and unknown, or an
// outcome other than success, failure and unknown, matches nothing. The zero
// Since is no lower bound.
type EventFilter struct {
	Since, Until time.Time // Until zero = no upper bound
	Kinds        []event.Kind
	Actions      []string
	Outcomes     []event.Outcome
	Limit        int // at most this many rows; 0 = no limit
}

// ScanEvents streams the stored events that f selects, oldest first, to fn,
// one at a time (the *event.Event is reused between calls; fn must copy what it keeps).
// It stops at fn's first error and returns it.
//
// Events of the same millisecond come in event_id order; an event stored
// twice (the batch in flight at a crash, see Writer) comes twice. Each comes
// back as the events table holds it (see newEventColumns): the time in UTC,
// to the millisecond, clamped to 1970-01-01..2106-02-07 (the zero time
// comes back as 1970-01-01); an IPv4-mapped IPv6 address as the IPv4
// address, :: as no address, an IPv6 zone dropped; empty Attrs as nil; and
// kinds and outcomes the table cannot hold as "unknown".
//
// fn runs on the calling goroutine and must keep up: the rows of one query,
// about 100,000, must all be taken within the connection's read timeout.
// Queries cover consecutive slices of time, so events written meanwhile are
// seen if they fall in a slice not read yet. A database without the events
// table holds no events. ScanEvents does not need Run and may be called
// from any goroutine, also while Run and Write are busy.
func (w *Writer) ScanEvents(ctx context.Context, f EventFilter, fn func(*event.Event) error) error {
	return w.scanEvents(ctx, f, scanChunkRows, fn)
}

// scanEvents is ScanEvents with queries of about chunkRows rows.
func (w *Writer) scanEvents(ctx context.Context, f EventFilter, chunkRows int, fn func(*event.Event) error) error {
	if f.Limit < 0 {
		return fmt.Errorf("scan events: negative limit %d", f.Limit)
	}
	// Asked first, so that a fresh database is not an error the driver
	// logs.
	var tables uint64
	if err := w.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('events', 'schema_migrations')").Scan(&tables); err != nil {
		return fmt.Errorf("scan events: %w", err)
	}
	if tables < 2 {
		return nil
	}
	d, err := dialectOf(ctx, w.conn)
	if err != nil {
		return fmt.Errorf("scan events: %w", err)
	}
	q, ok := newScanQuery(d, f)
	if !ok {
		return nil // f selects nothing the table can hold
	}
	cuts, err := w.scanCuts(ctx, q, chunkRows)
	if err != nil {
		var ex *clickhouse.Exception
		if errors.As(err, &ex) && ex.Code == codeUnknownTable {
			return nil // nothing was written yet
		}
		return fmt.Errorf("scan events: %w", err)
	}

	cols := newEventColumns(d)
	names := make([]string, len(cols))
	dests := make([]any, len(cols))
	for i, c := range cols {
		names[i] = "`" + c.name() + "`"
		dests[i] = c.dest()
	}
	sel := "SELECT " + strings.Join(names, ", ") + " FROM events"
	order := " ORDER BY ts, event_id"
	if d == Baseline {
		order = " ORDER BY ts, ts_ms, event_id"
	}
	var e event.Event
	left := f.Limit
	lo := q.lo
	for i := 0; i <= len(cuts); i++ {
		hi := q.hi
		if i < len(cuts) {
			hi = cuts[i]
		}
		where, args := q.where(lo, hi)
		query := sel + where + order
		if f.Limit > 0 {
			query += fmt.Sprintf(" LIMIT %d", left)
		}
		n, err := w.readSlice(ctx, query, args, cols, dests, &e, fn)
		if err != nil {
			return err
		}
		if f.Limit > 0 {
			if left -= n; left == 0 {
				return nil
			}
		}
		lo = hi
	}
	return nil
}

// codeUnknownTable is ClickHouse's UNKNOWN_TABLE error.
const codeUnknownTable = 60

// readSlice runs one query of a scan and hands its rows to fn. It returns
// the number of rows read, and fn's error as is.
func (w *Writer) readSlice(ctx context.Context, query string, args []any, cols []eventColumn, dests []any,
	e *event.Event, fn func(*event.Event) error) (int, error) {
	// rows.Close reads the rest of the answer; cancelling the query first
	// makes the driver give up the connection instead, which is quicker
	// when fn stops the scan early.
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows, err := w.conn.Query(qctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("scan events: %w", err)
	}
	defer func() {
		cancel()
		_ = rows.Close()
	}()
	n := 0
	for rows.Next() {
		if err := rows.Scan(dests...); err != nil {
			return n, fmt.Errorf("scan events: %w", err)
		}
		*e = event.Event{}
		for _, c := range cols {
			c.load(e)
		}
		n++
		if err := fn(e); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("scan events: %w", err)
	}
	return n, nil
}

// scanCuts returns where to cut the range of q so that each slice holds
// about chunkRows of the selected rows: ascending times, in milliseconds
// since the epoch, at the start of a minute that has rows and follows
// others. The slices are contiguous, so no row is missed whatever is
// written meanwhile.
func (w *Writer) scanCuts(ctx context.Context, q scanQuery, chunkRows int) ([]int64, error) {
	where, args := q.where(q.lo, q.hi)
	rows, err := w.conn.Query(ctx, "SELECT toUInt64(intDiv(toUnixTimestamp(ts), 60)) AS minute, count() FROM events"+
		where+" GROUP BY minute ORDER BY minute", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		cuts []int64
		n    uint64
	)
	for rows.Next() {
		var minute, count uint64
		if err := rows.Scan(&minute, &count); err != nil {
			return nil, err
		}
		if n >= uint64(chunkRows) {
			cuts = append(cuts, int64(minute)*60_000)
			n = 0
		}
		n += count
	}
	return cuts, rows.Err()
}

// scanQuery is the selection of a scan: the filter's conditions other than
// time with their arguments, and its time range [lo, hi) in milliseconds
// since the epoch, 0 for no bound.
type scanQuery struct {
	d      Dialect
	conds  []string
	args   []any
	lo, hi int64
}

// newScanQuery returns the selection of f in dialect d, and false when f
// selects nothing the events table can hold.
func newScanQuery(d Dialect, f EventFilter) (scanQuery, bool) {
	q := scanQuery{d: d}
	// Stored times are whole milliseconds, so t >= Since is t >= Since
	// rounded up, and likewise for t < Until.
	if f.Since.After(minTime) {
		if q.lo = ceilMillis(f.Since); q.lo > maxTime.UnixMilli() {
			return q, false
		}
	}
	if !f.Until.IsZero() {
		if q.hi = ceilMillis(f.Until); q.hi <= 0 {
			return q, false
		}
		if q.hi > maxTime.UnixMilli() {
			q.hi = 0
		}
	}
	if q.hi != 0 && q.lo >= q.hi {
		return q, false
	}
	if len(f.Kinds) > 0 {
		// kind is an Enum8: a name it lacks would fail the query.
		kinds := storable(f.Kinds, kindValue)
		if len(kinds) == 0 {
			return q, false
		}
		q.in("kind", kinds)
	}
	if len(f.Actions) > 0 {
		q.in("action", f.Actions)
	}
	if len(f.Outcomes) > 0 {
		outcomes := storable(f.Outcomes, outcomeValue)
		if len(outcomes) == 0 {
			return q, false
		}
		q.in("outcome", outcomes)
	}
	return q, true
}

// ceilMillis returns t in milliseconds since the epoch, rounded up.
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli() // rounded down, also before 1970
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return ms
}

// storable returns the values that the writer stores as themselves
// (stored(v) == v), the only ones a column can match.
func storable[S ~string](values []S, stored func(S) string) []string {
	var out []string
	for _, v := range values {
		if stored(v) == string(v) {
			out = append(out, string(v))
		}
	}
	return out
}

// in adds the condition that col is one of values, which the driver quotes.
func (q *scanQuery) in(col string, values []string) {
	q.conds = append(q.conds, col+" IN ("+strings.Repeat("?, ", len(values)-1)+"?)")
	for _, v := range values {
		q.args = append(q.args, v)
	}
}

// where returns the WHERE clause for q's conditions and lo <= ts < hi (in
// milliseconds since the epoch, 0 for no bound), with its arguments. The
// time bounds also bound toStartOfHour(ts), the sort key's time column:
// 18.16 skips by it only when the query names it.
func (q scanQuery) where(lo, hi int64) (string, []any) {
	conds := append([]string(nil), q.conds...)
	args := append([]any(nil), q.args...)
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	if q.d == Baseline {
		// ts holds the seconds, ts_ms the milliseconds.
		if lo > 0 {
			s, ms := lo/1000, lo%1000
			add("ts >= ?", s)
			add("toStartOfHour(ts) >= ?", s-s%3600)
			if ms > 0 {
				add("(ts > ? OR ts_ms >= ?)", s, ms)
			}
		}
		if hi > 0 {
			s, ms := hi/1000, hi%1000
			if ms == 0 {
				add("ts < ?", s)
			} else {
				add("ts <= ?", s)
				add("(ts < ? OR ts_ms < ?)", s, ms)
			}
			add("toStartOfHour(ts) <= ?", s-s%3600)
		}
	} else {
		if lo > 0 {
			add("ts >= fromUnixTimestamp64Milli(toInt64(?), 'UTC')", lo)
			add("toStartOfHour(ts) >= toDateTime(?, 'UTC')", lo/1000-lo/1000%3600)
		}
		if hi > 0 {
			add("ts < fromUnixTimestamp64Milli(toInt64(?), 'UTC')", hi)
			add("toStartOfHour(ts) <= toDateTime(?, 'UTC')", hi/1000-hi/1000%3600)
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}
