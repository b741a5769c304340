package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/ingest/source"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/rules"
)

// Replay outputs.
const (
	OutputAlerts = "alerts" // NDJSON alerts on stdout (the default)
	OutputEvents = "events" // NDJSON events on stdout
	OutputNone   = "none"   // only the summary
)

// ReplayOptions configure Replay.
type ReplayOptions struct {
	Format string        // a parse format; "auto" picks per line
	Parse  parse.Options // parser settings
	Output string        // OutputAlerts (the default), OutputEvents or OutputNone
	Paths  []string      // files to replay in order; "-" is Stdin
	Stdin  io.Reader
	Stdout io.Writer // receives the events of OutputEvents
	// Enrich is the enrichment applied to every event (see EnrichOptions
	// for its zero value).
	Enrich EnrichOptions
	// Rules are evaluated on every event; none means no detection.
	Rules []*rules.Rule
	// Lists answer the rules' in_list; nil means none.
	Lists rules.ListLookup
	// Alerts receives the alerts raised. Nil writes them as NDJSON to
	// Stdout when Output is OutputAlerts, and drops them otherwise (they
	// are still counted).
	Alerts AlertFunc
	// Store, when its DSN is set, stores every event in ClickHouse through
	// a store.Writer; Replay returns once they are all inserted. An empty
	// SpoolDir spools in a temporary directory.
	Store store.Config
	// Deliver, when set, also hands every alert to a dispatcher built from
	// its alerts block, as the daemon does: the Slack and webhook
	// receivers with their routes, grouping and the silences. Replay
	// returns once every alert is delivered, or fails after DrainTimeout
	// naming the directory that keeps the rest.
	Deliver *config.Config
	// DrainTimeout bounds the delivery after the last line; 0 means
	// DefaultReplayDrain.
	DrainTimeout time.Duration
	// Progress, when set, is called about four times a second while the
	// replay runs, and once at its end.
	Progress func(Progress)
	Logger   *slog.Logger
}

// Progress is how far a replay has come.
type Progress struct {
	Lines      uint64
	Bytes      uint64
	TotalBytes uint64 // size of the files named; 0 when reading stdin only
	Elapsed    time.Duration
	Done       bool
}

// LinesPerSecond is the rate so far.
func (p Progress) LinesPerSecond() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Lines) / p.Elapsed.Seconds()
}

// Percent is the share of TotalBytes read, or -1 when unknown.
func (p Progress) Percent() float64 {
	if p.TotalBytes == 0 {
		return -1
	}
	return 100 * float64(min(p.Bytes, p.TotalBytes)) / float64(p.TotalBytes)
}

// ETA estimates the time left from the byte rate so far, or -1 when
// unknown.
func (p Progress) ETA() time.Duration {
	if p.TotalBytes == 0 || p.Bytes == 0 || p.Elapsed <= 0 {
		return -1
	}
	left := float64(p.TotalBytes) - float64(min(p.Bytes, p.TotalBytes))
	return time.Duration(left / float64(p.Bytes) * float64(p.Elapsed))
}

// Summary is what a replay read and parsed.
type Summary struct {
	Parsers map[string]ingest.ParserStats `json:"parsers"`
	Total   ingest.ParserStats            `json:"total"`
	Actions []ActionCount                 `json:"actions"`
	Alerts  uint64                        `json:"alerts"` // alerts raised, closing versions included
	Stored  uint64                        `json:"stored"` // events inserted into ClickHouse
	// Notifications counts the messages receivers accepted, and
	// Delivered the alerts in them, when the replay delivers alerts.
	Notifications uint64        `json:"notifications,omitempty"`
	Delivered     uint64        `json:"delivered,omitempty"`
	Duration      time.Duration `json:"duration_ns"`
}

// ActionCount counts the events of one kind, action and outcome.
type ActionCount struct {
	Kind    event.Kind    `json:"kind"`
	Action  string        `json:"action"`
	Outcome event.Outcome `json:"outcome"`
	Count   uint64        `json:"count"`
}

// LinesPerSecond is the replay's throughput.
func (s Summary) LinesPerSecond() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Total.Lines) / s.Duration.Seconds()
}

// Replay reads every path from its beginning, parses each line and writes
// the events as NDJSON (OutputEvents) or only counts them (OutputNone).
// Files are replayed one after the other, in the order given, so that the
// same input always gives the same output.
func Replay(ctx context.Context, opts ReplayOptions) (Summary, error) {
	var sinks []ingest.Sink
	counter := &actionCounter{counts: make(map[actionKey]uint64)}
	sinks = append(sinks, counter)
	var out *bufio.Writer
	emit := opts.Alerts
	switch opts.Output {
	case OutputAlerts, "":
		out = bufio.NewWriterSize(opts.Stdout, 64<<10)
		if emit == nil {
			emit = ndjsonAlerts(out)
		}
	case OutputEvents:
		out = bufio.NewWriterSize(opts.Stdout, 256<<10)
		sinks = append(sinks, &ndjsonSink{enc: json.NewEncoder(out)})
	case OutputNone:
	default:
		return Summary{}, fmt.Errorf("unknown output %q (want %s, %s or %s)", opts.Output, OutputAlerts, OutputEvents, OutputNone)
	}
	if emit == nil {
		emit = func(context.Context, []event.Alert) error { return nil }
	}
	var dlv *delivery
	if opts.Deliver != nil && len(opts.Rules) > 0 {
		var err error
		if dlv, err = startDelivery(ctx, opts.Deliver, opts.Store, opts.DrainTimeout, opts.Logger); err != nil {
			return Summary{}, err
		}
		defer dlv.cleanup()
		local := emit
		emit = func(ctx context.Context, alerts []event.Alert) error {
			if err := local(ctx, alerts); err != nil {
				return err
			}
			return dlv.send(ctx, alerts)
		}
	}
	var det *detector
	if len(opts.Rules) > 0 {
		zones, err := enrich.NewZones(opts.Enrich.Network)
		if err != nil {
			return Summary{}, err
		}
		engine, err := rules.NewEngine(opts.Rules, rules.EngineConfig{Lists: opts.Lists, Zones: zones, Logger: opts.Logger})
		if err != nil {
			return Summary{}, err
		}
		det = newDetector(engine, emit, false)
		sinks = append(sinks, det)
	}

	var (
		writer  *store.Writer
		drained bool // every event is in ClickHouse
	)
	if opts.Store.DSN != "" {
		w, stop, err := startWriter(ctx, opts.Store, opts.Logger)
		if err != nil {
			return Summary{}, err
		}
		defer func() { stop(drained) }()
		writer = w
		// First, so that an event is stored before the rules see it.
		sinks = append([]ingest.Sink{w}, sinks...)
	}

	en, err := newEnrichers(opts.Enrich, opts.Logger)
	if err != nil {
		return Summary{}, err
	}
	defer en.Close()
	ctx, stopGeo := context.WithCancel(ctx)
	geoDone := make(chan struct{})
	go func() { en.run(ctx); close(geoDone) }()
	defer func() { stopGeo(); <-geoDone }()

	start := time.Now()
	var (
		total uint64
		mu    sync.Mutex
		prev  Progress // lines and bytes of the files done
		cur   *source.Reader
	)
	for _, path := range opts.Paths {
		if fi, err := os.Stat(path); err == nil && path != source.StdinPath {
			total += uint64(fi.Size())
		}
	}
	progress := func(done bool) Progress {
		mu.Lock()
		defer mu.Unlock()
		p := prev
		if cur != nil {
			st := cur.Stats()
			p.Lines += st.Lines
			p.Bytes += st.Bytes
		}
		p.TotalBytes, p.Elapsed, p.Done = total, time.Since(start), done
		return p
	}
	if opts.Progress != nil {
		stopProgress := make(chan struct{})
		progressDone := make(chan struct{})
		go func() {
			defer close(progressDone)
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					opts.Progress(progress(false))
				}
			}
		}()
		defer func() {
			close(stopProgress)
			<-progressDone
			opts.Progress(progress(true))
		}()
	}
	var stats []*ingest.Stats
	for _, path := range opts.Paths {
		in, closeFn, err := replayInput(path, opts)
		if err != nil {
			return Summary{}, err
		}
		rd, _ := in.Source.(*source.Reader)
		mu.Lock()
		cur = rd
		mu.Unlock()
		p := ingest.NewPipeline(ingest.PipelineConfig{
			Inputs:    []ingest.Input{in},
			Enrichers: en.chain,
			Sinks:     sinks,
			Unparsed:  parse.Unparsed,
			Logger:    opts.Logger,
		})
		err = p.Run(ctx)
		closeFn()
		if err != nil {
			return Summary{}, err
		}
		if rd != nil {
			st := rd.Stats()
			mu.Lock()
			prev.Lines += st.Lines
			prev.Bytes += st.Bytes
			cur = nil
			mu.Unlock()
		}
		stats = append(stats, p.Stats())
		if ctx.Err() != nil {
			break
		}
	}
	if det != nil {
		if err := det.Close(ctx); err != nil {
			return Summary{}, err
		}
	}
	if out != nil {
		if err := out.Flush(); err != nil {
			return Summary{}, fmt.Errorf("write events: %w", err)
		}
	}
	var stored uint64
	if writer != nil {
		if err := writer.Flush(ctx); err != nil {
			return Summary{}, fmt.Errorf("store: %w (the rest stays in the spool)", err)
		}
		drained = true
		stored = writer.Stats().Inserted
	}
	// The lines/s are those of reading, detecting and storing; waiting
	// for receivers is not counted.
	elapsed := time.Since(start)
	var dst alert.Stats
	if dlv != nil {
		var err error
		if dst, err = dlv.finish(); err != nil {
			return Summary{}, fmt.Errorf("deliver alerts: %w", err)
		}
	}
	sum := Summary{Stored: stored, Notifications: dst.Notifications, Delivered: dst.Alerts, Parsers: make(map[string]ingest.ParserStats), Duration: elapsed}
	for _, st := range stats {
		per, _ := st.Parsers()
		for name, c := range per {
			t := sum.Parsers[name]
			t.Lines += c.Lines
			t.Events += c.Events
			t.Unparsed += c.Unparsed
			t.Truncated += c.Truncated
			t.EnrichErrors += c.EnrichErrors
			sum.Parsers[name] = t
			sum.Total.Lines += c.Lines
			sum.Total.Events += c.Events
			sum.Total.Unparsed += c.Unparsed
			sum.Total.Truncated += c.Truncated
			sum.Total.EnrichErrors += c.EnrichErrors
		}
	}
	sum.Actions = counter.sorted()
	if det != nil {
		sum.Alerts = det.alerts
	}
	return sum, nil
}

// startWriter opens a store.Writer for cfg and runs it until stop, which
// also closes it and removes a temporary spool if it was drained.
func startWriter(ctx context.Context, cfg store.Config, logger *slog.Logger) (*store.Writer, func(drained bool), error) {
	tmp := ""
	if cfg.SpoolDir == "" {
		d, err := os.MkdirTemp("", "vigil-replay-spool-")
		if err != nil {
			return nil, nil, err
		}
		tmp, cfg.SpoolDir = d, d
	}
	w, err := store.NewWriter(cfg, logger)
	if err != nil {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
		return nil, nil, err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	stop := func(drained bool) {
		cancel()
		<-done
		w.Close()
		if tmp != "" && drained {
			os.RemoveAll(tmp)
		} else if tmp != "" && logger != nil {
			logger.Warn("events not stored are kept in the spool; import them with vigil store load", "spool", tmp)
		}
	}
	return w, stop, nil
}

func replayInput(path string, opts ReplayOptions) (ingest.Input, func(), error) {
	p, err := parse.New(opts.Format, opts.Parse)
	if err != nil {
		return ingest.Input{}, nil, err
	}
	in := ingest.Input{Parser: p, Kind: kindOf(opts.Format)}
	if path == source.StdinPath {
		in.Source = source.NewReader("stdin", source.StdinPath, opts.Stdin, source.ReaderConfig{})
		return in, func() {}, nil
	}
	r, err := source.OpenReader("replay", path, source.ReaderConfig{})
	if err != nil {
		return ingest.Input{}, nil, err
	}
	in.Source = r
	return in, func() { r.Close() }, nil
}

// kindOf is the kind given to lines a parser of format refuses.
func kindOf(format string) event.Kind {
	switch format {
	case "access":
		return event.KindWeb
	case "errorlog":
		return event.KindError
	case "audit":
		return event.KindAudit
	default:
		return event.KindAuth
	}
}

// ndjsonSink writes one JSON object a line. Not safe for concurrent use;
// Replay runs one input at a time.
type ndjsonSink struct{ enc *json.Encoder }

func (s *ndjsonSink) Write(_ context.Context, evs []event.Event) error {
	for i := range evs {
		if err := s.enc.Encode(&evs[i]); err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
	}
	return nil
}

type actionKey struct {
	kind    event.Kind
	action  string
	outcome event.Outcome
}

type actionCounter struct {
	mu     sync.Mutex
	counts map[actionKey]uint64
}

func (c *actionCounter) Write(_ context.Context, evs []event.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		c.counts[actionKey{ev.Kind, ev.Action, ev.Outcome}]++
	}
	return nil
}

func (c *actionCounter) sorted() []ActionCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ActionCount, 0, len(c.counts))
	for k, n := range c.counts {
		out = append(out, ActionCount{Kind: k.kind, Action: k.action, Outcome: k.outcome, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		return a.Outcome < b.Outcome
	})
	return out
}

// WriteSummary prints s for a person: throughput, then counts per parser
// and per kind/action/outcome.
func WriteSummary(w io.Writer, s Summary) {
	fmt.Fprintf(w, "lines %d  events %d  unparsed %d  truncated %d  in %s  (%.0f lines/s)\n",
		s.Total.Lines, s.Total.Events, s.Total.Unparsed, s.Total.Truncated,
		s.Duration.Round(time.Millisecond), s.LinesPerSecond())
	fmt.Fprintf(w, "alerts %d\n", s.Alerts)
	if s.Notifications > 0 {
		fmt.Fprintf(w, "delivered %d alerts in %d notifications\n", s.Delivered, s.Notifications)
	}
	if s.Stored > 0 {
		fmt.Fprintf(w, "stored %d events in ClickHouse\n", s.Stored)
	}
	names := make([]string, 0, len(s.Parsers))
	for n := range s.Parsers {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "\n%-10s %10s %10s %10s %10s\n", "parser", "lines", "events", "unparsed", "truncated")
	for _, n := range names {
		c := s.Parsers[n]
		fmt.Fprintf(w, "%-10s %10d %10d %10d %10d\n", n, c.Lines, c.Events, c.Unparsed, c.Truncated)
	}
	fmt.Fprintf(w, "\n%-6s %-16s %-8s %10s\n", "kind", "action", "outcome", "events")
	for _, a := range s.Actions {
		fmt.Fprintf(w, "%-6s %-16s %-8s %10d\n", a.Kind, a.Action, a.Outcome, a.Count)
	}
}
