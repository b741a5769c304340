package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// replayLogs writes an ssh brute force from 198.51.100.7 and two web
// requests, a /data/ download and a .env probe from 192.0.2.200.
func replayLogs(t *testing.T, dir string) (auth, web string) {
	t.Helper()
	start := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	var b strings.Builder
	for i := range 12 {
		ts := start.Add(time.Duration(i) * time.Second).Format(time.Stamp)
		fmt.Fprintf(&b, "%s hd1 sshd[%d]: Failed password for root from 198.51.100.7 port %d ssh2\n", ts, 2000+i, 40000+i)
	}
	auth = filepath.Join(dir, "auth.log")
	if err := os.WriteFile(auth, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	stamp := start.Add(time.Minute).Format("02/Jan/2006:15:04:05 -0700")
	web = filepath.Join(dir, "access.log")
	lines := `192.0.2.200 - - [` + stamp + `] "GET /data/exports/customers.csv HTTP/1.1" 200 734003 "-" "curl/8.5.0"
192.0.2.200 - - [` + stamp + `] "GET /.env HTTP/1.1" 200 120 "-" "curl/8.5.0"
`
	if err := os.WriteFile(web, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	return auth, web
}

// replayConfig writes a config whose one receiver is a Slack bot at api.
func replayConfig(t *testing.T, dir, api, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`state_dir: %s/state
enrich:
  rdns: {enabled: false}
alerts:
  group_wait: 0s
  group_interval: 1s
  slack:
    - name: security
      token: xoxb-replay
      channel: "#security"
      api_url: %s/api/
%s`, dir, api, extra)
	path := filepath.Join(dir, "vigil.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReplayDelivers replays logs with a config that names a Slack
// receiver: every alert on stdout that no silence mutes reaches Slack,
// the silenced rule does not, and the summary counts the messages Slack
// accepted.
func TestReplayDelivers(t *testing.T) {
	dir := t.TempDir()
	slack := newSlackServer(t)
	auth, web := replayLogs(t, dir)
	cfg := replayConfig(t, dir, slack.srv.URL, `  silences:
    - rules: [auth-fail-account]
      comment: root logins are disabled on these hosts
`)
	out, stderr, err := runVigil(t, "", "replay", "--config", cfg, "--tz", "UTC", auth, web)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr)
	}

	raised := map[string]bool{}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var a event.Alert
		if err := dec.Decode(&a); err != nil {
			t.Fatal(err)
		}
		raised[a.Rule] = true
	}
	for _, want := range []string{"auth-fail-burst-ip", "auth-fail-account", "sensitive-path-served"} {
		if !raised[want] {
			t.Errorf("the replay did not raise %s; raised %v", want, raised)
		}
	}

	slack.mu.Lock()
	posts := append([]slackPost(nil), slack.posts...)
	slack.mu.Unlock()
	for rule := range raised {
		found := false
		for _, p := range posts {
			found = found || strings.Contains(p.body, rule)
		}
		if silenced := rule == "auth-fail-account"; found == silenced {
			t.Errorf("rule %s: in Slack %v, silenced %v", rule, found, silenced)
		}
	}
	for _, p := range posts {
		if p.auth != "Bearer xoxb-replay" {
			t.Errorf("Slack request authorised with %q", p.auth)
		}
	}
	m := regexp.MustCompile(`delivered (\d+) alerts in (\d+) notifications`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("the summary does not count deliveries:\n%s", stderr)
	}
	if n, _ := strconv.Atoi(m[2]); n != len(posts) {
		t.Errorf("summary says %d notifications, Slack received %d posts", n, len(posts))
	}
	if strings.Contains(stderr, "xoxb-replay") {
		t.Error("the token is in the replay's log")
	}

	// --deliver=false keeps the replay off Slack.
	before := len(posts)
	if _, stderr, err := runVigil(t, "", "replay", "--config", cfg, "--deliver=false", "--tz", "UTC", auth, web); err != nil {
		t.Fatalf("replay --deliver=false: %v\n%s", err, stderr)
	}
	slack.mu.Lock()
	after := len(slack.posts)
	slack.mu.Unlock()
	if after != before {
		t.Errorf("replay --deliver=false posted %d messages", after-before)
	}
}

// TestReplayDeliveryFails shows that a replay whose alerts cannot be
// delivered says so and fails: a Slack that refuses the token fails at
// once, and one that answers 500 fails after the drain timeout, keeping
// the undelivered alerts in an outbox it names.
func TestReplayDeliveryFails(t *testing.T) {
	t.Run("invalid token", func(t *testing.T) {
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
		}))
		defer srv.Close()
		dir := t.TempDir()
		auth, web := replayLogs(t, dir)
		cfg := replayConfig(t, dir, srv.URL, "")
		out, stderr, err := runVigil(t, "", "replay", "--config", cfg, "--drain-timeout", "20s", "--tz", "UTC", auth, web)
		if err == nil || !strings.Contains(err.Error(), "refused for good") {
			t.Fatalf("replay against a Slack refusing the token returned %v, want refused notifications\n%s", err, stderr)
		}
		// A permanent error is not retried: at most one call per alert.
		if n, raised := calls.Load(), int64(strings.Count(out, "\n")); n == 0 || n > raised {
			t.Errorf("Slack was called %d times for %d alerts and an invalid token", n, raised)
		}
	})
	t.Run("server errors", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream down", http.StatusInternalServerError)
		}))
		defer srv.Close()
		dir := t.TempDir()
		auth, web := replayLogs(t, dir)
		cfg := replayConfig(t, dir, srv.URL, "")
		_, stderr, err := runVigil(t, "", "replay", "--config", cfg, "--drain-timeout", "1500ms", "--tz", "UTC", auth, web)
		if err == nil {
			t.Fatalf("replay against a failing Slack succeeded\n%s", stderr)
		}
		m := regexp.MustCompile(`(\d+) alerts were not delivered within 1.5s; they are kept in (\S+)`).FindStringSubmatch(err.Error())
		if m == nil {
			t.Fatalf("error %q does not say what was kept where", err)
		}
		defer os.RemoveAll(m[2])
		if n, _ := strconv.Atoi(m[1]); n == 0 {
			t.Error("no alert counted as undelivered")
		}
		entries, err := os.ReadDir(m[2])
		if err != nil || len(entries) == 0 {
			t.Errorf("the outbox %s is missing or empty (%v)", m[2], err)
		}
	})
}
