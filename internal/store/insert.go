package store

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-sec/vigil/internal/event"
)

// eventColumn is one column of the events table together with the Event
// field it holds. newEventColumns is the one description of that mapping:
// insertEvents writes through it and ScanEvents reads back through it, so a
// column is stored and read alike.
type eventColumn interface {
	// name returns the column's name in the events table.
	name() string
	// appendRows appends the stored values of evs to the column's batch.
	appendRows(evs []event.Event)
	// batch returns the values appended since reset, as the typed slice
	// the driver appends without reflection.
	batch() any
	// reset empties the batch and keeps its memory.
	reset()
	// dest returns where rows.Scan puts the column's value of a row.
	dest() any
	// load sets e's field from the value last scanned into dest.
	load(e *event.Event)
}

// typedColumn is an eventColumn whose stored values have the Go type T.
type typedColumn[T any] struct {
	col string
	put func(*event.Event) T  // the value stored for an event
	get func(*event.Event, T) // sets the event's field from a stored value
	buf []T
	v   T
}

func (c *typedColumn[T]) name() string { return c.col }

func (c *typedColumn[T]) appendRows(evs []event.Event) {
	for i := range evs {
		c.buf = append(c.buf, c.put(&evs[i]))
	}
}

func (c *typedColumn[T]) batch() any          { return c.buf }
func (c *typedColumn[T]) reset()              { c.buf = c.buf[:0] }
func (c *typedColumn[T]) dest() any           { return &c.v }
func (c *typedColumn[T]) load(e *event.Event) { c.get(e, c.v) }

// field maps a column to an Event field of the same Go type, stored as is.
func field[T any](name string, f func(*event.Event) *T) eventColumn {
	return &typedColumn[T]{
		col: name,
		put: func(e *event.Event) T { return *f(e) },
		get: func(e *event.Event, v T) { *f(e) = v },
	}
}

// text maps a String column to a field of a string type (Role, Zone).
func text[S ~string](name string, f func(*event.Event) *S) eventColumn {
	return &typedColumn[string]{
		col: name,
		put: func(e *event.Event) string { return string(*f(e)) },
		get: func(e *event.Event, v string) { *f(e) = S(v) },
	}
}

// newEventColumns returns the events table's columns for d, in INSERT
// order, each with an empty batch. The columns of one call share state
// (the baseline's attrs.key for attrs.value), so use them together and
// from one goroutine.
func newEventColumns(d Dialect) []eventColumn {
	var cols []eventColumn
	if d == Baseline {
		cols = append(cols,
			&typedColumn[time.Time]{col: "ts",
				put: func(e *event.Event) time.Time { return clampTime(e.Ts).Truncate(time.Second) },
				get: func(e *event.Event, v time.Time) { e.Ts = v.UTC() }},
			// ts_ms comes after ts, which its get adds to.
			&typedColumn[uint16]{col: "ts_ms",
				put: func(e *event.Event) uint16 { return uint16(clampTime(e.Ts).Nanosecond() / int(time.Millisecond)) },
				get: func(e *event.Event, v uint16) { e.Ts = e.Ts.Add(time.Duration(v) * time.Millisecond) }},
		)
	} else {
		cols = append(cols, &typedColumn[time.Time]{col: "ts",
			put: func(e *event.Event) time.Time { return clampTime(e.Ts).Truncate(time.Millisecond) },
			get: func(e *event.Event, v time.Time) { e.Ts = v.UTC() }})
	}
	cols = append(cols,
		field("host", func(e *event.Event) *string { return &e.Host }),
		&typedColumn[string]{col: "kind",
			put: func(e *event.Event) string { return kindValue(e.Kind) },
			get: func(e *event.Event, v string) { e.Kind = event.Kind(v) }},
		field("source", func(e *event.Event) *string { return &e.Source }),
		field("parser", func(e *event.Event) *string { return &e.Parser }),
		field("program", func(e *event.Event) *string { return &e.Program }),
		field("pid", func(e *event.Event) *uint32 { return &e.PID }),
		field("action", func(e *event.Event) *string { return &e.Action }),
		&typedColumn[string]{col: "outcome",
			put: func(e *event.Event) string { return outcomeValue(e.Outcome) },
			get: func(e *event.Event, v string) { e.Outcome = event.Outcome(v) }},
		field("reason", func(e *event.Event) *string { return &e.Reason }),
		field("auth_method", func(e *event.Event) *string { return &e.AuthMethod }),
		field("mfa", func(e *event.Event) *string { return &e.MFA }),
		field("user", func(e *event.Event) *string { return &e.User }),
		text("user_role", func(e *event.Event) *event.Role { return &e.UserRole }),
		field("target_user", func(e *event.Event) *string { return &e.TargetUser }),
		field("session_id", func(e *event.Event) *string { return &e.SessionID }),
	)
	if d == Baseline {
		cols = append(cols, &typedColumn[string]{col: "src_ip",
			put: func(e *event.Event) string { return addr16(e.SrcIP) },
			get: func(e *event.Event, v string) { e.SrcIP = addrFrom16(v) }})
	} else {
		cols = append(cols, &typedColumn[netip.Addr]{col: "src_ip",
			put: func(e *event.Event) netip.Addr {
				if !e.SrcIP.IsValid() {
					return netip.IPv6Unspecified()
				}
				return netip.AddrFrom16(e.SrcIP.As16())
			},
			get: func(e *event.Event, v netip.Addr) { e.SrcIP = storedAddr(v) }})
	}
	cols = append(cols,
		field("src_port", func(e *event.Event) *uint16 { return &e.SrcPort }),
		field("src_host", func(e *event.Event) *string { return &e.SrcHost }),
	)
	if d == Baseline {
		cols = append(cols, &typedColumn[uint8]{col: "src_host_verified",
			put: func(e *event.Event) uint8 {
				if e.SrcHostVerified {
					return 1
				}
				return 0
			},
			get: func(e *event.Event, v uint8) { e.SrcHostVerified = v != 0 }})
	} else {
		cols = append(cols, field("src_host_verified", func(e *event.Event) *bool { return &e.SrcHostVerified }))
	}
	cols = append(cols,
		text("src_zone", func(e *event.Event) *event.Zone { return &e.SrcZone }),
		field("geo_country", func(e *event.Event) *string { return &e.GeoCountry }),
		field("geo_city", func(e *event.Event) *string { return &e.GeoCity }),
		field("geo_lat", func(e *event.Event) *float64 { return &e.GeoLat }),
		field("geo_lon", func(e *event.Event) *float64 { return &e.GeoLon }),
		field("geo_accuracy_km", func(e *event.Event) *uint16 { return &e.GeoAccuracyKm }),
		field("asn", func(e *event.Event) *uint32 { return &e.ASN }),
		field("as_org", func(e *event.Event) *string { return &e.ASOrg }),
		field("http_method", func(e *event.Event) *string { return &e.HTTPMethod }),
		field("http_host", func(e *event.Event) *string { return &e.HTTPHost }),
		field("http_path", func(e *event.Event) *string { return &e.HTTPPath }),
		field("http_query", func(e *event.Event) *string { return &e.HTTPQuery }),
		field("http_status", func(e *event.Event) *uint16 { return &e.HTTPStatus }),
		field("http_bytes", func(e *event.Event) *uint64 { return &e.HTTPBytes }),
		field("http_referer", func(e *event.Event) *string { return &e.HTTPReferer }),
		field("user_agent", func(e *event.Event) *string { return &e.UserAgent }),
		field("severity", func(e *event.Event) *string { return &e.Severity }),
		field("message", func(e *event.Event) *string { return &e.Message }),
	)
	if d == Baseline {
		var rowKeys []string // attrs.key of the row being read, for attrs.value
		cols = append(cols,
			&typedColumn[[]string]{col: "attrs.key",
				put: func(e *event.Event) []string {
					keys, _ := splitAttrs(e.Attrs)
					return keys
				},
				get: func(_ *event.Event, v []string) { rowKeys = v }},
			&typedColumn[[]string]{col: "attrs.value",
				put: func(e *event.Event) []string {
					_, values := splitAttrs(e.Attrs)
					return values
				},
				get: func(e *event.Event, v []string) { e.Attrs = joinAttrs(rowKeys, v) }},
		)
	} else {
		cols = append(cols, &typedColumn[map[string]string]{col: "attrs",
			put: func(e *event.Event) map[string]string {
				if e.Attrs == nil {
					return map[string]string{}
				}
				return e.Attrs
			},
			get: func(e *event.Event, v map[string]string) {
				if len(v) == 0 {
					v = nil
				}
				e.Attrs = v
			}})
	}
	return append(cols,
		field("raw", func(e *event.Event) *string { return &e.Raw }),
		&typedColumn[string]{col: "event_id",
			put: func(e *event.Event) string { return string(e.EventID[:]) },
			get: func(e *event.Event, v string) { copy(e.EventID[:], v) }},
	)
}

// eventColumns returns the events table's INSERT column list for d.
func eventColumns(d Dialect) []string {
	cols := newEventColumns(d)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name()
	}
	return names
}

// insertSQL returns "INSERT INTO table (`c1`, `c2`, ...)".
func insertSQL(table string, cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = "`" + c + "`"
	}
	return "INSERT INTO " + table + " (" + strings.Join(q, ", ") + ")"
}

// eventBlock holds a batch of events column by column. The zero value is
// ready for reset.
type eventBlock struct {
	d    Dialect
	cols []eventColumn
}

// reset empties the block for a batch in dialect d, keeping the columns'
// memory when the dialect is unchanged.
func (b *eventBlock) reset(d Dialect) {
	if b.cols == nil || b.d != d {
		b.d, b.cols = d, newEventColumns(d)
		return
	}
	for _, c := range b.cols {
		c.reset()
	}
}

// DateTime covers 1970-01-01 to 2106-02-07; times outside are clamped so
// that one bad timestamp cannot fail a whole batch.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Unix(1<<32-1, 0).UTC()
)

func clampTime(t time.Time) time.Time {
	t = t.UTC()
	if t.Before(minTime) {
		return minTime
	}
	if t.After(maxTime) {
		return maxTime
	}
	return t
}

func kindValue(k event.Kind) string {
	switch k {
	case event.KindAuth, event.KindWeb, event.KindError, event.KindAudit:
		return string(k)
	}
	return "unknown"
}

func outcomeValue(o event.Outcome) string {
	switch o {
	case event.OutcomeSuccess, event.OutcomeFailure:
		return string(o)
	}
	return "unknown"
}

// addr16 returns a as 16 bytes (IPv4 mapped into IPv6); no address is 16
// zero bytes.
func addr16(a netip.Addr) string {
	if !a.IsValid() {
		return string(make([]byte, 16))
	}
	b := a.As16()
	return string(b[:])
}

// addrFrom16 is the inverse of addr16: 16 zero bytes are no address and an
// IPv4-mapped address is its IPv4 address.
func addrFrom16(b string) netip.Addr {
	var a [16]byte
	copy(a[:], b)
	return storedAddr(netip.AddrFrom16(a))
}

// storedAddr returns the event address that the stored address a stands
// for: none for the unspecified address ::, the IPv4 address for an
// IPv4-mapped one.
func storedAddr(a netip.Addr) netip.Addr {
	if !a.IsValid() || a == netip.IPv6Unspecified() {
		return netip.Addr{}
	}
	return a.Unmap()
}

// splitAttrs returns the attributes as parallel key and value slices in key
// order (never nil, so that the driver appends empty arrays).
func splitAttrs(m map[string]string) (keys, values []string) {
	if len(m) == 0 {
		return []string{}, []string{}
	}
	keys = make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	values = make([]string, len(keys))
	for i, k := range keys {
		values[i] = m[k]
	}
	return keys, values
}

// joinAttrs is the inverse of splitAttrs: nil for no attributes.
func joinAttrs(keys, values []string) map[string]string {
	n := min(len(keys), len(values))
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := range n {
		m[keys[i]] = values[i]
	}
	return m
}

// insertEvents sends evs as one INSERT. The outcome of a failed Send is
// unknown to the caller: the rows may or may not be stored.
func insertEvents(ctx context.Context, conn driver.Conn, d Dialect, blk *eventBlock, evs []event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	blk.reset(d)
	cols := make([]string, len(blk.cols))
	for i, c := range blk.cols {
		c.appendRows(evs)
		cols[i] = c.name()
	}
	batch, err := conn.PrepareBatch(ctx, insertSQL("events", cols))
	if err != nil {
		return fmt.Errorf("prepare insert of %d events: %w", len(evs), err)
	}
	defer func() { _ = batch.Close() }()
	for i, c := range blk.cols {
		if err := batch.Column(i).Append(c.batch()); err != nil {
			return fmt.Errorf("append column %s: %w", cols[i], err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert batch of %d events: %w", len(evs), err)
	}
	return nil
}
