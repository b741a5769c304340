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

	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/chtest"
	"github.com/vigil-sec/vigil/internal/store"
)

// newAddressRule is a first_seen rule: an address a user has not logged
// in from before, after two weeks of learning.
const newAddressRule = `id: test-new-address
title: Login from a new address
severity: medium
description: A user logged in from an address not seen for them before.
tags: [test]
kind: first_seen
where: action == "login" && outcome == "success" && user != ""
group_by: [user]
field: [src_ip]
learn: 14d
cooldown: 1h
summary: '{{.user}} logged in from {{.src_ip}} for the first time'
`

// TestDaemonWarmsFirstSeen stores three weeks of logins in ClickHouse,
// then starts the daemon on the same database: its first_seen rule is
// warmed from them, so a live login from a known address stays quiet and
// one from a new address alerts at once. With rules.warm off, the rule is
// still learning and neither alerts.
func TestDaemonWarmsFirstSeen(t *testing.T) {
	db := chtest.New(t)
	dir := t.TempDir()
	now := time.Now().UTC()
	var hist strings.Builder
	for day := 21; day >= 1; day-- {
		ts := now.Add(-time.Duration(day) * 24 * time.Hour).Format(time.RFC3339)
		fmt.Fprintf(&hist, "%s hd1 sshd[%d]: Accepted password for jdoe from 198.51.100.7 port 50%03d ssh2\n", ts, day, day)
		fmt.Fprintf(&hist, "%s hd1 sshd[%d]: Failed password for jdoe from 203.0.113.9 port 51%03d ssh2\n", ts, day, day)
	}
	histFile := filepath.Join(dir, "history.log")
	if err := os.WriteFile(histFile, []byte(hist.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := store.DefaultConfig()
	sc.DSN = db.DSN
	if _, err := Replay(context.Background(), ReplayOptions{
		Format: "sshd", Parse: parse.Options{Location: time.UTC}, Output: OutputNone,
		Paths: []string{histFile}, Stdout: &bytes.Buffer{}, Store: sc,
	}); err != nil {
		t.Fatal(err)
	}
	if n := chtest.Count(t, db.Conn, "SELECT count() FROM events"); n != 42 {
		t.Fatalf("the history stored %d events, want 42", n)
	}

	for _, warm := range []string{"30d", "0s"} {
		t.Run("warm "+warm, func(t *testing.T) {
			dir := t.TempDir()
			logPath := filepath.Join(dir, "auth.log")
			ruleFile := filepath.Join(dir, "new-address.yml")
			if err := os.WriteFile(ruleFile, []byte(newAddressRule), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := daemonConfig(t, dir, []string{ruleFile}, "  warm: "+warm+"\n",
				"clickhouse:\n  dsn: "+db.DSN+"\n  batch_interval: 100ms\n")
			d, col := startDaemon(t, cfg)

			accepted := func(src string) string {
				return time.Now().UTC().Format(time.Stamp) + " hd1 sshd[9]: Accepted password for jdoe from " + src + " port 52000 ssh2"
			}
			// 203.0.113.9 only ever failed: new for a success.
			appendLine(t, logPath, accepted("198.51.100.7"))
			appendLine(t, logPath, accepted("203.0.113.9"))
			waitUntil(t, "both live logins to be read", func() bool {
				srcs, _, _ := d.ingestStats()
				return srcs["auth"].Lines == 2
			})

			if warm == "0s" {
				// Let the detector see both, then check that nothing fired.
				time.Sleep(500 * time.Millisecond)
				if got := col.sorted(); len(got) != 0 {
					t.Errorf("without warming the learning rule raised %d alerts: %+v", len(got), got)
				}
				return
			}
			waitUntil(t, "the alert for the new address", func() bool {
				return alertFor(col, "test-new-address", "203.0.113.9")
			})
			if alertFor(col, "test-new-address", "198.51.100.7") {
				t.Error("the address known from history raised an alert")
			}
		})
	}
}
