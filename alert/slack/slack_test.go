package slack

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/secret"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// post is one request the fake Slack received.
type post struct {
	Path     string          `json:"path"`
	Auth     string          `json:"auth,omitempty"`
	Channel  string          `json:"channel,omitempty"`
	Text     string          `json:"text"`
	ThreadTS string          `json:"thread_ts,omitempty"`
	Blocks   json.RawMessage `json:"blocks"`
	TS       string          `json:"-"` // the ts the server answered
}

// fakeSlack speaks the two Slack endpoints vigil uses: the Web API's
// chat.postMessage (form-encoded, JSON answer) and an incoming webhook
// (JSON body, "ok" answer). answer, when set, decides the HTTP status,
// headers and body of request n (from 1) before it counts as posted.
type fakeSlack struct {
	srv    *httptest.Server
	answer func(n int, w http.ResponseWriter) bool

	mu    sync.Mutex
	n     int
	posts []post
	seen  chan post
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{seen: make(chan post, 1<<12)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.n++
	n := f.n
	answer := f.answer
	f.mu.Unlock()
	if answer != nil && answer(n, w) {
		return
	}
	var p post
	p.Path = r.URL.Path
	switch r.URL.Path {
	case "/api/chat.postMessage":
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		p.Auth = r.Header.Get("Authorization")
		if tok := r.PostForm.Get("token"); tok != "" {
			p.Auth = "Bearer " + tok
		}
		p.Channel, p.Text, p.ThreadTS = r.PostForm.Get("channel"), r.PostForm.Get("text"), r.PostForm.Get("thread_ts")
		p.Blocks = json.RawMessage(r.PostForm.Get("blocks"))
		f.mu.Lock()
		p.TS = fmt.Sprintf("1700000000.%06d", len(f.posts)+1)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"channel":"C0VIGIL","ts":%q}`, p.TS)
	case "/hook/T000/B000/XXXX":
		var body struct {
			Text     string          `json:"text"`
			ThreadTS string          `json:"thread_ts"`
			Blocks   json.RawMessage `json:"blocks"`
		}
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &body); err != nil {
			http.Error(w, "invalid_payload", 400)
			return
		}
		p.Text, p.ThreadTS, p.Blocks = body.Text, body.ThreadTS, body.Blocks
		io.WriteString(w, "ok")
	default:
		http.Error(w, "no_service", 404)
		return
	}
	f.mu.Lock()
	f.posts = append(f.posts, p)
	f.mu.Unlock()
	f.seen <- p
}

func (f *fakeSlack) all() []post {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]post(nil), f.posts...)
}

func hostileAlert() event.Alert {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return event.Alert{
		ID: "a1b2c3d4", Rule: "auth-ssh-bruteforce", Title: "SSH brute force", Severity: event.SeverityHigh,
		State: event.AlertFiring, Ts: t0.Add(90 * time.Second), FirstTs: t0, LastTs: t0.Add(90 * time.Second), Count: 8,
		Group:      map[string]string{"src_ip": "203.0.113.7"},
		SrcIP:      netip.MustParseAddr("203.0.113.7"),
		User:       "<!channel>",
		Host:       "bastion-1",
		GeoCountry: "NL", ASN: 64500, ASOrg: "Example & Sons <Hosting>", SrcHost: "dsl-7.pool.example.net",
		Summary: "8 failed logins for <!channel> from 203.0.113.7 in 1m30s; ping <@U123> @here @Channel",
		Evidence: []string{
			"Mar  1 12:00:00 bastion-1 sshd[812]: Invalid user <!channel> from 203.0.113.7 port 50022",
			"Mar  1 12:00:05 bastion-1 sshd[812]: Failed password for invalid user <@U123> from 203.0.113.7 port 50022 ssh2",
			"Mar  1 12:00:09 bastion-1 sshd[812]: Failed password for root from 203.0.113.7 port 50022 ssh2 ```x``` & more",
		},
	}
}

// golden compares got, as indented JSON, with testdata/name.golden.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	data, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), string(data)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func indentBlocks(t *testing.T, p post) post {
	var v any
	if err := json.Unmarshal(p.Blocks, &v); err != nil {
		t.Fatalf("blocks are not JSON: %v: %s", err, p.Blocks)
	}
	p.Blocks, _ = json.Marshal(v)
	return p
}

func assertInert(t *testing.T, payload string) {
	t.Helper()
	for _, bad := range []string{"<!channel>", "<@U123>", "@here", "@Channel", "<Hosting>"} {
		if strings.Contains(payload, bad) {
			t.Errorf("payload holds %q, which Slack would act on:\n%s", bad, payload)
		}
	}
	if !strings.Contains(payload, "&lt;!channel&gt;") {
		t.Errorf("payload lacks the escaped name &lt;!channel&gt;:\n%s", payload)
	}
}

func TestWebhookGolden(t *testing.T) {
	f := newFakeSlack(t)
	n, err := New(Config{WebhookURL: secret.New(f.srv.URL + "/hook/T000/B000/XXXX"), MinInterval: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), []event.Alert{hostileAlert()}); err != nil {
		t.Fatal(err)
	}
	posts := f.all()
	if len(posts) != 1 {
		t.Fatalf("%d posts, want 1", len(posts))
	}
	p := indentBlocks(t, posts[0])
	golden(t, "webhook_firing", p)
	raw, _ := json.Marshal(p)
	assertInert(t, strings.ReplaceAll(string(raw), `\u0026`, "&"))
	for _, want := range []string{"203.0.113.7", "NL", "AS64500", "dsl-7.pool.example.net (verified)", "8 in 1m30s", "auth-ssh-bruteforce", "```"} {
		if !strings.Contains(string(p.Blocks), want) {
			t.Errorf("message lacks %q", want)
		}
	}
}

func TestBotThreadsGolden(t *testing.T) {
	f := newFakeSlack(t)
	dir := t.TempDir()
	cfg := Config{Token: secret.New("xoxb-test"), Channel: "#sec-alerts", APIURL: f.srv.URL + "/api", StateDir: dir, MinInterval: -1, PII: alert.PIIMask}
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := alert.ApplyPII(hostileAlert(), alert.PIIMask)
	if err := n.Notify(context.Background(), []event.Alert{a}); err != nil {
		t.Fatal(err)
	}
	// A new Notifier on the same state directory (a restart) threads the
	// update under the first message.
	n, err = New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Count, a.LastTs = 20, a.LastTs.Add(time.Minute)
	other := hostileAlert()
	other.ID, other.SrcIP, other.User = "e5f6", netip.MustParseAddr("2001:db8:1:2::7"), "bob"
	other.Group = map[string]string{"src_ip": "2001:db8:1:2::7"}
	other = alert.ApplyPII(other, alert.PIIMask)
	if err := n.Notify(context.Background(), []event.Alert{a, other}); err != nil {
		t.Fatal(err)
	}
	posts := f.all()
	if len(posts) != 3 {
		t.Fatalf("%d posts, want 3 (first message, new alert, thread reply)", len(posts))
	}
	if posts[0].ThreadTS != "" || posts[1].ThreadTS != "" || posts[2].ThreadTS != posts[0].TS {
		t.Errorf("thread_ts = %q, %q, %q; want the update in the thread of %q", posts[0].ThreadTS, posts[1].ThreadTS, posts[2].ThreadTS, posts[0].TS)
	}
	for i, p := range posts {
		if p.Auth != "Bearer xoxb-test" || p.Channel != "#sec-alerts" {
			t.Errorf("post %d: auth %q channel %q", i, p.Auth, p.Channel)
		}
		p = indentBlocks(t, p)
		p.Auth = ""
		golden(t, fmt.Sprintf("bot_%d", i), p)
		raw := string(p.Blocks)
		for _, leak := range []string{"203.0.113.7", "2001:db8:1:2::7", "bob", "dsl-7.pool"} {
			if strings.Contains(raw, leak) {
				t.Errorf("post %d shows %q despite pii mask", i, leak)
			}
		}
	}
	if !strings.Contains(string(posts[0].Blocks), "203.0.113.x") || !strings.Contains(string(posts[1].Blocks), "2001:db8:1:2:x:x:x:x") {
		t.Errorf("masked addresses missing: %s / %s", posts[0].Blocks, posts[1].Blocks)
	}
}

func TestLimits(t *testing.T) {
	big := hostileAlert()
	big.Title = strings.Repeat("T<", 200)
	big.Summary = strings.Repeat("<@U1> ", 2000)
	big.Host = strings.Repeat("h", 5000)
	big.Evidence = nil
	for range 20 {
		big.Evidence = append(big.Evidence, strings.Repeat("&", event.MaxEvidenceBytes))
	}
	many := make([]event.Alert, 500)
	for i := range many {
		many[i] = big
		many[i].ID = fmt.Sprint(i)
	}
	for name, alerts := range map[string][]event.Alert{"one": {big}, "many": many} {
		fb, blocks := render(alerts, false)
		if len(fb) > maxFallback {
			t.Errorf("%s: fallback text of %d bytes", name, len(fb))
		}
		if len(blocks) > maxBlocks {
			t.Errorf("%s: %d blocks", name, len(blocks))
		}
		data, _ := json.Marshal(blocks)
		var decoded []struct {
			Type string `json:"type"`
			Text *struct {
				Text string `json:"text"`
			} `json:"text"`
			Fields []struct {
				Text string `json:"text"`
			} `json:"fields"`
		}
		if err := json.Unmarshal(data, &decoded); err != nil {
			t.Fatal(err)
		}
		for i, b := range decoded {
			limit := maxSection
			if b.Type == "header" {
				limit = maxHeader
			}
			if b.Text != nil && len([]rune(b.Text.Text)) > limit {
				t.Errorf("%s: block %d (%s) has %d characters, limit %d", name, i, b.Type, len([]rune(b.Text.Text)), limit)
			}
			if b.Text != nil && strings.HasSuffix(strings.TrimSuffix(b.Text.Text, "…"), "&am") {
				t.Errorf("%s: block %d cut inside an entity", name, i)
			}
			if len(b.Fields) > maxFields {
				t.Errorf("%s: block %d has %d fields", name, i, len(b.Fields))
			}
			for _, fl := range b.Fields {
				if len([]rune(fl.Text)) > maxField {
					t.Errorf("%s: field of %d characters", name, len([]rune(fl.Text)))
				}
			}
		}
		if strings.Contains(string(data), "<@U1>") {
			t.Errorf("%s: unescaped mention", name)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"<!channel> & <@U123>": "&lt;!channel&gt; &amp; &lt;@U123&gt;",
		"hi @here @EVERYONE":   "hi @\u200bhere @\u200bEVERYONE",
		"bob@example.com":      "bob@example.com",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestErrors checks how answers are classified.
func TestErrors(t *testing.T) {
	tests := []struct {
		name       string
		bot        bool
		status     int
		header     string
		body       string
		permanent  bool
		retryAfter time.Duration
		msg        string
	}{
		{"bot 429", true, 429, "7", "", false, 7 * time.Second, "rate limit"},
		{"bot 500", true, 500, "", "oops", false, 0, "500"},
		{"bot 503", true, 503, "", "", false, 0, "503"},
		{"bot invalid_auth", true, 200, "", `{"ok":false,"error":"invalid_auth"}`, true, 0, "invalid_auth"},
		{"bot channel_not_found", true, 200, "", `{"ok":false,"error":"channel_not_found"}`, true, 0, "channel_not_found"},
		{"bot internal_error", true, 200, "", `{"ok":false,"error":"internal_error"}`, false, 0, "internal_error"},
		{"webhook 429", false, 429, "3", "", false, 3 * time.Second, "rate limit"},
		{"webhook 404", false, 404, "", "no_service", true, 0, "404"},
		{"webhook 403", false, 403, "", "invalid_token", true, 0, "403"},
		{"webhook 502", false, 502, "", "", false, 0, "502"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSlack(t)
			f.answer = func(_ int, w http.ResponseWriter) bool {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
				return true
			}
			cfg := Config{WebhookURL: secret.New(f.srv.URL + "/hook/T000/B000/XXXX"), MinInterval: -1}
			if tc.bot {
				cfg = Config{Token: secret.New("xoxb-x"), Channel: "C1", APIURL: f.srv.URL + "/api/", MinInterval: -1}
			}
			n, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(context.Background(), []event.Alert{hostileAlert()})
			var ae *alert.Error
			if !errors.As(err, &ae) {
				t.Fatalf("Notify = %v, want an *alert.Error", err)
			}
			if ae.Permanent != tc.permanent || ae.RetryAfter != tc.retryAfter || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Notify = %v (permanent %v, retry after %s), want permanent %v, retry after %s, mentioning %q",
					err, ae.Permanent, ae.RetryAfter, tc.permanent, tc.retryAfter, tc.msg)
			}
		})
	}
}

func TestTimeoutAndSecretInErrors(t *testing.T) {
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	url := slow.URL + "/services/T1/B1/sekrit-part"
	n, err := New(Config{WebhookURL: secret.New(url), MinInterval: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = n.Notify(ctx, []event.Alert{hostileAlert()})
	if err == nil || alert.IsPermanent(err) {
		t.Fatalf("Notify to a slow server = %v, want a retryable error", err)
	}
	if strings.Contains(err.Error(), "sekrit") {
		t.Errorf("error shows the webhook URL: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "give a webhook_url or a token and a channel"},
		{Config{Token: secret.New("x")}, "channel: required with a token"},
		{Config{Token: secret.New("x"), WebhookURL: secret.New("y")}, "not both"},
		{Config{WebhookURL: secret.New("y"), MinSeverity: "loud"}, `unknown severity "loud"`},
		{Config{WebhookURL: secret.New("y"), PII: "hide"}, `unknown pii mode "hide"`},
	}
	for _, tc := range tests {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	cfg := Config{TokenFile: filepath.Join(t.TempDir(), "token"), Channel: "C1"}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate(token file) = %v", err)
	}
}
