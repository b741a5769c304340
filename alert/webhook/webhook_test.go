package webhook

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/secret"
)

func sample(id string, count uint64) event.Alert {
	return event.Alert{ID: id, Rule: "ssh-bf", Title: "SSH brute force", Severity: event.SeverityHigh, State: event.AlertFiring,
		Count: count, Group: map[string]string{"src_ip": "203.0.113.7"}, SrcIP: netip.MustParseAddr("203.0.113.7"),
		User: "alice", Summary: "alice from 203.0.113.7", Evidence: []string{"Failed password for alice from 203.0.113.7"}}
}

type received struct {
	body []byte
	sig  string
	auth string
}

func server(t *testing.T, status int, header map[string]string) (*httptest.Server, chan received) {
	ch := make(chan received, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- received{body, r.Header.Get(SignatureHeader), r.Header.Get("Authorization")}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, "answer")
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestSignedPost(t *testing.T) {
	srv, ch := server(t, http.StatusNoContent, nil)
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("s3cret\n"), 0o600)
	n, err := New(Config{Name: "soar", URL: srv.URL + "/hook", SecretFile: keyFile, Headers: map[string]string{"Authorization": "Bearer x"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), []event.Alert{sample("a1", 8), sample("a2", 3)}); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if !Verify([]byte("s3cret"), r.body, r.sig) || !strings.HasPrefix(r.sig, "sha256=") || len(r.sig) != 7+64 {
		t.Errorf("signature %q does not verify", r.sig)
	}
	if Verify([]byte("other"), r.body, r.sig) || Verify([]byte("s3cret"), append(r.body, ' '), r.sig) {
		t.Error("signature verifies under the wrong key or body")
	}
	if r.auth != "Bearer x" {
		t.Errorf("Authorization = %q", r.auth)
	}
	var p Payload
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Receiver != "soar" || len(p.Alerts) != 2 || p.Alerts[0].ID != "a1" || p.Alerts[1].Count != 3 || p.Alerts[0].SrcIP.String() != "203.0.113.7" {
		t.Errorf("payload = %+v", p)
	}
	if !bytes.Contains(r.body, []byte(`"src_ip":"203.0.113.7"`)) || !bytes.Contains(r.body, []byte(`"first_ts"`)) {
		t.Errorf("payload keys are not the canonical snake_case ones: %s", r.body)
	}

	// Without a secret there is no signature.
	n, _ = New(Config{URL: srv.URL})
	if err := n.Notify(context.Background(), []event.Alert{sample("a1", 8)}); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.sig != "" {
		t.Errorf("unsigned receiver sent signature %q", r.sig)
	}
}

func TestStatusClassification(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		status    int
		header    map[string]string
		permanent bool
		minWait   time.Duration
	}{
		{429, map[string]string{"Retry-After": "5"}, false, 5 * time.Second},
		{503, map[string]string{"Retry-After": date}, false, 80 * time.Second},
		{500, nil, false, 0},
		{408, nil, false, 0},
		{400, nil, true, 0},
		{401, nil, true, 0},
		{404, nil, true, 0},
	}
	for _, tc := range tests {
		srv, _ := server(t, tc.status, tc.header)
		n, _ := New(Config{URL: srv.URL, Secret: secret.New("k")})
		err := n.Notify(context.Background(), []event.Alert{sample("a", 1)})
		if err == nil || alert.IsPermanent(err) != tc.permanent || alert.RetryAfter(err) < tc.minWait || !strings.Contains(err.Error(), "answer") {
			t.Errorf("status %d: Notify = %v (permanent %v, retry after %s)", tc.status, err, alert.IsPermanent(err), alert.RetryAfter(err))
		}
	}
}

func TestURLNotLeaked(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/hooks/token-abc123"
	srv.Close() // connection refused
	n, _ := New(Config{URL: u})
	err := n.Notify(context.Background(), []event.Alert{sample("a", 1)})
	if err == nil || alert.IsPermanent(err) {
		t.Fatalf("Notify to a closed port = %v, want retryable", err)
	}
	if strings.Contains(err.Error(), "token-abc123") {
		t.Errorf("error shows the URL: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "url: required"},
		{Config{URL: "ftp://x"}, "want an http or https URL"},
		{Config{URL: "https://x", Secret: secret.New("a"), SecretFile: "/f"}, "not both"},
		{Config{URL: "https://x", MinSeverity: "urgent"}, "unknown severity"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter("", &buf)
	if w.Name() != "stdout" {
		t.Errorf("Name = %q", w.Name())
	}
	if err := w.Notify(context.Background(), []event.Alert{sample("a1", 1), sample("a2", 2)}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	var got []string
	for sc.Scan() {
		var a event.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, a.ID)
	}
	if strings.Join(got, ",") != "a1,a2" {
		t.Errorf("lines = %v", got)
	}
	if err := NewWriter("x", failWriter{}).Notify(context.Background(), []event.Alert{sample("a", 1)}); !alert.IsPermanent(err) {
		t.Errorf("write error = %v, want permanent", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestThroughDispatcher sends an alert through the dispatcher to a
// webhook with pii remove: the receiver gets it without personal data.
func TestThroughDispatcher(t *testing.T) {
	srv, ch := server(t, http.StatusOK, nil)
	n, err := New(Config{URL: srv.URL, PII: alert.PIIRemove, Secret: secret.New("k")})
	if err != nil {
		t.Fatal(err)
	}
	d, err := alert.NewDispatcher(alert.Config{StateDir: t.TempDir()}, []alert.Receiver{n.Receiver()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	if err := d.Send(sample("a1", 8)); err != nil {
		t.Fatal(err)
	}
	var r received
	select {
	case r = <-ch:
	case <-time.After(time.Minute):
		t.Fatal("webhook not called")
	}
	d.Close()
	if !Verify([]byte("k"), r.body, r.sig) {
		t.Error("bad signature")
	}
	for _, leak := range []string{"alice", "203.0.113.7"} {
		if bytes.Contains(r.body, []byte(leak)) {
			t.Errorf("body holds %q with pii remove: %s", leak, r.body)
		}
	}
	if !bytes.Contains(r.body, []byte(`"pii":"remove"`)) {
		t.Errorf("body does not say pii was removed: %s", r.body)
	}
}
