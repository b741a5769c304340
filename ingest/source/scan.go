package source

import (
	"bytes"
	"io"
	"os"
	"unicode/utf8"

	"github.com/vigil-sec/vigil/ingest"
)

// DefaultMaxLineBytes is the length at which a line is cut when the
// configuration gives no maximum.
const DefaultMaxLineBytes = 64 << 10

// scanner splits what it reads from r into lines. It is the reader of
// Reader, and of File wherever File reads a file itself (the rest of a
// rotated file, the copy left by copytruncate). End of input is not sticky:
// a later call reads r again, so a scanner can follow a growing file.
type scanner struct {
	r      io.Reader
	buf    []byte
	lo, hi int   // unread bytes: buf[lo:hi]
	off    int64 // file offset of buf[lo]
	max    int   // longer lines are cut to max bytes

	long   bool        // skipping the rest of a line longer than max
	longLn ingest.Line // that line: Offset, Text and Truncated set

	spans []span // lines still in buf, not yet copied into a string
}

// span is a line held in buf[lo:hi], at off in the file.
type span struct {
	lo, hi int
	off    int64
}

// newScanner returns a scanner reading r, whose first byte is at offset off
// in the file. The buffer holds at least two maximal lines, so a line that
// fits is always found whole in it.
func newScanner(r io.Reader, off int64, bufSize, maxLine int) *scanner {
	return &scanner{r: r, off: off, max: maxLine, buf: make([]byte, max(bufSize, 2*maxLine+1))}
}

// scan appends to dst the lines it can read, up to n of them, each a copy of
// tmpl with Offset, End, Text and Truncated set. The lines of one call share
// one string for their text. It returns io.EOF when it reached the end of
// the input; with final, a last line without newline is then returned too,
// otherwise it is kept until its newline arrives. To keep latency low, scan
// returns what it has rather than block in a read.
func (s *scanner) scan(dst []ingest.Line, tmpl *ingest.Line, n int, final bool) ([]ingest.Line, error) {
	start := len(dst)
	for len(dst)-start+len(s.spans) < n {
		b := s.buf[s.lo:s.hi]
		i := bytes.IndexByte(b, '\n')
		switch {
		case s.long && i >= 0:
			ln := *tmpl
			ln.Offset, ln.Text, ln.Truncated = s.longLn.Offset, s.longLn.Text, true
			ln.End = s.off + int64(i) + 1
			dst = append(dst, ln)
			s.advance(i + 1)
			s.long = false
			continue
		case s.long:
			s.advance(len(b))
		case i > s.max:
			dst = s.flush(dst, tmpl)
			ln := *tmpl
			ln.Offset, ln.End, ln.Truncated = s.off, s.off+int64(i)+1, true
			ln.Text = string(cut(b, s.max))
			dst = append(dst, ln)
			s.advance(i + 1)
			continue
		case i >= 0:
			s.spans = append(s.spans, span{lo: s.lo, hi: s.lo + i, off: s.off})
			s.advance(i + 1)
			continue
		case len(b) > s.max:
			// No newline yet and already too long: keep the head, skip the rest.
			dst = s.flush(dst, tmpl)
			s.long = true
			s.longLn = ingest.Line{Offset: s.off, Text: string(cut(b, s.max))}
			s.advance(len(b))
		}

		// buf holds no complete line: read more, unless lines are waiting.
		dst = s.flush(dst, tmpl)
		if len(dst) > start {
			return dst, nil
		}
		if err := s.fill(); err != nil {
			if err == io.EOF && final {
				dst = s.rest(dst, tmpl)
			}
			return dst, err
		}
	}
	return s.flush(dst, tmpl), nil
}

// advance consumes k bytes of buf.
func (s *scanner) advance(k int) {
	s.lo += k
	s.off += int64(k)
}

// rest appends the last line of the input, which has no newline.
func (s *scanner) rest(dst []ingest.Line, tmpl *ingest.Line) []ingest.Line {
	ln := *tmpl
	switch {
	case s.long:
		ln.Offset, ln.End, ln.Text, ln.Truncated = s.longLn.Offset, s.off, s.longLn.Text, true
		s.long = false
	case s.lo < s.hi:
		ln.Offset, ln.End, ln.Text = s.off, s.off+int64(s.hi-s.lo), string(s.buf[s.lo:s.hi])
		s.advance(s.hi - s.lo)
	default:
		return dst
	}
	return append(dst, ln)
}

// flush turns the pending spans into lines, with one string for all.
func (s *scanner) flush(dst []ingest.Line, tmpl *ingest.Line) []ingest.Line {
	if len(s.spans) == 0 {
		return dst
	}
	base := s.spans[0].lo
	text := string(s.buf[base:s.spans[len(s.spans)-1].hi])
	for _, sp := range s.spans {
		ln := *tmpl
		ln.Offset = sp.off
		ln.End = sp.off + int64(sp.hi-sp.lo) + 1
		ln.Text = text[sp.lo-base : sp.hi-base]
		dst = append(dst, ln)
	}
	s.spans = s.spans[:0]
	return dst
}

// fill moves the unread bytes to the front of buf and reads more after
// them. It returns io.EOF when r has nothing more for now.
func (s *scanner) fill() error {
	if s.lo > 0 {
		s.hi = copy(s.buf, s.buf[s.lo:s.hi])
		s.lo = 0
	}
	for range 100 {
		k, err := s.r.Read(s.buf[s.hi:])
		s.hi += k
		if k > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// cut returns the first n bytes of b (len(b) > n), shortened to a rune
// boundary when that costs at most three bytes.
func cut[T string | []byte](b T, n int) T {
	for k := n; k > 0 && k > n-utf8.UTFMax; k-- {
		if utf8.RuneStart(b[k]) {
			return b[:k]
		}
	}
	return b[:n]
}

// offsetReader reads f from off on with ReadAt, so it shares f with others
// and can read on after an end of file.
type offsetReader struct {
	f   *os.File
	off int64
}

func (r *offsetReader) Read(p []byte) (int, error) {
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	if n > 0 {
		return n, nil
	}
	return 0, err
}
