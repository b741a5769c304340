package parse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// appPattern reads lines like
// "2025-03-03T09:21:45Z web1 login failure user=jdoe ip=203.0.113.77 port=51000 why=bad_password".
const appPattern = `^(?P<ts>\S+) (?P<host>\S+) (?P<action>\w+) (?P<outcome>\w+) user=(?P<user>\S+) ip=(?P<src_ip>\S+)(?: port=(?P<src_port>\d+))?(?: why=(?P<reason>\S+))?(?: (?P<tail>.*))?$`

func TestRegex(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		in      string
		want    event.Event
		wantErr string
	}{
		{
			name: "all groups",
			opts: Options{Pattern: appPattern},
			in:   "2025-03-03T09:21:45Z web1 login failure user=JDoe ip=203.0.113.77 port=51000 why=bad_password extra words",
			want: event.Event{Ts: utcTime("2025-03-03T09:21:45Z"), Host: "web1", Kind: event.KindAuth, Action: "login", Outcome: event.OutcomeFailure, User: "jdoe",
				SrcIP: addrOf("203.0.113.77"), SrcPort: 51000, Reason: "bad_password", Attrs: map[string]string{"tail": "extra words"}},
		},
		{
			name: "optional groups absent, unknown outcome word",
			opts: Options{Pattern: appPattern},
			in:   "2025-03-03T09:21:45+01:00 web1 logout maybe user=jdoe ip=2001:db8::1",
			want: event.Event{Ts: utcTime("2025-03-03T08:21:45Z"), Host: "web1", Kind: event.KindAuth, Action: "logout", User: "jdoe", SrcIP: addrOf("2001:db8::1"),
				Attrs: map[string]string{"outcome": "maybe"}},
		},
		{
			name: "web kind, layout without year or zone",
			opts: Options{Pattern: `^(?P<ts>\w{3} [ \d]\d \d\d:\d\d:\d\d) (?P<http_method>\S+) (?P<http_path>\S+) (?P<http_status>\d+)`, TimeLayout: time.Stamp, Kind: event.KindWeb, Location: time.UTC},
			in:   "Mar  3 09:21:45 GET /admin 403",
			want: event.Event{Ts: utcTime("2025-03-03T09:21:45Z"), Kind: event.KindWeb, Action: event.ActionHTTPRequest, HTTPMethod: "GET", HTTPPath: "/admin", HTTPStatus: 403},
		},
		{
			name: "December line read in March is last year's",
			opts: Options{Pattern: `^(?P<ts>\w{3} [ \d]\d \d\d:\d\d:\d\d) (?P<message>.*)`, TimeLayout: time.Stamp, Kind: event.KindError, Location: time.UTC},
			in:   "Dec 31 23:59:59 boom",
			want: event.Event{Ts: utcTime("2024-12-31T23:59:59Z"), Kind: event.KindError, Action: event.ActionError, Message: "boom"},
		},
		{
			name: "unix time, no other groups",
			opts: Options{Pattern: `^(?P<ts>\d+) (?P<severity>\w+)`, TimeLayout: "unix", Kind: event.KindAudit},
			in:   "1741000000 WARN",
			want: event.Event{Ts: utcTime("2025-03-03T11:06:40Z"), Kind: event.KindAudit, Action: event.ActionOther, Severity: "warning"},
		},
		{
			name: "no ts group: read time",
			opts: Options{Pattern: `user (?P<user>\w+) denied`},
			in:   "user bob denied",
			want: event.Event{Ts: testReadTime, Kind: event.KindAuth, Action: event.ActionOther, User: "bob"},
		},
		{name: "no match", opts: Options{Pattern: appPattern}, in: "hello", wantErr: "pattern does not match"},
		{name: "bad ts", opts: Options{Pattern: appPattern}, in: "yesterday web1 login failure user=jdoe ip=203.0.113.77", wantErr: `group ts: parsing time "yesterday"`},
		{name: "bad address", opts: Options{Pattern: appPattern}, in: "2025-03-03T09:21:45Z web1 login failure user=jdoe ip=999.1.1.1", wantErr: `group src_ip: "999.1.1.1" is not an IP address`},
		{name: "bad port", opts: Options{Pattern: appPattern}, in: "2025-03-03T09:21:45Z web1 login failure user=jdoe ip=1.2.3.4 port=70000", wantErr: `group src_port: "70000" is not a port`},
		{name: "bad unix time", opts: Options{Pattern: `^(?P<ts>\S+)`, TimeLayout: "unix"}, in: "1e9", wantErr: "is not a Unix time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewRegex(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			kind, action := tc.want.Kind, tc.want.Action
			want := wantEvent("regex", kind, action, tc.in, tc.want)
			checkParse(t, p, tc.in, want, tc.wantErr)
		})
	}
}

func TestNewRegexErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"empty", Options{}, "regex: empty pattern"},
		{"does not compile", Options{Pattern: `(?P<ts>`}, "regex: compile pattern: error parsing regexp"},
		{"no named groups", Options{Pattern: `(\d+) (\w+)`}, "no named groups"},
		{"bad kind", Options{Pattern: `(?P<ts>\S+)`, Kind: "weird"}, `unknown kind "weird"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRegex(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewRegex error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// FuzzRegex fuzzes the pattern and the time layout as well as the line:
// a user writes both.
func FuzzRegex(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "regex.log"))
	if err != nil {
		f.Fatal(err)
	}
	for s := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
		f.Add(appPattern, "", s)
	}
	f.Add(`^(?P<ts>\w{3} [ \d]\d \d\d:\d\d:\d\d) (?P<http_method>\S+) (?P<http_path>\S+) (?P<http_status>\d+)`, time.Stamp, "Mar  3 09:21:45 GET /admin 403")
	f.Add(`^(?P<ts>\d+) (?P<src_ip>\S+) (?P<whatever>.*)`, "unix", "1741000000 ::ffff:10.1.2.3 x")
	f.Fuzz(func(t *testing.T, pattern, layout, text string) {
		p, err := NewRegex(Options{Pattern: pattern, TimeLayout: layout, Location: time.UTC})
		if err != nil {
			return
		}
		checkFuzzParse(t, p, text)
	})
}
