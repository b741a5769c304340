package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/nxadm/tail/watch"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// Where File starts reading a file that has no saved position.
const (
	StartBeginning = "beginning"
	StartEnd       = "end"
)

// DefaultExclude are the name patterns of rotated files, left out of the
// globs unless FileConfig.Exclude says otherwise: numbered (auth.log.1),
// compressed (auth.log.2.gz) and dated (auth.log-20250301) names.
var DefaultExclude = []string{
	"*.[0-9]", "*.[0-9][0-9]", "*.[0-9][0-9][0-9]",
	"*.gz", "*.bz2", "*.xz", "*.zst", "*.lz4", "*.zip", "*.old",
	"*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]",
	"*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]",
}

// FileConfig configures a File. Only Name and Paths are required.
type FileConfig struct {
	// Name is the source name that every line carries.
	Name string
	// Paths are glob patterns (filepath.Match syntax) of the files to tail.
	// Relative patterns are made absolute against the working directory.
	Paths []string
	// Exclude are patterns matched against the base name of a file found by
	// Paths; a match is not tailed. nil means DefaultExclude; an empty,
	// non-nil slice excludes nothing.
	Exclude []string
	// StateDir is the directory of the saved positions (a file
	// offsets-<Name>.json); empty means positions are not saved.
	StateDir string
	// StartAt is where a file found at start-up without a saved position is
	// read from: StartBeginning (the default) or StartEnd (after its last
	// complete line). A file that appears later is always read from its
	// beginning.
	StartAt string
	// MaxLineBytes is the length at which a line is cut (Line.Truncated); 0
	// means DefaultMaxLineBytes.
	MaxLineBytes int
	// RescanInterval is how often the patterns are globbed again, to find
	// what inotify missed; 0 means 10s. It also paces the stall watchdog.
	RescanInterval time.Duration
	// RotateWait bounds how long a rotated or deleted file is still read
	// while it keeps growing and no new file with data has taken its name;
	// it is how long such a file must stay unchanged before it is closed.
	// 0 means 5s.
	RotateWait time.Duration
	// BatchLines is the most lines per batch; 0 means 512.
	BatchLines int
}

// File tails the files that match glob patterns, follows them through
// rotation and saves how far the pipeline has committed each one. See the
// package documentation for how it avoids losing lines at rotation. A File
// implements ingest.Source and ingest.Committer; Run may be called again
// after it returned, but not concurrently.
type File struct {
	cfg      FileConfig
	logger   *slog.Logger
	tailLog  *log.Logger // given to nxadm/tail
	statPath string      // file of saved positions; "" when not saved

	mu      sync.Mutex
	saved   map[string]position // committed positions, per path
	heads   map[string]fileHead // heads of the files being read, per path
	dirty   bool
	running bool
	writeMu sync.Mutex // serializes writes of statPath

	stats fileCounters
}

var (
	_ ingest.Source    = (*File)(nil)
	_ ingest.Committer = (*File)(nil)
)

// NewFile checks cfg, creates StateDir and loads the saved positions. A nil
// logger discards.
func NewFile(cfg FileConfig, logger *slog.Logger) (*File, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	f := &File{
		cfg:    cfg,
		logger: logger.With("component", "source", "source", cfg.Name),
		saved:  make(map[string]position),
		heads:  make(map[string]fileHead),
	}
	f.tailLog = newTailLogger(f.logger)
	if cfg.StateDir != "" {
		if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
			return nil, fmt.Errorf("source %s: state directory: %w", cfg.Name, err)
		}
		f.statPath = offsetPath(cfg.StateDir, cfg.Name)
		saved, err := loadOffsets(f.statPath)
		if err != nil {
			return nil, fmt.Errorf("source %s: saved offsets: %w", cfg.Name, err)
		}
		// Forget files that are gone or no longer configured.
		for p := range saved {
			if _, err := os.Stat(p); err != nil || !f.matches(p) {
				delete(saved, p)
			}
		}
		f.saved = saved
	}
	return f, nil
}

func (c *FileConfig) setDefaults() error {
	if c.Name == "" {
		return errors.New("file source: name is empty")
	}
	if len(c.Paths) == 0 {
		return fmt.Errorf("source %s: no paths", c.Name)
	}
	paths := make([]string, len(c.Paths))
	for i, p := range c.Paths {
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("source %s: path %q: %w", c.Name, p, err)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("source %s: path %q: %w", c.Name, p, err)
		}
		paths[i] = abs
	}
	c.Paths = paths
	if c.Exclude == nil {
		c.Exclude = DefaultExclude
	}
	for _, p := range c.Exclude {
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("source %s: exclude %q: %w", c.Name, p, err)
		}
	}
	switch c.StartAt {
	case "":
		c.StartAt = StartBeginning
	case StartBeginning, StartEnd:
	default:
		return fmt.Errorf("source %s: start_at %q: want %q or %q", c.Name, c.StartAt, StartBeginning, StartEnd)
	}
	if c.MaxLineBytes < 0 || c.RescanInterval < 0 || c.RotateWait < 0 || c.BatchLines < 0 {
		return fmt.Errorf("source %s: negative limit", c.Name)
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.RescanInterval == 0 {
		c.RescanInterval = 10 * time.Second
	}
	if c.RotateWait == 0 {
		c.RotateWait = 5 * time.Second
	}
	if c.BatchLines == 0 {
		c.BatchLines = 512
	}
	return nil
}

// Name returns the source name.
func (f *File) Name() string { return f.cfg.Name }

// Commit records how far the pipeline has accepted each file: the End of the
// last line of lines per path. Positions are written to StateDir every
// second while Run runs, when Run returns, and at once by a Commit that comes
// after Run has returned (the pipeline commits the batches still queued).
func (f *File) Commit(lines []ingest.Line) {
	if len(lines) == 0 {
		return
	}
	f.mu.Lock()
	for i := range lines {
		ln := &lines[i]
		if ln.Path == "" || (i+1 < len(lines) && lines[i+1].Path == ln.Path) {
			continue
		}
		pos := position{File: ln.File, Offset: ln.End}
		if h, ok := f.heads[ln.Path]; ok && h.file == ln.File {
			pos.Head = h.head
		}
		f.saved[ln.Path] = pos
	}
	f.dirty = true
	running := f.running
	f.mu.Unlock()
	if !running {
		f.flush()
	}
}

// flush writes the positions if they changed since the last write.
func (f *File) flush() {
	if f.statPath == "" {
		return
	}
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	f.mu.Lock()
	if !f.dirty {
		f.mu.Unlock()
		return
	}
	snap := make(map[string]position, len(f.saved))
	for p, pos := range f.saved {
		snap[p] = pos
	}
	f.dirty = false
	f.mu.Unlock()
	if err := saveOffsets(f.statPath, f.cfg.Name, snap); err != nil {
		f.mu.Lock()
		f.dirty = true
		f.mu.Unlock()
		f.stats.offsetErrors.Add(1)
		f.logger.Warn("cannot save offsets", "path", f.statPath, "err", err)
		return
	}
	f.stats.offsetWrites.Add(1)
}

// fileHead is the head of the file a follower reads.
type fileHead struct {
	file event.FileID
	head head
}

// setHead records the first bytes of the file id at path, saved with its
// position by the next Commit.
func (f *File) setHead(path string, id event.FileID, b []byte) {
	h := fileHead{file: id, head: newHead(b)}
	f.mu.Lock()
	f.heads[path] = h
	f.mu.Unlock()
}

// savedPosition returns the committed position of path.
func (f *File) savedPosition(path string) (position, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pos, ok := f.saved[path]
	return pos, ok
}

// matches reports whether path matches a pattern and no exclusion.
func (f *File) matches(path string) bool {
	base := filepath.Base(path)
	for _, x := range f.cfg.Exclude {
		if ok, _ := filepath.Match(x, base); ok {
			return false
		}
	}
	for _, p := range f.cfg.Paths {
		if ok, _ := filepath.Match(p, path); ok {
			return true
		}
	}
	return false
}

// Run tails the files until ctx is cancelled, then returns nil once every
// file is closed and the positions are saved. It returns an error only when
// it cannot start (no inotify). Problems with one file are logged, and the
// file is tried again at the next rescan.
func (f *File) Run(ctx context.Context, out chan<- []ingest.Line) error {
	f.mu.Lock()
	if f.running {
		f.mu.Unlock()
		return fmt.Errorf("source %s: already running", f.cfg.Name)
	}
	f.running = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running = false
		f.mu.Unlock()
		f.flush()
	}()

	// Each file is handed to nxadm/tail as /proc/self/fd/N.
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		return fmt.Errorf("file tailing needs /proc: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	defer w.Close()
	startTracker()

	ctx, cancel := context.WithCancel(ctx)
	m := &manager{
		f: f, out: out, w: w,
		followers: make(map[string]*follower),
		failed:    make(map[string]bool),
		seen:      make(map[string]bool),
		resume:    make(map[string]position),
		watched:   make(map[string]bool),
		exited:    make(chan followerExit),
	}
	defer func() {
		cancel()
		m.wg.Wait()
		for _, fl := range m.followers {
			fl.closeFiles() // files offered after it stopped
		}
	}()
	f.logger.Info("tailing files", "paths", f.cfg.Paths)

	m.rescan(ctx, true)
	rescan := time.NewTicker(f.cfg.RescanInterval)
	defer rescan.Stop()
	save := time.NewTicker(time.Second)
	defer save.Stop()
	for {
		select {
		case <-ctx.Done():
			f.logger.Info("stopped tailing files")
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("inotify watcher closed")
			}
			m.event(ctx, ev)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("inotify watcher closed")
			}
			// An overflow loses events: look at everything again.
			f.logger.Warn("inotify error", "err", err)
			m.rescan(ctx, false)
		case <-rescan.C:
			m.rescan(ctx, false)
		case <-save.C:
			f.flush()
		case x := <-m.exited:
			m.exit(ctx, x)
		}
	}
}

// startTracker makes nxadm/tail create its process-wide inotify tracker now,
// by adding and removing one watch. Two reasons: the tracker calls os.Exit
// when it cannot create its watcher, which is less likely right after we
// created ours; and follower.retire reads the tracker, which must exist.
func startTracker() {
	_ = watch.Watch("/")
	_ = watch.RemoveWatch("/")
}

// manager owns the set of followers of one Run: one per path, never two.
// Only the Run goroutine touches it.
type manager struct {
	f         *File
	out       chan<- []ingest.Line
	w         *fsnotify.Watcher
	followers map[string]*follower
	failed    map[string]bool     // paths that could not be opened; retried at rescan
	seen      map[string]bool     // paths followed in this Run: their saved position is stale
	resume    map[string]position // where a follower that failed had got to
	watched   map[string]bool     // directories watched by w
	exited    chan followerExit
	wg        sync.WaitGroup
}

type followerExit struct {
	fl  *follower
	err error
}

// rescan watches the directories of the patterns and starts following every
// matching file that is not followed yet. It also nudges every follower, so
// a rotation whose event was missed is seen, and the stall watchdog runs.
func (m *manager) rescan(ctx context.Context, initial bool) {
	m.f.stats.rescans.Add(1)
	m.watchDirs()
	for _, p := range m.glob() {
		if _, ok := m.followers[p]; !ok {
			m.start(ctx, p, initial)
		}
	}
	for _, fl := range m.followers {
		fl.nudge()
	}
}

// watchDirs adds an inotify watch on each directory a pattern names, or
// matches when the directory part is itself a pattern.
func (m *manager) watchDirs() {
	for _, p := range m.f.cfg.Paths {
		dirs := []string{filepath.Dir(p)}
		if hasMeta(dirs[0]) {
			dirs, _ = filepath.Glob(dirs[0])
		}
		for _, d := range dirs {
			if m.watched[d] {
				continue
			}
			if err := m.w.Add(d); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					m.f.logger.Warn("cannot watch directory", "path", d, "err", err)
				}
				continue
			}
			m.watched[d] = true
		}
	}
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// glob returns the regular files that match the patterns, sorted.
func (m *manager) glob() []string {
	var out []string
	for _, p := range m.f.cfg.Paths {
		matches, _ := filepath.Glob(p) // patterns were checked in NewFile
		for _, path := range matches {
			if !m.f.matches(path) {
				continue
			}
			if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			out = append(out, path)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// event handles one inotify event of a watched directory.
func (m *manager) event(ctx context.Context, ev fsnotify.Event) {
	name := filepath.Clean(ev.Name)
	if fl := m.followers[name]; fl != nil {
		if ev.Has(fsnotify.Create) {
			m.offer(fl)
		}
		if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			fl.nudge()
		}
		return
	}
	if !ev.Has(fsnotify.Create) {
		return
	}
	fi, err := os.Stat(name)
	switch {
	case err != nil:
	case fi.IsDir():
		m.rescan(ctx, false) // a directory a pattern may reach into
	case fi.Mode().IsRegular() && m.f.matches(name) && !m.failed[name]:
		m.start(ctx, name, false)
	}
}

// offer opens the file just created at the path of fl and hands it over,
// so that it stays readable whatever happens to it before fl gets to it.
func (m *manager) offer(fl *follower) {
	f, err := os.Open(fl.path)
	if err != nil {
		return
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || !fl.offer(f) {
		f.Close()
	}
}

// start opens path and starts its follower. initial tells a file found at
// start-up, which without a saved position is read from StartAt, from one
// that appeared later, read from its beginning.
func (m *manager) start(ctx context.Context, path string, initial bool) {
	fd, err := os.Open(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			m.fail(path, err)
		}
		return
	}
	fi, err := fd.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		fd.Close()
		if err != nil {
			m.fail(path, err)
		}
		return
	}
	delete(m.failed, path)
	id, size := fileID(fi), fi.Size()
	fl := newFollower(m.f, path, m.out)
	fl.fd, fl.id = fd, id

	pos, ok := m.f.savedPosition(path)
	ok = ok && !m.seen[path]
	if r, failed := m.resume[path]; failed {
		pos, ok = r, true
		delete(m.resume, path)
	}
	m.seen[path] = true
	switch {
	case ok && pos.File == id && pos.Offset <= size && pos.Head.matches(fd):
		fl.end = pos.Offset
	case ok && pos.File == id:
		// Truncated, or a new file that got the inode of a deleted one.
		m.f.logger.Info("file changed since last run, reading it from the start", "path", path, "offset", pos.Offset, "size", size)
	case ok:
		// Rotated while we were not running: read the rest of the old file
		// first, if it is still next to the new one.
		if old, name := findInode(path, pos.File); old != nil {
			m.f.logger.Info("reading rest of file rotated while stopped", "path", path, "rotated", name, "offset", pos.Offset)
			fl.queue = append(fl.queue, fd)
			fl.fd, fl.id, fl.end, fl.draining = old, pos.File, pos.Offset, true
		} else {
			m.f.logger.Info("file replaced since last run, reading it from the start", "path", path)
		}
	case initial && m.f.cfg.StartAt == StartEnd:
		fl.end = lastLineEnd(fd, size)
	}
	m.followers[path] = fl
	m.f.stats.files.Add(1)
	m.wg.Go(func() {
		err := fl.run(ctx)
		m.f.stats.files.Add(-1)
		select {
		case m.exited <- followerExit{fl: fl, err: err}:
		case <-ctx.Done():
		}
	})
}

// fail logs that path cannot be read, once until it can.
func (m *manager) fail(path string, err error) {
	if !m.failed[path] {
		m.f.logger.Warn("cannot read file", "path", path, "err", err)
	}
	m.failed[path] = true
}

// exit forgets a follower that returned (its file is gone, or an error) and
// starts a new one if a file has meanwhile appeared at its path.
func (m *manager) exit(ctx context.Context, x followerExit) {
	path := x.fl.path
	if m.followers[path] != x.fl {
		return
	}
	delete(m.followers, path)
	x.fl.closeFiles()
	if x.err != nil {
		m.resume[path] = position{File: x.fl.id, Offset: x.fl.sentEnd}
		m.fail(path, x.err)
		return
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && m.f.matches(path) {
		m.start(ctx, path, false)
	}
}

// lastLineEnd returns the offset just past the last newline in the first
// size bytes of f, or 0.
func lastLineEnd(f *os.File, size int64) int64 {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				return start + int64(i) + 1
			}
		}
		end = start
	}
	return 0
}

// FileStats are the counters of a File.
type FileStats struct {
	Files        int64  `json:"files"`         // files open now
	Lines        uint64 `json:"lines"`         // lines sent
	Bytes        uint64 `json:"bytes"`         // bytes of the lines sent, newlines included
	Truncated    uint64 `json:"truncated"`     // lines cut at MaxLineBytes
	Rotations    uint64 `json:"rotations"`     // paths that moved on to a new file (rename, delete and create)
	Truncations  uint64 `json:"truncations"`   // files truncated in place (copytruncate)
	Recovered    uint64 `json:"recovered"`     // lines read from a truncated file's copy
	TailStarts   uint64 `json:"tail_starts"`   // nxadm/tail instances started
	Stalls       uint64 `json:"stalls"`        // tails restarted because they read nothing while lines waited
	LagBytes     int64  `json:"lag_bytes"`     // bytes in the open files after the last line sent
	OffsetWrites uint64 `json:"offset_writes"` // saves of the positions
	OffsetErrors uint64 `json:"offset_errors"` // failed saves
	Rescans      uint64 `json:"rescans"`       // globs of the patterns
}

type fileCounters struct {
	files, lagBytes                                            atomic.Int64
	lines, bytes, truncated, rotations, truncations, recovered atomic.Uint64
	tailStarts, stalls, offsetWrites, offsetErrors, rescans    atomic.Uint64
}

// Stats returns the counters. It is safe to call at any time.
func (f *File) Stats() FileStats {
	c := &f.stats
	return FileStats{
		Files: c.files.Load(), Lines: c.lines.Load(), Bytes: c.bytes.Load(), Truncated: c.truncated.Load(),
		Rotations: c.rotations.Load(), Truncations: c.truncations.Load(), Recovered: c.recovered.Load(),
		TailStarts: c.tailStarts.Load(), Stalls: c.stalls.Load(), LagBytes: c.lagBytes.Load(),
		OffsetWrites: c.offsetWrites.Load(), OffsetErrors: c.offsetErrors.Load(), Rescans: c.rescans.Load(),
	}
}
