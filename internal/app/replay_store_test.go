package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/chtest"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/gen"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/rules/builtin"
)

// TestReplayClickHouse replays a generated auth log into the test
// ClickHouse: every event parsed is stored, once, and the summary says so.
func TestReplayClickHouse(t *testing.T) {
	db := chtest.New(t)
	dir := t.TempDir()
	if _, err := gen.Generate(gen.Options{Scenario: "bruteforce", Lines: 20_000, Out: dir, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	sc := store.DefaultConfig()
	sc.DSN = db.DSN
	sc.BatchRows = 3000
	var out bytes.Buffer
	sum, err := Replay(context.Background(), ReplayOptions{
		Format: "sshd", Parse: parse.Options{Location: time.UTC}, Output: OutputNone,
		Paths: []string{filepath.Join(dir, gen.FileAuth)}, Stdout: &out, Store: sc,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total.Events == 0 || sum.Stored != sum.Total.Events+sum.Total.Unparsed {
		t.Fatalf("stored %d of %d events (%d unparsed)", sum.Stored, sum.Total.Events, sum.Total.Unparsed)
	}
	if n := chtest.Count(t, db.Conn, "SELECT count() FROM events"); n != sum.Stored {
		t.Errorf("ClickHouse holds %d events, the replay stored %d", n, sum.Stored)
	}
	if n := chtest.Count(t, db.Conn, "SELECT uniqExact(event_id) FROM events"); n != sum.Stored {
		t.Errorf("%d distinct event ids for %d events", n, sum.Stored)
	}
}

// TestReplayDeliversAndRecords replays a brute force with a config naming
// a webhook receiver and with ClickHouse: the alerts reach the webhook
// through the dispatcher, and each is also written to the alerts table.
func TestReplayDeliversAndRecords(t *testing.T) {
	db := chtest.New(t)
	var (
		mu    sync.Mutex
		rules = map[string]bool{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Alerts []event.Alert `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, a := range p.Alerts {
			rules[a.Rule] = true
		}
		mu.Unlock()
	}))
	defer srv.Close()

	dir := t.TempDir()
	var lines strings.Builder
	start := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	for i := range 20 {
		fmt.Fprintf(&lines, "%s hd1 sshd[%d]: Failed password for root from 198.51.100.7 port %d ssh2\n",
			start.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 100+i, 40000+i)
	}
	auth := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(auth, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Alerts.GroupWait, cfg.Alerts.GroupInterval = 0, time.Second
	cfg.Alerts.Webhook = []config.Webhook{{Name: "hook", URL: srv.URL}}
	det, err := LoadDetection(cfg, builtin.FS, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	sc := store.DefaultConfig()
	sc.DSN = db.DSN
	var out bytes.Buffer
	sum, err := Replay(context.Background(), ReplayOptions{
		Format: "sshd", Parse: parse.Options{Location: time.UTC}, Output: OutputAlerts,
		Paths: []string{auth}, Stdout: &out, Store: sc,
		Rules: det.Rules, Lists: det.Lists,
		Deliver: cfg, DrainTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Alerts == 0 || sum.Notifications == 0 || sum.Delivered == 0 {
		t.Fatalf("summary %+v: want alerts raised and delivered", sum)
	}
	raised := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var a event.Alert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		raised[a.Rule] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for r := range raised {
		if !rules[r] {
			t.Errorf("rule %s raised but not delivered to the webhook", r)
		}
		if n := chtest.Count(t, db.Conn, "SELECT count() FROM alerts WHERE rule = ?", r); n == 0 {
			t.Errorf("rule %s raised but not in the alerts table", r)
		}
	}
	if !raised["auth-fail-burst-ip"] {
		t.Errorf("the brute force raised %v, want auth-fail-burst-ip among them", raised)
	}
}
