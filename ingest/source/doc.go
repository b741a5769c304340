// Package source reads log lines for the ingest pipeline: File tails files
// that match glob patterns, follows them through rotation and checkpoints
// what the pipeline committed; Reader reads a file or standard input once,
// for replay. Both implement ingest.Source: they send []ingest.Line batches
// in order on the channel they are given, never close it, and return from
// Run once every goroutine they started has ended.
//
// # File
//
// NewFile(FileConfig, logger) checks the configuration and loads the saved
// positions; Run(ctx, out) tails until ctx is cancelled; Commit(lines)
// (ingest.Committer) records what the sinks accepted; Stats() returns the
// counters. Commit and Stats are safe to call from any goroutine.
//
// One goroutine (the manager) globs the patterns, watches their directories
// with inotify, and rescans every RescanInterval for what inotify missed. It
// runs at most one follower per path. Rotated names (DefaultExclude: *.1,
// *.gz, *-YYYYMMDD, ...) are not tailed. A file found at start is read from
// its saved position if the file is the same one (device, inode, the SHA-256
// of its first KiB, and not shorter than the position), else from StartAt; a
// file that appears later is read from its beginning.
//
// # Reading with nxadm/tail, and what the wrapper adds
//
// Lines are read by github.com/nxadm/tail with Follow, CompleteLines, inotify,
// no rate limiter, ReOpen off, and the file's identity fixed: the follower
// opens the file itself and gives nxadm/tail the name /proc/self/fd/N of its
// own descriptor, so the tail reads that one inode for its whole life. Left
// to itself, nxadm/tail reopens by name: after a rename it checks the
// truncation by stat(path), which now is the new, smaller file, and jumps to
// it; after a rename or delete it reopens without reading the rest of the old
// descriptor. Both lose the lines written last to the old file. Through the
// descriptor name, a stat sees the real inode, a rename just ends the tail,
// and a truncation reopens the same inode from offset 0.
//
// Rotation is handled by the wrapper. The manager opens every file created
// at a followed path as soon as inotify reports it and queues it for the
// follower, so each generation stays readable, renamed or deleted, however
// far behind the follower is. When the path names another file (or none),
// or the tail ended on a rename, the follower stops the tail and reads the
// rest of the old file itself, from the end of the last line taken, through
// the descriptor it holds. It goes on reading the old file, since logrotate's
// create mode renames first and tells the writer after, until the next file
// has data (a single writer has then finished with the old one), or until
// the old file has not changed for RotateWait. Then it reads the old file
// to its end, including a last line without newline, and goes on with the
// next one. So rename+create and delete+recreate lose nothing and keep the
// order of lines. With several processes writing one file, a line written to
// the old file after another writer has started on the new one is lost.
//
// copytruncate loses, by its nature, what the writer adds between the copy
// and the truncation (logrotate(8) says so). The wrapper loses no more than
// that while it reads the file being truncated: it drops the lines it read
// but has not sent, and reads what the file held after the last line sent
// from the copy, a rotated file next to it (not compressed: use
// delaycompress) that holds that last line at the same offset. A file
// truncated before the follower read anything from it (when it lags by a
// whole rotation) cannot be matched to its copy; what it held is lost.
//
// nxadm/tail's reader looks at a truncation only at end of file. A tail
// that lags, or waits for the pipeline, goes on reading at its old offset in
// what has been written since the truncation, and reads it all again after
// its reopen. Before each batch is sent, the follower therefore checks that
// the file is not shorter than what was read and still starts with the bytes
// it started with when read (the head, up to 1 KiB). As the check comes
// after the batch's lines were read, a line read across a truncation never
// gets through; it is read again from the right place. A truncation followed
// by new content that starts with the same KiB would go unnoticed.
//
// nxadm/tail keeps one inotify tracker for the process, keyed by name. Two
// tails on one name share a watch and break each other, and a descriptor
// number is reused as soon as it is closed, so the follower waits until the
// tracker has dropped a stopped tail's watch before its descriptor is
// closed or used again. A watchdog restarts a tail that took nothing for a
// RescanInterval while a complete line waited (the tracker can lose events).
//
// nxadm/tail calls os.Exit when its tracker cannot create an inotify watcher
// and when a stat of a watched name fails with anything but ENOENT. Run
// creates its own watcher first and then makes the tracker create its own,
// so the first case fails early in practice (check fs.inotify.max_user_*);
// the second cannot happen on a /proc/self/fd name. Stopping a tail never
// blocks: the tail is killed and its lines are drained until it closes them.
// Every line is read whole into memory by nxadm/tail before it is cut at
// MaxLineBytes.
//
// # Positions
//
// Commit records, per path, the identity and the End of the last line of
// each batch. Positions are written to StateDir/offsets-<name>.json (a
// temporary file, fsync, rename, fsync of the directory) every second when
// they changed, when Run returns, and at once by a Commit that comes after
// Run returned. A file found at start under another inode than its saved
// one is read from the start, after the rest of the saved inode if a
// rotated file next to it is that inode. A file that is smaller than its
// position, or whose first bytes differ, is read from the start.
//
// # Reader
//
// NewReader(name, path, r, ReaderConfig) reads r, OpenReader opens a file or
// StdinPath ("-"). Lines carry the file's device and inode (zero for
// standard input and streams), and as Time the file's modification time
// (for standard input the time Run starts), the reference year for syslog
// stamps. Reads go through a 1 MiB buffer; the lines of a batch (1024 by
// default) share one string, so a line kept keeps its batch's text alive.
// A last line without newline is sent; Run returns nil at the end.
//
// Both sources cut a line longer than MaxLineBytes (64 KiB by default) at a
// rune boundary, set Line.Truncated and count it; Offset and End still span
// the whole line.
package source
