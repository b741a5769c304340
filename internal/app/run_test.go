package app

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/rules/builtin"
)

// runTestWait is the failure deadline of every wait in these tests: what
// is merely slow passes well within it.
const runTestWait = 15 * time.Second

// waitUntil polls cond every 20ms until it holds or runTestWait passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(runTestWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", runTestWait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDaemonStateDirMode: NewDaemon tightens an existing state directory
// to 0700 and creates a missing one with 0700.
func TestDaemonStateDirMode(t *testing.T) {
	base := t.TempDir()
	existing := filepath.Join(base, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(existing, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	missing := filepath.Join(base, "missing", "state")

	for _, dir := range []string{existing, missing} {
		cfg := config.Default()
		cfg.StateDir = dir
		cfg.Metrics.Listen = ""
		cfg.Rules.Builtin = false
		cfg.Enrich.RDNS.Enabled = false
		d, err := NewDaemon(RunOptions{Config: cfg, Builtin: builtin.FS})
		if err != nil {
			t.Fatalf("NewDaemon(state_dir %s): %v", dir, err)
		}
		if err := d.closeAll(); err != nil {
			t.Errorf("close: %v", err)
		}
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsDir() {
			t.Fatalf("%s is not a directory", dir)
		}
		if got := st.Mode().Perm(); got != 0o700 {
			t.Errorf("state dir %s has mode %#o, want 0700", dir, got)
		}
	}
}

// alertFor reports whether col holds an alert of rule for src.
func alertFor(col *collector, rule, src string) bool {
	for _, a := range col.sorted() {
		if a.Rule == rule && a.SrcIP.IsValid() && a.SrcIP.String() == src {
			return true
		}
	}
	return false
}

func failedLogin(user, src string) string {
	return time.Now().UTC().Format(time.Stamp) + " hd1 sshd[1]: Failed password for " + user + " from " + src + " port 1 ssh2"
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func matchRule(id, user string) string {
	return fmt.Sprintf(`id: %s
title: Failed login for %s
severity: high
description: Every failed login for %s.
tags: [test]
kind: match
where: action == "login" && outcome == "failure" && user == %q
group_by: [src_ip]
cooldown: 15m
summary: 'failed login for {{.user}} from {{.src_ip}}'
`, id, user, user, user)
}

// daemonConfig writes and loads the config of a daemon that tails one
// empty sshd log, auth.log in dir, runs only the rules at rulePaths and
// sends alerts at once. rulesExtra are further keys of the rules block
// (indented two spaces), extra further top-level blocks.
func daemonConfig(t *testing.T, dir string, rulePaths []string, rulesExtra, extra string) *config.Config {
	t.Helper()
	logPath := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "vigil.yml")
	yml := fmt.Sprintf(`state_dir: %s
sources:
  - {name: auth, paths: [%s], format: sshd, tz: UTC}
rules:
  builtin: false
  paths: [%s]
%senrich:
  rdns: {enabled: false}
alerts:
  stdout: false
  group_wait: 0s
  group_interval: 1s
metrics:
  listen: ""
%s`, filepath.Join(dir, "state"), logPath, strings.Join(rulePaths, ", "), rulesExtra, extra)
	if err := os.WriteFile(cfgFile, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDaemonReload runs the daemon on a config file with one custom rule
// and reloads it twice: with a broken rule file (the reload fails, the
// daemon keeps running the old rule) and with a second valid rule (it
// fires after the reload). The restarted source resumes at its offset, so
// no line is read twice, and cancelling the context stops the daemon
// cleanly.
func TestDaemonReload(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rootRule := filepath.Join(rulesDir, "root.yml")
	extraRule := filepath.Join(rulesDir, "extra.yml")
	if err := os.WriteFile(rootRule, []byte(matchRule("test-root-fail", "root")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := daemonConfig(t, dir, []string{rulesDir}, "  watch: false\n", "")
	if cfg.File == "" {
		t.Fatal("config.Load left Config.File empty: the daemon would not reload it")
	}

	col := &collector{byID: make(map[string]event.Alert)}
	reload := make(chan struct{})
	d, err := NewDaemon(RunOptions{
		Config: cfg, Builtin: builtin.FS,
		Receivers:    []alert.Receiver{{Notifier: col}},
		Reload:       reload,
		TickInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	alive := func() {
		t.Helper()
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("the daemon stopped: %v", err)
		default:
		}
	}
	sendReload := func() {
		t.Helper()
		select {
		case reload <- struct{}{}:
		case err := <-done:
			stopped = true
			t.Fatalf("the daemon stopped before the reload: %v", err)
		case <-time.After(runTestWait):
			t.Fatal("the daemon did not take the reload request")
		}
	}
	sourceLines := func() uint64 {
		srcs, _, _ := d.ingestStats()
		return srcs["auth"].Lines
	}
	written := uint64(0)
	waitLines := func() {
		t.Helper()
		waitUntil(t, fmt.Sprintf("the source to read %d lines", written), func() bool {
			return sourceLines() >= written
		})
		if n := sourceLines(); n != written {
			t.Fatalf("the source read %d lines, %d were written", n, written)
		}
	}

	waitUntil(t, "the daemon to be ready", d.Ready)

	// The initial rule fires.
	appendLine(t, logPath, failedLogin("root", "198.51.100.7"))
	written++
	waitUntil(t, "the alert of test-root-fail for 198.51.100.7", func() bool {
		return alertFor(col, "test-root-fail", "198.51.100.7")
	})
	waitLines()

	// (a) A broken rule file: the reload fails, the old rule keeps running.
	if err := os.WriteFile(rootRule, []byte(matchRule("test-root-fail", "root")+"no_such_key: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sendReload()
	waitUntil(t, "the failed reload to be counted", func() bool { return d.reloadKO.Load() >= 1 })
	alive()
	if n := d.reloads.Load(); n != 0 {
		t.Errorf("reloads = %d after a broken rule file, want 0", n)
	}
	appendLine(t, logPath, failedLogin("root", "198.51.100.8"))
	written++
	waitUntil(t, "the old rule to fire after the failed reload", func() bool {
		return alertFor(col, "test-root-fail", "198.51.100.8")
	})
	waitLines()
	alive()

	// (b) Valid rules again, plus a second one: the reload takes them.
	if err := os.WriteFile(rootRule, []byte(matchRule("test-root-fail", "root")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(extraRule, []byte(matchRule("test-admin-fail", "admin")), 0o644); err != nil {
		t.Fatal(err)
	}
	sendReload()
	waitUntil(t, "the reload to be applied", func() bool { return d.reloads.Load() >= 1 })
	alive()
	appendLine(t, logPath, failedLogin("admin", "198.51.100.9"))
	written++
	waitUntil(t, "the new rule test-admin-fail to fire", func() bool {
		return alertFor(col, "test-admin-fail", "198.51.100.9")
	})
	// The old rule still runs after the reload.
	appendLine(t, logPath, failedLogin("root", "198.51.100.10"))
	written++
	waitUntil(t, "test-root-fail to fire after the reload", func() bool {
		return alertFor(col, "test-root-fail", "198.51.100.10")
	})
	// The restarted source resumed at its offset: nothing was read twice.
	waitLines()
	_, parsers, _ := d.ingestStats()
	var parsed uint64
	for _, p := range parsers {
		parsed += p.Lines
	}
	if parsed != written {
		t.Errorf("the parsers counted %d lines, %d were written", parsed, written)
	}
	for _, a := range col.sorted() {
		if a.Rule == "test-admin-fail" && a.SrcIP.String() != "198.51.100.9" {
			t.Errorf("unexpected alert %s for %s", a.Rule, a.SrcIP)
		}
	}

	cancel()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(2*DefaultDrainTimeout + runTestWait):
		t.Fatal("Run did not return after cancel")
	}
	if n := d.reloads.Load(); n != 1 {
		t.Errorf("reloads = %d, want 1", n)
	}
	if n := d.reloadKO.Load(); n < 1 {
		t.Errorf("failed reloads = %d, want at least 1", n)
	}
	if n := sourceLines(); n != written {
		t.Errorf("after shutdown the source counts %d lines, %d were written", n, written)
	}
}

// TestDemo runs the demo: it reads every line of the merged log, names
// every attacker, alerts on no benign address and prints its table.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Demo(ctx, DemoOptions{Dir: dir, Lines: 6000, Seed: 1, Builtin: builtin.FS, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "logs", "all.log"))
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(bytes.Count(data, []byte("\n"))); res.Lines != want {
		t.Errorf("the demo read %d lines, all.log has %d", res.Lines, want)
	}
	if res.Attackers == 0 {
		t.Error("the scenario has no attacker")
	}
	if res.Detected != res.Attackers {
		t.Errorf("%d of %d attackers detected", res.Detected, res.Attackers)
	}
	if len(res.Alerts) == 0 {
		t.Fatal("the demo raised no alert")
	}
	benign := make(map[string]bool, len(res.Truth.BenignIPs))
	for _, ip := range res.Truth.BenignIPs {
		benign[ip.String()] = true
	}
	text := out.String()
	if !strings.Contains(text, "SEVERITY") {
		t.Errorf("the demo output has no table header:\n%s", text)
	}
	for _, a := range res.Alerts {
		if a.SrcIP.IsValid() && benign[a.SrcIP.String()] {
			t.Errorf("alert %s (%s) names the benign address %s", a.ID, a.Rule, a.SrcIP)
		}
		if !strings.Contains(text, a.Rule) {
			t.Errorf("the demo output does not name rule %s", a.Rule)
		}
	}
}
