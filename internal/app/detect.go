package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/rules"
)

// AlertFunc receives the alerts the rules raise, in the order they were
// raised. It returns once they are durable for the receiver (the
// dispatcher's outbox) or written (stdout).
type AlertFunc func(ctx context.Context, alerts []event.Alert) error

// detector is the sink that runs the rules engine. The engine is
// single-goroutine; the pipeline's inputs write concurrently, so the
// detector serialises them.
type detector struct {
	mu     sync.Mutex
	engine *rules.Engine
	emit   AlertFunc
	// snapshot saves the engine's state on Close (the daemon); a replay
	// keeps none.
	snapshot bool
	alerts   uint64
	// lastWrite is when Write last ran (wall clock); tick leaves the
	// engine's clock alone while events come.
	lastWrite time.Time
}

func newDetector(engine *rules.Engine, emit AlertFunc, snapshot bool) *detector {
	// lastWrite starts at now: the first tick waits for the sources to
	// have had their chance to deliver a backlog.
	return &detector{engine: engine, emit: emit, snapshot: snapshot, lastWrite: time.Now()}
}

// Write evaluates every rule on evs and hands on the alerts raised.
func (d *detector) Write(ctx context.Context, evs []event.Event) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastWrite = time.Now()
	var out []event.Alert
	for i := range evs {
		out = append(out, d.engine.Process(&evs[i])...)
	}
	return d.send(ctx, out)
}

func (d *detector) send(ctx context.Context, alerts []event.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	d.alerts += uint64(len(alerts))
	return d.emit(ctx, alerts)
}

// tick runs the sql rules that are due and, once no events came for idle,
// moves the engine on to the wall clock now, so that cooldowns end and
// absence rules fire while the logs are quiet. While events come their
// own times move the engine: ticking then would make a backlog that is
// still being read look late. The daemon calls it on a timer.
func (d *detector) tick(ctx context.Context, now time.Time, idle time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []event.Alert
	if now.Sub(d.lastWrite) >= idle {
		out = d.engine.Tick(now)
	}
	sqlAlerts, sqlErr := d.engine.RunSQL(ctx, now)
	out = append(out, sqlAlerts...)
	return errors.Join(sqlErr, d.send(ctx, out))
}

// Close hands on the final versions of the open alerts and, in the
// daemon, saves the engine's state.
func (d *detector) Close(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.snapshot {
		// The state is saved before the open alerts are flushed: they stay
		// open across a restart instead of being resolved by it.
		return d.engine.Snapshot()
	}
	return d.send(ctx, d.engine.Flush())
}

// ndjsonAlerts writes alerts as NDJSON to w.
func ndjsonAlerts(w io.Writer) AlertFunc {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return func(_ context.Context, alerts []event.Alert) error {
		mu.Lock()
		defer mu.Unlock()
		for i := range alerts {
			if err := enc.Encode(&alerts[i]); err != nil {
				return fmt.Errorf("write alert: %w", err)
			}
		}
		return nil
	}
}

// Detection is what a replay, explain or the daemon needs to run rules: the
// rule set and the named lists its expressions consult.
type Detection struct {
	Rules []*rules.Rule
	Lists *enrich.Lists
}

// LoadDetection loads the rules and lists cfg names: the builtin catalog
// (builtin, unless cfg turns it off or noBuiltin is set), cfg's rule
// directories and the extra ones, and cfg's lists over the defaults. A
// broken rule set is an error listing every problem.
func LoadDetection(cfg *config.Config, builtin fs.FS, extraDirs []string, noBuiltin bool) (Detection, error) {
	if cfg == nil {
		cfg = config.Default()
	}
	src := RuleSources{Dirs: append(slices.Clone(cfg.Rules.Paths), extraDirs...)}
	if cfg.Rules.Builtin && !noBuiltin {
		src.Builtin = builtin
	}
	rs, err := LoadRules(src)
	if err != nil {
		return Detection{}, err
	}
	lists, err := cfg.BuildLists()
	if err != nil {
		return Detection{}, err
	}
	return Detection{Rules: rs, Lists: lists}, nil
}

// EnrichOptionsOf returns the enrichment cfg configures.
func EnrichOptionsOf(cfg *config.Config) EnrichOptions {
	opts := EnrichOptions{Network: cfg.NetworkConfig(), Geo: ptr(cfg.GeoConfig())}
	if cfg.Enrich.RDNS.Enabled {
		opts.RDNS = ptr(cfg.RDNSConfig())
	}
	return opts
}

func ptr[T any](v T) *T { return &v }
