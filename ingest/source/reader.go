package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// StdinPath is the Path of lines read from standard input.
const StdinPath = "-"

// ReaderConfig tunes a Reader. Its zero value is a safe default.
type ReaderConfig struct {
	// MaxLineBytes is the length at which a line is cut (Line.Truncated);
	// 0 means DefaultMaxLineBytes.
	MaxLineBytes int
	// BatchLines is the number of lines per batch; 0 means 1024.
	BatchLines int
	// BufferBytes is the read buffer size; 0 means 1 MiB. It is raised to
	// hold two lines of MaxLineBytes.
	BufferBytes int
	// Time, when set, is the Time of every line. Otherwise it is the file's
	// modification time, or for standard input and other streams the time
	// Run starts.
	Time time.Time
}

// Reader reads a file or a stream once, from its start to its end, for
// replay and standard input. It implements ingest.Source; Run returns nil at
// the end of the input. A Reader does not checkpoint.
type Reader struct {
	name, path string
	r          io.Reader
	closer     io.Closer // set when the Reader opened the file itself
	cfg        ReaderConfig
	file       event.FileID
	time       time.Time
	closeOnce  sync.Once

	lines, bytes, truncated atomic.Uint64
}

var _ ingest.Source = (*Reader)(nil)

// NewReader returns a Reader of r for the source name. path is what the
// lines carry as Path: StdinPath for standard input. When r is a regular
// file (it has a Stat method, as *os.File does) and path is not StdinPath,
// lines carry its device and inode, and its modification time as Time.
// The caller keeps ownership of r.
func NewReader(name, path string, r io.Reader, cfg ReaderConfig) *Reader {
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if cfg.BatchLines <= 0 {
		cfg.BatchLines = 1024
	}
	if cfg.BufferBytes <= 0 {
		cfg.BufferBytes = 1 << 20
	}
	rd := &Reader{name: name, path: path, r: r, cfg: cfg, time: cfg.Time}
	if st, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok && path != StdinPath {
		if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() {
			rd.file = fileID(fi)
			if rd.time.IsZero() {
				rd.time = fi.ModTime()
			}
		}
	}
	return rd
}

// OpenReader opens path (StdinPath for standard input) and returns a Reader
// of it that closes the file when Run returns.
func OpenReader(name, path string, cfg ReaderConfig) (*Reader, error) {
	if path == StdinPath {
		return NewReader(name, path, os.Stdin, cfg), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	rd := NewReader(name, path, f, cfg)
	rd.closer = f
	return rd, nil
}

// Name returns the source name.
func (rd *Reader) Name() string { return rd.name }

// Close closes the file OpenReader opened, if Run has not already. It is
// only needed when Run is never called.
func (rd *Reader) Close() error {
	var err error
	rd.closeOnce.Do(func() {
		if rd.closer != nil {
			err = rd.closer.Close()
		}
	})
	return err
}

// Run sends the lines of the input on out, in batches, and returns nil at
// its end or when ctx is cancelled. A last line without newline is sent
// too. Run is called once.
func (rd *Reader) Run(ctx context.Context, out chan<- []ingest.Line) error {
	defer rd.Close()
	tmpl := ingest.Line{Source: rd.name, Path: rd.path, File: rd.file, Time: rd.time}
	if tmpl.Time.IsZero() {
		tmpl.Time = time.Now()
	}
	sc := newScanner(rd.r, 0, rd.cfg.BufferBytes, rd.cfg.MaxLineBytes)
	n := rd.cfg.BatchLines
	for {
		batch, err := sc.scan(make([]ingest.Line, 0, n), &tmpl, n, true)
		if len(batch) > 0 {
			var size, cut uint64
			for i := range batch {
				size += uint64(batch[i].End - batch[i].Offset)
				if batch[i].Truncated {
					cut++
				}
			}
			select {
			case out <- batch:
			case <-ctx.Done():
				return nil
			}
			rd.lines.Add(uint64(len(batch)))
			rd.bytes.Add(size)
			rd.truncated.Add(cut)
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("read %s: %w", rd.path, err)
		case ctx.Err() != nil:
			return nil
		}
	}
}

// ReaderStats are the counters of a Reader.
type ReaderStats struct {
	Lines     uint64 `json:"lines"`     // lines sent
	Bytes     uint64 `json:"bytes"`     // bytes read, newlines included
	Truncated uint64 `json:"truncated"` // lines cut at MaxLineBytes
}

// Stats returns the counters. It is safe to call while Run runs.
func (rd *Reader) Stats() ReaderStats {
	return ReaderStats{Lines: rd.lines.Load(), Bytes: rd.bytes.Load(), Truncated: rd.truncated.Load()}
}

// fileID returns the device and inode of fi, or zero when fi has none.
func fileID(fi fs.FileInfo) event.FileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return event.FileID{}
	}
	return event.FileID{Dev: uint64(st.Dev), Inode: uint64(st.Ino)} //nolint:unconvert // Dev is not uint64 on every platform
}
