package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/chtest"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

func TestSchemaPrint(t *testing.T) {
	out, _, err := runVigil(t, "", "schema", "print", "--dialect", "modern", "--retention", "720h")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DateTime64(3, 'UTC')", "INTERVAL 30 DAY DELETE", "CREATE TABLE IF NOT EXISTS alerts"} {
		if !strings.Contains(out, want) {
			t.Errorf("modern schema lacks %q", want)
		}
	}
	out, _, err = runVigil(t, "", "schema", "print")
	if err != nil || !strings.Contains(out, "ts_ms") || strings.Contains(out, "CODEC") {
		t.Errorf("baseline schema: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"schema"}, {"schema", "drop"}, {"schema", "print", "--dialect", "ancient"}, {"schema", "migrate"},
		{"store", "load", "x.ndjson"}, {"store", "load", "--dsn", "clickhouse://127.0.0.1:9000/x"},
	} {
		if _, _, err := runVigil(t, "", args...); exitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, exitCode(err), err)
		}
	}
}

func TestSchemaMigrateAndStoreLoad(t *testing.T) {
	db := chtest.New(t)
	out, _, err := runVigil(t, "", "schema", "migrate", "--dsn", db.DSN)
	if err != nil || !strings.Contains(out, "applied 3 migration(s)") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "archive")
	a, err := store.NewArchive(store.Config{ArchiveDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]event.Event, 50)
	for i := range evs {
		evs[i] = event.Event{Kind: event.KindAuth, Action: event.ActionLogin, Raw: "x",
			EventID: event.NewID("auth", event.FileID{}, int64(i), 0)}
	}
	if err := a.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	a.Close()
	out, _, err = runVigil(t, "", "store", "load", "--dsn", db.DSN, dir)
	if err != nil || !strings.Contains(out, "loaded 50 events from 1 file(s)") {
		t.Fatalf("load: %v\n%s", err, out)
	}
	if n := chtest.Count(t, db.Conn, "SELECT count() FROM events"); n != 50 {
		t.Errorf("%d events stored, want 50", n)
	}
}
