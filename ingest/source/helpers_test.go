package source

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest"
)

// sink collects what a source sends, as the pipeline would, and commits
// each batch when commit says so.
type sink struct {
	mu      sync.Mutex
	lines   []ingest.Line
	batches int
	done    chan struct{}
}

// consume reads out until it is closed. commit, if set, is called with each
// batch and decides whether it is committed to c.
func consume(out <-chan []ingest.Line, c ingest.Committer, commit func(batch []ingest.Line) bool) *sink {
	s := &sink{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for b := range out {
			s.mu.Lock()
			s.lines = append(s.lines, b...)
			s.batches++
			s.mu.Unlock()
			if c != nil && (commit == nil || commit(b)) {
				c.Commit(b)
			}
		}
	}()
	return s
}

func (s *sink) snapshot() []ingest.Line {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ingest.Line(nil), s.lines...)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

// lastNo returns the number at the start of the last line received, or -1.
func (s *sink) lastNo() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lines) == 0 {
		return -1
	}
	n, err := strconv.Atoi(s.lines[len(s.lines)-1].Text[:min(9, len(s.lines[len(s.lines)-1].Text))])
	if err != nil {
		return -1
	}
	return n
}

// has reports whether a line with text was received.
func (s *sink) has(text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.lines) - 1; i >= 0; i-- {
		if s.lines[i].Text == text {
			return true
		}
	}
	return false
}

// running is a File running in a goroutine.
type running struct {
	t      *testing.T
	f      *File
	out    chan []ingest.Line
	sink   *sink
	cancel context.CancelFunc
	done   chan error
}

// start runs f; its batches go to a sink that commits per commit.
func start(t *testing.T, f *File, commit func([]ingest.Line) bool) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, f: f, out: make(chan []ingest.Line, 4), cancel: cancel, done: make(chan error, 1)}
	r.sink = consume(r.out, f, commit)
	go func() { r.done <- f.Run(ctx, r.out) }()
	t.Cleanup(r.stop)
	return r
}

// stop cancels Run, waits for it, then closes out and waits for the sink.
// It may be called more than once.
func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		r.t.Fatal("Run did not return 30s after cancel")
	}
	close(r.out)
	<-r.sink.done
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func newFile(t *testing.T, cfg FileConfig) *File {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	f, err := NewFile(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func appendFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			t.Fatal(err)
		}
	}
}

// checkLines checks that offsets are consistent and Path is set.
func checkOffsets(t *testing.T, lines []ingest.Line) {
	t.Helper()
	for _, l := range lines {
		if !l.Truncated && l.End-l.Offset != int64(len(l.Text))+1 {
			t.Fatalf("line %q at %d ends at %d", l.Text, l.Offset, l.End)
		}
	}
}
