package rules

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
)

// LineParser parses one log line into events. It may keep state from line
// to line (sshd's per-pid memory).
type LineParser func(line string) ([]event.Event, error)

// TestEnv is what inline tests need from outside the rules package: the
// parsers and the enrichment (the rules package imports neither).
type TestEnv struct {
	// NewParser returns a fresh parser of the named format for one test.
	NewParser func(format string) (LineParser, error)
	// Enrich, when not nil, is applied to every input event (the app
	// passes the default network zones).
	Enrich func(*event.Event)
	// Lists answers in_list.
	Lists ListLookup
	// Zones answers is_internal; nil means the default internal networks.
	Zones ZoneLookup
}

// TestFailure is one failed inline test.
type TestFailure struct {
	Rule string
	Test string
	Pos  string // file:line of the test
	Msg  string // what differed, one line per difference
}

func (f TestFailure) Error() string {
	return fmt.Sprintf("%s: rule %s: test %q: %s", f.Pos, f.Rule, f.Test, f.Msg)
}

// RunTests runs the inline tests of r, each on a fresh engine that holds
// only r (enabled). The input lines are parsed with a fresh parser, then
// enriched, then given the test's set fields; the given events follow them.
// The alerts are compared with the expected ones in order of firing, each
// in its final version (after Flush). sql rules have no inline tests that
// can run here and are skipped.
func RunTests(r *Rule, env TestEnv) []TestFailure {
	if r.Kind == KindSQL {
		return nil
	}
	var fails []TestFailure
	for _, t := range r.Tests {
		if msg := runTest(r, t, env); msg != "" {
			fails = append(fails, TestFailure{Rule: r.ID, Test: t.Name, Pos: pos(r.File, t.Line), Msg: msg})
		}
	}
	return fails
}

func runTest(r *Rule, t Test, env TestEnv) string {
	rr := *r
	rr.Enabled = true
	eng, err := NewEngine([]*Rule{&rr}, EngineConfig{Lists: env.Lists, Zones: env.Zones})
	if err != nil {
		return err.Error()
	}
	var inputs []event.Event
	if t.Lines != "" {
		if env.NewParser == nil {
			return "no parser to read lines"
		}
		p, err := env.NewParser(t.Format)
		if err != nil {
			return err.Error()
		}
		for i, line := range strings.Split(strings.TrimRight(t.Lines, "\n"), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			evs, err := p(line)
			if err != nil {
				return fmt.Sprintf("line %d: %v", i+1, err)
			}
			inputs = append(inputs, evs...)
		}
	}
	inputs = append(inputs, t.Events...)
	var got []event.Alert
	for i := range inputs {
		ev := &inputs[i]
		if env.Enrich != nil {
			env.Enrich(ev)
		}
		if len(t.Set) > 0 {
			if err := json.Unmarshal(t.Set, ev); err != nil {
				return "set: " + err.Error()
			}
		}
		got = append(got, eng.Process(ev)...)
	}
	got = append(got, eng.Flush()...)
	return diffAlerts(finalVersions(got), t.Alerts)
}

// finalVersions keeps the last version of each alert, in order of first
// appearance.
func finalVersions(as []event.Alert) []event.Alert {
	idx := map[string]int{}
	var out []event.Alert
	for _, a := range as {
		if i, ok := idx[a.ID]; ok {
			out[i] = a
			continue
		}
		idx[a.ID] = len(out)
		out = append(out, a)
	}
	return out
}

func diffAlerts(got []event.Alert, want []ExpectedAlert) string {
	var diffs []string
	if len(got) != len(want) {
		diffs = append(diffs, fmt.Sprintf("got %d alerts, want %d", len(got), len(want)))
	}
	for i := 0; i < len(got) && i < len(want); i++ {
		a, w := got[i], want[i]
		d := func(field string, g, x any) {
			diffs = append(diffs, fmt.Sprintf("alert %d: %s = %v, want %v", i+1, field, g, x))
		}
		for k, v := range w.Group {
			if a.Group[k] != v {
				d("group."+k, quote(a.Group[k]), quote(v))
			}
		}
		if w.Count != nil && a.Count != *w.Count {
			d("count", a.Count, *w.Count)
		}
		if w.Severity != "" && string(a.Severity) != w.Severity {
			d("severity", a.Severity, w.Severity)
		}
		if w.User != nil && a.User != *w.User {
			d("user", quote(a.User), quote(*w.User))
		}
		if w.SrcIP != nil && addrText(a) != *w.SrcIP {
			d("src_ip", quote(addrText(a)), quote(*w.SrcIP))
		}
		if w.Summary != nil && a.Summary != *w.Summary {
			d("summary", quote(a.Summary), quote(*w.Summary))
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(strings.Join(diffs, "; "))
	b.WriteString("\n  alerts raised:")
	if len(got) == 0 {
		b.WriteString(" none")
	}
	for i, a := range got {
		fmt.Fprintf(&b, "\n    %d. group {%s} count %d severity %s user %q src_ip %q summary %q", i+1, groupText(a.Group), a.Count, a.Severity, a.User, addrText(a), a.Summary)
	}
	return b.String()
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

func addrText(a event.Alert) string {
	if !a.SrcIP.IsValid() {
		return ""
	}
	return a.SrcIP.String()
}

func groupText(g map[string]string) string {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + g[k]
	}
	return strings.Join(parts, ", ")
}
