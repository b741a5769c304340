package app

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/gen"
	"github.com/vigil-sec/vigil/rules/builtin"
)

// replayScenario generates a scenario and replays all its files through the
// builtin rules with the default config, returning the truth and the alerts.
func replayScenario(t testing.TB, scenario string, lines int, seed int64) (gen.Truth, []event.Alert) {
	t.Helper()
	dir := t.TempDir()
	truth, err := gen.Generate(gen.Options{Scenario: scenario, Lines: lines, Out: dir, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	det, err := LoadDetection(config.Default(), builtin.FS, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range truth.Files {
		paths = append(paths, filepath.Join(dir, f))
	}
	var out bytes.Buffer
	var alerts []event.Alert
	_, err = Replay(context.Background(), ReplayOptions{
		Format: "auto", Parse: parse.Options{Location: time.UTC}, Paths: paths, Stdout: &out,
		Enrich: EnrichOptions{}, Rules: det.Rules, Lists: det.Lists,
		Alerts: func(_ context.Context, as []event.Alert) error {
			alerts = append(alerts, as...)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return truth, alerts
}

func namesUser(a event.Alert, user string) bool {
	return a.User == user || a.Group["user"] == user
}

// TestDetectionQuality replays every gen scenario through the builtin
// rules: every attacking address and every compromised user in truth.json
// is alerted, and no benign address is named by an alert.
func TestDetectionQuality(t *testing.T) {
	for _, scenario := range gen.Scenarios() {
		t.Run(scenario, func(t *testing.T) {
			truth, alerts := replayScenario(t, scenario, 20_000, 1)
			caught := 0
			for _, at := range truth.Attackers {
				if len(alertedBy(alerts, at.IP)) == 0 {
					t.Errorf("attacker %s (%s in %s) raised no alert", at.IP, at.Attack, at.File)
					continue
				}
				caught++
			}
			for _, u := range truth.CompromisedUsers {
				if !slices.ContainsFunc(alerts, func(a event.Alert) bool { return namesUser(a, u) }) {
					t.Errorf("compromised user %q raised no alert", u)
				}
			}
			falsePos := 0
			for _, ip := range truth.BenignIPs {
				for _, a := range alerts {
					if a.SrcIP == ip || slices.Contains(mapValues(a.Group), ip.String()) {
						t.Errorf("benign address %s alerted by %s: %s", ip, a.Rule, a.Summary)
						falsePos++
						break
					}
				}
			}
			byRule := map[string]int{}
			for _, a := range alerts {
				byRule[a.Rule]++
			}
			t.Logf("%s: %d/%d attackers alerted, %d compromised users, %d benign addresses alerted (of %d); alerts by rule %v",
				scenario, caught, len(truth.Attackers), len(truth.CompromisedUsers), falsePos, len(truth.BenignIPs), byRule)
		})
	}
}

// TestReplayAlertsDeterministic replays the same scenario twice: the same
// input gives the same alerts, ids included.
func TestReplayAlertsDeterministic(t *testing.T) {
	_, a := replayScenario(t, "mixed", 10_000, 5)
	_, b := replayScenario(t, "mixed", 10_000, 5)
	if len(a) == 0 {
		t.Fatal("a mixed scenario raised no alert")
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("two replays of one input gave different alerts (%d and %d)", len(a), len(b))
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
