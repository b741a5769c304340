package store

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/chtest"
	"github.com/vigil-sec/vigil/internal/event"
)

var queryBlock = regexp.MustCompile("(?s)<!-- query: ([a-z_]+) -->.*?```sql\n(.*?)```")

// readmeQueries returns the named SQL blocks of README.md.
func readmeQueries(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	qs := map[string]string{}
	for _, m := range queryBlock.FindAllStringSubmatch(string(b), -1) {
		qs[m[1]] = m[2]
	}
	return qs
}

// queryDataSet is generated sshd traffic plus one address and one user
// that the README queries name, some of it outside their time range.
func queryDataSet() []event.Event {
	evs := sshdEvents(0, 30_000, 11)
	ip := mustAddr("203.0.113.7")
	at := func(h, m, s int) time.Time { return time.Date(2026, 3, 2, h, m, s, 250e6, time.UTC) }
	add := func(ts time.Time, user string, o event.Outcome, action string) {
		e := event.Event{Ts: ts, Host: "hd1", Kind: event.KindAuth, Source: "auth", Parser: "sshd", Action: action,
			Outcome: o, User: user, SrcIP: ip, GeoCountry: "NL", Reason: "bad_password",
			Message: fmt.Sprintf("%s %s %s", action, o, user),
			EventID: event.NewID("auth", event.FileID{Dev: 9}, int64(len(evs)), 0)}
		evs = append(evs, e)
	}
	for i := range 60 {
		add(at(9, i, 0), []string{"alice", "root", "admin"}[i%3], event.OutcomeFailure, event.ActionLogin)
	}
	add(at(11, 59, 59), "alice", event.OutcomeSuccess, event.ActionLogin)
	add(at(7, 59, 0), "alice", event.OutcomeFailure, event.ActionLogin) // before the range, same day
	add(at(12, 0, 0), "alice", event.OutcomeFailure, event.ActionLogin) // at the end, excluded
	add(at(10, 0, 0), "alice", event.OutcomeUnknown, event.ActionLoginProbe)
	return evs
}

func inRange(ts time.Time) bool {
	return !ts.Before(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)) && ts.Before(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
}

func failedLogin(e *event.Event) bool {
	return e.Action == event.ActionLogin && e.Outcome == event.OutcomeFailure
}

func ipString(e *event.Event) string { return e.SrcIP.Unmap().String() }

type ranked struct {
	key   string
	count uint64
	extra uint64
}

// top sorts counts like "ORDER BY failures DESC, key LIMIT 10".
func top(m map[string]uint64, extra map[string]map[string]bool) []ranked {
	var out []ranked
	for k, n := range m {
		out = append(out, ranked{k, n, uint64(len(extra[k]))})
	}
	slices.SortFunc(out, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.key, b.key))
	})
	return out[:min(10, len(out))]
}

func TestREADMEQueries(t *testing.T) {
	qs := readmeQueries(t)
	for _, name := range []string{"events_from_address", "failed_logins_for_user", "failed_logins_for_user_per_hour",
		"top_countries_failed_logins", "top_addresses_failed_logins", "open_alerts"} {
		if qs[name] == "" {
			t.Fatalf("README.md has no query %s", name)
		}
	}
	db := chtest.New(t)
	evs := queryDataSet()
	w, err := NewWriter(Config{DSN: db.DSN, SpoolDir: t.TempDir()}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	runWriter(t, w)
	writeAll(t, w, evs, 1000)
	flush(t, w)
	ctx := context.Background()

	t.Run("events_from_address", func(t *testing.T) {
		var sel []event.Event
		for i := range evs {
			if evs[i].SrcIP == mustAddr("203.0.113.7") && inRange(evs[i].Ts) {
				sel = append(sel, evs[i])
			}
		}
		slices.SortStableFunc(sel, func(a, b event.Event) int { return a.Ts.Compare(b.Ts) })
		var want []string
		for _, e := range sel {
			want = append(want, e.Message)
		}
		rows, err := db.Conn.Query(ctx, qs["events_from_address"])
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var (
				ts                                  time.Time
				ms                                  uint16
				kind, action, outcome, user, h, msg string
			)
			if err := rows.Scan(&ts, &ms, &kind, &action, &outcome, &user, &h, &msg); err != nil {
				t.Fatal(err)
			}
			if ms != 250 {
				t.Errorf("ts_ms %d, want 250", ms)
			}
			got = append(got, msg)
		}
		if len(want) != 62 || !slices.Equal(got, want) {
			t.Errorf("got %d rows %v\nwant %d %v", len(got), got, len(want), want)
		}
	})

	t.Run("failed_logins_for_user", func(t *testing.T) {
		var want uint64
		for i := range evs {
			e := &evs[i]
			if e.Kind == event.KindAuth && failedLogin(e) && e.User == "alice" && inRange(e.Ts) {
				want++
			}
		}
		rows, err := db.Conn.Query(ctx, qs["failed_logins_for_user"])
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got uint64
		for rows.Next() {
			got++
		}
		if got != want || want < 10 {
			t.Errorf("%d rows, want %d", got, want)
		}
	})

	t.Run("failed_logins_for_user_per_hour", func(t *testing.T) {
		want := map[time.Time]uint64{}
		for i := range evs {
			if e := &evs[i]; failedLogin(e) && e.User == "alice" {
				want[e.Ts.Truncate(time.Hour)]++
			}
		}
		rows, err := db.Conn.Query(ctx, qs["failed_logins_for_user_per_hour"])
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[time.Time]uint64{}
		for rows.Next() {
			var h time.Time
			var n, addrs uint64
			if err := rows.Scan(&h, &n, &addrs); err != nil {
				t.Fatal(err)
			}
			got[h.UTC()] = n
		}
		if !maps.Equal(got, want) || len(want) < 3 {
			t.Errorf("got %v, want %v", got, want)
		}
	})

	t.Run("top_countries_failed_logins", func(t *testing.T) {
		counts := map[string]uint64{}
		for i := range evs {
			if failedLogin(&evs[i]) {
				counts[evs[i].GeoCountry]++
			}
		}
		want := top(counts, nil)
		rows, err := db.Conn.Query(ctx, qs["top_countries_failed_logins"])
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []ranked
		for rows.Next() {
			var r ranked
			if err := rows.Scan(&r.key, &r.count); err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %v\nwant %v", got, want)
		}
	})

	t.Run("top_addresses_failed_logins", func(t *testing.T) {
		counts := map[string]uint64{}
		users := map[string]map[string]bool{}
		for i := range evs {
			if e := &evs[i]; failedLogin(e) {
				ip := ipString(e)
				counts[ip]++
				if users[ip] == nil {
					users[ip] = map[string]bool{}
				}
				users[ip][e.User] = true
			}
		}
		want := top(counts, users)
		rows, err := db.Conn.Query(ctx, qs["top_addresses_failed_logins"])
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []ranked
		for rows.Next() {
			var r ranked
			if err := rows.Scan(&r.key, &r.count, &r.extra); err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
		if !slices.Equal(got, want) || want[0].key != "203.0.113.7" {
			t.Errorf("got %v\nwant %v", got, want)
		}
	})

	t.Run("open_alerts", func(t *testing.T) {
		aw, err := NewAlertWriter(Config{DSN: db.DSN}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer aw.Close()
		base := event.Alert{Rule: "ssh_bruteforce", Title: "SSH brute force", Severity: event.SeverityHigh,
			Tags: []string{"T1110"}, Ts: time.Date(2026, 3, 2, 9, 5, 0, 0, time.UTC), Count: 8,
			Group: map[string]string{"src_ip": "203.0.113.7"}, SrcIP: mustAddr("203.0.113.7"), User: "alice",
			Evidence: []string{"line"}, EventIDs: []event.ID{evs[0].EventID}}
		versions := []struct {
			id    string
			state event.AlertState
			count uint64
		}{{"a1", event.AlertFiring, 8}, {"a2", event.AlertFiring, 8}, {"a1", event.AlertResolved, 9},
			{"a3", event.AlertFiring, 8}, {"a3", event.AlertFiring, 20}}
		for _, v := range versions {
			a := base
			a.ID, a.State, a.Count, a.Summary = v.id, v.state, v.count, fmt.Sprintf("%s %d", v.id, v.count)
			actx, cancel := context.WithTimeout(ctx, time.Minute)
			err := aw.WriteAlert(actx, a)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
		rows, err := db.Conn.Query(ctx, qs["open_alerts"])
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var id, rule, sev, state, summary string
			var count uint64
			if err := rows.Scan(&id, &rule, &sev, &state, &count, &summary); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s %s %s %d %s", id, sev, state, count, summary))
		}
		want := []string{"a2 high firing 8 a2 8", "a3 high firing 20 a3 20"}
		if !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		if n := chtest.Count(t, db.Conn, "SELECT count() FROM alerts FINAL"); n != 3 {
			t.Errorf("alerts FINAL has %d rows, want 3", n)
		}
	})
}
