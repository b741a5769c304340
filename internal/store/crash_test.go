package store

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/chtest"
)

const (
	crashEvents = 100_000
	crashChunk  = 500 // events per Write, like a source batch
)

// TestCrashChild is the writer process of TestKill9DuringReplay. It writes
// crashEvents events, resuming after the offset saved in a file, and saves
// the offset after each Write returns, as a file source commits its
// position.
func TestCrashChild(t *testing.T) {
	dsn, dir := os.Getenv("VIGIL_CRASH_DSN"), os.Getenv("VIGIL_CRASH_DIR")
	if dsn == "" {
		t.Skip("run by TestKill9DuringReplay")
	}
	offFile := filepath.Join(dir, "offset")
	off := 0
	if b, err := os.ReadFile(offFile); err == nil {
		off, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	w, err := NewWriter(Config{DSN: dsn, SpoolDir: filepath.Join(dir, "spool")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	evs := sshdEvents(0, crashEvents, 9)
	for off < crashEvents {
		end := min(off+crashChunk, crashEvents)
		if err := w.Write(ctx, evs[off:end]); err != nil {
			t.Fatal(err)
		}
		off = end
		tmp := offFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(strconv.Itoa(off)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, offFile); err != nil {
			t.Fatal(err)
		}
	}
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer fcancel()
	if err := w.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestKill9DuringReplay kills the writer process with SIGKILL while it
// writes and sends, starts it again, and counts what ClickHouse holds.
func TestKill9DuringReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two writer processes")
	}
	db := chtest.New(t)
	dir := t.TempDir()
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "VIGIL_CRASH_DSN="+db.DSN, "VIGIL_CRASH_DIR="+dir)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	offset := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "offset"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}

	child := start()
	// Kill it once it has both spooled half the events and inserted some.
	waitFor(t, "the child to get half-way", func() bool {
		return offset() >= crashEvents/2 && chtest.Count(t, db.Conn, "SELECT count() FROM events") > 0
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	killedAt := offset()
	storedAtKill := chtest.Count(t, db.Conn, "SELECT count() FROM events")

	child = start()
	if err := child.Wait(); err != nil {
		t.Fatalf("restarted writer: %v", err)
	}
	got := storedIDs(t, db)
	n, sum, xor := idSums(sshdEvents(0, crashEvents, 9))
	if got.distinct != n {
		t.Fatalf("%d distinct events stored, want %d: events lost", got.distinct, n)
	}
	dups := got.rows - got.distinct
	t.Logf("killed at offset %d with %d rows stored; after the restart %d rows, %d distinct, %d duplicated",
		killedAt, storedAtKill, got.rows, got.distinct, dups)
	if dups > DefaultBatchRows+crashChunk {
		t.Errorf("%d duplicates: more than one batch (%d rows) plus one write (%d)", dups, DefaultBatchRows, crashChunk)
	}
	if dups == 0 {
		// Only the sum check tells rows apart then.
		if got.sum != sum || got.xor != xor {
			t.Errorf("id checksums differ: %+v vs sum %d xor %d", got, sum, xor)
		}
	}
	fmt.Fprintf(os.Stderr, "kill -9 during replay: %d duplicated rows out of %d\n", dups, n)
}
