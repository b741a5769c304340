package alert

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMask(t *testing.T) {
	users := []struct{ in, want string }{
		{"alice", "a***e"}, {"bo", "b***"}, {"x", "x***"}, {"", ""}, {"jürgen", "j***n"},
	}
	for _, tc := range users {
		if got := MaskUser(tc.in); got != tc.want {
			t.Errorf("MaskUser(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	addrs := []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.x"},
		{"::ffff:198.51.100.9", "198.51.100.x"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:x:x:x:x"},
		{"2001:db8::1", "2001:db8:0:0:x:x:x:x"},
	}
	for _, tc := range addrs {
		if got := MaskAddr(netip.MustParseAddr(tc.in)); got != tc.want {
			t.Errorf("MaskAddr(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestApplyPII(t *testing.T) {
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := testAlert("ssh-bf", "203.0.113.7", 8, ts)
	a.Group["user"] = "alice"
	a.SrcHost = "dsl-7.pool.example.net"
	a.Summary = "8 failed logins for alice from 203.0.113.7 (alice2 untouched) at 12:00:01"
	a.Evidence = []string{
		"Mar  1 12:00:00 h sshd[1]: Failed password for alice from 203.0.113.7 port 22 ssh2",
		"Mar  1 12:00:01 h sshd[1]: Failed password for alice from 2001:db8:1:2::99 port 22 ssh2",
	}
	orig := a.Summary

	tests := []struct {
		mode                 PII
		user, ip, host, sum  string
		ev1, groupIP, groupU string
	}{
		{PIIRetain, "alice", "203.0.113.7", "dsl-7.pool.example.net", orig,
			a.Evidence[1], "203.0.113.7", "alice"},
		{PIIMask, "a***e", "203.0.113.x", "***.example.net",
			"8 failed logins for a***e from 203.0.113.x (alice2 untouched) at 12:00:01",
			"Mar  1 12:00:01 h sshd[1]: Failed password for a***e from 2001:db8:1:2:x:x:x:x port 22 ssh2",
			"203.0.113.x", "a***e"},
		{PIIRemove, "", "", "",
			"8 failed logins for [removed] from [removed] (alice2 untouched) at 12:00:01",
			"Mar  1 12:00:01 h sshd[1]: Failed password for [removed] from [removed] port 22 ssh2",
			"[removed]", ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.mode), func(t *testing.T) {
			got := ApplyPII(a, tc.mode)
			for _, c := range []struct{ name, got, want string }{
				{"User", got.User, tc.user},
				{"AddrText", AddrText(&got), tc.ip},
				{"SrcHost", got.SrcHost, tc.host},
				{"Summary", got.Summary, tc.sum},
				{"Evidence[1]", got.Evidence[1], tc.ev1},
				{"Group[src_ip]", got.Group["src_ip"], tc.groupIP},
				{"Group[user]", got.Group["user"], tc.groupU},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
				}
			}
			if tc.mode != PIIRetain && strings.Contains(strings.Join(got.Evidence, "\n"), "203.0.113.7") {
				t.Errorf("evidence still holds the address: %q", got.Evidence)
			}
		})
	}
	if a.Summary != orig || a.Group["user"] != "alice" || a.Evidence[0] == "" || a.PII != "" {
		t.Errorf("ApplyPII modified its argument: %+v", a)
	}
}

func TestParsePII(t *testing.T) {
	for in, want := range map[string]PII{"": PIIRetain, "Mask": PIIMask, "remove": PIIRemove} {
		got, err := ParsePII(in)
		if err != nil || got != want {
			t.Errorf("ParsePII(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if _, err := ParsePII("hide"); err == nil || !strings.Contains(err.Error(), "retain, mask or remove") {
		t.Errorf("ParsePII(hide) error = %v", err)
	}
}

func TestScrubIPsLeavesOtherTokens(t *testing.T) {
	in := "deadbeef cafe:babe 12:03:04 v1.2.3 host1.2.3.4x 10.0.0.1."
	want := "deadbeef cafe:babe 12:03:04 v1.2.3 host1.2.3.4x 10.0.0.x."
	if diff := cmp.Diff(want, scrubIPs(in, PIIMask)); diff != "" {
		t.Errorf("scrubIPs mismatch (-want +got):\n%s", diff)
	}
}
