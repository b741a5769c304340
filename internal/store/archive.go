package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vigil-sec/vigil/internal/event"
)

// Archive is the event sink used when no ClickHouse is configured: NDJSON
// files events-NNNNNN.ndjson in a directory, one event a line with the
// canonical JSON names. A file is closed at a quarter of the cap; when the
// files together pass ArchiveMaxBytes the oldest is deleted and its events
// counted as dropped. `vigil store load` imports the files later.
type Archive struct {
	dir      string
	maxBytes int64
	fileMax  int64
	logger   *slog.Logger

	mu      sync.Mutex
	files   []archiveFile
	f       *os.File
	buf     []byte
	dropped uint64
}

type archiveFile struct {
	seq   int
	size  int64
	lines uint64 // known for files this process wrote; 0 for older ones
}

const archivePrefix, archiveSuffix = "events-", ".ndjson"

// NewArchive opens or creates the archive in cfg.ArchiveDir.
func NewArchive(cfg Config, logger *slog.Logger) (*Archive, error) {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ArchiveDir == "" {
		return nil, errors.New("store: no archive directory")
	}
	if err := os.MkdirAll(cfg.ArchiveDir, 0o750); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	a := &Archive{dir: cfg.ArchiveDir, maxBytes: cfg.ArchiveMaxBytes, logger: logger.With("component", "store")}
	a.fileMax = max(a.maxBytes/4, 64<<10)
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	for _, e := range entries {
		seq, ok := archiveSeq(e.Name())
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		a.files = append(a.files, archiveFile{seq: seq, size: info.Size()})
	}
	slices.SortFunc(a.files, func(x, y archiveFile) int { return x.seq - y.seq })
	if len(a.files) == 0 {
		a.files = append(a.files, archiveFile{seq: 1})
	}
	if err := a.openLast(); err != nil {
		return nil, err
	}
	return a, nil
}

func archiveSeq(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, archivePrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, archiveSuffix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

func (a *Archive) path(seq int) string {
	return filepath.Join(a.dir, fmt.Sprintf("%s%06d%s", archivePrefix, seq, archiveSuffix))
}

func (a *Archive) openLast() error {
	last := &a.files[len(a.files)-1]
	f, err := os.OpenFile(a.path(last.seq), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	a.f = f
	return nil
}

// Write appends evs, one JSON line each, and fsyncs. It has the shape of
// ingest.Sink.
func (a *Archive) Write(ctx context.Context, evs []event.Event) error {
	if len(evs) == 0 {
		return ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return errors.New("archive closed")
	}
	a.buf = a.buf[:0]
	for i := range evs {
		b, err := json.Marshal(&evs[i])
		if err != nil {
			return fmt.Errorf("archive: encode event: %w", err)
		}
		a.buf = append(append(a.buf, b...), '\n')
	}
	last := &a.files[len(a.files)-1]
	if last.size > 0 && last.size+int64(len(a.buf)) > a.fileMax {
		if err := a.f.Close(); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		a.files = append(a.files, archiveFile{seq: last.seq + 1})
		if err := a.openLast(); err != nil {
			return err
		}
		last = &a.files[len(a.files)-1]
	}
	a.enforceCap(int64(len(a.buf)))
	if _, err := a.f.Write(a.buf); err != nil {
		return fmt.Errorf("archive write: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("archive fsync: %w", err)
	}
	last.size += int64(len(a.buf))
	last.lines += uint64(len(evs))
	return nil
}

func (a *Archive) enforceCap(n int64) {
	var total int64
	for _, f := range a.files {
		total += f.size
	}
	for total+n > a.maxBytes && len(a.files) > 1 {
		old := a.files[0]
		lines := old.lines
		if lines == 0 {
			lines = countLines(a.path(old.seq))
		}
		if err := os.Remove(a.path(old.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.logger.Error("remove archive file", "path", a.path(old.seq), "err", err)
			return
		}
		a.files = a.files[1:]
		total -= old.size
		a.dropped += lines
		a.logger.Warn("event archive full, deleted its oldest file", "count", lines, "path", a.path(old.seq))
	}
}

func countLines(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	var n uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		n++
	}
	return n
}

// Dropped returns the number of events deleted by the size cap.
func (a *Archive) Dropped() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
}

// Close closes the current file.
func (a *Archive) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
