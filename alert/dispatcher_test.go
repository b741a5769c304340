package alert

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

func ids(n []event.Alert) []string {
	var out []string
	for _, a := range n {
		out = append(out, fmt.Sprintf("%s#%d", a.ID, a.Count))
	}
	return out
}

// TestGrouping follows one group through group_wait, group_interval,
// repeat_interval and resolution, in fake time.
func TestGrouping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder("rec")
		cfg := Config{GroupWait: 30 * time.Second, GroupInterval: 5 * time.Minute, RepeatInterval: time.Hour}
		d := start(t, cfg, nil, Receiver{Notifier: r})
		t0 := time.Now()
		send := func(a event.Alert) {
			t.Helper()
			if err := d.Send(a); err != nil {
				t.Fatal(err)
			}
		}
		send(testAlert("ssh-bf", "203.0.113.1", 5, t0))
		time.Sleep(10 * time.Second)
		send(testAlert("ssh-bf", "203.0.113.2", 5, t0))
		send(testAlert("ssh-bf", "203.0.113.1", 6, t0)) // update: replaces the first
		synctest.Wait()
		if n := len(r.notifications()); n != 0 {
			t.Fatalf("notified before group_wait: %d", n)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		got := r.notifications()
		if len(got) != 1 || strings.Join(ids(got[0]), " ") != "ssh-bf-203.0.113.1#6 ssh-bf-203.0.113.2#5" {
			t.Fatalf("after group_wait: %v", got)
		}
		if at := r.at[0].Sub(t0); at != 30*time.Second {
			t.Errorf("first notification at %s, want 30s", at)
		}

		// An update waits for group_interval after the first flush.
		time.Sleep(time.Minute)
		send(testAlert("ssh-bf", "203.0.113.2", 9, t0))
		send(testAlert("ssh-bf", "203.0.113.2", 9, t0)) // same version again: merged
		time.Sleep(3*time.Minute + 59*time.Second)
		synctest.Wait()
		if n := len(r.notifications()); n != 1 {
			t.Fatalf("notified before group_interval: %d", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		got = r.notifications()
		if len(got) != 2 || strings.Join(ids(got[1]), " ") != "ssh-bf-203.0.113.2#9" {
			t.Fatalf("after group_interval: %v", got)
		}

		send(testAlert("ssh-bf", "203.0.113.2", 9, t0)) // the version just sent: a duplicate
		synctest.Wait()

		// Nothing changes: the firing alerts are sent again after
		// repeat_interval.
		time.Sleep(time.Hour)
		synctest.Wait()
		got = r.notifications()
		if len(got) != 3 || strings.Join(ids(got[2]), " ") != "ssh-bf-203.0.113.1#6 ssh-bf-203.0.113.2#9" {
			t.Fatalf("after repeat_interval: %v", got)
		}

		// Resolved alerts are sent once and leave the group.
		res := testAlert("ssh-bf", "203.0.113.1", 6, t0)
		res.State = event.AlertResolved
		send(res)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		got = r.notifications()
		if len(got) != 4 || got[3][0].State != event.AlertResolved || len(got[3]) != 1 {
			t.Fatalf("after resolve: %v", got)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		got = r.notifications()
		if len(got) != 5 || strings.Join(ids(got[4]), " ") != "ssh-bf-203.0.113.2#9" {
			t.Fatalf("repeat after resolve: %v", got)
		}
		st := d.Stats()
		if st.Received != 7 || st.Deduplicated != 1 || st.Notifications != 5 || st.Pending != 0 {
			t.Errorf("Stats = %+v", st)
		}
	})
}

// TestRoutesAndSilences sends alerts to two receivers with different
// routes, with a config silence and one from the silences file.
func TestRoutesAndSilences(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		all, crit := newRecorder("all"), newRecorder("crit")
		now := time.Now()
		if err := SaveSilences(SilencesPath(dir), []Silence{
			{ID: "s1", Match: map[string]string{"src_ip": "198.51.100.0/24"}, Until: now.Add(time.Hour)},
			{ID: "old", Rules: []string{"*"}, Until: now.Add(-time.Minute)},
		}); err != nil {
			t.Fatal(err)
		}
		var hist []event.Alert
		var mu sync.Mutex
		cfg := Config{StateDir: dir, PII: PIIMask,
			Silences: []Silence{{Rules: []string{"noisy-*"}}},
			Recorder: recorderFunc(func(a event.Alert) { mu.Lock(); hist = append(hist, a); mu.Unlock() }),
		}
		d := start(t, cfg, nil,
			Receiver{Notifier: all, PII: PIIRetain},
			Receiver{Notifier: crit, Route: Route{MinSeverity: event.SeverityCritical}})
		high := testAlert("ssh-bf", "203.0.113.1", 5, now)
		critical := testAlert("admin-login", "203.0.113.2", 1, now)
		critical.Severity = event.SeverityCritical
		silencedByFile := testAlert("ssh-bf", "198.51.100.7", 5, now)
		silencedByConfig := testAlert("noisy-scan", "203.0.113.3", 5, now)
		for _, a := range []event.Alert{high, critical, silencedByFile, silencedByConfig} {
			if err := d.Send(a); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		var gotAll []string
		for _, n := range all.notifications() {
			gotAll = append(gotAll, ids(n)...)
		}
		if strings.Join(gotAll, " ") != "ssh-bf-203.0.113.1#5 admin-login-203.0.113.2#1" &&
			strings.Join(gotAll, " ") != "admin-login-203.0.113.2#1 ssh-bf-203.0.113.1#5" {
			t.Errorf("receiver all got %v", gotAll)
		}
		c := crit.notifications()
		if len(c) != 1 || len(c[0]) != 1 || c[0][0].Rule != "admin-login" {
			t.Fatalf("receiver crit got %v", c)
		}
		if c[0][0].User != "a***e" || AddrText(&c[0][0]) != "203.0.113.x" {
			t.Errorf("crit receiver (pii mask) saw user %q, ip %q", c[0][0].User, AddrText(&c[0][0]))
		}
		if all.notifications()[0][0].User != "alice" {
			t.Errorf("receiver with pii retain saw user %q", all.notifications()[0][0].User)
		}
		st := d.Stats()
		if st.Silenced != 2 || st.Received != 4 {
			t.Errorf("Stats = %+v, want 2 silenced of 4", st)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(hist) != 4 || hist[0].User != "alice" {
			t.Errorf("recorder got %d alerts (%v), want all 4 unmasked", len(hist), hist)
		}
	})
}

type recorderFunc func(event.Alert)

func (f recorderFunc) WriteAlert(_ context.Context, a event.Alert) error { f(a); return nil }

// TestRetry: retryable failures are retried with backoff, no sooner than
// Retry-After, until delivered once.
func TestRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder("flaky")
		var tries []time.Time
		r.fail = func(call int, _ []event.Alert) error {
			tries = append(tries, time.Now())
			switch call {
			case 1:
				return Retryable(errors.New("429"), 10*time.Second)
			case 2, 3, 4:
				return errors.New("503") // unclassified: retryable
			}
			return nil
		}
		logs := &lockedBuffer{}
		d := start(t, Config{RetryInitial: time.Second, RetryMax: 4 * time.Second}, testLogger(logs), Receiver{Notifier: r})
		if err := d.Send(testAlert("ssh-bf", "203.0.113.1", 5, time.Now())); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := len(r.notifications()); got != 1 {
			t.Fatalf("delivered %d times, want 1", got)
		}
		if len(tries) != 5 {
			t.Fatalf("%d attempts, want 5", len(tries))
		}
		if gap := tries[1].Sub(tries[0]); gap < 10*time.Second {
			t.Errorf("retried %s after a Retry-After of 10s", gap)
		}
		for i, max := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
			gap := tries[i+2].Sub(tries[i+1])
			if gap < max/2 || gap > max {
				t.Errorf("backoff %d = %s, want within [%s, %s]", i+2, gap, max/2, max)
			}
		}
		if st := d.Stats(); st.Retries != 4 || st.Notifications != 1 || st.Pending != 0 {
			t.Errorf("Stats = %+v", st)
		}
		if !strings.Contains(logs.String(), "notification failed, retrying") {
			t.Errorf("no retry warning logged:\n%s", logs)
		}
	})
}

// TestPermanent: a receiver that rejects everything is tried once per
// notification, logged once, counted, and does not loop.
func TestPermanent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder("bad-token")
		r.fail = func(int, []event.Alert) error { return Permanent(errors.New("slack: invalid_auth")) }
		logs := &lockedBuffer{}
		d := start(t, Config{RepeatInterval: 4 * time.Hour}, testLogger(logs), Receiver{Notifier: r})
		for i := range 3 {
			if err := d.Send(testAlert(fmt.Sprintf("rule-%d", i), "203.0.113.1", 5, time.Now())); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := r.attempts(); got != 3 {
			t.Errorf("%d attempts, want 3 (one per notification)", got)
		}
		if st := d.Stats(); st.Failed != 3 || st.Pending != 0 || st.Retries != 0 {
			t.Errorf("Stats = %+v", st)
		}
		if n := strings.Count(logs.String(), "invalid_auth"); n != 1 {
			t.Errorf("the permanent error was logged %d times, want once:\n%s", n, logs)
		}
	})
}

// TestStorm: 10,000 alerts of one rule (distinct groups) make two
// notifications, each alert in exactly one of them.
func TestStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 fsyncs")
	}
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder("rec")
		d := start(t, Config{GroupWait: 30 * time.Second, GroupInterval: 5 * time.Minute}, nil, Receiver{Notifier: r})
		t0 := time.Now()
		sendRange := func(from, to int) {
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := from + w; i < to; i += 8 {
						ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
						if err := d.Send(testAlert("ssh-bf", ip, 5, t0)); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		}
		sendRange(0, 5000)
		time.Sleep(40 * time.Second)
		sendRange(5000, 10000)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		got := r.notifications()
		seen := map[string]int{}
		for _, n := range got {
			for _, a := range n {
				seen[a.ID]++
			}
		}
		if len(got) != 2 || len(got[0]) != 5000 || len(seen) != 10000 {
			t.Fatalf("%d notifications, %d distinct alerts; want 2 and 10000", len(got), len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("alert %s notified %d times", id, n)
			}
		}
	})
}

// TestCloseDrains: Close flushes a group before its group_wait and
// delivers it.
func TestCloseDrains(t *testing.T) {
	dir := t.TempDir()
	r := newRecorder("rec")
	d, err := NewDispatcher(Config{StateDir: dir, GroupWait: time.Hour}, []Receiver{{Notifier: r}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	if err := d.Send(testAlert("ssh-bf", "203.0.113.1", 5, time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(r.notifications()); n != 1 {
		t.Errorf("Close delivered %d notifications, want 1", n)
	}
	if err := d.Send(testAlert("ssh-bf", "203.0.113.1", 6, time.Now())); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}

// TestRestart: an alert accepted by a dispatcher that never ran is
// delivered by the next one, and not by a third.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDispatcher(Config{StateDir: dir}, []Receiver{{Notifier: newRecorder("rec")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Send(testAlert("ssh-bf", "203.0.113.1", 5, time.Now())); err != nil {
		t.Fatal(err)
	}
	d.Close()
	for round, want := range []int{1, 0} {
		r := newRecorder("rec")
		d, err := NewDispatcher(Config{StateDir: dir}, []Receiver{{Notifier: r}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p := d.Stats().Pending; p != want {
			t.Errorf("round %d: %d pending, want %d", round, p, want)
		}
		done := make(chan error, 1)
		go func() { done <- d.Run(context.Background()) }()
		if want > 0 {
			waitNotified(t, r, want)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		<-done
		if n := len(r.notifications()); n != want {
			t.Errorf("round %d: %d notifications, want %d", round, n, want)
		}
	}
}

func TestNewDispatcherErrors(t *testing.T) {
	_, err := NewDispatcher(Config{GroupWait: -time.Second, PII: "hide"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "state_dir: required") ||
		!strings.Contains(err.Error(), "group_wait: must not be negative") || !strings.Contains(err.Error(), `unknown pii mode "hide"`) {
		t.Errorf("NewDispatcher(bad config) = %v, want every problem", err)
	}
	dir := t.TempDir()
	_, err = NewDispatcher(Config{StateDir: dir}, []Receiver{{Notifier: newRecorder("a")}, {Notifier: newRecorder("a")}}, nil)
	if err == nil || !strings.Contains(err.Error(), `name "a" is empty or used twice`) {
		t.Errorf("duplicate names: %v", err)
	}
	d, _ := NewDispatcher(Config{StateDir: dir}, nil, nil)
	if err := d.Send(event.Alert{ID: "x"}); err == nil || !strings.Contains(err.Error(), "has no rule") {
		t.Errorf("Send(no rule) = %v", err)
	}
	d.Close()
}
