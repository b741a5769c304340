package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

func TestAuto(t *testing.T) {
	tests := []struct {
		in         string
		wantParser string // "" for a refusal
		wantAction string
	}{
		{`Mar  3 09:15:02 hd1 sshd[20412]: Accepted password for jdoe from 10.20.4.17 port 53122 ssh2`, "sshd", event.ActionLogin},
		{`2025-03-03T09:15:02.114523+00:00 hd1 sshd[20412]: Accepted password for jdoe from 10.20.4.17 port 53122 ssh2`, "sshd", event.ActionLogin},
		{`{"MESSAGE":"Accepted password for jdoe from 10.20.4.17 port 53122 ssh2","SYSLOG_IDENTIFIER":"sshd","_HOSTNAME":"hd1","__REALTIME_TIMESTAMP":"1741000000000000","_PID":"20412"}`, "sshd", event.ActionLogin},
		{`Failed password for root from 198.51.100.23 port 61234 ssh2`, "sshd", event.ActionLogin},
		{`203.0.113.50 - - [03/Mar/2025:09:20:11 +0000] "GET /data/ HTTP/1.1" 403 153 "-" "curl/8.5.0"`, "access", event.ActionHTTPRequest},
		{`helpdesk.example.com:443 203.0.113.50 - - [03/Mar/2025:09:20:11 +0000] "GET /data/ HTTP/1.1" 403 153 "-" "curl/8.5.0"`, "access", event.ActionHTTPRequest},
		{`{"time":"2025-03-03T09:26:10+00:00","remote_addr":"198.51.100.77","request":"GET /admin/ HTTP/1.1","status":200}`, "access", event.ActionHTTPRequest},
		{`[Mon Mar 03 09:20:11.482913 2025] [authz_core:error] [pid 3121:tid 1] [client 203.0.113.50:51544] AH01630: client denied`, "errorlog", event.ActionError},
		{`[Mon Mar 03 09:20:11 2025] [error] [client 203.0.113.50] client denied`, "errorlog", event.ActionError},
		{`2025/03/03 09:20:11 [error] 1187#1187: *5521 access forbidden by rule, client: 203.0.113.50, server: x`, "errorlog", event.ActionError},
		{`{"ts":"2025-03-03T09:23:02.004Z","app":"helpdesk","event":"login_failure","user":"jdoe","src_ip":"203.0.113.77"}`, "audit", event.ActionLogin},
		{`hello world`, "", ""},
		{``, "", ""},
		{`{"no":"time"}`, "", ""},
	}
	for _, tc := range tests {
		p := NewAuto(Options{Location: time.UTC})
		evs, err := parseOneLine(p, tc.in)
		if tc.wantParser == "" {
			if !errors.Is(err, ingest.ErrNoMatch) || len(evs) != 0 {
				t.Errorf("Parse(%q) = %v, %v; want a refusal", tc.in, evs, err)
			}
			continue
		}
		if err != nil || len(evs) != 1 {
			t.Errorf("Parse(%q) = %d events, %v; want 1 from %s", tc.in, len(evs), err, tc.wantParser)
			continue
		}
		if ev := evs[0]; ev.Parser != tc.wantParser || ev.Action != tc.wantAction || ev.Raw != tc.in {
			t.Errorf("Parse(%q) gave parser %q action %q; want %q %q", tc.in, ev.Parser, ev.Action, tc.wantParser, tc.wantAction)
		}
	}
}

// TestAutoKeepsSSHDState checks that auto gives every line to one sshd
// parser, so that its per-pid memory pairs "Invalid user" with the "Failed"
// line of the same attempt, even with other formats in between.
func TestAutoKeepsSSHDState(t *testing.T) {
	p := NewAuto(Options{Location: time.UTC})
	var evs []event.Event
	for i, text := range []string{
		`Mar  3 09:17:08 hd1 sshd[20441]: Invalid user oracle from 198.51.100.23 port 61240`,
		`203.0.113.50 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1`,
		`Mar  3 09:17:09 hd1 sshd[20441]: Failed password for invalid user oracle from 198.51.100.23 port 61240 ssh2`,
	} {
		var err error
		evs, err = p.Parse(ingest.Line{Source: "mixed", Offset: int64(i), Text: text, Time: testReadTime}, evs)
		if err != nil {
			t.Fatal(err)
		}
	}
	got := []string{evs[0].Action, evs[1].Action, evs[2].Action}
	want := []string{event.ActionLogin, event.ActionHTTPRequest, event.ActionLoginProbe}
	if !slices.Equal(got, want) {
		t.Errorf("actions %v, want %v", got, want)
	}
}

func TestNew(t *testing.T) {
	for _, f := range Formats() {
		opts := Options{}
		if f == "regex" {
			opts.Pattern = `(?P<message>.*)`
		}
		p, err := New(f, opts)
		if err != nil {
			t.Errorf("New(%q): %v", f, err)
			continue
		}
		if p.Name() != f {
			t.Errorf("New(%q).Name() = %q", f, p.Name())
		}
	}
	_, err := New("syslog", Options{})
	if err == nil || !strings.Contains(err.Error(), `unknown log format "syslog" (valid: sshd, access, errorlog, audit, regex, auto)`) {
		t.Errorf(`New("syslog") error = %v`, err)
	}
	if _, err := New("regex", Options{}); err == nil {
		t.Error(`New("regex") without a pattern succeeded`)
	}
	if _, err := New("audit", Options{Audit: AuditMapping{Fields: map[string]string{"nope": "x"}}}); err == nil {
		t.Error(`New("audit") with a bad mapping succeeded`)
	}
	fs := Formats()
	fs[0] = "changed"
	if Formats()[0] != "sshd" {
		t.Error("Formats returned its own slice")
	}
}

// goldenOptions are the settings of the golden tests: UTC, a proxy on
// loopback, and for regex the pattern of regex_test.go.
var goldenOptions = Options{
	Location:       time.UTC,
	TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	Pattern:        appPattern,
}

// TestFormatGolden parses testdata/<format>.log line by line with one
// parser and compares the result with testdata/<format>.golden.json.
// Regenerate with go test -run TestFormatGolden -update and review the diff.
func TestFormatGolden(t *testing.T) {
	for _, format := range []string{"access", "errorlog", "audit", "regex", "auto"} {
		t.Run(format, func(t *testing.T) {
			p, err := New(format, goldenOptions)
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(filepath.Join("testdata", format+".log"))
			if err != nil {
				t.Fatal(err)
			}
			got := goldenRun(t, p, string(in))
			path := filepath.Join("testdata", format+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs from the parse of %s.log (-want +got):\n%s", path, format, diff)
			}
		})
	}
}

// goldenRecord is what the golden files hold for one input line.
type goldenRecord struct {
	Line   int           `json:"line"`
	Input  string        `json:"input,omitempty"` // only when refused; events keep it in raw
	Error  string        `json:"error,omitempty"`
	Events []event.Event `json:"events,omitempty"`
}

func goldenRun(t *testing.T, p ingest.Parser, text string) []byte {
	t.Helper()
	var recs []goldenRecord
	var offset int64
	for i, s := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		ln := ingest.Line{Source: "golden", Path: "golden.log", Offset: offset, End: offset + int64(len(s)) + 1, Text: s, Time: testReadTime}
		offset = ln.End
		evs, err := p.Parse(ln, nil)
		r := goldenRecord{Line: i + 1, Events: evs}
		if err != nil {
			if !errors.Is(err, ingest.ErrNoMatch) {
				t.Errorf("line %d: error %v does not wrap ErrNoMatch", i+1, err)
			}
			r.Input, r.Error = s, err.Error()
		}
		recs = append(recs, r)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(recs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// seedLines adds every line of the named testdata files to the fuzz corpus.
func seedLines(f *testing.F, names ...string) {
	f.Helper()
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		for s := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
			f.Add(s)
		}
	}
}

// checkFuzzParse parses text and holds the properties every parser keeps
// on any input: a refusal wraps ingest.ErrNoMatch and leaves dst alone;
// an accepted line gives events with a time, the line in Raw, the parser's
// name and ID, and a client address that is valid, unzoned and unmapped.
func checkFuzzParse(t *testing.T, p ingest.Parser, text string) {
	t.Helper()
	dst := make([]event.Event, 1, 2)
	evs, err := p.Parse(ingest.Line{Source: "fuzz", Text: text, Time: testReadTime}, dst)
	if err != nil {
		if !errors.Is(err, ingest.ErrNoMatch) {
			t.Fatalf("Parse(%q) error %v does not wrap ErrNoMatch", text, err)
		}
		if len(evs) != 1 {
			t.Fatalf("Parse(%q) refused the line but changed dst to %d events", text, len(evs))
		}
		return
	}
	if len(evs) < 2 {
		t.Fatalf("Parse(%q) accepted the line but gave no event", text)
	}
	for _, ev := range evs[1:] {
		if ev.Ts.IsZero() || ev.Raw != text || ev.Parser == "" || ev.Action == "" || ev.Kind == "" || ev.EventID.IsZero() {
			t.Fatalf("Parse(%q) gave an incomplete event %+v", text, ev)
		}
		if ev.SrcIP != (netip.Addr{}) && (!ev.SrcIP.IsValid() || ev.SrcIP.Zone() != "" || ev.SrcIP.Is4In6()) {
			t.Fatalf("Parse(%q) gave src_ip %v", text, ev.SrcIP)
		}
		if _, err := json.Marshal(ev); err != nil {
			t.Fatalf("Parse(%q) gave an event JSON cannot encode: %v", text, err)
		}
	}
}

func FuzzAuto(f *testing.F) {
	seedLines(f, "access.log", "errorlog.log", "audit.log", "auto.log", "sshd.log")
	p := NewAuto(Options{Location: time.UTC, TrustedProxies: goldenOptions.TrustedProxies})
	f.Fuzz(func(t *testing.T, text string) {
		checkFuzzParse(t, p, text)
	})
}
