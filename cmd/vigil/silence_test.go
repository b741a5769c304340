package main

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/internal/event"
)

func TestSilenceCommand(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	run := func(at time.Time, args ...string) (string, error) {
		var out, errb bytes.Buffer
		args = append([]string{args[0], "--state-dir", dir}, args[1:]...)
		err := cmdSilenceAt(args, &out, &errb, at)
		return out.String(), err
	}
	id, err := run(now, "add", "--rule", "auth-*", "--match", "src_ip=203.0.113.0/24", "--for", "2h", "--comment", "pentest")
	if err != nil {
		t.Fatal(err)
	}
	id = strings.TrimSpace(id)
	list, err := alert.LoadSilences(alert.SilencesPath(dir))
	if err != nil || len(list) != 1 || list[0].ID != id || !list[0].Until.Equal(now.Add(2*time.Hour)) {
		t.Fatalf("silences file = %+v, %v", list, err)
	}
	a := event.Alert{Rule: "auth-ssh-bf", SrcIP: netipMust("203.0.113.9")}
	if !list[0].Matches(&a) {
		t.Error("the added silence does not match its alert")
	}
	out, err := run(now.Add(time.Hour), "list")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "src_ip=203.0.113.0/24") || !strings.Contains(out, "pentest") {
		t.Errorf("list = %q, %v", out, err)
	}
	if _, err := run(now.Add(time.Hour), "expire", id); err != nil {
		t.Fatal(err)
	}
	out, _ = run(now.Add(time.Hour), "list")
	if strings.Contains(out, id) {
		t.Errorf("expired silence still listed:\n%s", out)
	}
	out, _ = run(now.Add(time.Hour), "list", "--all")
	if !strings.Contains(out, id) || !strings.Contains(out, "(expired)") {
		t.Errorf("list --all = %q", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "--rule", "x"}, "a silence must expire"},
		{[]string{"add", "--for", "1h"}, "give rules or match"},
		{[]string{"add", "--for", "1h", "--match", "src_ip=nope"}, "neither an address nor a CIDR"},
		{[]string{"add", "--for", "1h", "--match", "novalue"}, "want KEY=VALUE"},
		{[]string{"add", "--until", "2020-01-01T00:00:00Z", "--rule", "x"}, "in the past"},
		{[]string{"expire", "nosuch"}, "no silence nosuch"},
		{[]string{"mute"}, `unknown command "mute"`},
	} {
		_, err := run(now, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("silence %v = %v, want %q", tc.args, err, tc.want)
		}
	}
	var ue usageError
	if _, err := run(now, "add", "--rule", "x"); !errors.As(err, &ue) {
		t.Errorf("a bad command line is %T, want usageError (exit 2)", err)
	}
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }
