package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/ingest"
)

func TestNewFileConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     FileConfig
		wantErr string
	}{
		{"no name", FileConfig{Paths: []string{"/x"}}, "name is empty"},
		{"no paths", FileConfig{Name: "a"}, "no paths"},
		{"bad pattern", FileConfig{Name: "a", Paths: []string{"/x/["}}, "syntax error"},
		{"bad exclude", FileConfig{Name: "a", Paths: []string{"/x"}, Exclude: []string{"["}}, "syntax error"},
		{"bad start", FileConfig{Name: "a", Paths: []string{"/x"}, StartAt: "middle"}, `start_at "middle"`},
		{"negative", FileConfig{Name: "a", Paths: []string{"/x"}, MaxLineBytes: -1}, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewFile(tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewFile(%+v) = %v, want error containing %q", tc.cfg, err, tc.wantErr)
			}
		})
	}
	t.Run("corrupt offsets", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(offsetPath(dir, "a"), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := NewFile(FileConfig{Name: "a", Paths: []string{"/x"}, StateDir: dir}, nil)
		if err == nil || !strings.Contains(err.Error(), "saved offsets") {
			t.Errorf("NewFile with a corrupt offsets file = %v, want an error", err)
		}
	})
}

func TestFileTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "one", "two")
	f := newFile(t, FileConfig{Paths: []string{path}, MaxLineBytes: 100})
	r := start(t, f, nil)
	waitFor(t, 10*time.Second, "first lines", func() bool { return r.sink.count() == 2 })

	// A lone line is sent at once; a partial line waits for its end.
	appendFile(t, path, "three")
	waitFor(t, 10*time.Second, "a lone line", func() bool { return r.sink.has("three") })
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "fo")
	fmt.Fprint(w, "ur\n"+strings.Repeat("é", 200)+"\nfive\n")
	w.Close()
	waitFor(t, 10*time.Second, "the rest", func() bool { return r.sink.has("five") })
	r.stop()

	got := r.sink.snapshot()
	fi, _ := os.Stat(path)
	var texts []string
	for _, l := range got {
		texts = append(texts, l.Text)
		if l.Source != "test" || l.Path != path || l.File != fileID(fi) || l.Time.IsZero() {
			t.Errorf("line %q: source %q path %q file %v time %v", l.Text, l.Source, l.Path, l.File, l.Time)
		}
	}
	long := strings.Repeat("é", 50)
	if want := []string{"one", "two", "three", "four", long, "five"}; strings.Join(texts, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %q, want %q", texts, want)
	}
	if l := got[4]; !l.Truncated || l.Offset != 19 || l.End != 19+401 {
		t.Errorf("long line: truncated %v, offset %d, end %d; want true, 19, 420", l.Truncated, l.Offset, l.End)
	}
	checkOffsets(t, got)
	if s := f.Stats(); s.Lines != 6 || s.Truncated != 1 || s.Files != 0 || s.LagBytes != 0 || s.TailStarts != 1 {
		t.Errorf("Stats() = %+v", s)
	}
}

// TestFileDiscovery: a file that appears after start is read from its
// beginning, rotated names and other files are not, StartAt applies only to
// files found at start, and a deleted file is closed then found again.
func TestFileDiscovery(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "app-old.log")
	appendFile(t, old, "old before start")
	f := newFile(t, FileConfig{Paths: []string{filepath.Join(dir, "app*")}, StartAt: StartEnd, RescanInterval: 50 * time.Millisecond, RotateWait: 100 * time.Millisecond})
	r := start(t, f, nil)
	waitFor(t, 10*time.Second, "the existing file to be open", func() bool { return f.Stats().Files == 1 })
	appendFile(t, old, "old after start")

	appendFile(t, filepath.Join(dir, "app.log.1"), "rotated")
	appendFile(t, filepath.Join(dir, "app.log-20250301"), "dated")
	appendFile(t, filepath.Join(dir, "other.log"), "other")
	newer := filepath.Join(dir, "app-new.log")
	appendFile(t, newer, "new 1", "new 2")
	waitFor(t, 10*time.Second, "the new file", func() bool { return r.sink.has("new 2") && r.sink.has("old after start") })
	// Let a few rescans pass: they must not pick up the excluded names.
	rescans := f.Stats().Rescans
	waitFor(t, 10*time.Second, "rescans", func() bool { return f.Stats().Rescans >= rescans+3 })

	// Deleted, closed after RotateWait, then created again: read from start.
	if err := os.Remove(newer); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the deleted file to be closed", func() bool { return f.Stats().Files == 1 })
	appendFile(t, newer, "new again")
	waitFor(t, 10*time.Second, "the new file again", func() bool { return r.sink.has("new again") })
	r.stop()

	perFile := make(map[string][]string)
	for _, l := range r.sink.snapshot() {
		perFile[filepath.Base(l.Path)] = append(perFile[filepath.Base(l.Path)], l.Text)
	}
	want := map[string][]string{
		"app-old.log": {"old after start"},
		"app-new.log": {"new 1", "new 2", "new again"},
	}
	if diff := cmp.Diff(want, perFile); diff != "" {
		t.Errorf("lines per file (-want +got):\n%s", diff)
	}
}

// TestFileRestart: positions are committed for some batches only; a new
// File on the same state directory starts exactly after the last committed
// line, also when the file was rotated in between.
func TestFileRestart(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 4000
	}
	for _, change := range []string{"appended", "rotated", "rewritten"} {
		t.Run(change, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := filepath.Join(dir, "app.log")
			lines := make([]string, n)
			for i := range lines {
				lines[i] = fmt.Sprintf("%06d", i)
			}
			appendFile(t, path, lines...)
			cfg := FileConfig{Name: "app", Paths: []string{path}, StateDir: state, BatchLines: 100}

			f1 := newFile(t, cfg)
			var committed ingest.Line // last line committed
			r1 := start(t, f1, func(b []ingest.Line) bool {
				if committed.End >= int64(n/4*7) {
					return false
				}
				committed = b[len(b)-1]
				return true
			})
			waitFor(t, 20*time.Second, "half the file", func() bool { return r1.sink.count() >= n/2 })
			r1.stop()
			if committed.End == 0 || r1.sink.count() <= lineNo(t, committed)+1 {
				t.Fatalf("test setup: committed up to %q of %d lines read", committed.Text, r1.sink.count())
			}

			first := lineNo(t, committed) + 1
			want := append(lines[first:], "more")
			switch change {
			case "appended":
				appendFile(t, path, "more")
			case "rotated":
				if err := os.Rename(path, path+".1"); err != nil {
					t.Fatal(err)
				}
				appendFile(t, path, "more")
			case "rewritten":
				// Truncated and written again past the saved offset (a
				// copytruncate while stopped): read from the start.
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
				for i := range lines {
					lines[i] = fmt.Sprintf("%06d new", i)
				}
				appendFile(t, path, lines...)
				appendFile(t, path, "more")
				first, committed.End = 0, 0
				want = append(lines, "more")
			}
			f2 := newFile(t, cfg)
			r2 := start(t, f2, nil)
			waitFor(t, 20*time.Second, "the rest", func() bool { return r2.sink.has("more") })
			r2.stop()

			got := r2.sink.snapshot()
			if got[0].Offset != committed.End || got[0].Text != lines[first] {
				t.Fatalf("after restart the first line is %q at %d, want %q at %d", got[0].Text, got[0].Offset, lines[first], committed.End)
			}
			if len(got) != len(want) {
				t.Fatalf("after restart got %d lines, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i].Text != want[i] {
					t.Fatalf("after restart line %d is %q, want %q", i, got[i].Text, want[i])
				}
			}
			checkOffsets(t, got)
		})
	}
}

func lineNo(t *testing.T, l ingest.Line) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(l.Text, "%d", &n); err != nil {
		t.Fatalf("line %q: %v", l.Text, err)
	}
	return n
}

func TestFileUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.log")
	appendFile(t, path, "x")
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	f := newFile(t, FileConfig{Paths: []string{path}, RescanInterval: 50 * time.Millisecond})
	r := start(t, f, nil)
	waitFor(t, 10*time.Second, "rescans", func() bool { return f.Stats().Rescans >= 2 })
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the file once readable", func() bool { return r.sink.has("x") })
}

func TestFileOffsetsSaved(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "a.log")
	appendFile(t, path, "a", "b")
	f := newFile(t, FileConfig{Name: "web/a", Paths: []string{path}, StateDir: state})
	r := start(t, f, func([]ingest.Line) bool { return true })
	waitFor(t, 10*time.Second, "lines", func() bool { return r.sink.count() == 2 })
	r.stop()
	saved, err := loadOffsets(offsetPath(state, "web/a"))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if got, want := saved[path], (position{File: fileID(fi), Offset: 4, Head: newHead([]byte("a\nb\n"))}); got != want {
		t.Errorf("saved %+v, want %+v", got, want)
	}
	if _, err := os.Stat(filepath.Join(state, "offsets-web_a.json")); err != nil {
		t.Error(err)
	}
	// A commit after Run returned is written at once.
	f.Commit([]ingest.Line{{Path: path, File: fileID(fi), End: 2}})
	saved, _ = loadOffsets(offsetPath(state, "web/a"))
	if saved[path].Offset != 2 {
		t.Errorf("after a late commit the saved offset is %d, want 2", saved[path].Offset)
	}
}

// TestFileTruncateWhileBlocked truncates and rewrites a file, past the
// offset nxadm/tail has read to, while the pipeline takes nothing: the tail
// then reads on at its old offset in the new content. No such line may get
// through; what the file held before is read from its copy.
func TestFileTruncateWhileBlocked(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	const n = 3000
	lines := func(from, to int) []string {
		var s []string
		for i := from; i < to; i++ {
			s = append(s, fmt.Sprintf("%09d some text to make the line longer", i))
		}
		return s
	}
	appendFile(t, path, lines(0, n)...)
	f := newFile(t, FileConfig{Paths: []string{path}, BatchLines: 10})
	out := make(chan []ingest.Line)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, out) }()
	got := <-out // the follower now blocks on its next send

	if _, err := copytruncate(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(n, 3*n)...)
	for len(got) == 0 || lineNo(t, got[len(got)-1]) != 3*n-1 {
		select {
		case b := <-out:
			got = append(got, b...)
		case <-time.After(20 * time.Second):
			t.Fatalf("timed out; last line %q", got[len(got)-1].Text)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, l := range got {
		if want := lines(i, i+1)[0]; l.Text != want {
			t.Fatalf("line %d is %q, want %q", i, l.Text, want)
		}
	}
	if len(got) != 3*n {
		t.Fatalf("got %d lines, want %d", len(got), 3*n)
	}
	if s := f.Stats(); s.Truncations != 1 || s.Recovered == 0 {
		t.Errorf("Stats() = %+v, want 1 truncation and lines recovered from the copy", s)
	}
}

// TestFileRenamedBack: a file renamed away (nxadm/tail stops) and back is
// tailed on from where it was, with what was written meanwhile.
func TestFileRenamedBack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "one")
	f := newFile(t, FileConfig{Paths: []string{path}})
	r := start(t, f, nil)
	waitFor(t, 10*time.Second, "one", func() bool { return r.sink.has("one") })
	if err := os.Rename(path, path+".tmp"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".tmp", "two")
	waitFor(t, 10*time.Second, "two", func() bool { return r.sink.has("two") })
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "three")
	waitFor(t, 10*time.Second, "three", func() bool { return r.sink.has("three") })
	appendFile(t, path, "four")
	waitFor(t, 10*time.Second, "four", func() bool { return r.sink.has("four") })
	r.stop()
	var texts []string
	for _, l := range r.sink.snapshot() {
		texts = append(texts, l.Text)
	}
	if got := strings.Join(texts, " "); got != "one two three four" {
		t.Errorf("lines %q, want one two three four", got)
	}
	if s := f.Stats(); s.Rotations != 0 || s.TailStarts < 2 {
		t.Errorf("Stats() = %+v, want no rotation and the tail started again", s)
	}
}

func TestFollowerStalled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, "a", "b")
	f := newFile(t, FileConfig{Paths: []string{path}, RescanInterval: 20 * time.Millisecond})
	fl := newFollower(f, path, nil)
	fd, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	fl.fd, fl.end = fd, 2
	if fl.stalled(0) {
		t.Fatal("stalled at the first look")
	}
	waitFor(t, 10*time.Second, "a stall", func() bool { return fl.stalled(0) })
	if fl.stalled(1) {
		t.Error("stalled with lines waiting in the pump")
	}
	fl.end = 4 // everything read
	if fl.stalled(0) {
		t.Error("stalled with nothing left to read")
	}
	if fl.stalled(0) {
		t.Error("stalled with nothing left to read")
	}
}
