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
func (p *Pipeline) consume(ctx context.Context, in Input, lines <-chan []Line) error {
	name := in.Parser.Name()
	commit, _ := in.Source.(Committer)
	var evs []event.Event
	for batch := range lines {
		var c ParserStats
		evs = evs[:0]
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
		for _, s := range p.cfg.Sinks {
			if err := s.Write(ctx, evs); err != nil {
				return fmt.Errorf("write %d events from %s: %w", len(evs), in.Source.Name(), err)
			}
		}
		p.stats.add(name, c)
		if commit != nil {
			commit.Commit(batch)
		}
	}
	return nil
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
