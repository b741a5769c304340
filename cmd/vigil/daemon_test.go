package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/chtest"
)

// slackServer records the chat.postMessage calls of a bot-token receiver
// and answers them as Slack does.
type slackServer struct {
	srv   *httptest.Server
	mu    sync.Mutex
	posts []slackPost
}

type slackPost struct {
	at     time.Time
	auth   string
	body   string // text and blocks, URL-decoded
	thread string
}

func newSlackServer(t *testing.T) *slackServer {
	s := &slackServer{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/chat.postMessage" {
			http.Error(w, "unknown_method", http.StatusNotFound)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		auth := r.Header.Get("Authorization")
		if tok := r.PostForm.Get("token"); tok != "" {
			auth = "Bearer " + tok
		}
		s.mu.Lock()
		s.posts = append(s.posts, slackPost{
			at: time.Now(), auth: auth, thread: r.PostForm.Get("thread_ts"),
			body: r.PostForm.Get("text") + "\n" + r.PostForm.Get("blocks"),
		})
		ts := fmt.Sprintf("1800000000.%06d", len(s.posts))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"channel":"C0SEC","ts":%q}`, ts)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// waitFor returns the first post after since that contains every one of
// subs, waiting up to d.
func (s *slackServer) waitFor(since time.Time, d time.Duration, subs ...string) (slackPost, bool) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		for _, p := range s.posts {
			if p.at.Before(since) {
				continue
			}
			ok := true
			for _, sub := range subs {
				ok = ok && strings.Contains(p.body, sub)
			}
			if ok {
				s.mu.Unlock()
				return p, true
			}
		}
		s.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	return slackPost{}, false
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func appendLines(t *testing.T, path string, lines ...string) time.Time {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.WriteString(f, strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// metric returns the value of the sample of name whose labels contain
// labels, from a Prometheus text exposition.
func metric(exposition, name, labels string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{([^}]*)\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(exposition, -1) {
		if strings.Contains(m[1], labels) {
			v, err := strconv.ParseFloat(m[2], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// TestRunEndToEnd runs the vigil binary on a config that tails three
// temporary logs, stores into the test ClickHouse and alerts to a Slack
// server. Appended brute-force lines, an agent's reply from an external
// address and a /data/ download each raise their alert in Slack; the
// metrics count what was read; SIGTERM exits 0 and every line read is in
// ClickHouse.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the daemon")
	}
	db := chtest.New(t)
	slack := newSlackServer(t)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	auth, web, audit := filepath.Join(logs, "auth.log"), filepath.Join(logs, "access.log"), filepath.Join(logs, "helpdesk.json")
	now := time.Now().UTC()
	// Benign lines that are there before the daemon starts.
	appendLines(t, auth, now.Format(time.Stamp)+" hd1 sshd[100]: Accepted publickey for deploy from 10.1.2.3 port 50000 ssh2: ED25519 SHA256:abc")
	appendLines(t, web, `10.1.2.4 - - [`+now.Format("02/Jan/2006:15:04:05 -0700")+`] "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.0"`)
	appendLines(t, audit, `{"ts":"`+now.Format(time.RFC3339Nano)+`","app":"helpdesk","event":"login_success","user":"ann","role":"agent","src_ip":"10.1.2.5","session":"s1"}`)
	written := 3

	port := freePort(t)
	cfgFile := filepath.Join(dir, "vigil.yml")
	cfg := fmt.Sprintf(`state_dir: %[1]s/state
sources:
  - {name: auth, paths: [%[2]s], format: sshd, tz: UTC}
  - {name: web, paths: [%[3]s], format: access}
  - {name: helpdesk, paths: [%[4]s], format: audit}
enrich:
  rdns: {enabled: false}
clickhouse:
  dsn: %[5]s
  batch_interval: 200ms
alerts:
  group_wait: 0s
  group_interval: 1s
  stdout: false
  slack:
    - name: security
      token: xoxb-e2e-not-for-logs
      channel: "#security"
      api_url: %[6]s/api/
metrics:
  listen: 127.0.0.1:%[7]d
log: {level: debug, format: json}
`, dir, auth, web, audit, db.DSN, slack.srv.URL, port)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(dir, "vigil")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var stderr bytes.Buffer
	var stderrMu sync.Mutex
	cmd := exec.Command(bin, "run", "--config", cfgFile)
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		stderrMu.Lock()
		defer stderrMu.Unlock()
		return stderr.Write(p)
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			stderrMu.Lock()
			t.Logf("vigil stderr:\n%s", stderr.String())
			stderrMu.Unlock()
		}
	}()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	ready := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-exited:
			stderrMu.Lock()
			t.Fatalf("vigil exited before it was ready: %v\n%s", err, stderr.String())
		default:
		}
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ready = true
				break
			}
		}
	}
	if !ready {
		t.Fatal("vigil did not become ready within 30s")
	}
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v %v", resp, err)
	}

	const wait = 15 * time.Second // a failure deadline; the latencies are logged
	var latencies []string

	// 1. A brute force on ssh from one external address.
	var brute []string
	for i := range 12 {
		ts := time.Now().UTC().Format(time.Stamp)
		brute = append(brute, fmt.Sprintf("%s hd1 sshd[%d]: Failed password for root from 198.51.100.7 port %d ssh2", ts, 2000+i, 40000+i))
	}
	at := appendLines(t, auth, brute...)
	written += len(brute)
	p, ok := slack.waitFor(at, wait, "auth-fail-burst-ip", "198.51.100.7")
	if !ok {
		t.Fatalf("no Slack message for the ssh brute force within %s", wait)
	}
	latencies = append(latencies, fmt.Sprintf("brute force %s", p.at.Sub(at).Round(time.Millisecond)))
	if p.auth != "Bearer xoxb-e2e-not-for-logs" {
		t.Errorf("Slack request authorised with %q", p.auth)
	}

	// Slack takes about one message a second per channel and the receiver
	// keeps to that; let the brute force's thread update go first.
	time.Sleep(1100 * time.Millisecond)

	// 2. An agent replies to a ticket from an external address.
	at = appendLines(t, audit, `{"ts":"`+time.Now().UTC().Format(time.RFC3339Nano)+
		`","app":"helpdesk","event":"ticket_reply","user":"mallory","role":"agent","src_ip":"203.0.113.77","session":"s2","ticket_id":"T-1001","channel":"web"}`)
	written++
	if p, ok = slack.waitFor(at, wait, "agent-external-host", "203.0.113.77"); !ok {
		t.Fatalf("no Slack message for the agent reply from outside within %s", wait)
	}
	latencies = append(latencies, fmt.Sprintf("agent reply %s", p.at.Sub(at).Round(time.Millisecond)))

	time.Sleep(1100 * time.Millisecond)

	// 3. The web server serves a file under /data/.
	at = appendLines(t, web, `192.0.2.200 - - [`+time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700")+
		`] "GET /data/exports/customers.csv HTTP/1.1" 200 734003 "-" "curl/8.5.0"`)
	written++
	if p, ok = slack.waitFor(at, wait, "sensitive-path-served", "192.0.2.200"); !ok {
		t.Fatalf("no Slack message for the /data/ download within %s", wait)
	}
	latencies = append(latencies, fmt.Sprintf("/data/ served %s", p.at.Sub(at).Round(time.Millisecond)))
	t.Logf("append → Slack: %s", strings.Join(latencies, ", "))

	// The metrics count what was read and what was sent.
	var expo string
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		expo = string(b)
		// The fake Slack sees a message before vigil has read the answer
		// and counted it, so wait for the counter too.
		lines, _ := metric(expo, "vigil_source_lines_total", `source="auth"`)
		sent, _ := metric(expo, "vigil_alerts_notified_total", `receiver="security",rule="sensitive-path-served"`)
		if lines == 13 && sent == 1 {
			break
		}
	}
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"vigil_source_lines_total", `source="auth"`, 13},
		{"vigil_source_lines_total", `source="web"`, 2},
		{"vigil_source_lines_total", `source="helpdesk"`, 2},
		{"vigil_parse_errors_total", `parser="sshd"`, 0},
		{"vigil_alerts_notified_total", `receiver="security",rule="sensitive-path-served"`, 1},
	} {
		if v, ok := metric(expo, c.name, c.labels); !ok || v != c.want {
			t.Errorf("%s{%s} = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if v, ok := metric(expo, "vigil_rule_evaluations_total", `rule="auth-fail-burst-ip"`); !ok || v < 12 {
		t.Errorf("vigil_rule_evaluations_total{rule=auth-fail-burst-ip} = %v, want at least 12", v)
	}

	// SIGTERM drains and exits 0.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("vigil exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("vigil did not exit within 30s of SIGTERM")
	}

	// Nothing lost: every line written is an event in ClickHouse, once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stored uint64
	if err := db.Conn.QueryRow(ctx, "SELECT count() FROM events").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != uint64(written) {
		t.Errorf("ClickHouse holds %d events, want the %d lines written", stored, written)
	}
	var failures uint64
	if err := db.Conn.QueryRow(ctx, "SELECT count() FROM events WHERE action = 'login' AND outcome = 'failure' AND user = 'root'").Scan(&failures); err != nil {
		t.Fatal(err)
	}
	if failures != 12 {
		t.Errorf("ClickHouse holds %d failed root logins, want 12", failures)
	}
	var alerts uint64
	if err := db.Conn.QueryRow(ctx, "SELECT count(DISTINCT rule) FROM alerts WHERE rule IN ('auth-fail-burst-ip', 'agent-external-host', 'sensitive-path-served')").Scan(&alerts); err != nil {
		t.Fatal(err)
	}
	if alerts != 3 {
		t.Errorf("the alerts table holds %d of the 3 rules that fired", alerts)
	}

	stderrMu.Lock()
	logs2 := stderr.String()
	stderrMu.Unlock()
	if strings.Contains(logs2, "xoxb-e2e-not-for-logs") {
		t.Error("the Slack token appears in the daemon's log")
	}
	sc := bufio.NewScanner(strings.NewReader(logs2))
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"level":"ERROR"`) {
			t.Errorf("daemon logged an error: %s", sc.Text())
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
