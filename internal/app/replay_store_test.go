package app

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/chtest"
	"github.com/vigil-sec/vigil/internal/gen"
	"github.com/vigil-sec/vigil/internal/store"
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
