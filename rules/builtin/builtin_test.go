package builtin_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/chtest"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/gen"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/rules"
	"github.com/vigil-sec/vigil/rules/builtin"
)

// minRules is the size the catalog must keep.
const minRules = 25

// required are the rule ids the catalog must ship (issue 4, part 4).
var required = []string{
	"auth-fail-burst-ip", "auth-fail-burst-ip-slow", "auth-fail-account", "password-spray-ip",
	"credential-stuffing", "login-after-failures", "login-ip-not-allowlisted",
	"admin-login-not-allowlisted", "agent-external-host", "login-new-country", "impossible-travel",
	"default-admin-used", "admin-no-mfa", "admin-off-hours", "sensitive-path-served",
	"sensitive-path-probe", "restricted-area-external", "web-scan-404", "web-scan-ua", "error-spike",
	"error-new-signature", "privileged-action", "rdns-mismatch", "session-multi-ip", "log-source-silent",
}

func load(t *testing.T) []*rules.Rule {
	t.Helper()
	rs, err := rules.LoadFS(builtin.FS, ".")
	if err != nil {
		t.Fatalf("LoadFS(builtin.FS): %v", err)
	}
	return rs
}

func TestFilesAtRoot(t *testing.T) {
	names, err := fs.Glob(builtin.FS, "*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("builtin.FS holds no *.yml file at its root")
	}
	rs := load(t)
	for _, n := range names {
		if !slices.ContainsFunc(rs, func(r *rules.Rule) bool { return filepath.Base(r.File) == n }) {
			t.Errorf("%s holds no rule", n)
		}
	}
}

func TestCatalog(t *testing.T) {
	rs := load(t)
	if len(rs) < minRules {
		t.Errorf("catalog has %d rules, want at least %d", len(rs), minRules)
	}
	if _, err := rules.Merge(rs); err != nil {
		t.Errorf("duplicate ids: %v", err)
	}
	byID := map[string]*rules.Rule{}
	kinds := map[rules.Kind]int{}
	for _, r := range rs {
		byID[r.ID] = r
		kinds[r.Kind]++
	}
	for _, id := range required {
		if byID[id] == nil {
			t.Errorf("required rule %s is missing", id)
		}
	}
	for _, k := range rules.Kinds() {
		if kinds[k] == 0 {
			t.Errorf("no rule of kind %s", k)
		}
	}
}

// TestRuleDocumentation holds every rule to the catalog's house rules: a
// description saying where the threshold comes from and what the false
// positives are, tags, a summary, and tests that fire and tests that do
// not.
func TestRuleDocumentation(t *testing.T) {
	for _, r := range load(t) {
		t.Run(r.ID, func(t *testing.T) {
			if !r.Enabled {
				t.Error("shipped rules are enabled")
			}
			if strings.TrimSpace(r.Title) == "" || strings.TrimSpace(r.Summary) == "" {
				t.Error("title and summary must not be empty")
			}
			for _, word := range []string{"Threshold", "False positives"} {
				if !strings.Contains(r.Description, word) {
					t.Errorf("description does not say %q", word)
				}
			}
			if len(r.Tags) == 0 {
				t.Error("no tags")
			}
			for _, tag := range r.Tags {
				if !strings.HasPrefix(tag, "attack.") {
					t.Errorf("tag %q is not an ATT&CK tag (attack.*)", tag)
				}
			}
			if r.Cooldown <= 0 {
				t.Errorf("cooldown %s, want a positive cooldown", r.Cooldown)
			}
			var firing, quiet int
			for _, tc := range r.Tests {
				if len(tc.Alerts) > 0 {
					firing++
				} else {
					quiet++
				}
			}
			// sql rules cannot fire without ClickHouse: their only tests are
			// quiet ones; the lint check of the query runs at load.
			if firing == 0 && r.Kind != rules.KindSQL {
				t.Error("no test in which the rule fires")
			}
			if quiet == 0 {
				t.Error("no test in which the rule stays quiet")
			}
		})
	}
}

var inListRe = regexp.MustCompile(`in_list\(\s*"([^"]*)"`)

// TestListNames checks that every list a rule consults is one the enrich
// package ships, so that a default install answers it.
func TestListNames(t *testing.T) {
	lists := enrich.DefaultLists()
	for _, r := range load(t) {
		exprs := []string{r.Where}
		for _, s := range r.Steps {
			exprs = append(exprs, s.Where)
		}
		for _, x := range exprs {
			for _, m := range inListRe.FindAllStringSubmatch(x, -1) {
				if _, ok := lists[m[1]]; !ok {
					t.Errorf("%s: in_list(%q): enrich.DefaultLists has no such list", r.ID, m[1])
				}
			}
		}
	}
}

// testReference is the reference time for stamps without a year.
var testReference = time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)

func testEnv(t *testing.T) rules.TestEnv {
	t.Helper()
	zones, err := enrich.NewZones(enrich.DefaultNetworkConfig())
	if err != nil {
		t.Fatal(err)
	}
	lists, err := enrich.NewLists(nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return rules.TestEnv{
		NewParser: func(format string) (rules.LineParser, error) {
			p, err := parse.New(format, parse.Options{Location: time.UTC})
			if err != nil {
				return nil, err
			}
			var offset int64
			return func(line string) ([]event.Event, error) {
				ln := ingest.Line{Source: "test", Path: "test", Offset: offset, End: offset + int64(len(line)) + 1, Text: line, Time: testReference}
				offset = ln.End
				evs, err := p.Parse(ln, nil)
				if errors.Is(err, ingest.ErrNoMatch) {
					return nil, fmt.Errorf("%s parser does not recognise %q", p.Name(), line)
				}
				return evs, err
			}, nil
		},
		Enrich: func(ev *event.Event) { _ = zones.Enrich(context.Background(), ev) },
		Lists:  lists,
		Zones:  zones,
	}
}

// TestInline runs every rule's inline tests with the real parsers, the
// default network zones and the default lists.
func TestInline(t *testing.T) {
	env := testEnv(t)
	for _, r := range load(t) {
		t.Run(r.ID, func(t *testing.T) {
			for _, f := range rules.RunTests(r, env) {
				t.Error(f.Error())
			}
		})
	}
}

// replayed is the outcome of running the whole catalog over a generated
// data set.
type replayed struct {
	truth  gen.Truth
	alerts []event.Alert // final versions, in order of first firing
}

// replay generates a scenario and runs every builtin rule over its files in
// event-time order, as vigil replay would.
func replay(t *testing.T, scenario string, lines int, seed int64) replayed {
	t.Helper()
	dir := t.TempDir()
	truth, err := gen.Generate(gen.Options{Scenario: scenario, Lines: lines, Out: dir, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	formats := map[string]string{gen.FileAuth: "sshd", gen.FileAccess: "access", gen.FileAudit: "audit"}
	zones, err := enrich.NewZones(enrich.DefaultNetworkConfig())
	if err != nil {
		t.Fatal(err)
	}
	lists, err := enrich.NewLists(nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for _, name := range truth.Files {
		format, ok := formats[name]
		if !ok {
			continue
		}
		evs = append(evs, parseFile(t, filepath.Join(dir, name), format)...)
	}
	for i := range evs {
		_ = zones.Enrich(context.Background(), &evs[i])
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Ts.Before(evs[j].Ts) })
	eng, err := rules.NewEngine(load(t), rules.EngineConfig{Lists: lists, Zones: zones})
	if err != nil {
		t.Fatal(err)
	}
	var got []event.Alert
	for i := range evs {
		got = append(got, eng.Process(&evs[i])...)
	}
	got = append(got, eng.Flush()...)
	idx := map[string]int{}
	var final []event.Alert
	for _, a := range got {
		if i, ok := idx[a.ID]; ok {
			final[i] = a
			continue
		}
		idx[a.ID] = len(final)
		final = append(final, a)
	}
	return replayed{truth: truth, alerts: final}
}

func parseFile(t *testing.T, path, format string) []event.Event {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := parse.New(format, parse.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var offset int64
	for sc.Scan() {
		text := sc.Text()
		ln := ingest.Line{Source: format, Path: path, Offset: offset, End: offset + int64(len(text)) + 1, Text: text, Time: st.ModTime()}
		offset = ln.End
		evs, err := p.Parse(ln, nil)
		if err != nil {
			t.Fatalf("%s: %q: %v", path, text, err)
		}
		out = append(out, evs...)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// names reports whether alert a names addr: as its source address, in its
// group, or in one of its evidence lines (a service-wide rule such as
// credential-stuffing names the addresses of a wave only there).
func names(a event.Alert, addr string) bool {
	if a.SrcIP.IsValid() && a.SrcIP.String() == addr || a.Group["src_ip"] == addr {
		return true
	}
	for _, line := range a.Evidence {
		if strings.Contains(line, addr) {
			return true
		}
	}
	return false
}

func describe(as []event.Alert) string {
	var b strings.Builder
	for _, a := range as {
		fmt.Fprintf(&b, "\n  %s %v src_ip=%v user=%q count=%d: %s", a.Rule, a.Group, a.SrcIP, a.User, a.Count, a.Summary)
	}
	return b.String()
}

// TestGeneratedScenarios replays `vigil gen` data sets through the whole
// catalog: every attacking address and every compromised user of the truth
// must be alerted, no benign address may be, and the benign scenario raises
// nothing at all.
func TestGeneratedScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("replays generated logs")
	}
	for _, seed := range []int64{1, 7} {
		t.Run(fmt.Sprintf("mixed/seed%d", seed), func(t *testing.T) {
			r := replay(t, "mixed", 8000, seed)
			if len(r.truth.Attackers) == 0 {
				t.Fatal("truth has no attackers")
			}
			for _, atk := range r.truth.Attackers {
				ip := atk.IP.String()
				if !slices.ContainsFunc(r.alerts, func(a event.Alert) bool { return names(a, ip) }) {
					t.Errorf("attacker %s (%s, %d events) raised no alert", ip, atk.Attack, atk.Events)
				}
			}
			for _, u := range r.truth.CompromisedUsers {
				if !slices.ContainsFunc(r.alerts, func(a event.Alert) bool { return a.User == u || a.Group["user"] == u }) {
					t.Errorf("compromised user %s raised no alert", u)
				}
			}
			for _, ip := range r.truth.BenignIPs {
				s := ip.String()
				for _, a := range r.alerts {
					if a.SrcIP.IsValid() && a.SrcIP.String() == s || a.Group["src_ip"] == s {
						t.Errorf("benign address %s alerted by %s: %s", s, a.Rule, a.Summary)
					}
				}
			}
			if t.Failed() {
				t.Logf("alerts:%s", describe(r.alerts))
			}
		})
		t.Run(fmt.Sprintf("benign/seed%d", seed), func(t *testing.T) {
			r := replay(t, "benign", 8000, seed)
			if len(r.alerts) > 0 {
				t.Errorf("benign traffic raised %d alerts:%s", len(r.alerts), describe(r.alerts))
			}
		})
	}
}

// TestSQLRules runs the queries of the sql rules against a real ClickHouse
// with vigil's own schema (skipped without VIGIL_TEST_CLICKHOUSE; `make
// test` starts a server): error-spike must name the host whose error count
// jumped above its 14-day baseline and not the host that stayed near it.
func TestSQLRules(t *testing.T) {
	var spike *rules.Rule
	for _, r := range load(t) {
		if r.ID == "error-spike" {
			spike = r
		}
	}
	if spike == nil || spike.Kind != rules.KindSQL {
		t.Fatal("error-spike is not an sql rule")
	}
	db := chtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := store.Migrate(ctx, db.Conn, "", 30); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// Both hosts: 14 days with 7 errors in the hour that matches the last
	// hour of today. Then web1 logs 40 errors in the last hour, web2 9.
	for _, q := range []string{
		`INSERT INTO events (ts, host, kind) SELECT now() - number % 14 * 86400 - 86400 - 600 - intDiv(number, 14), 'web1', 'error' FROM system.numbers LIMIT 98`,
		`INSERT INTO events (ts, host, kind) SELECT now() - number % 14 * 86400 - 86400 - 600 - intDiv(number, 14), 'web2', 'error' FROM system.numbers LIMIT 98`,
		`INSERT INTO events (ts, host, kind) SELECT now() - 60 - number, 'web1', 'error' FROM system.numbers LIMIT 40`,
		`INSERT INTO events (ts, host, kind) SELECT now() - 60 - number, 'web2', 'error' FROM system.numbers LIMIT 9`,
		`INSERT INTO events (ts, host, kind) SELECT now() - 60 - number, 'web2', 'web' FROM system.numbers LIMIT 500`,
	} {
		if err := db.Conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows, err := db.Conn.Query(ctx, "SELECT host, toUInt64(count) FROM ("+spike.Query+") ORDER BY host")
	if err != nil {
		t.Fatalf("error-spike query: %v", err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var host string
		var n uint64
		if err := rows.Scan(&host, &n); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s=%d", host, n))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"web1=40"}; !slices.Equal(got, want) {
		t.Errorf("error-spike rows = %v, want %v", got, want)
	}
}
