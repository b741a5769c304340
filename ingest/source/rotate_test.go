package source

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// rotLine is line n as the rotation test writes it.
func rotLine(buf []byte, n int) []byte {
	buf = strconv.AppendInt(buf[:0], int64(1_000_000_000+n), 10)[1:] // nine digits, zero padded
	buf = append(buf, " sshd[4242]: Failed password for root from 203.0.113.7 port 22 ssh2\n"...)
	return buf
}

// lossWindow is the range of lines that a copytruncate may lose: written to
// the file after the copy was taken and before the truncation.
type lossWindow struct{ after, before int } // exclusive

// TestFileRotation writes numbered lines at full speed while the file is
// rotated as logrotate does: rename+create (the writer reopens when told,
// as after a HUP, so lines still land in the renamed file meanwhile),
// copytruncate (copy, then truncate while the writer keeps its O_APPEND
// descriptor), and delete+recreate. Every line must arrive exactly once and
// in order, except that a copytruncate may lose lines written between its
// copy and its truncation; the test measures those.
func TestFileRotation(t *testing.T) {
	total := 200_000
	if testing.Short() {
		total = 20_000
	}
	kinds := []string{"rename", "copytruncate", "rename", "copytruncate", "delete", "rename", "copytruncate", "rename", "copytruncate", "rename", "copytruncate"}

	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	appendFile(t, path) // empty
	// The pattern also matches the rotated names, which must be excluded.
	f := newFile(t, FileConfig{Name: "auth", Paths: []string{path + "*"}, StateDir: t.TempDir(), RescanInterval: time.Second})
	r := start(t, f, nil)
	waitFor(t, 10*time.Second, "the file to be open", func() bool { return f.Stats().Files == 1 })

	began := time.Now()
	windows := make([]lossWindow, 0, len(kinds))
	var (
		w        *os.File
		genStart int // first line of the file now at path
		pending  chan int
		err      error
	)
	reopen := func() {
		w.Close()
		if w, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// truncated waits for the copytruncate under way and records the lines
	// it may have lost; n is the next line to be written.
	truncated := func(n int) {
		if pending == nil {
			return
		}
		after := <-pending
		pending = nil
		genStart = firstLine(t, path, n)
		windows = append(windows, lossWindow{after, genStart})
	}
	if w, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	reopenAt := -1 // line at which the writer reopens path, as after a HUP
	next, lost := 0, 0
	for n := range total {
		if n == reopenAt {
			reopen()
			genStart = n
			// A file is read if it exists long enough for inotify to report
			// it and the File to open it (see the package documentation);
			// this test's files live for a few milliseconds only.
			waitFor(t, 10*time.Second, "the new file to be opened", func() bool { return openCount(t, path) >= 2 })
		}
		if next < len(kinds) && n == total*(next+1)/(len(kinds)+1) {
			truncated(n)
			rotated := fmt.Sprintf("%s.%d", path, next+1)
			switch kinds[next] {
			case "rename":
				if err := os.Rename(path, rotated); err != nil {
					t.Fatal(err)
				}
				appendFile(t, path) // create
				reopenAt = n + 500  // lines still go to the renamed file until then
			case "delete":
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				reopenAt = n + 500
			case "copytruncate":
				// What was not read yet from a file truncated in place
				// exists only in its copy, which a reader can recognise only
				// once it has read from that file. So the truncation waits
				// until the reader is in the current file, as far behind the
				// writer as it may be.
				waitFor(t, 60*time.Second, "the reader to reach the current file", func() bool { return r.sink.lastNo() >= genStart })
				pending = make(chan int, 1)
				go func() {
					after, err := copytruncate(path, rotated)
					if err != nil {
						t.Error(err)
					}
					pending <- after
				}()
			}
			next++
		}
		buf = rotLine(buf, n)
		if _, err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	truncated(total)
	written := time.Since(began)
	last := total - 1 // the last line that cannot be lost
	for windowOf(windows, last) >= 0 {
		last--
	}
	waitFor(t, 120*time.Second, "the last line", func() bool {
		return r.sink.has(string(bytes.TrimSuffix(rotLine(nil, last), []byte("\n"))))
	})
	read := time.Since(began)
	r.stop()

	// Every line arrives once, in order, whole; missing ones lie in a window.
	got := r.sink.snapshot()
	checkOffsets(t, got)
	next, lost = 0, 0
	lostIn := make([]int, len(windows))
	for i, l := range got {
		n, err := strconv.Atoi(l.Text[:min(9, len(l.Text))])
		if err != nil || l.Text+"\n" != string(rotLine(buf, n)) {
			t.Fatalf("line %d is %q: not a line the writer wrote (after line %d)", i, l.Text, next-1)
		}
		if n < next {
			t.Fatalf("line %d is number %d after %d: duplicated or out of order", i, n, next-1)
		}
		for m := next; m < n; m++ {
			w := windowOf(windows, m)
			if w < 0 {
				t.Fatalf("line number %d lost (next received %d), outside every copytruncate window %v", m, n, windows)
			}
			lostIn[w]++
			lost++
		}
		next = n + 1
	}
	for m := next; m < total; m++ {
		if w := windowOf(windows, m); w >= 0 {
			lostIn[w]++
			lost++
		}
	}
	if next <= last {
		t.Fatalf("last line received is %d, want %d", next-1, last)
	}
	s := f.Stats()
	t.Logf("%d lines written in %v, all read after %v; %d rotations, %d truncations, %d lines recovered from copies",
		total, written.Round(time.Millisecond), read.Round(time.Millisecond), s.Rotations, s.Truncations, s.Recovered)
	for i, w := range windows {
		t.Logf("copytruncate %d: %d lines written between copy and truncate, %d of them lost", i+1, w.before-w.after-1, lostIn[i])
	}
	t.Logf("copytruncate: %d lines lost in all (bound: the %d written between copy and truncate)", lost, windowSize(windows))
	// The last truncation may come after the last line was read, and be
	// noticed after the test stopped.
	if s.Rotations != 6 || s.Truncations < 4 || s.Truncations > 5 {
		t.Errorf("Stats() = %+v, want 6 rotations and 4 or 5 truncations", s)
	}
	if s.Lines != uint64(len(got)) || s.Files != 0 || s.LagBytes != 0 {
		t.Errorf("Stats() = %+v after %d lines", s, len(got))
	}
}

func windowOf(ws []lossWindow, n int) int {
	for i, w := range ws {
		if n > w.after && n < w.before {
			return i
		}
	}
	return -1
}

func windowSize(ws []lossWindow) int {
	n := 0
	for _, w := range ws {
		n += w.before - w.after - 1
	}
	return n
}

// copytruncate copies path to rotated and truncates path, as logrotate's
// copytruncate does, while the writer goes on. It returns the number of the
// last complete line of the copy.
func copytruncate(path, rotated string) (int, error) {
	in, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.Create(rotated)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	// Copy what the file holds now; the writer appends meanwhile.
	fi, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if _, err := io.CopyN(out, in, fi.Size()); err != nil {
		return 0, err
	}
	if err := os.Truncate(path, 0); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(rotated)
	if err != nil {
		return 0, err
	}
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		return -1, nil
	}
	start := bytes.LastIndexByte(b[:end], '\n') + 1
	return strconv.Atoi(string(b[start : start+9]))
}

// openCount returns how many descriptors of this process are open on the
// file at path.
func openCount(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if efi, err := os.Stat("/proc/self/fd/" + e.Name()); err == nil && os.SameFile(fi, efi) {
			n++
		}
	}
	return n
}

// firstLine returns the number of the first line in path, or next if it
// has none yet.
func firstLine(t *testing.T, path string, next int) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 10)
	if n, _ := io.ReadFull(f, b); n < 10 || b[9] != ' ' {
		return next
	}
	n, err := strconv.Atoi(string(b[:9]))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
