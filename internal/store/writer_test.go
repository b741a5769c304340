package store

import (
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/chtest"
	"github.com/vigil-sec/vigil/internal/event"
)

// testLogger logs to the test at Warn and above with -v, discards otherwise.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// runWriter starts w.Run and stops it when the test ends.
func runWriter(t testing.TB, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// idSums returns the count, wrapping sum and xor of the first 8 bytes of
// the IDs, as ClickHouse computes them in storedIDs.
func idSums(evs []event.Event) (n, sum, xor uint64) {
	for i := range evs {
		v := binary.LittleEndian.Uint64(evs[i].EventID[:8])
		n++
		sum += v
		xor ^= v
	}
	return n, sum, xor
}

type idStats struct{ rows, distinct, sum, xor uint64 }

func storedIDs(t testing.TB, db *chtest.DB) idStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var s idStats
	err := db.Conn.QueryRow(ctx, `SELECT count(), uniqExact(event_id),
		sum(reinterpretAsUInt64(substring(event_id, 1, 8))),
		groupBitXor(reinterpretAsUInt64(substring(event_id, 1, 8))) FROM events`).Scan(&s.rows, &s.distinct, &s.sum, &s.xor)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeAll(t testing.TB, w *Writer, evs []event.Event, chunk int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < len(evs); i += chunk {
		if err := w.Write(ctx, evs[i:min(i+chunk, len(evs))]); err != nil {
			t.Fatal(err)
		}
	}
}

func flush(t testing.TB, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("%v (stats %+v)", err, w.Stats())
	}
}

func TestWriterStoresEveryEvent(t *testing.T) {
	db := chtest.New(t)
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	evs := sshdEvents(0, n, 1)
	w, err := NewWriter(Config{DSN: db.DSN, SpoolDir: t.TempDir()}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	runWriter(t, w)
	writeAll(t, w, evs, 512)
	flush(t, w)

	got := storedIDs(t, db)
	wn, wsum, wxor := idSums(evs)
	if got.rows != wn || got.distinct != wn || got.sum != wsum || got.xor != wxor {
		t.Errorf("stored %+v, want %d rows with sum %d xor %d", got, wn, wsum, wxor)
	}
	st := w.Stats()
	if st.Inserted != uint64(n) || st.Dropped != 0 || st.Corrupt != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Batches < uint64(n/DefaultBatchRows) {
		t.Errorf("%d batches for %d events: batches larger than %d rows", st.Batches, n, DefaultBatchRows)
	}
}

// TestWriterRoundTrip reads one event back column by column.
func TestWriterRoundTrip(t *testing.T) {
	db := chtest.New(t)
	ts := time.Date(2026, 3, 2, 9, 10, 11, 123_456_789, time.UTC)
	in := event.Event{
		Ts: ts, Host: "hd1", Kind: event.KindWeb, Source: "web", Parser: "access", Program: "nginx", PID: 42,
		Action: event.ActionHTTPRequest, Outcome: event.OutcomeSuccess, Reason: "r", AuthMethod: "password", MFA: "totp",
		User: "alice", UserRole: event.RoleAgent, TargetUser: "bob", SessionID: "s1",
		SrcIP: mustAddr("2001:db8::7"), SrcPort: 443, SrcHost: "h.example.net", SrcHostVerified: true, SrcZone: event.ZoneExternal,
		GeoCountry: "DE", GeoCity: "Berlin", GeoLat: 52.52, GeoLon: 13.405, GeoAccuracyKm: 20, ASN: 3320, ASOrg: "DTAG",
		HTTPMethod: "GET", HTTPHost: "helpdesk.example.com", HTTPPath: "/data/x", HTTPQuery: "a=1", HTTPStatus: 200,
		HTTPBytes: 1 << 40, HTTPReferer: "https://r/", UserAgent: "curl/8", Severity: "notice", Message: "m 'quoted'",
		Attrs: map[string]string{"b": "2", "a": "1"}, Raw: "raw line", EventID: event.NewID("web", event.FileID{}, 9, 0),
	}
	unknown := in
	unknown.Kind, unknown.Outcome, unknown.SrcIP, unknown.Attrs = "weird", "", mustAddr("198.51.100.9"), nil
	unknown.EventID = event.NewID("web", event.FileID{}, 10, 0)
	w, err := NewWriter(Config{DSN: db.DSN, SpoolDir: t.TempDir()}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	runWriter(t, w)
	writeAll(t, w, []event.Event{in, unknown}, 2)
	flush(t, w)

	ctx := context.Background()
	var (
		gotTs                                          time.Time
		ms                                             uint16
		kind, outcome, ip, user, role, zone, city, msg string
		keys, values                                   []string
		verified                                       uint8
		bytes                                          uint64
		lat                                            float64
	)
	err = db.Conn.QueryRow(ctx, `SELECT ts, ts_ms, toString(kind), toString(outcome), IPv6NumToString(src_ip), user, user_role,
		src_zone, geo_city, message, attrs.key, attrs.value, src_host_verified, http_bytes, geo_lat
		FROM events WHERE event_id = ?`, string(in.EventID[:])).Scan(&gotTs, &ms, &kind, &outcome, &ip, &user, &role,
		&zone, &city, &msg, &keys, &values, &verified, &bytes, &lat)
	if err != nil {
		t.Fatal(err)
	}
	if !gotTs.Equal(ts.Truncate(time.Second)) || ms != 123 {
		t.Errorf("ts %s ms %d, want %s and 123", gotTs, ms, ts)
	}
	if kind != "web" || outcome != "success" || ip != "2001:db8::7" || user != "alice" || role != "agent" ||
		zone != "external" || city != "Berlin" || msg != in.Message || verified != 1 || bytes != 1<<40 || lat != 52.52 {
		t.Errorf("got %s %s %s %s %s %s %s %q %d %d %v", kind, outcome, ip, user, role, zone, city, msg, verified, bytes, lat)
	}
	if len(keys) != 2 || keys[0] != "a" || values[1] != "2" {
		t.Errorf("attrs %v %v", keys, values)
	}
	err = db.Conn.QueryRow(ctx, `SELECT toString(kind), toString(outcome), replaceRegexpOne(IPv6NumToString(src_ip), '^::ffff:', ''), length(attrs.key)
		FROM events WHERE event_id = ?`, string(unknown.EventID[:])).Scan(&kind, &outcome, &ip, &bytes)
	if err == nil && (kind != "unknown" || outcome != "unknown" || ip != "198.51.100.9") {
		t.Errorf("unknown kind/outcome stored as %s/%s, address %s", kind, outcome, ip)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriterCreatesDatabase points the writer at a database the server
// does not have: it creates it, migrates it and stores the events, and
// `vigil schema migrate` (MigrateDB) does the same.
func TestWriterCreatesDatabase(t *testing.T) {
	db := chtest.New(t)
	for _, via := range []string{"writer", "migrate"} {
		name := db.Name + "_" + via
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := db.Conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
				t.Errorf("drop %s: %v", name, err)
			}
		})
		dsn := strings.Replace(db.DSN, "/"+db.Name, "/"+name, 1)
		if via == "migrate" {
			res, err := MigrateDB(context.Background(), Config{DSN: dsn}, "", testLogger(t))
			if err != nil {
				t.Fatalf("MigrateDB on a missing database: %v", err)
			}
			if len(res.Applied) == 0 {
				t.Error("MigrateDB applied no migration to the new database")
			}
		} else {
			w, err := NewWriter(Config{DSN: dsn, SpoolDir: t.TempDir()}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			runWriter(t, w)
			writeAll(t, w, sshdEvents(0, 100, 1), 50)
			flush(t, w)
		}
		want := uint64(100)
		if via == "migrate" {
			want = 0
		}
		if n := chtest.Count(t, db.Conn, "SELECT count() FROM "+name+".events"); n != want {
			t.Errorf("%s: %s.events holds %d rows, want %d", via, name, n, want)
		}
	}
}
