package parse

import (
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

func TestErrorLog(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no zone data: %v", err)
	}
	ts := utcTime("2025-03-03T09:20:11Z")
	tests := []struct {
		name    string
		loc     *time.Location
		in      string
		want    event.Event
		wantErr string
	}{
		{
			name: "nginx access forbidden",
			in:   `2025/03/03 09:20:11 [error] 1187#1187: *5521 access forbidden by rule, client: 203.0.113.50, server: helpdesk.example.com, request: "GET /data/ HTTP/1.1", host: "helpdesk.example.com"`,
			want: event.Event{Ts: ts, Severity: "error", Message: "access forbidden by rule", SrcIP: addrOf("203.0.113.50"), HTTPMethod: "GET", HTTPPath: "/data/", HTTPHost: "helpdesk.example.com",
				PID: 1187, Attrs: map[string]string{"tid": "1187", "connection": "5521", "server": "helpdesk.example.com"}},
		},
		{
			name: "nginx in a zone, upstream and referrer",
			loc:  berlin,
			in:   `2025/03/03 10:20:11 [warn] 1187#0: *7 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 2001:db8::7, server: , request: "POST /api/x?y=1 HTTP/2.0", upstream: "http://127.0.0.1:9000/api/x", host: "h:8443", referrer: "https://h/"`,
			want: event.Event{Ts: ts, Severity: "warning", Message: "upstream timed out (110: Connection timed out) while reading response header from upstream", SrcIP: addrOf("2001:db8::7"),
				HTTPMethod: "POST", HTTPPath: "/api/x", HTTPQuery: "y=1", HTTPHost: "h", HTTPReferer: "https://h/",
				PID: 1187, Attrs: map[string]string{"tid": "0", "connection": "7", "upstream": "http://127.0.0.1:9000/api/x"}},
		},
		{
			name: "nginx without client",
			in:   `2025/03/03 09:20:11 [notice] 1#1: signal process started`,
			want: event.Event{Ts: ts, Severity: "notice", Message: "signal process started", PID: 1, Attrs: map[string]string{"tid": "1"}},
		},
		{
			name: "nginx forged context in the message",
			in:   `2025/03/03 09:20:11 [error] 9#9: *1 open() "/srv/a, client: 6.6.6.6, server: x" failed (2: No such file or directory), client: 203.0.113.50, server: x, request: "GET /a, client: 6.6.6.6, server: x HTTP/1.1", host: "x"`,
			want: event.Event{Ts: ts, Severity: "error", Message: `open() "/srv/a, client: 6.6.6.6, server: x" failed (2: No such file or directory)`, SrcIP: addrOf("203.0.113.50"),
				HTTPMethod: "GET", HTTPPath: "/a, client: 6.6.6.6, server: x", HTTPHost: "x",
				PID: 9, Attrs: map[string]string{"tid": "9", "connection": "1", "server": "x"}},
		},
		{
			name: "nginx crit",
			in:   `2025/03/03 09:20:11 [crit] 9#9: *3 SSL_do_handshake() failed, client: 198.51.100.4, server: 0.0.0.0:443`,
			want: event.Event{Ts: ts, Severity: "critical", Message: "SSL_do_handshake() failed", SrcIP: addrOf("198.51.100.4"),
				PID: 9, Attrs: map[string]string{"tid": "9", "connection": "3", "server": "0.0.0.0:443"}},
		},
		{
			name: "apache 2.4 access denied",
			in:   `[Mon Mar 03 09:20:11.482913 2025] [authz_core:error] [pid 3121:tid 140215334782528] [client 203.0.113.50:51544] AH01630: client denied by server configuration: /srv/www/helpdesk/data/attachments`,
			want: event.Event{Ts: utcTime("2025-03-03T09:20:11.482913Z"), Severity: "error", SrcIP: addrOf("203.0.113.50"), SrcPort: 51544, Message: "client denied by server configuration: /srv/www/helpdesk/data/attachments",
				PID: 3121, Attrs: map[string]string{"module": "authz_core", "tid": "140215334782528", "error_code": "AH01630"}},
		},
		{
			name: "apache 2.4 PHP error with referer",
			in:   `[Mon Mar 03 09:25:40.001233 2025] [php:error] [pid 3188:tid 140215326389824] [client 10.20.4.17:53001] PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /srv/www/helpdesk/include/db.php:42, referer: https://helpdesk.example.com/agent/`,
			want: event.Event{Ts: utcTime("2025-03-03T09:25:40.001233Z"), Severity: "error", SrcIP: addrOf("10.20.4.17"), SrcPort: 53001, HTTPReferer: "https://helpdesk.example.com/agent/",
				Message: "PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /srv/www/helpdesk/include/db.php:42",
				PID:     3188, Attrs: map[string]string{"module": "php", "tid": "140215326389824"}},
		},
		{
			name: "apache 2.4 server level",
			loc:  berlin,
			in:   `[Mon Mar 03 12:02:17.300114 2025] [core:notice] [pid 1021:tid 140215401924480] AH00052: child pid 3190 exit signal Segmentation fault (11)`,
			want: event.Event{Ts: utcTime("2025-03-03T11:02:17.300114Z"), Severity: "notice", Message: "child pid 3190 exit signal Segmentation fault (11)",
				PID: 1021, Attrs: map[string]string{"module": "core", "tid": "140215401924480", "error_code": "AH00052"}},
		},
		{
			name: "apache 2.4 OS error before the client, IPv6 client",
			in:   `[Mon Mar 03 09:20:11 2025] [core:error] [pid 7] (13)Permission denied: [client 2001:db8::5:51544] AH00035: access to /x denied`,
			want: event.Event{Ts: ts, Severity: "error", SrcIP: addrOf("2001:db8::5"), SrcPort: 51544, Message: "access to /x denied",
				PID: 7, Attrs: map[string]string{"module": "core", "os_error": "(13)Permission denied", "error_code": "AH00035"}},
		},
		{
			name: "apache 2.4 empty module, trace level",
			in:   `[Mon Mar 03 09:20:11.5 2025] [:trace3] [pid 7] something`,
			want: event.Event{Ts: utcTime("2025-03-03T09:20:11.5Z"), Severity: "debug", Message: "something", PID: 7},
		},
		{
			name: "apache 2.2",
			in:   `[Mon Mar 03 09:20:11 2025] [error] [client 203.0.113.50] client denied by server configuration: /srv/www/helpdesk/data/`,
			want: event.Event{Ts: ts, Severity: "error", SrcIP: addrOf("203.0.113.50"), Message: "client denied by server configuration: /srv/www/helpdesk/data/"},
		},
		{
			name: "apache 2.2 space-padded day",
			in:   `[Mon Mar  3 09:20:11 2025] [warn] no client here`,
			want: event.Event{Ts: ts, Severity: "warning", Message: "no client here"},
		},
		{name: "empty", in: ``, wantErr: "neither"},
		{name: "syslog", in: `Mar  3 09:15:02 hd1 sshd[20412]: Accepted password for jdoe from 10.20.4.17 port 53122 ssh2`, wantErr: "neither"},
		{name: "nginx bad date", in: `2025/13/03 09:20:11 [error] 1#1: x`, wantErr: "bad nginx timestamp"},
		{name: "nginx unknown level", in: `2025/03/03 09:20:11 [oops] 1#1: x`, wantErr: "unknown level"},
		{name: "nginx no pid", in: `2025/03/03 09:20:11 [error] x`, wantErr: "no pid#tid"},
		{name: "apache bad date", in: `[Mon Foo 03 09:20:11 2025] [error] x`, wantErr: "bad apache date"},
		{name: "apache no level", in: `[Mon Mar 03 09:20:11 2025] x`, wantErr: "no [level]"},
		{name: "apache unknown level", in: `[Mon Mar 03 09:20:11 2025] [client 1.2.3.4] x`, wantErr: "unknown level"},
		{name: "apache unterminated", in: `[Mon Mar 03 09:20:11 2025`, wantErr: "unterminated [date]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loc := tc.loc
			if loc == nil {
				loc = time.UTC
			}
			want := wantEvent("errorlog", event.KindError, event.ActionError, tc.in, tc.want)
			checkParse(t, NewErrorLog(Options{Location: loc}), tc.in, want, tc.wantErr)
		})
	}
}

func BenchmarkParseErrorLog(b *testing.B) {
	p := NewErrorLog(Options{Location: time.UTC})
	texts := []string{
		`2025/03/03 09:20:11 [error] 1187#1187: *5521 access forbidden by rule, client: 203.0.113.50, server: helpdesk.example.com, request: "GET /data/ HTTP/1.1", host: "helpdesk.example.com"`,
		`[Mon Mar 03 09:20:11.482913 2025] [authz_core:error] [pid 3121:tid 140215334782528] [client 203.0.113.50:51544] AH01630: client denied by server configuration: /srv/www/helpdesk/data/attachments`,
	}
	lines := make([]ingest.Line, len(texts))
	for i, s := range texts {
		lines[i] = ingest.Line{Source: "error", Offset: int64(i) * 200, Text: s}
	}
	dst := make([]event.Event, 0, 1)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		var err error
		dst, err = p.Parse(lines[n%len(lines)], dst[:0])
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}

func FuzzErrorLog(f *testing.F) {
	seedLines(f, "errorlog.log")
	p := NewErrorLog(Options{Location: time.UTC})
	f.Fuzz(func(t *testing.T, text string) {
		checkFuzzParse(t, p, text)
	})
}
