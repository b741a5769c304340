package rules

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// newCountryRule is auth-new-country of the builtin catalog, minus its
// prose.
const newCountryRule = `
id: new-country
title: New country
severity: medium
kind: first_seen
where: action == "login" && outcome == "success" && user != "" && geo_country != ""
group_by: [user]
field: [geo_country]
learn: 14d
cooldown: 24h
`

const day = 24 * time.Hour

func login(ts time.Time, user, country string) event.Event {
	return event.Event{Ts: ts, Kind: event.KindAuth, Action: "login", Outcome: event.OutcomeSuccess,
		User: user, GeoCountry: country, Raw: user + " from " + country}
}

func newTestEngine(t *testing.T, src string, cfg EngineConfig) *Engine {
	t.Helper()
	e, err := NewEngine(mustParse(t, src), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func warmAll(e *Engine, evs []event.Event) {
	for i := range evs {
		e.Warm(&evs[i])
	}
}

// alertedCountries returns the countries of the alerts, in order.
func alertedCountries(alerts []event.Alert) []string {
	out := []string{}
	for _, a := range alerts {
		out = append(out, a.Group["geo_country"])
	}
	return out
}

// TestWarmLearnsFromHistory: an engine given no history learns for 14 days
// from its first live event and alerts on nothing meanwhile; one warmed
// with older history alerts at once on a new country, and not on a country
// the history holds.
func TestWarmLearnsFromHistory(t *testing.T) {
	var history []event.Event
	for d := 60; d >= 1; d-- {
		history = append(history, login(t0.Add(-time.Duration(d)*day), "alice", "FR"))
	}
	history = append(history, login(t0.Add(-40*day), "alice", "DE")) // a trip, out of order
	live := []event.Event{
		login(t0, "alice", "FR"),
		login(t0.Add(time.Hour), "alice", "DE"),
		login(t0.Add(2*time.Hour), "alice", "BR"),
	}

	fresh := newTestEngine(t, newCountryRule, EngineConfig{})
	if got := runAll(t, fresh, live); len(got) != 0 {
		t.Errorf("fresh engine alerted inside its learning period: %v", alertedCountries(got))
	}

	warmed := newTestEngine(t, newCountryRule, EngineConfig{})
	warmAll(warmed, history)
	if events, learned := warmed.WarmStats(); events != 61 || learned != 2 {
		t.Errorf("WarmStats() = %d events, %d learned, want 61, 2", events, learned)
	}
	got := runAll(t, warmed, live)
	if want := []string{"BR"}; !reflect.DeepEqual(alertedCountries(got), want) {
		t.Errorf("warmed engine alerted on %v, want %v", alertedCountries(got), want)
	}
	if len(got) == 1 && got[0].User != "alice" {
		t.Errorf("alert for user %q, want alice", got[0].User)
	}
}

// TestWarmLearningStartsAtOldest: history shorter than the learning
// period starts it at its oldest event, whatever the order it came in.
func TestWarmLearningStartsAtOldest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history []event.Event
	}{
		{"oldest first", []event.Event{login(t0.Add(-3*day), "alice", "FR"), login(t0.Add(-2*day), "alice", "FR")}},
		{"newest first", []event.Event{login(t0.Add(-2*day), "alice", "FR"), login(t0.Add(-3*day), "alice", "FR")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, newCountryRule, EngineConfig{})
			warmAll(e, tc.history)
			// Learning ends 14 days after the oldest warm event: 11 days
			// after t0, not 14 days after the first live event.
			live := []event.Event{
				login(t0, "alice", "BR"),
				login(t0.Add(11*day-time.Minute), "alice", "JP"),
				login(t0.Add(11*day+time.Minute), "alice", "US"),
			}
			if got, want := alertedCountries(runAll(t, e, live)), []string{"US"}; !reflect.DeepEqual(got, want) {
				t.Errorf("alerted on %v, want %v", got, want)
			}
		})
	}
}

func TestWarmingFilter(t *testing.T) {
	const errorSignature = `
id: new-error
title: New error
severity: low
kind: first_seen
where: action == "error" && kind == "error" && attrs["module"] != ""
group_by: [host]
field: [attrs.module]
learn: 1d
`
	const burst = `
id: burst
title: Burst
severity: medium
kind: threshold
where: action == "login" && outcome == "failure"
group_by: [src_ip]
window: 2m
threshold: 3
`
	tests := []struct {
		name   string
		rules  string
		want   WarmFilter
		wantOK bool
	}{
		{
			name:   "pins action and outcome",
			rules:  newCountryRule,
			want:   WarmFilter{Actions: []string{"login"}, Outcomes: []event.Outcome{event.OutcomeSuccess}},
			wantOK: true,
		},
		{
			name:   "pins action and kind",
			rules:  errorSignature,
			want:   WarmFilter{Kinds: []event.Kind{event.KindError}, Actions: []string{"error"}},
			wantOK: true,
		},
		{
			// A field one rule leaves open is open in the union.
			name:   "union of two rules",
			rules:  newCountryRule + "---" + errorSignature + "---" + burst,
			want:   WarmFilter{Actions: []string{"error", "login"}},
			wantOK: true,
		},
		{
			name: "in and or",
			rules: `
id: new-country
title: New country
severity: medium
kind: first_seen
where: (action == "login" || action == "session_start") && outcome in ["success", "unknown"] && kind == "auth"
group_by: [user]
field: [geo_country]
learn: 14d
`,
			want: WarmFilter{Kinds: []event.Kind{event.KindAuth}, Actions: []string{"login", "session_start"},
				Outcomes: []event.Outcome{event.OutcomeSuccess, event.OutcomeUnknown}},
			wantOK: true,
		},
		{
			name: "where allows nothing",
			rules: `
id: never
title: Never
severity: low
kind: first_seen
where: action == "login" && action == "logout"
group_by: [user]
field: [geo_country]
learn: 1d
`,
		},
		{name: "no first_seen rule", rules: burst},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, tc.rules, EngineConfig{})
			got, ok := e.Warming()
			if ok != tc.wantOK || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Warming() = %+v, %v, want %+v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestWarmingAfterSnapshot: a rule whose state came back from the snapshot
// is not warmed; one that starts empty because its definition changed is.
func TestWarmingAfterSnapshot(t *testing.T) {
	dir := t.TempDir()
	first := newTestEngine(t, newCountryRule, EngineConfig{StateDir: dir})
	warmAll(first, []event.Event{login(t0.Add(-30*day), "alice", "FR")})
	if err := first.Snapshot(); err != nil {
		t.Fatal(err)
	}

	restored := newTestEngine(t, newCountryRule, EngineConfig{StateDir: dir})
	if k := restored.Stats().Rules[0].Keys; k != 1 {
		t.Fatalf("restored %d keys, want the warmed one", k)
	}
	if f, ok := restored.Warming(); ok {
		t.Errorf("Warming() = %+v, true after a restore, want false", f)
	}
	restored.Warm(ptr(login(t0.Add(-20*day), "alice", "DE")))
	if k := restored.Stats().Rules[0].Keys; k != 1 {
		t.Errorf("Warm fed a restored rule: %d keys", k)
	}
	if got := alertedCountries(runAll(t, restored, []event.Event{login(t0, "alice", "FR"), login(t0, "alice", "DE")})); !reflect.DeepEqual(got, []string{"DE"}) {
		t.Errorf("restored engine alerted on %v, want [DE]", got)
	}

	changed := newTestEngine(t, strings.Replace(newCountryRule, "learn: 14d", "learn: 7d", 1), EngineConfig{StateDir: dir})
	if _, ok := changed.Warming(); !ok {
		t.Error("Warming() = false for a rule whose definition changed, want true")
	}
}

func ptr[T any](v T) *T { return &v }

// TestWarmSkipsNonMatching: warm events that fail where teach nothing.
func TestWarmSkipsNonMatching(t *testing.T) {
	failure := login(t0.Add(-30*day), "alice", "CN")
	failure.Outcome = event.OutcomeFailure
	noCountry := login(t0.Add(-29*day), "alice", "")
	probe := login(t0.Add(-28*day), "alice", "RU")
	probe.Action = "login_probe"
	history := []event.Event{login(t0.Add(-31*day), "alice", "FR"), failure, noCountry, probe}

	e := newTestEngine(t, newCountryRule, EngineConfig{})
	warmAll(e, history)
	if events, learned := e.WarmStats(); events != 1 || learned != 1 {
		t.Errorf("WarmStats() = %d events, %d learned, want 1, 1", events, learned)
	}
	if k := e.Stats().Rules[0].Keys; k != 1 {
		t.Errorf("%d keys after warming, want 1", k)
	}
	live := []event.Event{login(t0, "alice", "FR"), login(t0, "alice", "CN"), login(t0, "alice", "RU")}
	if got, want := alertedCountries(runAll(t, e, live)), []string{"CN", "RU"}; !reflect.DeepEqual(got, want) {
		t.Errorf("alerted on %v, want %v", got, want)
	}
}

// TestWarmAfterProcessIgnored: once Process has run, Warm does nothing and
// Warming reports nothing to warm.
func TestWarmAfterProcessIgnored(t *testing.T) {
	e := newTestEngine(t, newCountryRule, EngineConfig{})
	e.Process(ptr(login(t0, "alice", "FR")))
	if f, ok := e.Warming(); ok {
		t.Errorf("Warming() = %+v, true after Process, want false", f)
	}
	warmAll(e, []event.Event{login(t0.Add(-60*day), "alice", "DE"), login(t0.Add(-59*day), "bob", "DE")})
	if events, learned := e.WarmStats(); events != 0 || learned != 0 {
		t.Errorf("WarmStats() = %d events, %d learned after Process, want 0, 0", events, learned)
	}
	if k := e.Stats().Rules[0].Keys; k != 1 {
		t.Errorf("%d keys, want the one processed live", k)
	}
	// The learning period still runs from the live event: a warm event
	// 60 days back would have ended it.
	if got := e.Process(ptr(login(t0.Add(time.Hour), "alice", "BR"))); len(got) != 0 {
		t.Errorf("alerted on %v inside the learning period", alertedCountries(got))
	}
}

// TestWarmLeavesOtherRules: warm events reach no other rule, fire nothing
// and leave the counters and the watermark alone.
func TestWarmLeavesOtherRules(t *testing.T) {
	e := newTestEngine(t, newCountryRule+`---
id: burst
title: Burst
severity: medium
kind: threshold
where: action == "login"
group_by: [user]
window: 10m
threshold: 3
cooldown: 0s
---
id: any-login
title: Any login
severity: low
kind: match
where: action == "login"
group_by: [user]
cooldown: 0s
`, EngineConfig{Lateness: -1})
	var history []event.Event
	for i := range 10 {
		history = append(history, login(t0.Add(-time.Minute+time.Duration(i)*time.Second), "alice", "FR"))
	}
	warmAll(e, history)
	s := e.Stats()
	if s.Events != 0 || !s.Watermark.IsZero() {
		t.Errorf("after warming: %d events, watermark %v, want 0 and none", s.Events, s.Watermark)
	}
	if k := s.Rules[0].Keys; k != 1 {
		t.Errorf("first_seen rule holds %d keys, want 1", k)
	}
	for _, rs := range s.Rules {
		if rs.Evaluations != 0 || rs.Matches != 0 || rs.Alerts != 0 || (rs.Rule != "new-country" && rs.Keys != 0) {
			t.Errorf("rule %s changed by warming: %+v", rs.Rule, rs)
		}
	}
	for _, c := range e.rules {
		if len(c.opens) != 0 || len(c.heap) != 0 {
			t.Errorf("rule %s has an open alert after warming", c.r.ID)
		}
	}
	// Ten warm logins within a minute did not count: the first two live
	// ones are below the threshold. Only the match rule fires, once per
	// event it sees live.
	var rules []string
	for i := range 3 {
		for _, a := range e.Process(ptr(login(t0.Add(time.Duration(i)*time.Second), "alice", "FR"))) {
			rules = append(rules, a.Rule)
		}
	}
	if want := []string{"any-login", "any-login", "burst", "any-login"}; !reflect.DeepEqual(rules, want) {
		t.Errorf("live alerts from rules %v, want %v", rules, want)
	}
}
