package app

import (
	"bytes"
	"strings"
	"testing"
)

func TestRulesGlue(t *testing.T) {
	var out bytes.Buffer
	if err := LintRules(&out, RuleSources{Dirs: []string{"../../rules/testdata"}}); err != nil {
		t.Fatalf("lint: %v\n%s", err, out.String())
	}
	out.Reset()
	err := LintRules(&out, RuleSources{Dirs: []string{"../../rules/testdata/invalid"}})
	if err == nil || !strings.Contains(out.String(), "bad_expr.yml:5: rule bad-expr: where: unknown name servce (1:22)") {
		t.Fatalf("lint of invalid rules: %v\n%s", err, out.String())
	}
	rs, err := LoadRules(RuleSources{Dirs: []string{"../../rules/testdata"}})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := TestRules(&out, rs); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "0 failed") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestRuleTestEnvParsesLines runs a threshold test given as real sshd lines.
func TestRuleTestEnvParsesLines(t *testing.T) {
	env, err := RuleTestEnv()
	if err != nil {
		t.Fatal(err)
	}
	p, err := env.NewParser("sshd")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := p("2026-11-20T10:00:01Z web1 sshd[10]: Failed password for root from 203.0.113.7 port 4242 ssh2")
	if err != nil || len(evs) != 1 {
		t.Fatalf("parse: %v, %d events", err, len(evs))
	}
	env.Enrich(&evs[0])
	if evs[0].Action != "login" || evs[0].SrcZone != "external" {
		t.Errorf("event %+v", evs[0])
	}
}
