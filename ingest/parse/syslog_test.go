package parse

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/ingest"
)

func sshLine(text string, ref time.Time) ingest.Line {
	return ingest.Line{Source: "auth", Text: text, Time: ref}
}

func TestParseSyslogHeaders(t *testing.T) {
	ref := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	utc := func(s string) time.Time {
		t.Helper()
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	type hdr struct {
		Ts                           time.Time
		Host, Program, PID, Sev, Msg string
	}
	tests := []struct {
		name string
		in   string
		want hdr
	}{
		{"rfc3164", "Mar  3 09:15:02 hd1 sshd[20412]: Accepted x",
			hdr{utc("2025-03-03T09:15:02Z"), "hd1", "sshd", "20412", "", "Accepted x"}},
		{"rfc3164 two-digit day", "Mar 13 09:15:02 hd1 sshd[1]: m",
			hdr{utc("2025-03-13T09:15:02Z"), "hd1", "sshd", "1", "", "m"}},
		{"rfc3164 zero-padded day", "May 08 09:49:25 hostname dropbear[1773]: m",
			hdr{utc("2024-05-08T09:49:25Z"), "hostname", "dropbear", "1773", "", "m"}},
		{"rfc3164 no pid", "Mar  3 09:15:02 hd1 kernel: [1.2] m",
			hdr{utc("2025-03-03T09:15:02Z"), "hd1", "kernel", "", "", "[1.2] m"}},
		{"priority", "<38>Mar  3 09:15:02 hd1 sshd[7]: m",
			hdr{utc("2025-03-03T09:15:02Z"), "hd1", "sshd", "7", "info", "m"}},
		{"rfc3339 fraction and offset", "2025-03-03T09:15:02.114523+02:00 hd1 sshd[1]: m",
			hdr{utc("2025-03-03T07:15:02.114523Z"), "hd1", "sshd", "1", "", "m"}},
		{"rfc3339 Z", "2025-03-03T09:15:02Z hd1 sshd-session[1]: m",
			hdr{utc("2025-03-03T09:15:02Z"), "hd1", "sshd-session", "1", "", "m"}},
		{"macos", "2018-12-20 10:09:05.180218+0000 localhost sshd[67566]: m",
			hdr{utc("2018-12-20T10:09:05.180218Z"), "localhost", "sshd", "67566", "", "m"}},
		{"rfc5424", "<34>1 2025-03-03T09:15:02.003Z host sshd 1234 - - msg here",
			hdr{utc("2025-03-03T09:15:02.003Z"), "host", "sshd", "1234", "critical", "msg here"}},
		{"rfc5424 structured data", `<34>1 2025-03-03T09:15:02.003Z host sshd 1234 ID1 [a@1 k="x \"]\" y"][b@2] msg`,
			hdr{utc("2025-03-03T09:15:02.003Z"), "host", "sshd", "1234", "critical", "msg"}},
		{"rfc5424 nil fields and BOM", "<13>1 - - sshd - - - \ufeffmsg",
			hdr{time.Time{}, "", "sshd", "", "notice", "msg"}},
		{"rfc5424 without pri", "2022-02-24T21:00:42.021457+00:00 evse dropbear 6052 - - m",
			hdr{utc("2022-02-24T21:00:42.021457Z"), "evse", "dropbear", "6052", "", "m"}},
		{"busybox facility", "Jun 20 02:18:39 vps auth.info sshd[13482]: m",
			hdr{utc("2024-06-20T02:18:39Z"), "vps", "sshd", "13482", "info", "m"}},
		{"busybox no host", "May 9 11:11:17 sshd[30876]: m",
			hdr{utc("2024-05-09T11:11:17Z"), "", "sshd", "30876", "", "m"}},
		{"freebsd -v", "Jan  1 00:00:00 <10.5> foxtrot sshd[1234]: m",
			hdr{utc("2025-01-01T00:00:00Z"), "foxtrot", "sshd", "1234", "notice", "m"}},
		{"rsyslog no colon", "2020-05-29T11:28:56.058908+02:00 bastion sshd[20974] error: m",
			hdr{utc("2020-05-29T09:28:56.058908Z"), "bastion", "sshd", "20974", "", "error: m"}},
		{"socklog", "2015-05-27T04:31:28.10040 auth.info: May 27 04:31:28 sshd[30993]: m",
			hdr{utc("2015-05-27T04:31:28.1004Z"), "", "sshd", "30993", "info", "m"}},
		{"socklog stripped", "2015-05-27T04:31:28.10040 auth.info: sshd[30993]:  m",
			hdr{utc("2015-05-27T04:31:28.1004Z"), "", "sshd", "30993", "info", "m"}},
		{"socklog bare", "2015-05-27T04:31:27.46667 auth.info: Invalid user admin",
			hdr{utc("2015-05-27T04:31:27.46667Z"), "", "", "", "info", "Invalid user admin"}},
		{"stamp and bare message", "2018-06-26 13:22:02.108781500 Failed password for x",
			hdr{utc("2018-06-26T13:22:02.1087815Z"), "", "", "", "", "Failed password for x"}},
		{"carriage return", "Mar  3 09:15:02 hd1 sshd[1]: m\r",
			hdr{utc("2025-03-03T09:15:02Z"), "hd1", "sshd", "1", "", "m"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := parseSyslog(tc.in, ref, time.UTC)
			if !ok {
				t.Fatalf("parseSyslog(%q) refused the line", tc.in)
			}
			got := hdr{h.ts, h.host, h.program, h.pid, h.severity, h.msg}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseSyslog(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParseSyslogRefuses(t *testing.T) {
	for _, in := range []string{
		"", "Mar", "Mar  3", "Mar 32 09:15:02 h p: m", "Mar  3 24:15:02 h p: m", "Foo  3 09:15:02 h p: m",
		"Mar  3 09:15:02x h p: m", "2025-13-03T09:15:02Z h p: m", "2025-03-03T09:15:02+25:00 h p: m",
		"2025-03-03T09:15:02.Z h p: m", "<999>Mar  3 09:15:02 h p: m", "<34>1 garbage", "<34>1 - h",
		`<34>1 - h app 1 - [unterminated msg`, "2025/03/03 09:20:11 [error] 1#1: m",
		`198.51.100.77 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1`,
	} {
		if h, ok := parseSyslog(in, time.Now(), time.UTC); ok && h.program != "" {
			t.Errorf("parseSyslog(%q) = %+v, want no header", in, h)
		}
	}
}

// TestSyslogYear checks the year inferred for RFC 3164 stamps from the
// reference time (the read time, or the file's mtime in a replay).
func TestSyslogYear(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name  string
		ref   time.Time
		stamp string
		loc   *time.Location
		want  time.Time
	}{
		{"same year", time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), "Mar  3 09:15:02",
			time.UTC, time.Date(2025, 3, 3, 9, 15, 2, 0, time.UTC)},
		{"december line, january mtime", time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC), "Dec 31 23:59:59",
			time.UTC, time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"a few days ahead (skewed clock) stays", time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC), "Mar  9 00:00:00",
			time.UTC, time.Date(2025, 3, 9, 0, 0, 0, 0, time.UTC)},
		{"more than a week ahead is last year", time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC), "Mar 11 00:00:00",
			time.UTC, time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC)},
		{"january line read on new year's eve (slow clock)", time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), "Jan  1 00:10:00",
			time.UTC, time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)},
		{"january line in a december file is last january", time.Date(2025, 12, 2, 0, 0, 0, 0, time.UTC), "Jan 15 00:10:00",
			time.UTC, time.Date(2025, 1, 15, 0, 10, 0, 0, time.UTC)},
		{"leap day", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), "Feb 29 12:00:00",
			time.UTC, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)},
		{"zone of the stamp", time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), "Mar  3 09:15:02",
			berlin, time.Date(2025, 3, 3, 8, 15, 2, 0, time.UTC)},
		{"year of the reference in the stamp's zone", time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC), "Jan  1 00:20:00",
			berlin, time.Date(2025, 12, 31, 23, 20, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, ok := sysStamp3164(tc.stamp, tc.ref, tc.loc)
			if !ok || !got.Equal(tc.want) {
				t.Errorf("sysStamp3164(%q, ref %v) = %v, %v; want %v", tc.stamp, tc.ref, got, ok, tc.want)
			}
		})
	}
	// Replaying the same file gives the same stamps: no state between lines.
	p := NewSSHD(Options{Location: time.UTC})
	ln := sshLine("Dec 31 23:59:59 hd1 sshd[1]: Accepted password for x from 192.0.2.1 port 1 ssh2", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	a, _ := p.Parse(ln, nil)
	b, _ := p.Parse(ln, nil)
	if !a[0].Ts.Equal(b[0].Ts) || a[0].Ts.Year() != 2025 {
		t.Errorf("year roll-over: got %v then %v, want 2025-12-31 twice", a[0].Ts, b[0].Ts)
	}
}

func TestParseJournal(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want syslogHeader
		ok   bool
	}{
		{"fields", `{"__REALTIME_TIMESTAMP":"1741000000123456","_HOSTNAME":"hd4","SYSLOG_IDENTIFIER":"sshd","_PID":"5100","PRIORITY":"6","MESSAGE":"Failed x"}`,
			syslogHeader{ts: time.UnixMicro(1741000000123456).UTC(), host: "hd4", program: "sshd", pid: "5100", severity: "info", msg: "Failed x"}, true},
		{"binary message and comm", `{"_COMM":"sshd","SYSLOG_PID":"9","MESSAGE":[104,105]}`,
			syslogHeader{program: "sshd", pid: "9", msg: "hi"}, true},
		{"repeated field", `{"SYSLOG_IDENTIFIER":["sshd","x"],"MESSAGE":"m"}`,
			syslogHeader{program: "sshd", msg: "m"}, true},
		{"no message", `{"SYSLOG_IDENTIFIER":"sshd"}`, syslogHeader{}, false},
		{"bad byte", `{"MESSAGE":[300]}`, syslogHeader{}, false},
		{"not json", `{"MESSAGE":"m"`, syslogHeader{}, false},
		{"bad time is ignored", `{"__REALTIME_TIMESTAMP":"soon","MESSAGE":"m"}`, syslogHeader{msg: "m"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseJournal(tc.in)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("parseJournal(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestLooksLikeSyslog(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"Mar  3 09:15:02 hd1 sshd[20412]: Accepted password for jdoe", true},
		{"Mar  3 09:15:02 hd1 CRON[1]: anything", true},
		{"<34>1 2025-03-03T09:15:02.003Z host sshd 1234 - - msg", true},
		{"2025-03-03T09:15:02.114523+00:00 host sshd[1]: m", true},
		{`{"MESSAGE":"m","SYSLOG_IDENTIFIER":"sshd"}`, true},
		{"Invalid user inexu from 6.6.6.0", false},
		{"2025-03-03T09:15:02Z INFO server started", false},
		{`{"ts":"2025-03-03T09:21:45.120Z","event":"login_success"}`, false},
		{`198.51.100.77 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1 "-" "-"`, false},
		{`[Mon Mar 03 09:20:11.482913 2025] [authz_core:error] [pid 3121:tid 1] AH01630: x`, false},
		{`2025/03/03 09:20:11 [error] 1187#1187: *5521 access forbidden by rule`, false},
		{"", false},
	} {
		if got := LooksLikeSyslog(tc.in); got != tc.want {
			t.Errorf("LooksLikeSyslog(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
