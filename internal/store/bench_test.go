package store

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/chtest"
)

const benchEvents = 200_000

// BenchmarkWriter200kSSHD writes 200k sshd events through the Writer in
// chunks of 1000 (spool, fsync, batches of 10k, LZ4) and waits until all
// are in ClickHouse. It reports rows/s (event generation not counted) and
// the bytes per event on disk after merging the parts.
func BenchmarkWriter200kSSHD(b *testing.B) {
	db := chtest.New(b)
	w, err := NewWriter(Config{DSN: db.DSN, SpoolDir: b.TempDir()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	runWriter(b, w)
	ctx := context.Background()
	b.ReportAllocs()
	var total time.Duration
	iter := 0
	for b.Loop() {
		// Distinct events each round, so that the bytes on disk are not
		// flattered by identical rows.
		evs := sshdEvents(iter*benchEvents, benchEvents, uint64(iter))
		iter++
		start := time.Now()
		writeAll(b, w, evs, 1000)
		fctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		if err := w.Flush(fctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		total += time.Since(start)
	}
	b.ReportMetric(float64(benchEvents)*float64(b.N)/total.Seconds(), "rows/s")
	reportDiskBytes(b, db)
}

// BenchmarkInsert200kSSHD sends 200k events straight to ClickHouse in
// batches of 10k, without the spool: the driver and server alone.
func BenchmarkInsert200kSSHD(b *testing.B) {
	db := chtest.New(b)
	ctx := context.Background()
	if _, err := Migrate(ctx, db.Conn, "", 90); err != nil {
		b.Fatal(err)
	}
	d, err := dialectOf(ctx, db.Conn)
	if err != nil {
		b.Fatal(err)
	}
	evs := sshdEvents(0, benchEvents, 21)
	var blk eventBlock
	b.ReportAllocs()
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		for i := 0; i < len(evs); i += DefaultBatchRows {
			if err := insertEvents(ctx, db.Conn, d, &blk, evs[i:min(i+DefaultBatchRows, len(evs))]); err != nil {
				b.Fatal(err)
			}
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(benchEvents)*float64(b.N)/total.Seconds(), "rows/s")
}

// reportDiskBytes merges the parts and reports bytes on disk per event.
func reportDiskBytes(b *testing.B, db *chtest.DB) {
	ctx := context.Background()
	if err := db.Conn.Exec(ctx, "OPTIMIZE TABLE events FINAL"); err != nil {
		b.Logf("optimize: %v", err)
	}
	var rows, bytes uint64
	err := db.Conn.QueryRow(ctx, `SELECT sum(rows), sum(bytes_on_disk) FROM system.parts
		WHERE database = ? AND table = 'events' AND active`, db.Name).Scan(&rows, &bytes)
	if err != nil || rows == 0 {
		b.Fatalf("system.parts: %v (%d rows)", err, rows)
	}
	b.ReportMetric(float64(bytes)/float64(rows), "disk-B/event")
}
