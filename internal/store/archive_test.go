package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/chtest"
)

func TestArchiveRotatesAndCaps(t *testing.T) {
	dir := t.TempDir()
	a, err := NewArchive(Config{ArchiveDir: dir, ArchiveMaxBytes: 1 << 20}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	evs := sshdEvents(0, 20_000, 12) // about 10 MiB of JSON
	for i := 0; i < len(evs); i += 500 {
		if err := a.Write(context.Background(), evs[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "events-*.ndjson"))
	var total int64
	var lines uint64
	for _, f := range files {
		b, _ := os.ReadFile(f)
		total += int64(len(b))
		lines += uint64(strings.Count(string(b), "\n"))
	}
	if len(files) < 2 || total > 1<<20 {
		t.Errorf("%d files, %d bytes; want rotation under a 1 MiB cap", len(files), total)
	}
	if lines+a.Dropped() != uint64(len(evs)) {
		t.Errorf("%d lines kept + %d dropped != %d written", lines, a.Dropped(), len(evs))
	}
}

// TestLoadArchiveAndSpool imports an archive and a spool left by a writer
// that never reached ClickHouse.
func TestLoadArchiveAndSpool(t *testing.T) {
	db := chtest.New(t)
	ctx := context.Background()
	evs := sshdEvents(0, 30_000, 13)

	archDir := t.TempDir()
	a, err := NewArchive(Config{ArchiveDir: archDir}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, evs[:10_000]); err != nil {
		t.Fatal(err)
	}
	a.Close()

	spoolDir := t.TempDir()
	w, err := NewWriter(Config{DSN: "clickhouse://127.0.0.1:1/none", SpoolDir: spoolDir}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, evs[10_000:], 1000) // Run never started: all stays spooled
	w.Close()

	res, err := Load(ctx, Config{DSN: db.DSN, BatchRows: 4000}, []string{archDir, spoolDir}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != uint64(len(evs)) {
		t.Errorf("loaded %d events, want %d", res.Events, len(evs))
	}
	got := storedIDs(t, db)
	n, sum, xor := idSums(evs)
	if got.rows != n || got.distinct != n || got.sum != sum || got.xor != xor {
		t.Errorf("stored %+v, want %d", got, n)
	}
	// The spool's cursor moved: loading it again adds nothing.
	res, err = Load(ctx, Config{DSN: db.DSN}, []string{spoolDir}, testLogger(t))
	if err != nil || res.Events != 0 {
		t.Errorf("second load of the spool: %+v, %v", res, err)
	}
	// A malformed archive line is reported with file:line.
	bad := filepath.Join(t.TempDir(), "bad.ndjson")
	os.WriteFile(bad, []byte("{\"ts\":\"2026-03-02T08:00:00Z\"}\n{not json\n"), 0o600)
	if _, err := Load(ctx, Config{DSN: db.DSN}, []string{bad}, nil); err == nil || !strings.Contains(err.Error(), "bad.ndjson:2") {
		t.Errorf("bad line: %v", err)
	}
}
