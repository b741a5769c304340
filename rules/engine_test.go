package rules

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

func mustParse(t testing.TB, src string) []*Rule {
	t.Helper()
	rs, err := Parse("test.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// TestFastMatchesVM holds the fast evaluator to the VM's answers.
func TestFastMatchesVM(t *testing.T) {
	exprs := []string{
		`action == "login" && outcome == "failure"`,
		`kind == "web" || src_zone != "internal"`,
		`http_status >= 200 && http_status < 300 && http_bytes > 0`,
		`http_status in [300, 404]`,
		`action in ["login", "reply", "admin_action", "session_start", "x", "y", "z", "w", "v"]`,
		`user_role not in ["admin", "agent"]`,
		`!src_host_verified && has_suffix(src_host, ".corp.example.com")`,
		`contains(lower(user_agent), "sqlmap") || matches(user_agent, "(?i)nikto")`,
		`user_agent contains "curl" or http_path startsWith "/admin" or http_path endsWith ".php"`,
		`http_path matches "^/data/"`,
		`in_list("sensitive_paths", http_path) && in_cidr(src_ip, "203.0.113.0/24", "2001:db8::/32")`,
		`is_internal(src_ip)`,
		`hour_of_day(ts, "Europe/Paris") < 8 || weekday(ts, "Europe/Paris") in [0, 6]`,
		`geo_lat > 10.5 && -geo_lon < 3`,
		`upper(geo_country) == "FR"`,
		`attrs.code == "AH01630"`,
		`attrs["code"] != "" && attrs["missing"] == "" && lower(attrs["code"]) in ["ah01630", "y"]`,
		`attrs[user] == "1"`,
		`ts.Minute() < 30 && ts.Hour() >= 3 || ts.Day() == 21`,
		`404 == http_status || 500 <= http_status || -2.5 > geo_lon`,
		`"login" != action && outcome == "failure"`,
		`len(user) > 3`,
	}
	lists := fakeLists{"sensitive_paths": {"/.env", "/data/x"}}
	b := &binding{lists: lists, cache: newPatternCache()}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var evs []event.Event
	for i := range 500 {
		evs = append(evs, event.Event{
			Ts:              t0.Add(time.Duration(i) * 37 * time.Minute),
			Kind:            event.Kind(pick("auth", "web", "error")),
			Action:          pick("login", "reply", "http_request", "v"),
			Outcome:         event.Outcome(pick("success", "failure", "")),
			User:            pick("", "bob", "alice", "root"),
			UserRole:        event.Role(pick("admin", "agent", "user", "")),
			SrcIP:           netip.MustParseAddr(pick("203.0.113.7", "10.1.1.1", "2001:db8::1", "198.51.100.2")),
			SrcZone:         event.Zone(pick("internal", "external")),
			SrcHost:         pick("", "a.corp.example.com", "evil.example.net"),
			SrcHostVerified: rng.IntN(2) == 0,
			HTTPStatus:      uint16(rng.IntN(6) * 100),
			HTTPBytes:       uint64(rng.IntN(3)),
			HTTPPath:        pick("/", "/.env", "/data/x", "/admin/", "/x.php"),
			UserAgent:       pick("curl/8", "sqlmap/1.7", "Nikto", "Mozilla"),
			GeoCountry:      pick("fr", "FR", "de"),
			GeoLat:          rng.Float64() * 50,
			GeoLon:          rng.Float64()*10 - 5,
			Attrs:           map[string]string{"code": pick("AH01630", "x"), "bob": pick("1", "")},
		})
	}
	fast := 0
	for _, src := range exprs {
		p, err := compileExpr(src, b)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if p.fast == nil {
			continue
		}
		fast++
		matched := 0
		for i := range evs {
			f := p.fast(&evs[i])
			p.fast = nil
			v := p.match(&evs[i])
			p.fast = compileFast(p.prog.Node(), b)
			if f != v {
				t.Errorf("%s on event %d: fast %v, vm %v", src, i, f, v)
			}
			if v {
				matched++
			}
		}
		if matched == 0 || matched == len(evs) {
			t.Errorf("%s matched %d of %d events: the test does not discriminate", src, matched, len(evs))
		}
	}
	if fast < len(exprs)-1 { // all but len(user)
		t.Errorf("only %d of %d expressions run fast", fast, len(exprs))
	}
}

const mixRules = `
id: burst
title: Burst
severity: medium
kind: threshold
where: action == "login" && outcome == "failure"
group_by: [src_ip]
window: 2m
threshold: 5
cooldown: 10m
---
id: spray
title: Spray
severity: high
kind: distinct
where: action == "login" && outcome == "failure"
group_by: [src_ip]
field: user
window: 10m
threshold: 4
---
id: brute-success
title: Brute success
severity: high
kind: sequence
group_by: [src_ip]
window: 10m
steps:
  - {where: 'action == "login" && outcome == "failure"', count: 3}
  - {where: 'action == "login" && outcome == "success"'}
---
id: new-country
title: New country
severity: low
kind: first_seen
where: action == "login" && outcome == "success"
group_by: [user]
field: geo_country
learn: 2m
---
id: travel
title: Travel
severity: high
kind: velocity
where: action == "login" && outcome == "success"
group_by: [user]
---
id: silent
title: Silent
severity: medium
kind: absence
where: kind == "auth"
group_by: [host]
window: 20m
---
id: env
title: Env served
severity: critical
kind: match
where: action == "http_request" && http_status == 200 && has_suffix(http_path, ".env")
group_by: [src_ip]
`

// synth returns a deterministic stream of mixed events.
func synth(n int, seed uint64) []event.Event {
	rng := rand.New(rand.NewPCG(seed, 7))
	countries := []struct {
		c        string
		lat, lon float64
	}{{"FR", 48.85, 2.35}, {"US", 40.71, -74}, {"JP", 35.68, 139.69}, {"DE", 52.52, 13.4}}
	evs := make([]event.Event, n)
	ts := t0
	for i := range evs {
		ts = ts.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(rng.IntN(40))})
		ev := event.Event{Ts: ts, SrcIP: ip, Host: fmt.Sprintf("h%d", rng.IntN(3)), Raw: fmt.Sprintf("line %d", i)}
		switch r := rng.IntN(10); {
		case r < 4:
			ev.Kind, ev.Action, ev.Outcome, ev.User = event.KindAuth, "login", event.OutcomeFailure, fmt.Sprintf("u%d", rng.IntN(8))
		case r < 5:
			c := countries[rng.IntN(len(countries))]
			ev.Kind, ev.Action, ev.Outcome, ev.User = event.KindAuth, "login", event.OutcomeSuccess, fmt.Sprintf("u%d", rng.IntN(8))
			ev.GeoCountry, ev.GeoLat, ev.GeoLon, ev.GeoAccuracyKm = c.c, c.lat, c.lon, 50
		default:
			ev.Kind, ev.Action, ev.HTTPStatus = event.KindWeb, "http_request", uint16(200+rng.IntN(3)*102)
			ev.HTTPPath = []string{"/", "/.env", "/index.php", "/admin/"}[rng.IntN(4)]
			if i > n/2 && ev.Host == "h2" {
				ev.Kind = event.KindWeb
			}
		}
		if i > n/2 && ev.Host == "h2" && ev.Kind == event.KindAuth {
			ev.Host = "h1" // h2's auth log goes silent half way
		}
		evs[i] = ev
	}
	return evs
}

func runAll(t testing.TB, e *Engine, evs []event.Event) []event.Alert {
	var out []event.Alert
	for i := range evs {
		out = append(out, e.Process(&evs[i])...)
	}
	return out
}

func TestDeterministicAndKinds(t *testing.T) {
	rs := mustParse(t, mixRules)
	evs := synth(20000, 1)
	run := func() []event.Alert {
		e, err := NewEngine(rs, EngineConfig{})
		if err != nil {
			t.Fatal(err)
		}
		out := runAll(t, e, evs)
		return append(out, e.Flush()...)
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs over the same input gave different alerts")
	}
	per := map[string]int{}
	for _, x := range a {
		per[x.Rule]++
		if len(x.Evidence) == 0 || len(x.Evidence) > event.MaxEvidence {
			t.Errorf("alert %s has %d evidence lines", x.Rule, len(x.Evidence))
		}
		if x.ID == "" || x.FirstTs.After(x.Ts) {
			t.Errorf("alert %+v: bad id or times", x)
		}
	}
	for _, r := range rs {
		if per[r.ID] == 0 {
			t.Errorf("rule %s raised nothing", r.ID)
		}
	}
	t.Logf("alerts per rule: %v", per)
}

// TestSnapshotRestore: stopping half way and restoring from the snapshot
// gives the alerts of an uninterrupted run: nothing forgotten, nothing
// raised twice.
func TestSnapshotRestore(t *testing.T) {
	rs := mustParse(t, mixRules)
	evs := synth(20000, 2)
	whole, err := NewEngine(rs, EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := append(runAll(t, whole, evs), whole.Flush()...)

	dir := t.TempDir()
	first, err := NewEngine(rs, EngineConfig{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	got := runAll(t, first, evs[:9000])
	if err := first.Snapshot(); err != nil {
		t.Fatal(err)
	}
	second, err := NewEngine(mustParse(t, mixRules), EngineConfig{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, runAll(t, second, evs[9000:])...)
	got = append(got, second.Flush()...)
	if len(got) != len(want) {
		t.Fatalf("restored run gave %d alerts, uninterrupted %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("alert %d differs:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// A changed rule starts empty.
	changed := mustParse(t, mixRules)
	changed[0].Threshold = 6
	third, err := NewEngine(changed, EngineConfig{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if k := third.Stats().Rules[0].Keys; k != 0 {
		t.Errorf("changed rule restored %d keys", k)
	}
	if k := third.Stats().Rules[1].Keys; k == 0 {
		t.Error("unchanged rule restored no keys")
	}
}

func TestKeyCapEvicts(t *testing.T) {
	rs := mustParse(t, mixRules)
	e, err := NewEngine(rs[:1], EngineConfig{MaxKeys: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		ev := event.Event{Ts: t0.Add(time.Duration(i) * time.Second), Action: "login", Outcome: event.OutcomeFailure,
			SrcIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})}
		e.Process(&ev)
	}
	s := e.Stats().Rules[0]
	if s.Keys != 10 || s.Evictions != 15 || s.Matches != 25 {
		t.Errorf("stats %+v, want 10 keys, 15 evictions, 25 matches", s)
	}
}

func TestCooldownFoldsAndResolves(t *testing.T) {
	rs := mustParse(t, `
id: m
title: M
severity: low
kind: match
where: action == "x"
group_by: [user]
cooldown: 10m
summary: '{{.count}} for {{.user}}'
`)
	e, err := NewEngine(rs, EngineConfig{Lateness: -1})
	if err != nil {
		t.Fatal(err)
	}
	at := func(m int, user string) []event.Alert {
		ev := event.Event{Ts: t0.Add(time.Duration(m) * time.Minute), Action: "x", User: user, Raw: fmt.Sprint(m)}
		return e.Process(&ev)
	}
	first := at(0, "bob")
	if len(first) != 1 || first[0].State != event.AlertFiring || first[0].Count != 1 {
		t.Fatalf("first: %+v", first)
	}
	if got := at(1, "bob"); got != nil {
		t.Fatalf("repeat returned %+v", got)
	}
	at(2, "bob")
	got := at(30, "alice") // the watermark passes bob's cooldown
	if len(got) != 2 {
		t.Fatalf("got %d alerts, want bob's resolved and alice's new: %+v", len(got), got)
	}
	r := got[0]
	if r.ID != first[0].ID || r.State != event.AlertResolved || r.Count != 3 || r.Summary != "3 for bob" ||
		!r.LastTs.Equal(t0.Add(2*time.Minute)) || len(r.Evidence) != 3 {
		t.Errorf("resolved version: %+v", r)
	}
	if got[1].User != "alice" || got[1].ID == first[0].ID {
		t.Errorf("new alert: %+v", got[1])
	}
}

func TestLateEventsCounted(t *testing.T) {
	rs := mustParse(t, mixRules)
	e, _ := NewEngine(rs[:1], EngineConfig{Lateness: time.Minute})
	for _, m := range []int{10, 5, 9, 11} {
		ev := event.Event{Ts: t0.Add(time.Duration(m) * time.Minute), Action: "login", Outcome: event.OutcomeFailure, SrcIP: netip.MustParseAddr("192.0.2.1")}
		e.Process(&ev)
	}
	if s := e.Stats(); s.Late != 1 || s.Rules[0].Late != 1 {
		t.Errorf("late = %d (rule %d), want 1", s.Late, s.Rules[0].Late)
	}
}

func TestRunSQL(t *testing.T) {
	rs := mustParse(t, `
id: q
title: Q
severity: medium
kind: sql
every: 1h
cooldown: 0
query: SELECT host, count() AS count FROM events GROUP BY host
`)
	calls := 0
	runner := func(_ context.Context, q string) ([]map[string]any, error) {
		calls++
		return []map[string]any{{"host": "web1", "count": uint64(120), "stream": "error"}}, nil
	}
	e, _ := NewEngine(rs, EngineConfig{SQL: runner})
	as, err := e.RunSQL(context.Background(), t0)
	if err != nil || len(as) != 1 {
		t.Fatalf("RunSQL: %v, %d alerts", err, len(as))
	}
	if as[0].Host != "web1" || as[0].Count != 120 || as[0].Group["stream"] != "error" {
		t.Errorf("alert %+v", as[0])
	}
	if as, _ := e.RunSQL(context.Background(), t0.Add(30*time.Minute)); len(as) != 0 || calls != 1 {
		t.Errorf("ran again before its schedule: %d calls", calls)
	}
	if _, err := e.RunSQL(context.Background(), t0.Add(61*time.Minute)); err != nil || calls != 2 {
		t.Errorf("did not run on schedule: %d calls", calls)
	}
}

func TestMatching(t *testing.T) {
	rs, err := LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(rs, EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	fail := event.Event{Ts: time.Unix(1_700_000_000, 0), Kind: event.KindAuth, Action: "login", Outcome: event.OutcomeFailure,
		User: "bob", SrcIP: netip.MustParseAddr("203.0.113.7")}
	got := e.Matching(&fail)
	for _, want := range []string{"t-threshold-fail-ip", "t-distinct-spray", "t-sequence-brute-success", "t-absence-source"} {
		if !slices.Contains(got, want) {
			t.Errorf("Matching(failed login) = %v, want it to contain %s", got, want)
		}
	}
	for _, not := range []string{"t-match-admin-external", "t-first-seen-country", "t-sql-error-rate"} {
		if slices.Contains(got, not) {
			t.Errorf("Matching(failed login) = %v, must not contain %s", got, not)
		}
	}
	if st := e.Stats(); st.Events != 0 {
		t.Errorf("Matching changed the engine: %d events counted", st.Events)
	}
	web := event.Event{Ts: fail.Ts, Kind: event.KindWeb, Action: "http_request", HTTPPath: "/"}
	if got := e.Matching(&web); slices.Contains(got, "t-sequence-brute-success") {
		t.Errorf("Matching(web request) = %v: a sequence rule matched an event none of its steps match", got)
	}
}

// TestDistinctFoldRefreshesValues: repeats folded into the open alert of a
// distinct rule refresh the values its summary names, newest last and at
// most event.MaxEvidence of them, so that a long wave under one alert names
// the addresses it came from.
func TestDistinctFoldRefreshesValues(t *testing.T) {
	rs := mustParse(t, `
id: stuffing
title: Stuffing
severity: high
kind: distinct
where: action == "login" && outcome == "failure"
field: src_ip
window: 10m
threshold: 3
cooldown: 1h
summary: '{{.count}} from {{.distinct}}'
`)
	e, err := NewEngine(rs, EngineConfig{Lateness: -1})
	if err != nil {
		t.Fatal(err)
	}
	addr := func(i int) string { return fmt.Sprintf("198.51.100.%d", i) }
	var out []event.Alert
	for i := range 30 {
		ev := event.Event{Ts: t0.Add(time.Duration(i) * time.Second), Kind: event.KindAuth, Action: "login",
			Outcome: event.OutcomeFailure, SrcIP: netip.MustParseAddr(addr(i)), Raw: fmt.Sprint("line ", i)}
		out = append(out, e.Process(&ev)...)
	}
	// An address seen again moves to the end of the list.
	again := event.Event{Ts: t0.Add(40 * time.Second), Kind: event.KindAuth, Action: "login",
		Outcome: event.OutcomeFailure, SrcIP: netip.MustParseAddr(addr(12)), Raw: "line again"}
	out = append(out, e.Process(&again)...)
	out = append(out, e.Flush()...)
	if len(out) != 2 {
		t.Fatalf("got %d alerts, want the firing and the flushed version: %+v", len(out), out)
	}
	if want := "3 from " + addr(0) + ", " + addr(1) + ", " + addr(2); out[0].Summary != want {
		t.Errorf("firing summary %q, want %q", out[0].Summary, want)
	}
	var names []string
	for i := 10; i < 30; i++ {
		if i != 12 {
			names = append(names, addr(i))
		}
	}
	names = append(names, addr(12))
	if len(names) != event.MaxEvidence {
		t.Fatalf("test wants %d names, has %d", event.MaxEvidence, len(names))
	}
	if want := "31 from " + strings.Join(names, ", "); out[1].Summary != want {
		t.Errorf("folded summary\n %q\nwant\n %q", out[1].Summary, want)
	}
	if out[1].ID != out[0].ID || out[1].Count != 31 {
		t.Errorf("folded version: id %s count %d, want id %s count 31", out[1].ID, out[1].Count, out[0].ID)
	}

	// The refreshed values survive a snapshot.
	dir := t.TempDir()
	e1, _ := NewEngine(rs, EngineConfig{Lateness: -1, StateDir: dir})
	for i := range 5 {
		ev := event.Event{Ts: t0.Add(time.Duration(i) * time.Second), Kind: event.KindAuth, Action: "login",
			Outcome: event.OutcomeFailure, SrcIP: netip.MustParseAddr(addr(i))}
		e1.Process(&ev)
	}
	if err := e1.Snapshot(); err != nil {
		t.Fatal(err)
	}
	e2, _ := NewEngine(rs, EngineConfig{Lateness: -1, StateDir: dir})
	ev := event.Event{Ts: t0.Add(9 * time.Second), Kind: event.KindAuth, Action: "login",
		Outcome: event.OutcomeFailure, SrcIP: netip.MustParseAddr(addr(9))}
	e2.Process(&ev)
	got := e2.Flush()
	want := "6 from " + strings.Join([]string{addr(0), addr(1), addr(2), addr(3), addr(4), addr(9)}, ", ")
	if len(got) != 1 || got[0].Summary != want {
		t.Errorf("after restore: %+v, want summary %q", got, want)
	}
}

// TestDispatchAgreesWithWhere holds the dispatch (the action, kind and
// outcome filters) and the where clauses left after it to the VM's answer
// for the whole where clause, over the shipped catalog and the bench rules.
func TestDispatchAgreesWithWhere(t *testing.T) {
	builtin, err := LoadDir("builtin")
	if err != nil {
		t.Fatal(err)
	}
	rs := append(append(builtin, mustParse(t, mixRules)...), mustParse(t, webRules)...)
	lists := fakeLists{"sensitive_paths": {"/.env"}, "scanner_user_agents": {"sqlmap/1.7"}, "admin_interfaces": {"/admin/"}}
	e, err := NewEngine(rs, EngineConfig{Lists: lists})
	if err != nil {
		t.Fatal(err)
	}
	evs := append(synth(3000, 11), realisticEvents(3000)...)
	rng := rand.New(rand.NewPCG(3, 3))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	for i := range evs {
		ev := &evs[i]
		if rng.IntN(3) == 0 {
			ev.Action = pick("login", "http_request", "error", "admin_action", "reply", "other", "dns_mismatch", "")
			ev.Kind = event.Kind(pick("auth", "web", "error", "audit", ""))
			ev.Outcome = event.Outcome(pick("success", "failure", ""))
			ev.UserRole = event.Role(pick("admin", "agent", "user"))
			ev.SrcZone = event.Zone(pick("internal", "external", ""))
			ev.Severity = pick("error", "warning", "critical")
			ev.SessionID = pick("", "s1")
			ev.Attrs = map[string]string{"admin_op": pick("mfa_disabled", "role_change", "x"), "new_value": pick("Admin", "user")}
		}
	}
	vm := make([]*predicate, len(e.rules))
	for i, c := range e.rules {
		if c.where != nil {
			p := *c.where
			p.fast = nil
			vm[i] = &p
		}
	}
	checked, always := 0, 0
	for _, c := range e.rules {
		if c.always {
			always++
		}
	}
	for i := range evs {
		ev := &evs[i]
		cand := e.rulesFor(ev)
		for j, c := range e.rules {
			if c.where == nil || c.r.Kind == KindSQL {
				continue
			}
			want := vm[j].match(ev)
			in := slices.Contains(cand, j)
			if want && !in {
				t.Fatalf("rule %s: where holds for %+v but dispatch skips it", c.r.ID, ev)
			}
			if in && c.matches(ev) != want {
				t.Fatalf("rule %s: matches = %v, where says %v for %+v", c.r.ID, !want, want, ev)
			}
			checked++
		}
	}
	if always == 0 || checked == 0 {
		t.Errorf("%d rules left nothing to check after dispatch, %d checks: the test does not exercise the elision", always, checked)
	}
}

// TestSummaryPlan holds the summary renderer to text/template on every
// shipped summary and some edge cases.
func TestSummaryPlan(t *testing.T) {
	builtin, err := LoadDir("builtin")
	if err != nil {
		t.Fatal(err)
	}
	extra := mustParse(t, `
id: a
title: A "title"
severity: low
kind: match
where: action == "x"
summary: '{{.http_status}} {{.geo_lat}} {{.src_host_verified}} {{.event_id}} {{.kind}} {{.attrs}} {{.asn}} {{.ts}} {{.src_ip}}!'
---
id: b
title: B
severity: low
kind: threshold
where: action == "x"
window: 90s
threshold: 2
summary: '{{.count}}/{{.window}} {{.rule}} {{.title}} {{.distinct}} {{.silent_since}}'
---
id: c
title: C
severity: low
kind: match
where: action == "x"
`)
	rs := append(builtin, extra...)
	evs := []event.Event{
		{Ts: t0, User: "bob", SrcIP: netip.MustParseAddr("203.0.113.7"), HTTPStatus: 404, GeoLat: 48.8566, Kind: event.KindWeb,
			Attrs: map[string]string{"module": "core", "b": "2"}, ASN: 64500, SrcHostVerified: true, EventID: event.ID{1, 2}},
		{Ts: t0.Add(time.Hour)},
		{Ts: t0, SrcIP: netip.MustParseAddr("2001:db8::1"), GeoLat: 1e21, Message: "x {{ y"},
	}
	extras := []map[string]string{nil, {"distinct": "a, b", "silent_since": "then"}, {"user": "override"}}
	planned := 0
	for _, r := range rs {
		p := newSummaryPlan(r)
		if p == nil {
			continue
		}
		planned++
		for i := range evs {
			for _, x := range extras {
				var buf []byte
				got := summarizeWith(p, &buf, r, &evs[i], 7, x)
				if want := summarize(r, &evs[i], 7, x); got != want {
					t.Errorf("rule %s, event %d, extra %v: plan %q, template %q", r.ID, i, x, got, want)
				}
			}
		}
	}
	if planned < len(builtin)*3/4 {
		t.Errorf("only %d of %d summaries have a plan", planned, len(rs))
	}
}

// TestDamagedSnapshotState: groups whose restored state is inconsistent
// are dropped, not indexed out of range later.
func TestDamagedSnapshotState(t *testing.T) {
	rs := mustParse(t, mixRules)
	dir := t.TempDir()
	e, _ := NewEngine(rs, EngineConfig{StateDir: dir})
	runAll(t, e, synth(2000, 4))
	if err := e.Snapshot(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, snapshotFile)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var snap snapshot
	err = gob.NewDecoder(f).Decode(&snap)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	good, damaged := 0, 0
	for i := range snap.Rules {
		r := &snap.Rules[i]
		for j := range r.Threshold {
			if j%2 == 0 {
				r.Threshold[j].State.N = 1000 // more entries than held
				damaged++
			} else {
				good++
			}
		}
		for j := range r.Distinct {
			if len(r.Distinct[j].State.Vals) > 0 {
				r.Distinct[j].State.Vals[0].N = 1 << 20
			}
		}
		for j := range r.Sequence {
			r.Sequence[j].State.Step = 7
		}
	}
	if damaged == 0 || good == 0 {
		t.Fatalf("%d damaged, %d good threshold groups: the test does not discriminate", damaged, good)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&snap); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	restored, err := NewEngine(rs, EngineConfig{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if k := restored.Stats().Rules[0].Keys; k != uint64(good) {
		t.Errorf("restored %d threshold groups, want the %d sound ones", k, good)
	}
	runAll(t, restored, synth(2000, 5)) // must not panic
}
