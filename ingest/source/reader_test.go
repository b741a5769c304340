package source

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// readAll runs rd to its end and returns the lines and batch sizes.
func readAll(t *testing.T, rd *Reader) ([]ingest.Line, []int) {
	t.Helper()
	out := make(chan []ingest.Line, 1)
	errc := make(chan error, 1)
	go func() { errc <- rd.Run(context.Background(), out) }()
	var lines []ingest.Line
	var sizes []int
	for {
		select {
		case b := <-out:
			lines = append(lines, b...)
			sizes = append(sizes, len(b))
		case err := <-errc:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			for len(out) > 0 {
				b := <-out
				lines = append(lines, b...)
				sizes = append(sizes, len(b))
			}
			return lines, sizes
		}
	}
}

type want struct {
	Text      string
	Offset    int64
	End       int64
	Truncated bool
}

func simplify(lines []ingest.Line) []want {
	out := make([]want, len(lines))
	for i, l := range lines {
		out[i] = want{l.Text, l.Offset, l.End, l.Truncated}
	}
	return out
}

func TestReaderLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []want
	}{
		{"empty", "", 0, []want{}},
		{"one", "a\n", 0, []want{{"a", 0, 2, false}}},
		{"final line without newline", "a\nbc", 0, []want{{"a", 0, 2, false}, {"bc", 2, 4, false}}},
		{"empty lines", "\n\nx\n", 0, []want{{"", 0, 1, false}, {"", 1, 2, false}, {"x", 2, 4, false}}},
		{"carriage return kept", "a\r\n", 0, []want{{"a\r", 0, 3, false}}},
		{"exactly max", "abcd\nx\n", 4, []want{{"abcd", 0, 5, false}, {"x", 5, 7, false}}},
		{"long line cut", "abcdefgh\nx\n", 4, []want{{"abcd", 0, 9, true}, {"x", 9, 11, false}}},
		{"long final line", "x\nabcdefgh", 4, []want{{"x", 0, 2, false}, {"abcd", 2, 10, true}}},
		{"cut at rune boundary", "aé€b\n", 4, []want{{"aé", 0, 8, true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, bufSize := range []int{0, 3} {
				rd := NewReader("replay", StdinPath, strings.NewReader(tc.in), ReaderConfig{MaxLineBytes: tc.max, BufferBytes: bufSize})
				got, _ := readAll(t, rd)
				if diff := cmp.Diff(tc.want, simplify(got)); diff != "" {
					t.Errorf("buffer %d: lines of %q (-want +got):\n%s", bufSize, tc.in, diff)
				}
			}
		})
	}
}

func TestReaderStdin(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprint(pw, "one\ntwo\n")
		fmt.Fprint(pw, "thr")
		fmt.Fprint(pw, "ee")
		pw.Close()
	}()
	before := time.Now()
	rd := NewReader("stdin", StdinPath, pr, ReaderConfig{})
	got, _ := readAll(t, rd)
	if diff := cmp.Diff([]want{{"one", 0, 4, false}, {"two", 4, 8, false}, {"three", 8, 13, false}}, simplify(got)); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	for _, l := range got {
		if l.Path != StdinPath || l.File != (event.FileID{}) || l.Source != "stdin" {
			t.Errorf("line %q: path %q, file %v, source %q", l.Text, l.Path, l.File, l.Source)
		}
		if l.Time.Before(before) || l.Time.After(time.Now()) {
			t.Errorf("line %q: time %v is not the start of Run", l.Text, l.Time)
		}
	}
	if s := rd.Stats(); s.Lines != 3 || s.Bytes != 13 {
		t.Errorf("Stats() = %+v, want 3 lines, 13 bytes", s)
	}
}

func TestReaderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(path, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	rd, err := OpenReader("replay", path, ReaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(t, rd)
	if len(got) != 2 {
		t.Fatalf("got %d lines, want 2", len(got))
	}
	for _, l := range got {
		if l.File != fileID(fi) || l.File.Inode == 0 || l.Path != path || !l.Time.Equal(mtime) {
			t.Errorf("line %q: file %v path %q time %v; want %v %q %v", l.Text, l.File, l.Path, l.Time, fileID(fi), path, mtime)
		}
	}
	if _, err := OpenReader("replay", filepath.Join(t.TempDir(), "missing"), ReaderConfig{}); err == nil {
		t.Error("OpenReader of a missing file succeeded")
	}
}

func TestReaderBatches(t *testing.T) {
	var in strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	rd := NewReader("r", "x", strings.NewReader(in.String()), ReaderConfig{BatchLines: 64})
	got, sizes := readAll(t, rd)
	if len(got) != 1000 {
		t.Fatalf("got %d lines, want 1000", len(got))
	}
	for i, l := range got {
		if l.Text != fmt.Sprintf("line %d", i) {
			t.Fatalf("line %d is %q", i, l.Text)
		}
	}
	for _, n := range sizes {
		if n > 64 || n == 0 {
			t.Errorf("batch of %d lines, want 1..64", n)
		}
	}
}

// TestReaderRandom compares the reader with a plain split over random
// input, read one byte at a time and in large reads, with small buffers.
func TestReaderRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 200 {
		var b bytes.Buffer
		for range rng.IntN(50) {
			b.WriteString(strings.Repeat("x", rng.IntN(40)))
			if rng.IntN(10) > 0 {
				b.WriteByte('\n')
			}
		}
		in := b.String()
		max := 1 + rng.IntN(30)
		ref := []want{}
		off := int64(0)
		for rest := in; rest != ""; {
			line, after, found := strings.Cut(rest, "\n")
			end := off + int64(len(line))
			if found {
				end++
			}
			w := want{line, off, end, false}
			if len(line) > max {
				w.Text, w.Truncated = line[:max], true
			}
			ref = append(ref, w)
			off, rest = end, after
		}
		for _, r := range []io.Reader{iotest.OneByteReader(strings.NewReader(in)), strings.NewReader(in)} {
			rd := NewReader("r", "x", r, ReaderConfig{MaxLineBytes: max, BufferBytes: 1 + rng.IntN(100), BatchLines: 1 + rng.IntN(10)})
			got, _ := readAll(t, rd)
			if diff := cmp.Diff(ref, simplify(got)); diff != "" {
				t.Fatalf("iteration %d, max %d, input %q (-want +got):\n%s", iter, max, in, diff)
			}
		}
	}
}

func TestReaderCancel(t *testing.T) {
	rd := NewReader("r", "x", strings.NewReader(strings.Repeat("x\n", 10000)), ReaderConfig{BatchLines: 10})
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan []ingest.Line) // nobody reads
	errc := make(chan error, 1)
	go func() { errc <- rd.Run(ctx, out) }()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run blocked on a full channel after cancel")
	}
}

func BenchmarkReader(b *testing.B) {
	var in bytes.Buffer
	const n = 200_000
	for i := range n {
		fmt.Fprintf(&in, "Mar  3 09:17:%02d host sshd[20441]: Failed password for invalid user admin from 198.51.100.%d port %d ssh2\n", i%60, i%256, 1024+i%60000)
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	lines := 0
	for b.Loop() {
		rd := NewReader("bench", "bench.log", bytes.NewReader(data), ReaderConfig{})
		out := make(chan []ingest.Line, 4)
		errc := make(chan error, 1)
		go func() { errc <- rd.Run(context.Background(), out); close(out) }()
		for batch := range out {
			lines += len(batch)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	if lines%n != 0 {
		b.Fatalf("read %d lines, not a multiple of %d", lines, n)
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}
