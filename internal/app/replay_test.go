package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/gen"
)

func genScenario(t testing.TB, scenario string, lines int) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := gen.Generate(gen.Options{Scenario: scenario, Lines: lines, Out: dir, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReplayCountsEveryLine replays the three generated logs and a file of
// garbage with auto-detection: every line is counted once, every line gives
// at least one event, and the garbage is kept as unparsed events.
func TestReplayCountsEveryLine(t *testing.T) {
	dir := genScenario(t, "mixed", 4000)
	junk := filepath.Join(dir, "junk.log")
	if err := os.WriteFile(junk, []byte("not a log line\n\x00\x01\x02\nanother one without newline"), 0o600); err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(dir, "auth.log"), filepath.Join(dir, "access.log"), filepath.Join(dir, "helpdesk.json"), junk}
	var wantLines uint64
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		wantLines += uint64(bytes.Count(b, []byte("\n")))
	}
	wantLines++ // the junk file's last line has no newline

	var out bytes.Buffer
	sum, err := Replay(context.Background(), ReplayOptions{
		Format: "auto", Parse: parse.Options{Location: time.UTC}, Output: OutputEvents, Paths: paths, Stdout: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total.Lines != wantLines {
		t.Errorf("replay counted %d lines, the files hold %d", sum.Total.Lines, wantLines)
	}
	if sum.Total.Unparsed != 3 {
		t.Errorf("unparsed = %d, want the 3 junk lines", sum.Total.Unparsed)
	}
	var n, unparsed uint64
	kinds := map[event.Kind]bool{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var ev event.Event
		if err := dec.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		n++
		kinds[ev.Kind] = true
		if ev.Action == event.ActionUnparsed {
			unparsed++
			if want := map[string]bool{"not a log line": true, "\x00\x01\x02": true, "another one without newline": true}; !want[ev.Raw] {
				t.Errorf("unparsed event %q is not a junk line", ev.Raw)
			}
		}
	}
	if n != sum.Total.Events+sum.Total.Unparsed || n < wantLines {
		t.Errorf("wrote %d events; summary says %d events + %d unparsed for %d lines", n, sum.Total.Events, sum.Total.Unparsed, wantLines)
	}
	if unparsed != 3 {
		t.Errorf("wrote %d unparsed events, want 3", unparsed)
	}
	for _, k := range []event.Kind{event.KindAuth, event.KindWeb, event.KindAudit} {
		if !kinds[k] {
			t.Errorf("no %s events in a mixed scenario", k)
		}
	}
}

// BenchmarkReplaySSHD is the replay benchmark of issue #2: a generated
// sshd auth.log through vigil replay --output none.
func BenchmarkReplaySSHD(b *testing.B) {
	dir := genScenario(b, "bruteforce", 200000)
	path := filepath.Join(dir, "auth.log")
	b.ReportAllocs()
	var lines uint64
	start := time.Now()
	for b.Loop() {
		sum, err := Replay(context.Background(), ReplayOptions{
			Format: "sshd", Parse: parse.Options{Location: time.UTC}, Output: OutputNone, Paths: []string{path},
		})
		if err != nil {
			b.Fatal(err)
		}
		lines += sum.Total.Lines
	}
	b.ReportMetric(float64(lines)/time.Since(start).Seconds(), "lines/s")
}

func TestReplayProgress(t *testing.T) {
	path := filepath.Join(genScenario(t, "bruteforce", 20000), gen.FileAuth)
	var (
		mu    sync.Mutex
		calls []Progress
	)
	_, err := Replay(context.Background(), ReplayOptions{
		Format: "sshd", Parse: parse.Options{Location: time.UTC}, Output: OutputNone, Paths: []string{path, path},
		Progress: func(p Progress) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, p)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	last := calls[len(calls)-1]
	if !last.Done || last.TotalBytes != 2*uint64(fi.Size()) || last.Bytes != last.TotalBytes || last.Percent() != 100 {
		t.Errorf("final progress = %+v (percent %.1f), want done with all %d bytes", last, last.Percent(), 2*fi.Size())
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Lines < calls[i-1].Lines || calls[i].Bytes < calls[i-1].Bytes {
			t.Errorf("progress went backwards: %+v then %+v", calls[i-1], calls[i])
		}
	}
	if p := (Progress{Bytes: 25, TotalBytes: 100, Elapsed: time.Second}); p.ETA() != 3*time.Second || p.Percent() != 25 {
		t.Errorf("ETA() = %v, Percent() = %v for a quarter read in 1s", p.ETA(), p.Percent())
	}
}
