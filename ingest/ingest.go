// Package ingest turns log lines into events. It declares the contracts of
// the stages (Source, Parser, Sink) and runs them as a Pipeline:
//
//	Source --[]Line--> parse --> enrich --[]event.Event--> Sink(s)
//
// Sources live in ingest/source, parsers in ingest/parse, enrichers in
// ingest/enrich. A Pipeline owns the channels between the stages; a source
// never closes the channel it sends on.
//
// Delivery is at least once: a source learns through Commit which lines have
// reached every sink, and only those offsets are checkpointed.
package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Line is one complete log line as read by a source, without its newline.
type Line struct {
	Source string       // configured source name
	Path   string       // file the line came from; "-" for stdin
	File   event.FileID // identity of that file (zero for stdin)
	Offset int64        // byte offset of the line's first byte in the file
	End    int64        // byte offset just past the line's newline: where reading resumes
	Text   string       // the line, without the newline (cut at the source's maximum length)
	// Time is when the line was read, or for a replay the file's modification
	// time. Parsers use it as the reference for timestamps that carry no year.
	Time time.Time
	// Truncated reports that the line was longer than the source's maximum
	// and Text holds only its beginning.
	Truncated bool
}

// ErrNoMatch is returned by a parser for a line that is not in its format.
// The pipeline counts such lines per parser and keeps them as unparsed
// events; it does not log them.
var ErrNoMatch = errors.New("line not in this format")

// Parser turns one line into events. Parse appends the events of ln to dst
// and returns the extended slice: most lines give one event, sshd's "message
// repeated N times" gives N. A line that is not in the parser's format gives
// an error that wraps ErrNoMatch, and dst unchanged.
//
// Parsers may keep a little state between lines of one source (sshd's
// per-pid memory), so a Parser is not safe for concurrent use: each source
// gets its own. Parse must never panic, whatever the input.
type Parser interface {
	Name() string
	Parse(ln Line, dst []event.Event) ([]event.Event, error)
}

// Source reads lines and sends them, in order, in batches on out. Run blocks
// until ctx is cancelled or the source is exhausted (a replayed file), and
// returns nil in both cases. The batch slices are owned by the receiver once
// sent. A source never closes out.
type Source interface {
	Name() string
	Run(ctx context.Context, out chan<- []Line) error
}

// Committer is implemented by sources that checkpoint their position. The
// pipeline calls Commit with every batch once all sinks have accepted its
// events, in the order the batches were sent.
type Committer interface {
	Commit(lines []Line)
}

// Enricher adds to an event what the line itself does not say: hostname,
// geo-IP, network zone. Enrich may block for at most its own bounded time
// (a DNS timeout); it must be safe for concurrent use, because every input
// of a pipeline calls it. An error leaves the event as it is: the pipeline
// counts the error and passes the event on.
type Enricher interface {
	Enrich(ctx context.Context, ev *event.Event) error
}

// Sink receives parsed events. Write returns once the events are durable
// for this sink (or handed on to something that makes them so); it must not
// keep evs after returning.
type Sink interface {
	Write(ctx context.Context, evs []event.Event) error
}
