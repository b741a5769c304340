package alert

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// recorder is a Notifier that keeps what it is sent; fail, when set,
// decides the outcome of each call (numbered from 1).
type recorder struct {
	name string
	fail func(call int, alerts []event.Alert) error

	mu       sync.Mutex
	calls    int
	got      [][]event.Alert
	at       []time.Time
	notified chan struct{}
}

func newRecorder(name string) *recorder {
	return &recorder{name: name, notified: make(chan struct{}, 1<<16)}
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(ctx context.Context, alerts []event.Alert) error {
	r.mu.Lock()
	r.calls++
	call := r.calls
	r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(call, alerts); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.got = append(r.got, alerts)
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
	r.notified <- struct{}{}
	return nil
}

func (r *recorder) notifications() [][]event.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]event.Alert(nil), r.got...)
}

func (r *recorder) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// testAlert returns a firing alert of rule for src, first seen at ts.
func testAlert(rule, src string, count uint64, ts time.Time) event.Alert {
	ip := netip.MustParseAddr(src)
	return event.Alert{
		ID:       fmt.Sprintf("%s-%s", rule, src),
		Rule:     rule,
		Title:    "Failed logins",
		Severity: event.SeverityHigh,
		State:    event.AlertFiring,
		Ts:       ts, FirstTs: ts, LastTs: ts.Add(time.Duration(count) * time.Second),
		Count:   count,
		Group:   map[string]string{"src_ip": src},
		SrcIP:   ip,
		User:    "alice",
		Summary: fmt.Sprintf("%d failed logins from %s", count, src),
	}
}

// lockedBuffer is a log sink for tests.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(w *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// start returns a running dispatcher whose Run is stopped and outbox
// closed when the test ends.
func start(t *testing.T, cfg Config, logger *slog.Logger, rs ...Receiver) *Dispatcher {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	d, err := NewDispatcher(cfg, rs, logger)
	if err != nil {
		t.Fatalf("NewDispatcher: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		d.Close()
	})
	return d
}

// waitNotified waits, in real time, for n more notifications of r.
func waitNotified(t *testing.T, r *recorder, n int) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for range n {
		select {
		case <-r.notified:
		case <-timeout:
			t.Fatalf("%s: timed out waiting for a notification; got %d", r.name, len(r.notifications()))
		}
	}
}
