package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/vigil-sec/vigil/internal/event"
)

// Input pairs a source with the parser of its format. Each input gets its
// own parser instance, because parsers keep per-source state.
type Input struct {
	Source Source
	Parser Parser
	// Kind is the event kind given to lines the parser refuses, so that an
	// unparsed auth line is still stored with the auth events.
	Kind event.Kind
}

// UnparsedFunc builds the event that keeps a line the parser refused. The
// pipeline takes it as a value so that ingest does not import its parsers;
// parse.Unparsed is the one vigil uses.
type UnparsedFunc func(ln Line, parser string, kind event.Kind, err error) event.Event

// PipelineConfig is what a Pipeline runs.
type PipelineConfig struct {
	Inputs []Input
	// Enrichers run on every event in this order (reverse DNS before the
	// network zone, which reads the verified hostname).
	Enrichers []Enricher
	Sinks     []Sink
	// Unparsed builds the event that keeps a refused line (parse.Unparsed).
	Unparsed UnparsedFunc
	Logger   *slog.Logger // nil discards
}

// Pipeline reads every input, parses its lines, enriches the events and
// hands them to the sinks, batch by batch and in order per input. Lines no
// parser accepts are kept as unparsed events and counted; they never stop
// the pipeline.
type Pipeline struct {
	cfg    PipelineConfig
	logger *slog.Logger
	stats  Stats
}

// NewPipeline returns a pipeline that runs cfg.
func NewPipeline(cfg PipelineConfig) *Pipeline {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{
		cfg:    cfg,
		logger: logger.With("component", "ingest"),
		stats:  Stats{parsers: make(map[string]*ParserStats)},
	}
}

// Stats returns the counters of the pipeline. It is safe to call while the
// pipeline runs.
func (p *Pipeline) Stats() *Stats { return &p.stats }

// Run runs the pipeline until every source has returned: at the end of its
// input (replay) or when ctx is cancelled (tailing). Cancelling ctx stops the
// sources only; lines already read are still parsed and written, under a
// context that is not cancelled, so a shutdown loses nothing that was read.
// The first error of a source or sink stops the pipeline and is returned.
func (p *Pipeline) Run(ctx context.Context) error {
	srcCtx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	drainCtx := context.WithoutCancel(ctx)

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		stopSources()
	}
	for _, in := range p.cfg.Inputs {
		lines := make(chan []Line, 4)
		wg.Go(func() {
			defer close(lines)
			if err := in.Source.Run(srcCtx, lines); err != nil {
				fail(fmt.Errorf("source %s: %w", in.Source.Name(), err))
			}
		})
		wg.Go(func() {
			if err := p.consume(drainCtx, in, lines); err != nil {
				fail(err)
				// Keep draining so the source is never stuck on a send.
				for range lines {
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// consume parses the batches of one input and writes them to the sinks.
// Parsing and enrichment run on this goroutine and the sinks on another,
// so that on a busy input (a replay, a backlog) the rules engine works on
// one batch while the next is parsed. Batches still reach the sinks, and
// are committed, in order.
func (p *Pipeline) consume(ctx context.Context, in Input, lines <-chan []Line) error {
	name := in.Parser.Name()
	type parsed struct {
		batch []Line
		evs   []event.Event
		c     ParserStats
	}
	const depth = 2 // batches parsed ahead of the sinks
	out := make(chan parsed, depth)
	free := make(chan []event.Event, depth+2)
	for range depth + 2 {
		free <- nil
	}
	failed := make(chan struct{}) // closed when a sink fails
	var sinkErr error
	go func() {
		commit, _ := in.Source.(Committer)
		for b := range out {
			if sinkErr == nil {
				for _, s := range p.cfg.Sinks {
					if err := s.Write(ctx, b.evs); err != nil {
						sinkErr = fmt.Errorf("write %d events from %s: %w", len(b.evs), in.Source.Name(), err)
						close(failed)
						break
					}
				}
			}
			if sinkErr == nil {
				p.stats.add(name, b.c)
				if commit != nil {
					commit.Commit(b.batch)
				}
			}
			// The events are the sinks' no longer; drop their strings
			// before the slice is reused.
			clear(b.evs)
			free <- b.evs[:0]
		}
		close(free)
	}()
	finish := func() error {
		close(out)
		for range free {
		}
		return sinkErr
	}

	for batch := range lines {
		var evs []event.Event
		select {
		case evs = <-free:
		case <-failed:
			return finish()
		}
		var c ParserStats
		for _, ln := range batch {
			n := len(evs)
			var err error
			evs, err = in.Parser.Parse(ln, evs)
			c.Lines++
			if ln.Truncated {
				c.Truncated++
			}
			if err != nil {
				evs = append(evs[:n], p.cfg.Unparsed(ln, name, in.Kind, err))
				c.Unparsed++
				p.logger.Debug("line not parsed", "source", ln.Source, "parser", name, "err", err)
			}
		}
		c.Events = uint64(len(evs)) - c.Unparsed
		for _, en := range p.cfg.Enrichers {
			for i := range evs {
				if err := en.Enrich(ctx, &evs[i]); err != nil {
					c.EnrichErrors++
					p.logger.Debug("enrich event", "source", in.Source.Name(), "err", err)
				}
			}
		}
		out <- parsed{batch: batch, evs: evs, c: c}
	}
	return finish()
}

// ParserStats counts what one parser saw.
type ParserStats struct {
	Lines     uint64 `json:"lines"`     // lines read
	Events    uint64 `json:"events"`    // events parsed (a line may give several)
	Unparsed  uint64 `json:"unparsed"`  // lines the parser refused, kept as unparsed events
	Truncated uint64 `json:"truncated"` // lines cut at the source's maximum length
	// EnrichErrors counts enricher failures; the events were kept.
	EnrichErrors uint64 `json:"enrich_errors"`
}

// Stats are the pipeline's counters, per parser name. Safe for concurrent use.
type Stats struct {
	mu      sync.Mutex
	parsers map[string]*ParserStats
}

func (s *Stats) add(parser string, c ParserStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.parsers[parser]
	if t == nil {
		t = new(ParserStats)
		s.parsers[parser] = t
	}
	t.Lines += c.Lines
	t.Events += c.Events
	t.Unparsed += c.Unparsed
	t.Truncated += c.Truncated
	t.EnrichErrors += c.EnrichErrors
}

// Parsers returns a copy of the counters per parser, and their sum.
func (s *Stats) Parsers() (per map[string]ParserStats, total ParserStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	per = make(map[string]ParserStats, len(s.parsers))
	for name, c := range s.parsers {
		per[name] = *c
		total.Lines += c.Lines
		total.Events += c.Events
		total.Unparsed += c.Unparsed
		total.Truncated += c.Truncated
		total.EnrichErrors += c.EnrichErrors
	}
	return per, total
}

// ParserNames returns the names of the parsers seen so far, sorted.
func (s *Stats) ParserNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.parsers))
	for n := range s.parsers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
