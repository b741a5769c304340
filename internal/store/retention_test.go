package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/chtest"
	"github.com/vigil-sec/vigil/internal/event"
)

func TestDropExpired(t *testing.T) {
	db := chtest.New(t)
	ctx := context.Background()
	days := []time.Time{
		time.Date(2026, 2, 20, 10, 0, 0, 0, time.UTC), // 101 days before now: dropped
		time.Date(2026, 3, 2, 23, 58, 0, 0, time.UTC), // its day ends before the cutoff: dropped
		time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC),   // the cutoff's day: kept
		time.Date(2026, 5, 31, 12, 0, 0, 0, time.UTC), // kept
	}
	var evs []event.Event
	for i, d := range days {
		for j, e := range sshdEvents(i*100, 100, uint64(i)) {
			e.Ts = d.Add(time.Duration(j) * time.Second)
			evs = append(evs, e)
		}
	}
	w, err := NewWriter(Config{DSN: db.DSN, SpoolDir: t.TempDir()}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	runWriter(t, w)
	writeAll(t, w, evs, 400)
	flush(t, w)

	now := time.Date(2026, 6, 1, 0, 30, 0, 0, time.UTC) // cutoff 2026-03-03 00:30
	dropped, err := DropExpired(ctx, db.Conn, db.Name, DefaultRetention, now)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dropped)
	want := []string{"events/20260220", "events/20260302", "failed_logins_by_ip_1m/202602", "failed_logins_by_user_1m/202602"}
	if !slices.Equal(dropped, want) {
		t.Errorf("dropped %v, want %v", dropped, want)
	}
	if n := chtest.Count(t, db.Conn, "SELECT count() FROM events"); n != 200 {
		t.Errorf("%d events left, want 200", n)
	}
	if n := chtest.Count(t, db.Conn, "SELECT count() FROM events WHERE ts < toDateTime('2026-03-03 00:00:00', 'UTC')"); n != 0 {
		t.Errorf("%d expired events left", n)
	}
	// A second run finds nothing to drop; retention 0 drops nothing.
	if again, err := DropExpired(ctx, db.Conn, db.Name, DefaultRetention, now); err != nil || len(again) != 0 {
		t.Errorf("second run dropped %v, %v", again, err)
	}
	if none, err := DropExpired(ctx, db.Conn, db.Name, 0, now.AddDate(10, 0, 0)); err != nil || len(none) != 0 {
		t.Errorf("retention 0 dropped %v, %v", none, err)
	}
}
