package parse

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// testReadTime is the read time of the lines in these tests.
var testReadTime = time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)

// parseOneLine runs p on one line read at testReadTime from offset 0 of source
// "test".
func parseOneLine(p ingest.Parser, text string) ([]event.Event, error) {
	return p.Parse(ingest.Line{Source: "test", Path: "test.log", Text: text, Time: testReadTime}, nil)
}

// wantEvent completes want with the fields every event of the parser has.
func wantEvent(parser string, kind event.Kind, action, text string, want event.Event) event.Event {
	want.Kind, want.Source, want.Parser, want.Raw = kind, "test", parser, text
	if want.Action == "" {
		want.Action = action
	}
	if want.Outcome == "" {
		want.Outcome = event.OutcomeUnknown
	}
	want.EventID = event.NewID("test", event.FileID{}, 0, 0)
	return want
}

// addrCmp lets cmp compare netip.Addr values, whose fields are unexported.
var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// checkParse runs one table case: the line gives exactly want, or an error
// wrapping ingest.ErrNoMatch that contains wantErr.
func checkParse(t *testing.T, p ingest.Parser, in string, want event.Event, wantErr string) {
	t.Helper()
	got, err := parseOneLine(p, in)
	if wantErr != "" {
		if err == nil || !errors.Is(err, ingest.ErrNoMatch) || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("Parse(%q) error = %v, want one wrapping ErrNoMatch with %q", in, err, wantErr)
		}
		if len(got) != 0 {
			t.Fatalf("Parse(%q) returned events with its error: %v", in, got)
		}
		return
	}
	if err != nil {
		t.Fatalf("Parse(%q) error: %v", in, err)
	}
	if len(got) != 1 {
		t.Fatalf("Parse(%q) gave %d events, want 1", in, len(got))
	}
	if diff := cmp.Diff(want, got[0], addrCmp); diff != "" {
		t.Errorf("Parse(%q) mismatch (-want +got):\n%s", in, diff)
	}
}

func addrOf(s string) netip.Addr { return netip.MustParseAddr(s) }

func utcTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestAccess(t *testing.T) {
	const ua = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"
	ts := utcTime("2025-03-03T09:20:11Z")
	tests := []struct {
		name    string
		opts    Options
		in      string
		want    event.Event
		wantErr string
	}{
		{
			name: "combined",
			in:   `203.0.113.50 - - [03/Mar/2025:09:20:11 +0000] "GET /data/attachments/2025/03/invoice.pdf HTTP/1.1" 403 153 "-" "` + ua + `"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("203.0.113.50"), HTTPMethod: "GET", HTTPPath: "/data/attachments/2025/03/invoice.pdf", HTTPStatus: 403, HTTPBytes: 153, UserAgent: ua},
		},
		{
			name: "combined with referer and query",
			in:   `10.20.4.17 - - [03/Mar/2025:09:21:45 +0000] "POST /agent/login.php?next=%2Fagent%2F&x=1 HTTP/1.1" 302 0 "https://helpdesk.example.com/agent/login.php" "curl/8.5.0"`,
			want: event.Event{Ts: utcTime("2025-03-03T09:21:45Z"), SrcIP: addrOf("10.20.4.17"), HTTPMethod: "POST", HTTPPath: "/agent/login.php", HTTPQuery: "next=%2Fagent%2F&x=1", HTTPStatus: 302, HTTPReferer: "https://helpdesk.example.com/agent/login.php", UserAgent: "curl/8.5.0"},
		},
		{
			name: "common",
			in:   `192.0.2.7 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.0" 200 512`,
			want: event.Event{Ts: ts, SrcIP: addrOf("192.0.2.7"), HTTPMethod: "GET", HTTPPath: "/", HTTPStatus: 200, HTTPBytes: 512},
		},
		{
			name: "bytes dash, zone offset, auth user",
			in:   `192.0.2.7 - JDoe [03/Mar/2025:14:50:11 +0530] "GET /robots.txt HTTP/1.1" 200 - "-" "-"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("192.0.2.7"), User: "jdoe", HTTPMethod: "GET", HTTPPath: "/robots.txt", HTTPStatus: 200},
		},
		{
			name: "quoted auth user",
			in:   `192.0.2.7 - "Jane Doe" [03/Mar/2025:09:20:11 -0000] "GET /agent/ HTTP/2.0" 401 10 "-" "ua"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("192.0.2.7"), User: "jane doe", HTTPMethod: "GET", HTTPPath: "/agent/", HTTPStatus: 401, HTTPBytes: 10, UserAgent: "ua"},
		},
		{
			name: "missing agent",
			in:   `192.0.2.7 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 5 "https://example.com/"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("192.0.2.7"), HTTPMethod: "GET", HTTPPath: "/", HTTPStatus: 200, HTTPBytes: 5, HTTPReferer: "https://example.com/"},
		},
		{
			name: "vhost_combined with port",
			in:   `helpdesk.example.com:443 203.0.113.50 - - [03/Mar/2025:09:20:11 +0000] "GET /admin/ HTTP/1.1" 404 153 "-" "ua"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("203.0.113.50"), HTTPHost: "helpdesk.example.com", HTTPMethod: "GET", HTTPPath: "/admin/", HTTPStatus: 404, HTTPBytes: 153, UserAgent: "ua"},
		},
		{
			name: "host prefix, IPv6 client",
			in:   `helpdesk 2001:db8::a11:beef - - [03/Mar/2025:09:20:11 +0000] "HEAD / HTTP/1.1" 200 0 "-" "ua"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("2001:db8::a11:beef"), HTTPHost: "helpdesk", HTTPMethod: "HEAD", HTTPPath: "/", HTTPStatus: 200, UserAgent: "ua"},
		},
		{
			name: "resolved client name",
			in:   `crawl-66-249-73-135.googlebot.com - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"`,
			want: event.Event{Ts: ts, HTTPMethod: "GET", HTTPPath: "/", HTTPStatus: 200, HTTPBytes: 1, UserAgent: "ua", Attrs: map[string]string{"remote_host": "crawl-66-249-73-135.googlebot.com"}},
		},
		{
			name: "escaped quotes in agent",
			in:   `192.0.2.7 - - [03/Mar/2025:09:20:11 +0000] "GET /x HTTP/1.1" 200 1 "-" "say \"hi\" \\"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("192.0.2.7"), HTTPMethod: "GET", HTTPPath: "/x", HTTPStatus: 200, HTTPBytes: 1, UserAgent: `say \"hi\" \\`},
		},
		{
			name: "unescaped quote in agent",
			in:   `192.0.2.7 - - [03/Mar/2025:09:20:11 +0000] "GET /x HTTP/1.1" 200 1 "-" "a"b"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("192.0.2.7"), HTTPMethod: "GET", HTTPPath: "/x", HTTPStatus: 200, HTTPBytes: 1, UserAgent: `a"b`},
		},
		{
			name: "TLS handshake on the plain port",
			in:   `198.51.100.9 - - [03/Mar/2025:09:20:11 +0000] "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" 400 157 "-" "-"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("198.51.100.9"), HTTPStatus: 400, HTTPBytes: 157, Attrs: map[string]string{"request": `\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03`}},
		},
		{
			name: "empty request",
			in:   `198.51.100.9 - - [03/Mar/2025:09:20:11 +0000] "-" 408 0 "-" "-"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("198.51.100.9"), HTTPStatus: 408, Attrs: map[string]string{"request": "-"}},
		},
		{
			name: "HTTP/0.9 and unencoded space",
			in:   `198.51.100.9 - - [03/Mar/2025:09:20:11 +0000] "GET /a b?c=d HTTP/1.1" 400 0`,
			want: event.Event{Ts: ts, SrcIP: addrOf("198.51.100.9"), HTTPMethod: "GET", HTTPPath: "/a b", HTTPQuery: "c=d", HTTPStatus: 400},
		},
		{
			name: "extended, peer not trusted",
			in:   `10.0.0.2 - - [03/Mar/2025:09:25:03 +0000] "GET /.git/HEAD HTTP/1.1" 404 153 "-" "gobuster/3.6" host=helpdesk.example.com scheme=https tls=TLSv1.3 rt=0.001 xff="198.51.100.77"`,
			want: event.Event{
				Ts: utcTime("2025-03-03T09:25:03Z"), SrcIP: addrOf("10.0.0.2"), HTTPHost: "helpdesk.example.com", HTTPMethod: "GET", HTTPPath: "/.git/HEAD", HTTPStatus: 404, HTTPBytes: 153, UserAgent: "gobuster/3.6",
				Attrs: map[string]string{"http_scheme": "https", "tls_version": "TLSv1.3", "request_time": "0.001", "xff": "198.51.100.77"},
			},
		},
		{
			name: "extended, trusted proxy",
			opts: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			in:   `10.0.0.2 - - [03/Mar/2025:09:25:03 +0000] "GET /.git/HEAD HTTP/1.1" 404 153 "-" "gobuster/3.6" host=helpdesk.example.com scheme=https tls=TLSv1.3 rt=0.001 xff="198.51.100.77"`,
			want: event.Event{
				Ts: utcTime("2025-03-03T09:25:03Z"), SrcIP: addrOf("198.51.100.77"), HTTPHost: "helpdesk.example.com", HTTPMethod: "GET", HTTPPath: "/.git/HEAD", HTTPStatus: 404, HTTPBytes: 153, UserAgent: "gobuster/3.6",
				Attrs: map[string]string{"http_scheme": "https", "tls_version": "TLSv1.3", "request_time": "0.001", "xff": "198.51.100.77", "proxy": "10.0.0.2"},
			},
		},
		{
			name: "forwarded chain: right-most untrusted hop",
			opts: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")}},
			in:   `10.0.0.2 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1 "-" "-" xff="6.6.6.6, 203.0.113.9, 192.0.2.10:4711, 10.1.1.1"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("203.0.113.9"), HTTPMethod: "GET", HTTPPath: "/", HTTPStatus: 200, HTTPBytes: 1,
				Attrs: map[string]string{"xff": "6.6.6.6, 203.0.113.9, 192.0.2.10:4711, 10.1.1.1", "proxy": "10.0.0.2"}},
		},
		{
			name: "forwarded chain: all trusted",
			opts: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			in:   `10.0.0.2 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1 "-" "-" xff="10.9.9.9, 10.1.1.1"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("10.9.9.9"), HTTPMethod: "GET", HTTPPath: "/", HTTPStatus: 200, HTTPBytes: 1,
				Attrs: map[string]string{"xff": "10.9.9.9, 10.1.1.1", "proxy": "10.0.0.2"}},
		},
		{
			name: "forwarded chain: forged hop stops the walk",
			opts: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			in:   `10.0.0.2 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1 "-" "-" xff="198.51.100.1, unknown"`,
			want: event.Event{Ts: ts, SrcIP: addrOf("10.0.0.2"), HTTPMethod: "GET", HTTPPath: "/", HTTPStatus: 200, HTTPBytes: 1,
				Attrs: map[string]string{"xff": "198.51.100.1, unknown"}},
		},
		{
			name: "extra trailing fields",
			in:   `192.0.2.7 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" 42 "router@file" "http://10.0.0.9:80" 3ms upstream=10.0.0.9`,
			want: event.Event{Ts: ts, SrcIP: addrOf("192.0.2.7"), HTTPMethod: "GET", HTTPPath: "/", HTTPStatus: 200, HTTPBytes: 1, UserAgent: "ua",
				Attrs: map[string]string{"extra": `42 "router@file" "http://10.0.0.9:80" 3ms upstream=10.0.0.9`, "upstream": "10.0.0.9"}},
		},
		{
			name: "CRLF line end",
			in:   "192.0.2.7 - - [03/Mar/2025:09:20:11 +0000] \"GET / HTTP/1.1\" 200 1\r",
			want: event.Event{Ts: ts, SrcIP: addrOf("192.0.2.7"), HTTPMethod: "GET", HTTPPath: "/", HTTPStatus: 200, HTTPBytes: 1},
		},
		{
			name: "JSON, catalog shape",
			in:   `{"time":"2025-03-03T09:26:10+00:00","remote_addr":"198.51.100.77","host":"helpdesk.example.com","request":"GET /admin/ HTTP/1.1","status":200,"bytes":5120,"referer":"-","ua":"curl/8.5.0","scheme":"https","tls":"TLSv1.2","rt":0.012}`,
			want: event.Event{Ts: utcTime("2025-03-03T09:26:10Z"), SrcIP: addrOf("198.51.100.77"), HTTPHost: "helpdesk.example.com", HTTPMethod: "GET", HTTPPath: "/admin/", HTTPStatus: 200, HTTPBytes: 5120, UserAgent: "curl/8.5.0",
				Attrs: map[string]string{"http_scheme": "https", "tls_version": "TLSv1.2", "request_time": "0.012"}},
		},
		{
			name: "JSON, nginx variable names, trusted proxy",
			opts: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			in:   `{"time_local":"03/Mar/2025:09:20:11 +0000","remote_addr":"127.0.0.1","remote_user":"","request_method":"GET","request_uri":"/search?q=x","status":"404","body_bytes_sent":"12","http_referer":"","http_user_agent":"ua","http_x_forwarded_for":"203.0.113.5","request_id":"abc","upstream":{"addr":"10.0.0.9"}}`,
			want: event.Event{Ts: ts, SrcIP: addrOf("203.0.113.5"), HTTPMethod: "GET", HTTPPath: "/search", HTTPQuery: "q=x", HTTPStatus: 404, HTTPBytes: 12, UserAgent: "ua",
				Attrs: map[string]string{"xff": "203.0.113.5", "proxy": "127.0.0.1", "request_id": "abc", "upstream": `{"addr":"10.0.0.9"}`}},
		},
		{
			name: "JSON, epoch msec, uri and args",
			in:   `{"msec":"1741009211.250","remote_addr":"192.0.2.7","method":"GET","uri":"/p","args":"a=1","status":200}`,
			want: event.Event{Ts: utcTime("2025-03-03T13:40:11.25Z"), SrcIP: addrOf("192.0.2.7"), HTTPMethod: "GET", HTTPPath: "/p", HTTPQuery: "a=1", HTTPStatus: 200},
		},
		{name: "truncated agent", in: `46.118.127.106 - - [20/May/2015:12:05:17 +0000] "GET /x HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compatible; Googlebot/2.1`, wantErr: "unterminated quoted field"},
		{name: "truncated request", in: `46.118.127.106 - - [20/May/2015:12:05:17 +0000] "GET /x HTT`, wantErr: "unterminated quoted field"},
		{name: "no timestamp", in: `hello world`, wantErr: "no [timestamp]"},
		{name: "empty", in: ``, wantErr: "no [timestamp]"},
		{name: "too few fields", in: `1.2.3.4 - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1`, wantErr: "too few fields"},
		{name: "too many fields", in: `a b 1.2.3.4 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1`, wantErr: "no [timestamp] after the client fields"},
		{name: "bad month", in: `1.2.3.4 - - [03/Foo/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1`, wantErr: "bad timestamp"},
		{name: "31 February", in: `1.2.3.4 - - [31/Feb/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1`, wantErr: "bad timestamp"},
		{name: "no zone", in: `1.2.3.4 - - [03/Mar/2025:09:20:11] "GET / HTTP/1.1" 200 1`, wantErr: "bad timestamp"},
		{name: "bad status", in: `1.2.3.4 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 2x0 1`, wantErr: "bad status"},
		{name: "no status", in: `1.2.3.4 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1"`, wantErr: "no status"},
		{name: "bad bytes", in: `1.2.3.4 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 99999999999999999999999`, wantErr: "bad byte count"},
		{name: "bad client", in: `1.2.3.4/x - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1`, wantErr: "bad client address"},
		{name: "unquoted request", in: `1.2.3.4 - - [03/Mar/2025:09:20:11 +0000] GET / 200 1`, wantErr: "no quoted request"},
		{name: "JSON without time", in: `{"remote_addr":"1.2.3.4","request":"GET / HTTP/1.1","status":200}`, wantErr: "without a time"},
		{name: "JSON without request", in: `{"time":"2025-03-03T09:26:10Z","remote_addr":"1.2.3.4","status":200}`, wantErr: "without a request"},
		{name: "JSON bad time", in: `{"time":"yesterday","request":"GET / HTTP/1.1"}`, wantErr: "bad time"},
		{name: "JSON broken", in: `{"time":"2025-03-03T09:26:10Z",`, wantErr: "bad JSON"},
		{name: "JSON trailing data", in: `{"time":"2025-03-03T09:26:10Z","request":"GET / HTTP/1.1"} {}`, wantErr: "bad JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := wantEvent("access", event.KindWeb, event.ActionHTTPRequest, tc.in, tc.want)
			checkParse(t, NewAccess(tc.opts), tc.in, want, tc.wantErr)
		})
	}
}

func TestAccessAppendsAndKeepsDst(t *testing.T) {
	p := NewAccess(Options{})
	dst := make([]event.Event, 1, 4)
	dst[0].Raw = "earlier"
	good := `192.0.2.7 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1`
	out, err := p.Parse(ingest.Line{Text: good}, dst)
	if err != nil || len(out) != 2 || out[0].Raw != "earlier" || out[1].Raw != good {
		t.Fatalf("Parse appended wrongly: %v, %v", out, err)
	}
	out2, err := p.Parse(ingest.Line{Text: good[:20]}, out)
	if err == nil || len(out2) != 2 {
		t.Fatalf("Parse of a bad line changed dst: len %d, err %v", len(out2), err)
	}
}

func TestClfTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC; "" for a refusal
	}{
		{"03/Mar/2025:09:20:11 +0000", "2025-03-03T09:20:11Z"},
		{"03/Mar/2025:09:20:11 -0700", "2025-03-03T16:20:11Z"},
		{"01/Jan/2025:00:30:00 +0100", "2024-12-31T23:30:00Z"},
		{"03/Mar/2025:09:20:11.123 +0000", "2025-03-03T09:20:11.123Z"},
		{"29/Feb/2024:12:00:00 +0000", "2024-02-29T12:00:00Z"},
		{"29/Feb/2025:12:00:00 +0000", ""},
		{"03/Mar/2025:24:00:00 +0000", ""},
		{"03/Mar/2025:09:60:00 +0000", ""},
		{"03/Mar/2025:09:20:11 +2400", ""},
		{"00/Mar/2025:09:20:11 +0000", ""},
		{"01/Jan/0001:00:00:00 +0000", ""},
		{"3/Mar/2025:09:20:11 +0000", ""},
		{"03/mar/2025:09:20:11 +0000", ""},
		{"03/Mar/2025:09:20:11 +00", ""},
	}
	for _, tc := range tests {
		got, ok := clfTime(tc.in)
		if tc.want == "" {
			if ok {
				t.Errorf("clfTime(%q) = %v, want a refusal", tc.in, got)
			}
			continue
		}
		if !ok || !got.Equal(utcTime(tc.want)) || got.Location() != time.UTC {
			t.Errorf("clfTime(%q) = %v, %v; want %s", tc.in, got, ok, tc.want)
		}
	}
}

// corpusPath is the real apache access log of /work/shared/corpus (see its
// README.md), relative to this package.
var corpusPath = filepath.Join("..", "..", "..", "shared", "corpus", "elastic-apache-logs", "apache_logs")

// TestAccessCorpus parses the 10,000 lines of elastic/examples' apache_logs.
// Its README gives the figures checked here; its status and method counts
// are over the 9,999 well-formed lines (they sum to 9,999; the truncated
// line is a GET answered 200).
func TestAccessCorpus(t *testing.T) {
	f, err := os.Open(corpusPath)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus missing under CI: %v", err)
		}
		t.Skipf("corpus not available: %v", err)
	}
	defer f.Close()

	p := NewAccess(Options{})
	var (
		lines, parsed, truncated int
		status                   = map[uint16]int{}
		methods                  = map[string]int{}
		clients                  = map[netip.Addr]int{}
		first, last              time.Time
		evs                      []event.Event
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines++
		text := sc.Text()
		var err error
		evs, err = p.Parse(ingest.Line{Source: "corpus", Text: text}, evs[:0])
		if err != nil {
			if !errors.Is(err, ingest.ErrNoMatch) || !strings.Contains(err.Error(), "unterminated quoted field") {
				t.Errorf("line %d: unexpected error %v: %s", lines, err, text)
			}
			truncated++
			continue
		}
		parsed++
		ev := evs[0]
		status[ev.HTTPStatus]++
		methods[ev.HTTPMethod]++
		clients[ev.SrcIP]++
		if !ev.SrcIP.IsValid() || ev.Ts.IsZero() || ev.HTTPPath == "" || ev.User != "" {
			t.Errorf("line %d: incomplete event %+v", lines, ev)
		}
		if first.IsZero() || ev.Ts.Before(first) {
			first = ev.Ts
		}
		if ev.Ts.After(last) {
			last = ev.Ts
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines != 10000 || parsed != 9999 || truncated != 1 {
		t.Errorf("lines %d, parsed %d, truncated %d; want 10000, 9999, 1", lines, parsed, truncated)
	}
	wantStatus := map[uint16]int{200: 9125, 304: 445, 404: 213, 301: 164, 206: 45, 500: 3, 403: 2, 416: 2}
	if diff := cmp.Diff(wantStatus, status); diff != "" {
		t.Errorf("status histogram (-want +got):\n%s", diff)
	}
	wantMethods := map[string]int{"GET": 9951, "HEAD": 42, "POST": 5, "OPTIONS": 1}
	if diff := cmp.Diff(wantMethods, methods); diff != "" {
		t.Errorf("methods (-want +got):\n%s", diff)
	}
	if n := clients[addrOf("66.249.73.135")]; n != 482 {
		t.Errorf("requests from 66.249.73.135 = %d, want 482", n)
	}
	if len(clients) != 1753 {
		t.Errorf("%d distinct clients, want 1753", len(clients))
	}
	if want := utcTime("2015-05-17T10:05:00Z"); !first.Equal(want) {
		t.Errorf("first time %v, want %v", first, want)
	}
	if want := utcTime("2015-05-20T21:05:59Z"); !last.Equal(want) {
		t.Errorf("last time %v, want %v", last, want)
	}
}

// benchLines are combined lines of typical shapes.
var benchLines = []string{
	`203.0.113.50 - - [03/Mar/2025:09:20:11 +0000] "GET /data/attachments/2025/03/invoice.pdf HTTP/1.1" 403 153 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"`,
	`10.20.4.17 - - [03/Mar/2025:09:21:45 +0000] "POST /agent/login.php HTTP/1.1" 302 0 "https://helpdesk.example.com/agent/login.php" "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0"`,
	`83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"`,
	`66.249.73.135 - - [17/May/2015:10:05:40 +0000] "GET /blog/tags/ipv6?page=2 HTTP/1.1" 200 12738 "-" "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"`,
}

func BenchmarkParseAccess(b *testing.B) {
	p := NewAccess(Options{})
	lines := make([]ingest.Line, len(benchLines))
	for i, s := range benchLines {
		lines[i] = ingest.Line{Source: "web", Path: "/var/log/nginx/access.log", Offset: int64(i) * 200, Text: s}
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

func ExampleAccess() {
	p := NewAccess(Options{})
	evs, _ := p.Parse(ingest.Line{Source: "web", Text: `203.0.113.50 - - [03/Mar/2025:09:20:11 +0000] "GET /data/x.pdf?dl=1 HTTP/1.1" 403 153 "-" "curl/8.5.0"`}, nil)
	ev := evs[0]
	fmt.Println(ev.Ts, ev.SrcIP, ev.HTTPMethod, ev.HTTPPath, ev.HTTPQuery, ev.HTTPStatus, ev.UserAgent)
	// Output: 2025-03-03 09:20:11 +0000 UTC 203.0.113.50 GET /data/x.pdf dl=1 403 curl/8.5.0
}

func FuzzAccess(f *testing.F) {
	seedLines(f, "access.log")
	for _, s := range benchLines {
		f.Add(s)
	}
	p := NewAccess(Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}})
	f.Fuzz(func(t *testing.T, text string) {
		checkFuzzParse(t, p, text)
	})
}
