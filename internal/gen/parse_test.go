package gen

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/event"
)

// unclassified reports whether the sshd parser may call a line "other": the
// lines that carry nothing for detection.
func unclassified(line string) bool {
	for _, s := range []string{"check pass; user unknown", "ignoring max retries", ":11: disconnected by user"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// TestParsersAccept runs vigil's own parsers over generated data: every line
// parses, lands at the time it was written (the year of RFC 3164 stamps comes
// from the file's mtime, as in replay), and the parsers count the same
// attack events as truth.json.
func TestParsersAccept(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		lines    int
		start    time.Time
	}{
		{"mixed", 20000, time.Time{}},
		{"mixed", 20000, time.Date(2025, time.December, 31, 20, 0, 0, 0, time.UTC)},
		{"bruteforce", 5000, time.Time{}},
	} {
		t.Run(tc.scenario+"/"+tc.start.Format("2006"), func(t *testing.T) {
			t.Parallel()
			dir, truth := generate(t, Options{Scenario: tc.scenario, Lines: tc.lines, Seed: 21, Start: tc.start})
			opts := parse.Options{Location: time.UTC}
			audit, err := parse.NewAudit(opts)
			if err != nil {
				t.Fatal(err)
			}
			parsers := map[string]ingest.Parser{
				FileAuth:   parse.NewSSHD(opts),
				FileAccess: parse.NewAccess(opts),
				FileAudit:  audit,
			}
			type tally struct{ events, failures, successes int }
			per := map[netip.Addr]*tally{}
			var evs []event.Event
			for _, f := range truth.Files {
				path := filepath.Join(dir, f)
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				for i, text := range readLines(t, path) {
					evs, err = parsers[f].Parse(ingest.Line{Source: f, Path: path, Text: text, Time: st.ModTime()}, evs[:0])
					if err != nil {
						t.Fatalf("%s:%d: %v\n%s", f, i+1, err, text)
					}
					if len(evs) == 0 {
						t.Fatalf("%s:%d: no event from %q", f, i+1, text)
					}
					for _, ev := range evs {
						if ev.Ts.Before(truth.Start) || ev.Ts.After(truth.End) {
							t.Fatalf("%s:%d: time %v outside %v..%v", f, i+1, ev.Ts, truth.Start, truth.End)
						}
						if ev.Action == event.ActionUnparsed || ev.Action == event.ActionOther && !unclassified(text) {
							t.Fatalf("%s:%d: action %q for %q", f, i+1, ev.Action, text)
						}
						if ev.Action == event.ActionOther {
							continue
						}
						if !ev.SrcIP.IsValid() {
							// PAM session lines name the user, not the address.
							if f == FileAuth && (ev.Action == event.ActionSessionStart || ev.Action == event.ActionSessionEnd) {
								continue
							}
							t.Fatalf("%s:%d: no src_ip in %q (action %s)", f, i+1, text, ev.Action)
						}
						c := per[ev.SrcIP]
						if c == nil {
							c = &tally{}
							per[ev.SrcIP] = c
						}
						switch {
						case f == FileAccess:
							if ev.Action != event.ActionHTTPRequest || ev.HTTPStatus == 0 {
								t.Fatalf("%s:%d: %+v", f, i+1, ev)
							}
							c.events++
						case f == FileAudit:
							c.events++
							if ev.Action == event.ActionLogin && ev.Outcome == event.OutcomeFailure {
								c.failures++
							}
						case ev.Action == event.ActionLogin && ev.Outcome == event.OutcomeFailure:
							c.events++
							c.failures++
						case ev.Action == event.ActionLogin && ev.Outcome == event.OutcomeSuccess:
							c.events++
							c.successes++
						}
					}
				}
			}
			for _, a := range truth.Attackers {
				c := per[a.IP]
				if c == nil {
					t.Errorf("attacker %v (%s): the parsers saw nothing", a.IP, a.Attack)
					continue
				}
				// In mixed, a helpdesk attacker's web requests are counted too.
				if got := c.events; got != a.Events && !(a.File == FileAudit && got > a.Events && tc.scenario == "mixed") {
					t.Errorf("attacker %v (%s): parsers count %d events, truth %d", a.IP, a.Attack, got, a.Events)
				}
			}
			for _, ip := range truth.BenignIPs {
				if c := per[ip]; c == nil {
					t.Errorf("benign %v: the parsers saw nothing", ip)
				} else if c.failures > 2 {
					t.Errorf("benign %v: %d failed logins", ip, c.failures)
				}
			}
		})
	}
}
