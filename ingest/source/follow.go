package source

import (
	"bytes"
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
	"strconv"
	"strings"
	"time"

	"github.com/nxadm/tail"
	"github.com/nxadm/tail/watch"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// truncationCheck is how often a file being tailed is checked for a
// truncation that no line revealed.
const truncationCheck = time.Second

// drainPoll is how often a rotated file is read while File waits for its
// writer to move on to the new file.
const drainPoll = 100 * time.Millisecond

// follower reads the successive files at one path, one at a time and in
// order: the current file with nxadm/tail, and once the path has moved on,
// the rest of that file with its own reader. It runs in its own goroutine;
// only nudge may be called from others.
type follower struct {
	f      *File
	path   string
	out    chan<- []ingest.Line
	logger *slog.Logger
	pokes  chan struct{}

	fd        *os.File      // the file being read, held open by us
	id        event.FileID  // its identity
	end       int64         // offset just past the last line taken from fd
	last      ingest.Line   // that line
	sentEnd   int64         // offset just past the last line sent
	sentLast  ingest.Line   // that line, to recognise fd's copy after a truncation
	head      []byte        // the first bytes of fd as read, to notice a truncation
	headBuf   []byte        // for reading them again
	truncSeen bool          // the tail went back to the start of fd: it was truncated
	draining  bool          // start by reading the rest of fd ourselves
	arrivals  chan *os.File // files created at the path, opened by the manager
	queue     []*os.File    // arrivals not read yet, oldest first: fd's successors
	batch     []ingest.Line
	lag       int64 // bytes after end, as last added to the File's counter

	// stall watchdog: when a complete line was first seen waiting unread
	suspectAt  time.Time
	suspectEnd int64
}

func newFollower(f *File, path string, out chan<- []ingest.Line) *follower {
	return &follower{
		f: f, path: path, out: out,
		logger:   f.logger.With("path", path),
		pokes:    make(chan struct{}, 1),
		arrivals: make(chan *os.File, maxQueued),
		batch:    make([]ingest.Line, 0, f.cfg.BatchLines),
	}
}

// maxQueued bounds the files created at a path that wait to be read while
// the follower is still on an older one.
const maxQueued = 16

// offer hands the follower a file just created at its path, opened at once
// so that it can be read even if it is renamed or deleted before the
// follower gets to it. offer never blocks; it reports false when the queue
// is full, and the caller closes the file.
func (fl *follower) offer(f *os.File) bool {
	select {
	case fl.arrivals <- f:
		return true
	default:
		return false
	}
}

// takeArrivals moves the offered files to the queue, dropping any that is
// the current file or the last queued one.
func (fl *follower) takeArrivals() {
	for {
		select {
		case f := <-fl.arrivals:
			fi, err := f.Stat()
			last := fl.id
			if n := len(fl.queue); n > 0 {
				if lfi, err := fl.queue[n-1].Stat(); err == nil {
					last = fileID(lfi)
				}
			}
			if err != nil || fileID(fi) == fl.id || fileID(fi) == last {
				f.Close()
				continue
			}
			fl.queue = append(fl.queue, f)
		default:
			return
		}
	}
}

// closeFiles closes every file the follower holds or was offered.
func (fl *follower) closeFiles() {
	fl.fd.Close()
	for _, f := range fl.queue {
		f.Close()
	}
	fl.queue = nil
	for {
		select {
		case f := <-fl.arrivals:
			f.Close()
		default:
			return
		}
	}
}

// nudge asks the follower to check whether its path still names its file.
// It never blocks; nudges coalesce.
func (fl *follower) nudge() {
	select {
	case fl.pokes <- struct{}{}:
	default:
	}
}

// run follows the path until ctx is cancelled or the path has no file any
// more. It returns an error only when a file cannot be tailed at all.
func (fl *follower) run(ctx context.Context) error {
	defer func() {
		fl.closeFiles()
		fl.setLag(0)
	}()
	fl.sentEnd = fl.end
	for {
		// A file that already has a successor is only drained.
		if !fl.draining && !fl.behind() {
			if err := fl.tail(ctx); err != nil {
				return err
			}
		}
		fl.draining = false
		if ctx.Err() != nil || !fl.drain(ctx) {
			return nil
		}
	}
}

// tail reads fl.fd with nxadm/tail until the path no longer names it, the
// tail ends by itself, or ctx is cancelled. A tail that stalled, or whose
// file was truncated, is replaced by a new one.
func (fl *follower) tail(ctx context.Context) error {
	for {
		again, err := fl.tailOnce(ctx)
		if err != nil || !again || ctx.Err() != nil {
			return err
		}
	}
}

// tailOnce runs one nxadm/tail over fl.fd from fl.end. The tail is given
// /proc/self/fd/N, our own descriptor, instead of the path: it then reads
// this one file for its whole life, whatever happens to the path (see the
// package documentation). It reports whether a new tail should take over.
func (fl *follower) tailOnce(ctx context.Context) (again bool, err error) {
	name := "/proc/self/fd/" + strconv.FormatUint(uint64(fl.fd.Fd()), 10)
	t, err := tail.TailFile(name, tail.Config{
		Location:      &tail.SeekInfo{Offset: fl.end, Whence: io.SeekStart},
		Follow:        true,
		ReOpen:        false, // reopening by name loses the rest of the old file; rotation is ours
		MustExist:     true,
		Poll:          false,
		CompleteLines: true, // otherwise a partial line at EOF makes it skip to the end
		Logger:        fl.f.tailLog,
		// No RateLimiter: when full it seeks to the end and skips data.
	})
	if err != nil {
		return false, fmt.Errorf("tail %s: %w", fl.path, err)
	}
	fl.f.stats.tailStarts.Add(1)
	fl.startHead()
	lines := make(chan *tail.Line, fl.f.cfg.BatchLines)
	go pump(ctx, t, lines)
	// stop ends the tail; keep says whether the lines it still hands over
	// are kept (rotation) or dropped (shutdown: they are read again later).
	stop := func(keep bool) {
		t.Kill(nil)
		for ln := range lines {
			if keep {
				fl.add(ln)
			}
		}
		if err := t.Wait(); err != nil {
			fl.logger.Warn("tail ended with an error", "err", err)
		}
		fl.retire(name)
	}

	fl.suspectAt = time.Time{}
	// A truncation that leaves the tail at end of file gives no line to
	// reveal it: look now and then.
	check := time.NewTicker(truncationCheck)
	defer check.Stop()
	for {
		select {
		case <-check.C:
			if len(lines) == 0 && !fl.intact() {
				stop(false)
				fl.truncated(ctx)
				return true, nil
			}
		case ln, ok := <-lines:
			closed := !ok
			if ok {
				fl.add(ln)
				closed = fl.collect(lines)
			}
			if fl.truncSeen || !fl.intact() {
				stop(false)
				fl.truncated(ctx)
				return true, nil
			}
			if !fl.send(ctx) {
				stop(false)
				return false, nil
			}
			if closed {
				// The tail ended by itself: the file was renamed (nxadm/tail
				// stops on a rename without ReOpen) or it failed. drain reads
				// the rest and finds out what the path holds now.
				stop(true)
				fl.logger.Debug("tail ended")
				fl.deliver(ctx)
				return false, nil
			}
		case <-fl.pokes:
			switch {
			case fl.moved():
				stop(true)
				fl.deliver(ctx)
				return false, nil
			case fl.stalled(len(lines)):
				fl.logger.Warn("tail read nothing while lines waited, restarting it", "offset", fl.end)
				fl.f.stats.stalls.Add(1)
				stop(true)
				fl.deliver(ctx)
				return true, nil
			}
		case <-ctx.Done():
			stop(false)
			return false, nil
		}
	}
}

// deliver sends the lines collected from a stopped tail, or handles a
// truncation they reveal.
func (fl *follower) deliver(ctx context.Context) {
	if fl.truncSeen || !fl.intact() {
		fl.truncated(ctx)
		return
	}
	fl.send(ctx)
}

// pump moves the lines of t to out, which is buffered so that a batch can
// take what is immediately available. It closes out when t.Lines closes.
func pump(ctx context.Context, t *tail.Tail, out chan<- *tail.Line) {
	defer close(out)
	for ln := range t.Lines {
		select {
		case out <- ln:
		case <-ctx.Done():
			// The follower stops the tail; keep draining so it can.
			for range t.Lines {
			}
			return
		}
	}
}

// collect adds the lines that are already waiting, up to a batch. It
// reports whether lines was closed.
func (fl *follower) collect(lines <-chan *tail.Line) (closed bool) {
	for len(fl.batch) < fl.f.cfg.BatchLines && !fl.truncSeen {
		select {
		case ln, ok := <-lines:
			if !ok {
				return true
			}
			fl.add(ln)
		default:
			return false
		}
	}
	return false
}

// retire waits until nxadm/tail's process-wide inotify tracker has dropped
// its watch of name. The tracker keys watches by name, and a descriptor
// number is reused as soon as it is closed: a new tail on the same name
// before the old watch is gone would share it and never see an event.
func (fl *follower) retire(name string) {
	deadline := time.Now().Add(5 * time.Second)
	wait := time.Millisecond
	for watch.Events(name) != nil {
		if time.Now().After(deadline) {
			fl.logger.Warn("tail watch not released", "name", name)
			return
		}
		timer := time.NewTimer(wait)
		<-timer.C
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// add takes one line from nxadm/tail. Its SeekInfo.Offset is the offset
// just past the line's newline (CompleteLines), so the line starts
// len(Text)+1 bytes before. A start before fl.end means the tail reopened
// the file from its beginning after a truncation: that line and the rest
// are dropped, and truncated takes over.
func (fl *follower) add(ln *tail.Line) {
	if ln.Err != nil {
		fl.logger.Warn("tail error", "err", ln.Err)
		return
	}
	if fl.truncSeen {
		return
	}
	end := ln.SeekInfo.Offset
	start := end - int64(len(ln.Text)) - 1
	switch {
	case start < fl.end:
		fl.truncSeen = true
		return
	case start > fl.end:
		fl.logger.Warn("tail skipped bytes", "offset", fl.end, "count", start-fl.end)
	}
	l := ingest.Line{
		Source: fl.f.cfg.Name, Path: fl.path, File: fl.id,
		Offset: start, End: end, Text: ln.Text, Time: ln.Time,
	}
	if len(l.Text) > fl.f.cfg.MaxLineBytes {
		// Clone, so the whole line is not kept alive by its head.
		l.Text, l.Truncated = strings.Clone(cut(l.Text, fl.f.cfg.MaxLineBytes)), true
	}
	if int64(len(fl.head)) == start && len(fl.head) < headBytes {
		fl.head = append(fl.head, l.Text...)
		if !l.Truncated {
			fl.head = append(fl.head, '\n')
		}
		fl.head = fl.head[:min(len(fl.head), headBytes)]
		fl.f.setHead(fl.path, fl.id, fl.head)
	}
	fl.push(l)
}

func (fl *follower) push(l ingest.Line) {
	fl.batch = append(fl.batch, l)
	fl.end, fl.last = l.End, l
}

// headBytes is how much of the start of a file is kept to notice that it
// was truncated and written again.
const headBytes = 1024

// startHead sets the head from the part of fl.fd already read, before a
// tail starts at fl.end; add extends it with the lines the tail reads.
func (fl *follower) startHead() {
	n := min(fl.end, headBytes)
	if int64(len(fl.head)) == n {
		return
	}
	fl.head = make([]byte, n, headBytes)
	if k, _ := fl.fd.ReadAt(fl.head, 0); int64(k) < n {
		fl.head = fl.head[:k]
	}
	fl.f.setHead(fl.path, fl.id, fl.head)
}

// intact reports whether fl.fd still holds what the collected lines were
// read from: it is not shorter than fl.end and starts with the same bytes.
//
// This guards against nxadm/tail's handling of truncation (copytruncate):
// its watcher notices the file shrink, but the reader looks at that only at
// end of file. A tail that lags behind the writer, or waits for us to take
// a line, therefore goes on reading at its old offset, in what the writer
// has written since the truncation, and later reads it again from the
// start. Checked before each batch is sent, which is after its lines were
// read, intact lets no such line through.
func (fl *follower) intact() bool {
	fi, err := fl.fd.Stat()
	if err != nil {
		return true // cannot tell; the tail goes on
	}
	if fi.Size() < fl.end {
		return false
	}
	if len(fl.head) == 0 {
		return true
	}
	if cap(fl.headBuf) < len(fl.head) {
		fl.headBuf = make([]byte, headBytes)
	}
	buf := fl.headBuf[:len(fl.head)]
	n, _ := fl.fd.ReadAt(buf, 0)
	return bytes.Equal(buf[:n], fl.head)
}

// truncated handles a file truncated in place (copytruncate) once its tail
// is stopped: the lines not sent yet are dropped (they may have been read
// after the truncation), what the file held after the last line sent is
// read from its copy if one is next to it, and reading goes on at offset 0.
func (fl *follower) truncated(ctx context.Context) {
	fl.f.stats.truncations.Add(1)
	fl.truncSeen = false
	fl.batch = fl.batch[:0] // never sent, so still ours
	fl.end, fl.last = fl.sentEnd, fl.sentLast
	from := fl.end
	n, copyName := fl.recoverCopy()
	fl.f.stats.recovered.Add(uint64(n))
	fl.send(ctx)
	fl.logger.Info("file truncated, reading it from the start", "offset", from, "copy", copyName, "count", n)
	fl.end, fl.last, fl.sentEnd, fl.sentLast, fl.head = 0, ingest.Line{}, 0, ingest.Line{}, fl.head[:0]
}

// recoverCopy looks among the rotated files next to fl.path for the copy of
// fl.fd made before the truncation: a file that holds the last line sent
// at the same offset. It adds the complete lines of the copy after fl.end,
// and returns how many and the copy's name. logrotate's copytruncate copies
// then truncates, so the copy is complete when the truncation is seen;
// what the writer added between the two is lost, as logrotate documents.
func (fl *follower) recoverCopy() (int, string) {
	if fl.last.End != fl.end || fl.end == 0 {
		return 0, "" // nothing sent from this file yet: nothing to compare
	}
	for _, name := range siblings(fl.path, 8) {
		cf, err := os.Open(name)
		if err != nil {
			continue
		}
		fi, err := cf.Stat()
		if err != nil || fileID(fi) == fl.id || fi.Size() < fl.end || !holdsLine(cf, &fl.last) {
			cf.Close()
			continue
		}
		sc := newScanner(io.NewSectionReader(cf, fl.end, fi.Size()-fl.end), fl.end, 64<<10, fl.f.cfg.MaxLineBytes)
		tmpl := fl.template()
		n := 0
		for {
			var err error
			k := len(fl.batch)
			fl.batch, err = sc.scan(fl.batch, &tmpl, fl.f.cfg.BatchLines, false)
			if len(fl.batch) > k {
				n += len(fl.batch) - k
				fl.end, fl.last = fl.batch[len(fl.batch)-1].End, fl.batch[len(fl.batch)-1]
			}
			if err != nil {
				break
			}
		}
		cf.Close()
		return n, name
	}
	return 0, ""
}

// holdsLine reports whether f has the line ln at ln's offset.
func holdsLine(f *os.File, ln *ingest.Line) bool {
	want := ln.Text
	if !ln.Truncated {
		want += "\n"
	}
	buf := make([]byte, len(want))
	if n, _ := f.ReadAt(buf, ln.Offset); n != len(buf) || string(buf) != want {
		return false
	}
	var nl [1]byte
	n, _ := f.ReadAt(nl[:], ln.End-1)
	return n == 1 && nl[0] == '\n'
}

// template is the Line the lines read from fl.fd by our own reader copy.
func (fl *follower) template() ingest.Line {
	return ingest.Line{Source: fl.f.cfg.Name, Path: fl.path, File: fl.id, Time: time.Now()}
}

// send sends the collected lines in batches. It returns false when ctx was
// cancelled first.
func (fl *follower) send(ctx context.Context) bool {
	if len(fl.batch) == 0 {
		return true
	}
	for len(fl.batch) > 0 {
		n := min(len(fl.batch), fl.f.cfg.BatchLines)
		b := fl.batch[:n:n]
		select {
		case fl.out <- b:
		case <-ctx.Done():
			return false
		}
		var size, cut uint64
		for i := range b {
			size += uint64(b[i].End - b[i].Offset)
			if b[i].Truncated {
				cut++
			}
		}
		fl.f.stats.lines.Add(uint64(n))
		fl.f.stats.bytes.Add(size)
		fl.f.stats.truncated.Add(cut)
		fl.sentEnd, fl.sentLast = b[n-1].End, b[n-1]
		fl.batch = fl.batch[n:]
	}
	fl.batch = make([]ingest.Line, 0, fl.f.cfg.BatchLines) // the sent ones belong to the receiver
	if fi, err := fl.fd.Stat(); err == nil {
		fl.setLag(max(0, fi.Size()-fl.end))
	}
	return true
}

func (fl *follower) setLag(lag int64) {
	fl.f.stats.lagBytes.Add(lag - fl.lag)
	fl.lag = lag
}

// behind reports whether fl.fd already has a successor at the path.
func (fl *follower) behind() bool {
	fl.takeArrivals()
	return len(fl.queue) > 0 || fl.moved()
}

// moved reports whether fl.path names another file than fl.fd, or none.
func (fl *follower) moved() bool {
	fi, err := os.Stat(fl.path)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	return fileID(fi) != fl.id
}

// stalled is the watchdog of nxadm/tail, which can miss inotify events (its
// tracker is shared by the process and has known deadlocks): it reports a
// tail that took nothing for a RescanInterval while a complete line was
// waiting in the file and none in the pump.
func (fl *follower) stalled(pending int) bool {
	if pending > 0 || !fl.lineWaiting() {
		fl.suspectAt = time.Time{}
		return false
	}
	now := time.Now()
	if fl.suspectAt.IsZero() || fl.suspectEnd != fl.end {
		fl.suspectAt, fl.suspectEnd = now, fl.end
		return false
	}
	return now.Sub(fl.suspectAt) >= fl.f.cfg.RescanInterval
}

// lineWaiting reports whether fl.fd has a newline within 64 KiB after fl.end.
func (fl *follower) lineWaiting() bool {
	fi, err := fl.fd.Stat()
	if err != nil || fi.Size() <= fl.end {
		return false
	}
	buf := make([]byte, min(fi.Size()-fl.end, 64<<10))
	n, _ := fl.fd.ReadAt(buf, fl.end)
	return bytes.IndexByte(buf[:n], '\n') >= 0
}

// drain reads the rest of fl.fd itself, once its tail has stopped because
// the path moved on (rename, delete) or the tail ended. The writer may still
// be writing to the old file (logrotate's create mode renames first and
// signals the writer after), so drain keeps reading until the old file is
// done with:
//
//   - its successor (the oldest file created at the path since, or else
//     what the path names now) has data: the writer has moved on to it, so
//     its writes to the old file are complete; drain reads the old file to
//     its end, last partial line included, and switches to the successor;
//   - the successor is empty, or there is none, and the old file has not
//     changed for RotateWait: it is read to its end and closed.
//
// drain returns true to go on tailing fl.fd (the successor, or the old one
// when the path names it again) and false when the path is gone or ctx is
// cancelled.
func (fl *follower) drain(ctx context.Context) bool {
	sc := newScanner(&offsetReader{f: fl.fd, off: fl.end}, fl.end, 64<<10, fl.f.cfg.MaxLineBytes)
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	size, changed := int64(-1), time.Now()
	for first := true; ; first = false {
		if !fl.readAll(ctx, sc, false) {
			return false
		}
		if fi, err := fl.fd.Stat(); err == nil && fi.Size() != size {
			size, changed = fi.Size(), time.Now()
		}
		idle := time.Since(changed) >= fl.f.cfg.RotateWait

		nf, nfi := fl.successor()
		switch {
		case nf == nil && !fl.moved():
			if !first { // not at once: a tail that keeps failing would spin
				return true
			}
		case nf == nil && idle:
			fl.readAll(ctx, sc, true)
			fl.logger.Info("file removed", "offset", fl.end)
			return false
		case nf == nil:
		case nfi.Size() > 0 || idle:
			if !fl.readAll(ctx, sc, true) {
				return false
			}
			fl.logger.Info("file rotated", "offset", fl.end)
			fl.f.stats.rotations.Add(1)
			fl.fd.Close()
			if len(fl.queue) > 0 && fl.queue[0] == nf {
				fl.queue = fl.queue[1:]
			}
			fl.fd, fl.id, fl.end, fl.last = nf, fileID(nfi), 0, ingest.Line{}
			fl.sentEnd, fl.sentLast, fl.head = 0, ingest.Line{}, fl.head[:0]
			return true
		case len(fl.queue) == 0 || fl.queue[0] != nf:
			nf.Close() // opened from the path: opened again next time
		}

		select {
		case <-ctx.Done():
			return false
		case <-fl.pokes:
		case <-tick.C:
		}
	}
}

// successor returns the file that follows fl.fd at the path: the oldest
// queued one, or else what the path names if that is another file. It
// returns nil when there is none.
func (fl *follower) successor() (*os.File, fs.FileInfo) {
	fl.takeArrivals()
	for len(fl.queue) > 0 {
		f := fl.queue[0]
		if fi, err := f.Stat(); err == nil && fileID(fi) != fl.id {
			return f, fi
		}
		f.Close()
		fl.queue = fl.queue[1:]
	}
	f, err := os.Open(fl.path)
	if err != nil {
		return nil, nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fileID(fi) == fl.id {
		f.Close()
		return nil, nil
	}
	return f, fi
}

// readAll sends every line sc can read now; with final, a last line without
// newline too. It returns false when ctx was cancelled.
func (fl *follower) readAll(ctx context.Context, sc *scanner, final bool) bool {
	tmpl := fl.template()
	for {
		var err error
		k := len(fl.batch)
		fl.batch, err = sc.scan(fl.batch, &tmpl, fl.f.cfg.BatchLines, final)
		if len(fl.batch) > k {
			fl.end, fl.last = fl.batch[len(fl.batch)-1].End, fl.batch[len(fl.batch)-1]
		}
		if !fl.send(ctx) {
			return false
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				fl.logger.Warn("cannot read file", "err", err)
			}
			return true
		}
	}
}

// siblings returns up to n rotated versions of path that can be read: the
// regular files next to it whose name is its name followed by '.', '-' or
// '_' and more, compressed ones left out, newest first.
func siblings(path string, n int) []string {
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	type cand struct {
		name string
		mod  time.Time
	}
	var cs []cand
	for _, e := range entries {
		name := e.Name()
		if len(name) <= len(base) || !strings.HasPrefix(name, base) || !strings.ContainsRune(".-_", rune(name[len(base)])) {
			continue
		}
		switch filepath.Ext(name) {
		case ".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip":
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		cs = append(cs, cand{filepath.Join(dir, name), fi.ModTime()})
	}
	slices.SortFunc(cs, func(a, b cand) int { return b.mod.Compare(a.mod) })
	out := make([]string, 0, min(n, len(cs)))
	for _, c := range cs[:min(n, len(cs))] {
		out = append(out, c.name)
	}
	return out
}

// findInode opens the rotated version of path that is the file id.
func findInode(path string, id event.FileID) (*os.File, string) {
	for _, name := range siblings(path, 1<<20) {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err == nil && fileID(fi) == id {
			return f, name
		}
		f.Close()
	}
	return nil, ""
}

// newTailLogger returns the logger given to nxadm/tail: its messages
// ("Re-opening truncated file ...") become Debug records of logger.
func newTailLogger(logger *slog.Logger) *log.Logger {
	return slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
}
