package rules

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestLoadTestdata(t *testing.T) {
	rs, err := LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[Kind]bool{}
	for _, r := range rs {
		kinds[r.Kind] = true
	}
	for _, k := range Kinds() {
		if !kinds[k] {
			t.Errorf("testdata has no rule of kind %s", k)
		}
	}
}

func TestLoadPath(t *testing.T) {
	dir, err := LoadPath("testdata")
	if err != nil {
		t.Fatal(err)
	}
	file, err := LoadPath(filepath.Join("testdata", "other.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(file) == 0 || len(file) >= len(dir) {
		t.Fatalf("other.yml has %d rules, the directory %d", len(file), len(dir))
	}
	for _, r := range file {
		if r.File != filepath.Join("testdata", "other.yml") {
			t.Errorf("rule %s is from %s", r.ID, r.File)
		}
	}
	if _, err := LoadPath(filepath.Join("testdata", "missing.yml")); err == nil || !strings.Contains(err.Error(), "missing.yml") {
		t.Errorf("LoadPath of a missing file: %v, want an error naming it", err)
	}
}

func TestInlineTests(t *testing.T) {
	rs, err := LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	lists := fakeLists{"sensitive_paths": {"/.env", "/.git/config"}}
	ran := 0
	for _, r := range rs {
		for _, f := range RunTests(r, TestEnv{Lists: lists}) {
			t.Error(f.Error())
		}
		ran += len(r.Tests)
	}
	if ran < 10 {
		t.Fatalf("ran %d tests", ran)
	}
}

// TestInlineTestsCatchFailures makes sure a wrong expectation fails with a
// readable diff.
func TestInlineTestsCatchFailures(t *testing.T) {
	rs, err := Parse("x.yml", []byte(`
id: x
title: X
severity: low
kind: threshold
where: action == "login"
group_by: [src_ip]
window: 1m
threshold: 2
tests:
  - name: wrong count
    events:
      - {ts: 2026-11-20T10:00:00Z, action: login, src_ip: 192.0.2.1, raw: l1}
      - {ts: 2026-11-20T10:00:01Z, action: login, src_ip: 192.0.2.1, raw: l2}
    alerts:
      - {group: {src_ip: 192.0.2.9}, count: 5}
`))
	if err != nil {
		t.Fatal(err)
	}
	fails := RunTests(rs[0], TestEnv{})
	if len(fails) != 1 {
		t.Fatalf("got %d failures, want 1", len(fails))
	}
	msg := fails[0].Error()
	for _, want := range []string{`x.yml:11: rule x: test "wrong count"`, `group.src_ip = "192.0.2.1", want "192.0.2.9"`, "count = 2, want 5", "1. group {src_ip: 192.0.2.1} count 2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure %q lacks %q", msg, want)
		}
	}
}

func TestInvalidGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yml")
	if len(files) < 5 {
		t.Fatal("no invalid rule files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Parse(filepath.Base(f), data)
			if err == nil {
				t.Fatalf("no error; loaded %d rules", len(rs))
			}
			var le *Error
			if !errors.As(err, &le) {
				t.Errorf("error %T is not an *Error", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "14d": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour, "0": 0, "15m": 15 * time.Minute} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "5 minutes", "-1m", "xd", "1.5d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
}

type fakeLists map[string][]string

func (l fakeLists) Has(name, value string) bool {
	for _, v := range l[name] {
		if v == value {
			return true
		}
	}
	return false
}
