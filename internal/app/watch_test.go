package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/rules/builtin"
)

// startDaemon runs a daemon on cfg whose alerts go to the returned
// collector, waits until it is ready, and stops it when the test ends,
// failing the test if Run then returns an error.
func startDaemon(t *testing.T, cfg *config.Config) (*Daemon, *collector) {
	t.Helper()
	col := &collector{byID: make(map[string]event.Alert)}
	d, err := NewDaemon(RunOptions{
		Config: cfg, Builtin: builtin.FS,
		Receivers:    []alert.Receiver{{Notifier: col}},
		TickInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel", err)
		}
	})
	waitUntil(t, "the daemon to be ready", d.Ready)
	return d, col
}

// replaceFile writes data to path the way editors and config managers
// do: into a temporary file beside it, then renamed over it.
func replaceFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestDaemonWatchesRules runs the daemon with rules.watch on and no
// SIGHUP: a broken rule file saved into the rule directory is refused and
// the old rules keep running; fixing it and adding a rule reloads once
// the files settle; a rule file named on its own, outside the directory,
// is watched too.
func TestDaemonWatchesRules(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	rulesDir := filepath.Join(dir, "rules.d")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(dir, "oracle.yml")
	rootRule := filepath.Join(rulesDir, "root.yml")
	if err := os.WriteFile(rootRule, []byte(matchRule("test-root-fail", "root")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(single, []byte(matchRule("test-oracle-fail", "oracle")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := daemonConfig(t, dir, []string{rulesDir, single}, "", "")
	if !cfg.Rules.Watch {
		t.Fatal("rules.watch is off by default")
	}

	d, col := startDaemon(t, cfg)
	fires := func(rule, user, src string) {
		t.Helper()
		appendLine(t, logPath, failedLogin(user, src))
		waitUntil(t, fmt.Sprintf("the alert of %s for %s", rule, src), func() bool {
			return alertFor(col, rule, src)
		})
	}
	fires("test-root-fail", "root", "198.51.100.1")

	// A broken save is refused; the running rules stay.
	replaceFile(t, rootRule, matchRule("test-root-fail", "root")+"no_such_key: 1\n")
	waitUntil(t, "the broken rule file to be refused", func() bool { return d.reloadKO.Load() >= 1 })
	if n := d.reloads.Load(); n != 0 {
		t.Errorf("reloads = %d after a broken rule file, want 0", n)
	}
	fires("test-root-fail", "root", "198.51.100.2")

	// The fix and a new rule file, saved within the settle time, are one
	// reload.
	replaceFile(t, rootRule, matchRule("test-root-fail", "root"))
	if err := os.WriteFile(filepath.Join(rulesDir, "admin.yml"), []byte(matchRule("test-admin-fail", "admin")), 0o644); err != nil {
		t.Fatal(err)
	}
	// Not a rule file: ignored.
	if err := os.WriteFile(filepath.Join(rulesDir, "README"), []byte("notes"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the fixed rules to be reloaded", func() bool { return d.reloads.Load() >= 1 })
	fires("test-admin-fail", "admin", "198.51.100.3")
	fires("test-root-fail", "root", "198.51.100.4")
	if n := d.reloads.Load(); n != 1 {
		t.Errorf("reloads = %d after one save of two files, want 1", n)
	}

	// The single rule file outside the directory: now it matches another
	// user.
	replaceFile(t, single, matchRule("test-oracle-fail", "postgres"))
	waitUntil(t, "the changed single rule file to be reloaded", func() bool { return d.reloads.Load() >= 2 })
	fires("test-oracle-fail", "postgres", "198.51.100.5")
}

func TestRuleFilesRelevant(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Rules.Paths = []string{dir, "/etc/vigil/extra.yml"}
	cfg.ListFiles = map[string]string{"admins": "/etc/vigil/admins.txt"}
	w := watchedFiles(cfg)
	for path, want := range map[string]bool{
		filepath.Join(dir, "a.yml"):      true,
		filepath.Join(dir, "b.yaml"):     true,
		filepath.Join(dir, ".a.yml.tmp"): false,
		filepath.Join(dir, "README"):     false,
		"/etc/vigil/extra.yml":           true,
		"/etc/vigil/admins.txt":          true,
		"/etc/vigil/vigil.yml":           false,
		"/etc/vigil/other.yml":           false,
	} {
		if got := w.relevant(path); got != want {
			t.Errorf("relevant(%s) = %v, want %v", path, got, want)
		}
	}
	if got := w.watchDirs(); len(got) != 2 || got[1] != "/etc/vigil" && got[0] != "/etc/vigil" {
		t.Errorf("watchDirs() = %v, want %s and /etc/vigil", got, dir)
	}
}
