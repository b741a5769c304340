package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The spool is a write-ahead log of event batches in a directory:
//
//	00000000000000000001.seg   records, appended in order
//	00000000000000000002.seg
//	cursor                     "SEQ OFFSET\n": everything before it is in ClickHouse
//
// A record is a 12-byte header, u32 payload length | u32 CRC-32C of the
// payload | u32 event count (the payload's first 4 bytes, readable without
// decoding), followed by the rest of the payload (see codec.go). A segment
// is closed at segmentMax bytes. When the total passes the cap, the oldest
// segment is deleted and its events are counted as dropped. On open, the
// last segment is cut at its first incomplete or corrupt record.
type spool struct {
	dir        string
	maxBytes   int64
	segmentMax int64
	logger     *slog.Logger

	mu      sync.Mutex
	segs    []segment // oldest first; the last one is being written
	w       *os.File
	total   int64
	cursor  position // acknowledged: everything before is in ClickHouse
	dropped uint64   // events dropped by the size cap
	corrupt uint64   // records skipped because their CRC or length was bad
}

type segment struct {
	seq  uint64
	size int64
}

// position is a place in the spool: a segment and a byte offset in it.
type position struct {
	seq uint64
	off int64
}

func (p position) less(q position) bool {
	return p.seq < q.seq || (p.seq == q.seq && p.off < q.off)
}

const (
	headerSize     = 12
	maxRecordBytes = 1 << 30
	cursorFile     = "cursor"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func segName(seq uint64) string { return fmt.Sprintf("%020d.seg", seq) }

// openSpool opens or creates the spool in dir.
func openSpool(dir string, maxBytes int64, logger *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, logger: logger}
	s.segmentMax = min(max(maxBytes/8, 1<<20), 64<<20)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.segs = append(s.segs, segment{seq: seq, size: info.Size()})
	}
	slices.SortFunc(s.segs, func(a, b segment) int { return cmpUint(a.seq, b.seq) })
	if err := s.readCursor(); err != nil {
		return nil, err
	}
	// Segments wholly before the cursor were sent; remove them.
	for len(s.segs) > 0 && s.segs[0].seq < s.cursor.seq {
		if err := os.Remove(s.path(s.segs[0].seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 {
		seq := max(s.cursor.seq, 1)
		s.segs = []segment{{seq: seq}}
		s.cursor = position{seq: seq}
	} else if s.cursor.seq < s.segs[0].seq {
		s.cursor = position{seq: s.segs[0].seq}
	}
	last := &s.segs[len(s.segs)-1]
	good, err := s.validEnd(last.seq, last.size)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.path(last.seq), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if good != last.size {
		s.logger.Warn("spool segment has a torn or corrupt tail, truncating", "path", f.Name(), "size", last.size, "valid", good)
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: %w", err)
		}
		last.size = good
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.w = f
	for _, sg := range s.segs {
		s.total += sg.size
	}
	if s.cursor.seq == last.seq && s.cursor.off > last.size {
		s.cursor.off = last.size
	}
	return s, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *spool) path(seq uint64) string { return filepath.Join(s.dir, segName(seq)) }

func (s *spool) readCursor() error {
	b, err := os.ReadFile(filepath.Join(s.dir, cursorFile))
	if errors.Is(err, os.ErrNotExist) {
		if len(s.segs) > 0 {
			s.cursor = position{seq: s.segs[0].seq}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("spool cursor: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return fmt.Errorf("spool cursor %s: malformed %q", filepath.Join(s.dir, cursorFile), b)
	}
	seq, err1 := strconv.ParseUint(f[0], 10, 64)
	off, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || off < 0 {
		return fmt.Errorf("spool cursor %s: malformed %q", filepath.Join(s.dir, cursorFile), b)
	}
	s.cursor = position{seq: seq, off: off}
	return nil
}

// validEnd returns the offset just past the last intact record of a
// segment.
func (s *spool) validEnd(seq uint64, size int64) (int64, error) {
	f, err := os.Open(s.path(seq))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	var off int64
	for off < size {
		p, next, err := readRecord(f, off, size)
		if err != nil || p == nil {
			break
		}
		off = next
	}
	return off, nil
}

// readRecord reads the record at off of a segment of the given size. It
// returns a nil payload at the end, and an error for a torn or corrupt
// record.
func readRecord(f io.ReaderAt, off, size int64) (payload []byte, next int64, err error) {
	if off >= size {
		return nil, off, nil
	}
	if size-off < headerSize {
		return nil, off, errors.New("torn record header")
	}
	var h [headerSize]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return nil, off, err
	}
	n := int64(binary.LittleEndian.Uint32(h[0:]))
	if n < 4 || n > maxRecordBytes || off+8+n > size {
		return nil, off, fmt.Errorf("record length %d at offset %d does not fit", n, off)
	}
	payload = make([]byte, n)
	if _, err := f.ReadAt(payload, off+8); err != nil {
		return nil, off, err
	}
	if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, off, fmt.Errorf("record at offset %d: CRC mismatch", off)
	}
	return payload, off + 8 + n, nil
}

// append writes one record and fsyncs it. The payload starts with its
// event count (u32), which the drop counter reads.
func (s *spool) append(payload []byte) (start, end position, err error) {
	if len(payload) < 4 || len(payload) > maxRecordBytes {
		return start, end, fmt.Errorf("spool: record of %d bytes", len(payload))
	}
	rec := make([]byte, 8, 8+len(payload))
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(payload, crcTable))
	rec = append(rec, payload...)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return start, end, errors.New("spool closed")
	}
	if last := s.segs[len(s.segs)-1]; last.size > 0 && last.size+int64(len(rec)) > s.segmentMax {
		if err := s.rotate(); err != nil {
			return start, end, err
		}
	}
	s.enforceCap(int64(len(rec)))
	last := &s.segs[len(s.segs)-1]
	if _, err := s.w.Write(rec); err != nil {
		// Cut what may have been written so that the segment stays valid.
		_ = s.w.Truncate(last.size)
		_, _ = s.w.Seek(last.size, io.SeekStart)
		return start, end, fmt.Errorf("spool write: %w", err)
	}
	if err := s.w.Sync(); err != nil {
		return start, end, fmt.Errorf("spool fsync: %w", err)
	}
	start = position{seq: last.seq, off: last.size}
	last.size += int64(len(rec))
	s.total += int64(len(rec))
	return start, position{seq: last.seq, off: last.size}, nil
}

// rotate closes the segment being written and starts the next one.
func (s *spool) rotate() error {
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	seq := s.segs[len(s.segs)-1].seq + 1
	f, err := os.OpenFile(s.path(seq), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		s.w = nil
		return fmt.Errorf("spool: %w", err)
	}
	s.w = f
	s.segs = append(s.segs, segment{seq: seq})
	return syncDir(s.dir)
}

// enforceCap deletes the oldest segments, never the one being written,
// until adding n bytes keeps the spool under its cap.
func (s *spool) enforceCap(n int64) {
	for s.total+n > s.maxBytes && len(s.segs) > 1 {
		old := s.segs[0]
		from := int64(0)
		if s.cursor.seq == old.seq {
			from = s.cursor.off
		}
		events := countEvents(s.path(old.seq), from, old.size)
		if err := os.Remove(s.path(old.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.logger.Error("remove spool segment", "path", s.path(old.seq), "err", err)
			return
		}
		s.segs = s.segs[1:]
		s.total -= old.size
		s.dropped += events
		if s.cursor.less(position{seq: s.segs[0].seq}) {
			s.cursor = position{seq: s.segs[0].seq}
		}
		s.logger.Warn("spool full, dropped its oldest segment", "count", events, "path", s.path(old.seq), "max_bytes", s.maxBytes)
	}
}

// countEvents adds up the event counts of a segment's records from off on.
func countEvents(path string, off, size int64) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	var n uint64
	var h [headerSize]byte
	for off+headerSize <= size {
		if _, err := f.ReadAt(h[:], off); err != nil {
			break
		}
		n += uint64(binary.LittleEndian.Uint32(h[8:]))
		off += 8 + int64(binary.LittleEndian.Uint32(h[0:]))
	}
	return n
}

// end returns the position after the last record written.
func (s *spool) end() position {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.segs[len(s.segs)-1]
	return position{seq: last.seq, off: last.size}
}

// acked returns the acknowledged position.
func (s *spool) acked() position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor
}

// reader reads records in order from a position; it belongs to one
// goroutine.
type reader struct {
	s   *spool
	pos position
	f   *os.File
	seq uint64
}

// next returns the payload at r.pos and the position after it, or a nil
// payload when r.pos is at the end. Records in a segment that the size cap
// deleted are skipped; a corrupt record skips the rest of its segment.
func (r *reader) next() ([]byte, position, error) {
	for {
		r.s.mu.Lock()
		if len(r.s.segs) == 0 {
			r.s.mu.Unlock()
			return nil, r.pos, errors.New("spool closed")
		}
		first := r.s.segs[0]
		if r.pos.seq < first.seq {
			r.pos = position{seq: first.seq}
		}
		i, found := slices.BinarySearchFunc(r.s.segs, r.pos.seq, func(sg segment, seq uint64) int { return cmpUint(sg.seq, seq) })
		if !found {
			r.s.mu.Unlock()
			return nil, r.pos, fmt.Errorf("spool: segment %d missing", r.pos.seq)
		}
		seg, isLast := r.s.segs[i], i == len(r.s.segs)-1
		var nextSeq uint64
		if !isLast {
			nextSeq = r.s.segs[i+1].seq
		}
		r.s.mu.Unlock()

		if r.pos.off >= seg.size {
			if isLast {
				return nil, r.pos, nil
			}
			r.pos = position{seq: nextSeq}
			continue
		}
		if r.f == nil || r.seq != seg.seq {
			if r.f != nil {
				r.f.Close()
			}
			f, err := os.Open(r.s.path(seg.seq))
			if err != nil {
				r.f = nil
				if errors.Is(err, os.ErrNotExist) { // dropped meanwhile
					continue
				}
				return nil, r.pos, fmt.Errorf("spool: %w", err)
			}
			r.f, r.seq = f, seg.seq
		}
		p, next, err := readRecord(r.f, r.pos.off, seg.size)
		if err != nil {
			r.s.mu.Lock()
			r.s.corrupt++
			r.s.mu.Unlock()
			r.s.logger.Error("corrupt spool record, skipping the rest of its segment", "path", r.f.Name(), "offset", r.pos.off, "err", err)
			if isLast {
				// Without a next segment to resume at, skip what the segment
				// being written holds so far; later records are read again.
				r.pos = position{seq: seg.seq, off: seg.size}
				continue
			}
			r.pos = position{seq: nextSeq}
			continue
		}
		r.pos = position{seq: seg.seq, off: next}
		return p, r.pos, nil
	}
}

func (r *reader) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// ack records that everything before p is in ClickHouse: it writes the
// cursor (write, fsync, rename) and deletes the segments before p.
func (s *spool) ack(p position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) > 0 && p.seq < s.segs[0].seq {
		p = position{seq: s.segs[0].seq}
	}
	if p.less(s.cursor) {
		return nil
	}
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool cursor: %w", err)
	}
	_, err = fmt.Fprintf(f, "%d %d\n", p.seq, p.off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, cursorFile))
	}
	if err != nil {
		return fmt.Errorf("spool cursor: %w", err)
	}
	s.cursor = p
	for len(s.segs) > 1 && s.segs[0].seq < p.seq {
		if err := os.Remove(s.path(s.segs[0].seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
		s.total -= s.segs[0].size
		s.segs = s.segs[1:]
	}
	return nil
}

// stats returns the bytes held and the drop and corruption counters.
func (s *spool) stats() (bytes int64, dropped, corrupt uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, s.dropped, s.corrupt
}

func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return nil
	}
	err := s.w.Close()
	s.w = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
