package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/chtest"
	"github.com/vigil-sec/vigil/internal/event"
)

// scanStart is the time of the first ordinary event of scanTestEvents.
var scanStart = time.Date(2026, time.March, 2, 8, 0, 0, 0, time.UTC)

// oddAction is an action that SQL built by pasting strings would get wrong.
const oddAction = "it's a \\ 'quoted' action') OR 1=1 --\n"

// scanTestEvents returns events that differ in every field the table
// stores: each kind and outcome (and ones the table cannot hold), IPv4,
// IPv6, no address and the addresses the table normalizes, attributes or
// none, geo, a verified host, times at sub-millisecond precision, in
// another time zone, out of the table's range, and ties. They span four
// hours, a few minutes apart.
func scanTestEvents() []event.Event {
	full := event.Event{
		Ts: scanStart.Add(250 * time.Millisecond), Host: "hd1", Kind: event.KindWeb, Source: "web", Parser: "access",
		Program: "nginx", PID: 42, Action: event.ActionHTTPRequest, Outcome: event.OutcomeSuccess, Reason: "r",
		AuthMethod: "password", MFA: "totp", User: "alice", UserRole: event.RoleAgent, TargetUser: "bob", SessionID: "s1",
		SrcIP: mustAddr("2001:db8::7"), SrcPort: 443, SrcHost: "h.example.net", SrcHostVerified: true,
		SrcZone: event.ZoneExternal, GeoCountry: "DE", GeoCity: "Berlin", GeoLat: 52.52, GeoLon: -13.405,
		GeoAccuracyKm: 20, ASN: 4_200_000_000, ASOrg: "DTAG", HTTPMethod: "GET", HTTPHost: "helpdesk.example.com",
		HTTPPath: "/data/x", HTTPQuery: "a=1&b='2'", HTTPStatus: 200, HTTPBytes: 1 << 40, HTTPReferer: "https://r/",
		UserAgent: "curl/8", Severity: "notice", Message: "m 'quoted' \\ \"x\"\nsecond line",
		Attrs: map[string]string{"b": "2", "a": "1", "ключ": "значение", "q'": "\x00\\"},
		Raw:   "raw line\twith\x00nul", EventID: event.NewID("web", event.FileID{Dev: 1, Inode: 2}, 0, 0),
	}
	kinds := []event.Kind{event.KindAuth, event.KindWeb, event.KindError, event.KindAudit, "", "weird"}
	outcomes := []event.Outcome{event.OutcomeSuccess, event.OutcomeFailure, event.OutcomeUnknown, ""}
	actions := []string{event.ActionLogin, event.ActionLoginProbe, event.ActionHTTPRequest, oddAction}
	addrs := []netip.Addr{
		mustAddr("203.0.113.7"), mustAddr("2001:db8::1:2"), {}, mustAddr("0.0.0.0"),
		mustAddr("::ffff:198.51.100.9"), mustAddr("fe80::1%eth0"), netip.IPv6Unspecified(), mustAddr("::1"),
	}
	berlin := time.FixedZone("CET", 3600)
	evs := []event.Event{full}
	for i := range 48 {
		e := full
		e.Ts = scanStart.Add(time.Duration(i)*5*time.Minute + time.Duration(i)*1_234_567*time.Nanosecond)
		if i%5 == 0 {
			e.Ts = e.Ts.In(berlin)
		}
		e.Kind = kinds[i%len(kinds)]
		e.Outcome = outcomes[i%len(outcomes)]
		e.Action = actions[i%len(actions)]
		e.SrcIP = addrs[i%len(addrs)]
		e.SrcHostVerified = i%2 == 0
		e.User = fmt.Sprintf("user%d", i%7)
		e.GeoLat, e.GeoLon = float64(i)/3, -float64(i)/7
		switch i % 3 {
		case 0:
			e.Attrs = nil
		case 1:
			e.Attrs = map[string]string{}
		default:
			e.Attrs = map[string]string{"i": fmt.Sprint(i)}
		}
		e.EventID = event.NewID("web", event.FileID{Dev: 1, Inode: 2}, int64(i+1)*100, 0)
		evs = append(evs, e)
	}
	// Two events of one millisecond, in reverse event_id order.
	a, b := full, full
	a.Ts = scanStart.Add(time.Hour + 333*time.Millisecond)
	b.Ts = a.Ts.Add(400 * time.Microsecond)
	a.EventID, b.EventID = event.ID{0xff, 1}, event.ID{0x01, 2}
	// Times the table cannot hold, and the zero time.
	early, late, zero := full, full, full
	early.Ts = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	late.Ts = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	zero.Ts = time.Time{}
	early.EventID, late.EventID, zero.EventID = event.ID{0xe0}, event.ID{0xe1}, event.ID{0xe2}
	return append(evs, a, b, early, late, zero)
}

// stored returns e as the events table gives it back: what ScanEvents
// documents it cannot return as written.
func stored(e event.Event) event.Event {
	first, last := time.Unix(0, 0).UTC(), time.Unix(1<<32-1, 0).UTC()
	e.Ts = e.Ts.UTC()
	switch {
	case e.Ts.Before(first):
		e.Ts = first
	case e.Ts.After(last):
		e.Ts = last
	}
	e.Ts = e.Ts.Truncate(time.Millisecond)
	switch e.Kind {
	case event.KindAuth, event.KindWeb, event.KindError, event.KindAudit:
	default:
		e.Kind = "unknown"
	}
	switch e.Outcome {
	case event.OutcomeSuccess, event.OutcomeFailure:
	default:
		e.Outcome = event.OutcomeUnknown
	}
	e.SrcIP = e.SrcIP.WithZone("").Unmap()
	if e.SrcIP == netip.IPv6Unspecified() {
		e.SrcIP = netip.Addr{}
	}
	if len(e.Attrs) == 0 {
		e.Attrs = nil
	}
	return e
}

// inStoredOrder returns the stored form of evs, oldest first, ties by ID.
func inStoredOrder(evs []event.Event) []event.Event {
	out := make([]event.Event, len(evs))
	for i, e := range evs {
		out[i] = stored(e)
	}
	slices.SortStableFunc(out, func(a, b event.Event) int {
		if c := a.Ts.Compare(b.Ts); c != 0 {
			return c
		}
		return strings.Compare(string(a.EventID[:]), string(b.EventID[:]))
	})
	return out
}

var addrEqual = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

var lowCardinality = regexp.MustCompile(`LowCardinality\(([^()]*)\)`)

// ddlTypes returns the type of each INSERT column of a CREATE TABLE
// statement laid out as the migrations are: Nested(k T, ...) becomes a
// column name.k of type Array(T) for each of its fields, and
// LowCardinality(T) is T.
func ddlTypes(ddl string) map[string]string {
	types := map[string]string{}
	for line := range strings.Lines(ddl) {
		m := columnLine.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(strings.TrimSpace(line), "INDEX") {
			continue
		}
		typ := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), m[1]))
		typ, _, _ = strings.Cut(typ, " CODEC(")
		typ = strings.TrimSuffix(strings.TrimSpace(typ), ",")
		// A LowCardinality column reads back only after a trip over the
		// wire; its Go types are those of the type it wraps.
		typ = lowCardinality.ReplaceAllString(typ, "$1")
		fields, ok := strings.CutPrefix(typ, "Nested(")
		if !ok {
			types[m[1]] = typ
			continue
		}
		for f := range strings.SplitSeq(strings.TrimSuffix(fields, ")"), ",") {
			name, ftyp, _ := strings.Cut(strings.TrimSpace(f), " ")
			types[m[1]+"."+name] = "Array(" + ftyp + ")"
		}
	}
	return types
}

// TestEventColumnsReadWhatTheyWrite checks, without a server and for both
// dialects, that every column reads back into an event what it writes for
// it, and that together they cover every field. The values go through the
// driver's own column of the type the migration gives: what it appends on
// INSERT and what it scans on SELECT. (The test server is 18.16, so this is
// where the modern dialect's Go types meet its column types.)
func TestEventColumnsReadWhatTheyWrite(t *testing.T) {
	in := scanTestEvents()
	for _, d := range []Dialect{Baseline, Modern} {
		ms, err := Migrations(d, 0)
		if err != nil {
			t.Fatal(err)
		}
		types := ddlTypes(ms[0].Statements[0])
		cols := newEventColumns(d)
		driverCols := make([]column.Interface, len(cols))
		for i, c := range cols {
			typ, ok := types[c.name()]
			if !ok {
				t.Fatalf("%s: no type for column %s in %v", d, c.name(), types)
			}
			dc, err := column.Type(typ).Column(c.name(), &column.ServerContext{Timezone: time.UTC})
			if err != nil {
				t.Fatalf("%s: column %s %s: %v", d, c.name(), typ, err)
			}
			c.appendRows(in)
			if _, err := dc.Append(c.batch()); err != nil {
				t.Fatalf("%s: append to %s %s: %v", d, c.name(), typ, err)
			}
			driverCols[i] = dc
		}
		for row := range in {
			var got event.Event
			for i, c := range cols {
				if err := driverCols[i].ScanRow(c.dest(), row); err != nil {
					t.Fatalf("%s: scan %s: %v", d, c.name(), err)
				}
				c.load(&got)
			}
			if diff := cmp.Diff(stored(in[row]), got, addrEqual); diff != "" {
				t.Errorf("%s: event %d read back differs (-want +got):\n%s", d, row, diff)
			}
			if got.Ts.Location() != time.UTC {
				t.Errorf("%s: event %d: time in %s, want UTC", d, row, got.Ts.Location())
			}
		}
	}
}

// scanAll returns copies of the events ScanEvents hands to fn.
func scanAll(t *testing.T, w *Writer, f EventFilter, chunkRows int) []event.Event {
	t.Helper()
	var got []event.Event
	err := w.scanEvents(t.Context(), f, chunkRows, func(e *event.Event) error {
		got = append(got, *e)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanEvents(%+v): %v", f, err)
	}
	return got
}

func ids(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].EventID.String()
	}
	return out
}

func TestScanEvents(t *testing.T) {
	db := chtest.New(t)
	w, err := NewWriter(Config{DSN: db.DSN, SpoolDir: t.TempDir()}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	runWriter(t, w)
	in := scanTestEvents()
	writeAll(t, w, in, 7)
	flush(t, w)
	all := inStoredOrder(in)

	// Every chunk size reads the same: one query, one per minute with rows,
	// and a few minutes a query.
	chunks := []int{scanChunkRows, 1, 4}

	t.Run("every field", func(t *testing.T) {
		for _, n := range chunks {
			got := scanAll(t, w, EventFilter{}, n)
			if diff := cmp.Diff(all, got, addrEqual); diff != "" {
				t.Errorf("chunks of %d: events read back differ (-want +got):\n%s", n, diff)
			}
			for _, e := range got {
				if e.Ts.Location() != time.UTC {
					t.Errorf("event %s: time in %s, want UTC", e.EventID, e.Ts.Location())
				}
			}
		}
	})

	at := func(d time.Duration) time.Time { return scanStart.Add(d) }
	end := all[len(all)-1].Ts // the latest event, clamped to 2106
	tests := []struct {
		name string
		in   EventFilter
		want func(e event.Event) bool
	}{
		{"since", EventFilter{Since: at(2 * time.Hour)}, func(e event.Event) bool { return !e.Ts.Before(at(2 * time.Hour)) }},
		{"until", EventFilter{Until: at(time.Hour)}, func(e event.Event) bool { return e.Ts.Before(at(time.Hour)) }},
		{"range", EventFilter{Since: at(40 * time.Minute), Until: at(150 * time.Minute)}, func(e event.Event) bool {
			return !e.Ts.Before(at(40*time.Minute)) && e.Ts.Before(at(150*time.Minute))
		}},
		// The first event is stored at 08:00:00.250.
		{"since the millisecond of an event", EventFilter{Since: at(250 * time.Millisecond)}, func(e event.Event) bool {
			return !e.Ts.Before(at(250 * time.Millisecond))
		}},
		{"since within that millisecond", EventFilter{Since: at(250*time.Millisecond + time.Nanosecond)}, func(e event.Event) bool {
			return e.Ts.After(at(250 * time.Millisecond))
		}},
		{"until that millisecond", EventFilter{Until: at(250 * time.Millisecond)}, func(e event.Event) bool {
			return e.Ts.Before(at(250 * time.Millisecond))
		}},
		{"until within that millisecond", EventFilter{Until: at(250*time.Millisecond + time.Nanosecond)}, func(e event.Event) bool {
			return !e.Ts.After(at(250 * time.Millisecond))
		}},
		{"millisecond range", EventFilter{Since: at(time.Hour + 333*time.Millisecond), Until: at(time.Hour + 334*time.Millisecond)},
			func(e event.Event) bool { return e.Ts.Equal(at(time.Hour + 333*time.Millisecond)) }},
		{"since before 1970", EventFilter{Since: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}, func(event.Event) bool { return true }},
		{"until just after 1970", EventFilter{Until: time.Unix(0, 1)}, func(e event.Event) bool { return e.Ts.Unix() == 0 }},
		{"until 1970", EventFilter{Until: time.Unix(0, 0)}, func(event.Event) bool { return false }},
		{"since the clamped end", EventFilter{Since: end}, func(e event.Event) bool { return !e.Ts.Before(end) }},
		{"since after 2106", EventFilter{Since: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}, func(event.Event) bool { return false }},
		{"until after 2106", EventFilter{Until: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, func(event.Event) bool { return true }},
		{"since after until", EventFilter{Since: at(time.Hour), Until: at(time.Minute)}, func(event.Event) bool { return false }},
		{"time zone of the bound", EventFilter{Since: at(time.Hour).In(time.FixedZone("X", -5*3600))},
			func(e event.Event) bool { return !e.Ts.Before(at(time.Hour)) }},
		{"kind", EventFilter{Kinds: []event.Kind{event.KindAuth}}, func(e event.Event) bool { return e.Kind == event.KindAuth }},
		{"kinds", EventFilter{Kinds: []event.Kind{event.KindError, event.KindAudit}}, func(e event.Event) bool {
			return e.Kind == event.KindError || e.Kind == event.KindAudit
		}},
		{"kind unknown", EventFilter{Kinds: []event.Kind{"unknown"}}, func(e event.Event) bool { return e.Kind == "unknown" }},
		{"kind the table cannot hold", EventFilter{Kinds: []event.Kind{"weird"}}, func(event.Event) bool { return false }},
		{"kind the table cannot hold and one it can", EventFilter{Kinds: []event.Kind{"weird", event.KindWeb}},
			func(e event.Event) bool { return e.Kind == event.KindWeb }},
		{"action", EventFilter{Actions: []string{event.ActionLogin}}, func(e event.Event) bool { return e.Action == event.ActionLogin }},
		{"action that needs quoting", EventFilter{Actions: []string{oddAction}}, func(e event.Event) bool { return e.Action == oddAction }},
		{"actions", EventFilter{Actions: []string{event.ActionLoginProbe, event.ActionHTTPRequest, "nothing"}}, func(e event.Event) bool {
			return e.Action == event.ActionLoginProbe || e.Action == event.ActionHTTPRequest
		}},
		{"action nobody took", EventFilter{Actions: []string{"x' OR '1'='1"}}, func(event.Event) bool { return false }},
		{"outcome", EventFilter{Outcomes: []event.Outcome{event.OutcomeFailure}}, func(e event.Event) bool {
			return e.Outcome == event.OutcomeFailure
		}},
		{"outcome unknown", EventFilter{Outcomes: []event.Outcome{event.OutcomeUnknown}}, func(e event.Event) bool {
			return e.Outcome == event.OutcomeUnknown
		}},
		{"empty outcome", EventFilter{Outcomes: []event.Outcome{""}}, func(event.Event) bool { return false }},
		{"everything at once", EventFilter{
			Since: at(10 * time.Minute), Until: at(3 * time.Hour), Kinds: []event.Kind{event.KindAuth, event.KindWeb, "unknown"},
			Actions: []string{event.ActionLogin, oddAction}, Outcomes: []event.Outcome{event.OutcomeSuccess, event.OutcomeUnknown},
		}, func(e event.Event) bool {
			return !e.Ts.Before(at(10*time.Minute)) && e.Ts.Before(at(3*time.Hour)) &&
				(e.Kind == event.KindAuth || e.Kind == event.KindWeb || e.Kind == "unknown") &&
				(e.Action == event.ActionLogin || e.Action == oddAction) &&
				(e.Outcome == event.OutcomeSuccess || e.Outcome == event.OutcomeUnknown)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []event.Event
			for _, e := range all {
				if tc.want(e) {
					want = append(want, e)
				}
			}
			for _, n := range chunks {
				if got := scanAll(t, w, tc.in, n); !slices.Equal(ids(got), ids(want)) {
					t.Errorf("chunks of %d: ScanEvents(%+v) read %d events %v\nwant %d: %v", n, tc.in, len(got), ids(got), len(want), ids(want))
				}
			}
		})
	}

	t.Run("limit", func(t *testing.T) {
		var auth []event.Event
		for _, e := range all {
			if e.Kind == event.KindAuth {
				auth = append(auth, e)
			}
		}
		for _, tc := range []struct {
			in   EventFilter
			want []event.Event
		}{
			{EventFilter{Limit: 1}, all[:1]},
			{EventFilter{Limit: 5}, all[:5]},
			{EventFilter{Limit: len(all)}, all},
			{EventFilter{Limit: len(all) + 10}, all},
			{EventFilter{Limit: 3, Kinds: []event.Kind{event.KindAuth}}, auth[:3]},
			{EventFilter{Limit: 2, Since: at(2 * time.Hour)}, all[slices.IndexFunc(all, func(e event.Event) bool {
				return !e.Ts.Before(at(2 * time.Hour))
			}):][:2]},
		} {
			for _, n := range chunks {
				if got := scanAll(t, w, tc.in, n); !slices.Equal(ids(got), ids(tc.want)) {
					t.Errorf("chunks of %d: ScanEvents(%+v) read %v\nwant %v", n, tc.in, ids(got), ids(tc.want))
				}
			}
		}
		err := w.ScanEvents(t.Context(), EventFilter{Limit: -1}, func(*event.Event) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "negative limit") {
			t.Errorf("ScanEvents with Limit -1: %v, want a negative limit error", err)
		}
	})

	t.Run("fn error stops the scan", func(t *testing.T) {
		errStop := errors.New("stop")
		for _, n := range chunks {
			for _, stopAt := range []int{1, 3, len(all)} {
				calls := 0
				err := w.scanEvents(t.Context(), EventFilter{}, n, func(e *event.Event) error {
					calls++
					if calls == stopAt {
						return errStop
					}
					return nil
				})
				if err != errStop || calls != stopAt {
					t.Errorf("chunks of %d, stop at %d: ScanEvents = %v after %d calls, want %v after %d", n, stopAt, err, calls, errStop, stopAt)
				}
			}
		}
		// The connections are still good.
		if got := scanAll(t, w, EventFilter{}, scanChunkRows); len(got) != len(all) {
			t.Errorf("after stopped scans: read %d events, want %d", len(got), len(all))
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		calls := 0
		err := w.scanEvents(ctx, EventFilter{}, 4, func(e *event.Event) error {
			calls++
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) || calls == len(all) {
			t.Errorf("ScanEvents = %v after %d of %d calls, want context.Canceled before the end", err, calls, len(all))
		}
	})
}

// TestScanEventsWithoutTable reads a database that nothing was written to.
func TestScanEventsWithoutTable(t *testing.T) {
	db := chtest.New(t)
	w, err := NewWriter(Config{DSN: db.DSN, SpoolDir: t.TempDir()}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	err = w.ScanEvents(t.Context(), EventFilter{}, func(*event.Event) error {
		t.Error("fn called without an events table")
		return nil
	})
	if err != nil {
		t.Errorf("ScanEvents = %v, want nil", err)
	}
}

// BenchmarkScanEvents reads 100k stored sshd events back and reports
// rows/s.
func BenchmarkScanEvents(b *testing.B) {
	const n = 100_000
	db := chtest.New(b)
	ctx := context.Background()
	if _, err := Migrate(ctx, db.Conn, "", 90); err != nil {
		b.Fatal(err)
	}
	d, err := dialectOf(ctx, db.Conn)
	if err != nil {
		b.Fatal(err)
	}
	evs := sshdEvents(0, n, 5)
	var blk eventBlock
	for i := 0; i < n; i += DefaultBatchRows {
		if err := insertEvents(ctx, db.Conn, d, &blk, evs[i:min(i+DefaultBatchRows, n)]); err != nil {
			b.Fatal(err)
		}
	}
	w, err := NewWriter(Config{DSN: db.DSN, SpoolDir: b.TempDir()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		rows := 0
		err := w.ScanEvents(ctx, EventFilter{}, func(*event.Event) error {
			rows++
			return nil
		})
		if err != nil || rows != n {
			b.Fatalf("ScanEvents read %d rows: %v", rows, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "rows/s")
}
