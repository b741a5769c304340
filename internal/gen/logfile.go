package gen

import (
	"bufio"
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// logFile collects the lines of one output file in the order they are
// generated (actor by actor), each with its time, and writes them sorted by
// time. Lines live in one byte arena, so generating 200k lines allocates
// little.
type logFile struct {
	name   string
	data   []byte
	recs   []record
	attack int   // lines written by attacks
	t      int64 // time of the line being built
}

type record struct {
	t        int64 // Unix ns
	off, end int   // the line in data, without newline
}

// begin starts a line at time t: append to the returned slice and pass it
// to commit.
func (f *logFile) begin(t int64) []byte {
	f.t = t
	return f.data
}

func (f *logFile) commit(b []byte) {
	f.recs = append(f.recs, record{t: f.t, off: len(f.data), end: len(b)})
	f.data = b
}

func (f *logFile) lines() int { return len(f.recs) }

// write writes the lines sorted by time (ties keep generation order) to
// dir/name and sets the file's modification time to the last line's time.
func (f *logFile) write(dir string) (err error) {
	slices.SortStableFunc(f.recs, func(a, b record) int { return cmp.Compare(a.t, b.t) })
	path := filepath.Join(dir, f.name)
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(out, 1<<18)
	for _, r := range f.recs {
		w.Write(f.data[r.off:r.end])
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if n := len(f.recs); n > 0 {
		last := time.Unix(0, f.recs[n-1].t)
		if err := os.Chtimes(path, last, last); err != nil {
			return err
		}
	}
	return nil
}

var monthAbbr = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

func appendClock(b []byte, tm time.Time) []byte {
	h, m, s := tm.Clock()
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, m)
	b = append(b, ':')
	return append2(b, s)
}

// appendSyslogStamp appends an RFC 3164 stamp in UTC: "Mar  2 08:00:01".
func appendSyslogStamp(b []byte, t int64) []byte {
	tm := time.Unix(0, t).UTC()
	_, mon, day := tm.Date()
	b = append(b, monthAbbr[mon-1]...)
	b = append(b, ' ')
	if day < 10 {
		b = append(b, ' ')
	}
	b = strconv.AppendInt(b, int64(day), 10)
	b = append(b, ' ')
	return appendClock(b, tm)
}

// appendCLFStamp appends nginx's $time_local in UTC: "02/Mar/2026:08:00:01 +0000".
func appendCLFStamp(b []byte, t int64) []byte {
	tm := time.Unix(0, t).UTC()
	y, mon, day := tm.Date()
	b = append2(b, day)
	b = append(b, '/')
	b = append(b, monthAbbr[mon-1]...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, ':')
	b = appendClock(b, tm)
	return append(b, " +0000"...)
}

// appendRFC3339Milli appends "2026-03-02T08:00:01.123Z".
func appendRFC3339Milli(b []byte, t int64) []byte {
	tm := time.Unix(0, t).UTC()
	y, mon, day := tm.Date()
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, '-')
	b = append2(b, int(mon))
	b = append(b, '-')
	b = append2(b, day)
	b = append(b, 'T')
	b = appendClock(b, tm)
	ms := tm.Nanosecond() / 1e6
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return b
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// between returns a random duration in [lo, hi] as nanoseconds.
func between(r *rand.Rand, lo, hi time.Duration) int64 {
	if hi <= lo {
		return int64(lo)
	}
	return int64(lo) + r.Int64N(int64(hi-lo)+1)
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// randHex returns n random lower-case hex digits.
func randHex(r *rand.Rand, n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hex[r.IntN(16)]
	}
	return string(b)
}
