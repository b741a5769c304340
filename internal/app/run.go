package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/alert/slack"
	"github.com/vigil-sec/vigil/alert/webhook"
	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/ingest/source"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/rules"
)

// Defaults of RunOptions.
const (
	DefaultDrainTimeout = 10 * time.Second
	DefaultTickInterval = time.Second
)

// RunOptions configure a Daemon.
type RunOptions struct {
	// Config is what the daemon runs. On reload the file it came from
	// (Config.File) is read again; a Config without a file is not reloaded.
	Config *config.Config
	// Builtin is the shipped rule catalog (rules/builtin.FS), loaded when
	// the config's rules.builtin is true.
	Builtin fs.FS
	// Stdout receives the alerts as NDJSON when alerts.stdout is true.
	Stdout io.Writer
	// Receivers are added to those of the config (the demo's table).
	Receivers []alert.Receiver
	// Reload asks for the config and the rules to be read again (SIGHUP).
	Reload <-chan struct{}
	// DrainTimeout bounds the shutdown once the context is cancelled:
	// sources stop, stages drain, the last batch goes to ClickHouse, the
	// outbox is persisted. Zero is DefaultDrainTimeout.
	DrainTimeout time.Duration
	// TickInterval is how often the rules engine is moved on by the wall
	// clock (absence rules, cooldowns, sql rules); zero is
	// DefaultTickInterval.
	TickInterval time.Duration
	Logger       *slog.Logger // nil discards

	// flushOnExit hands on the open alerts at shutdown instead of saving
	// the engine's state (the demo).
	flushOnExit bool
}

// Daemon is `vigil run`: it tails the configured sources, parses and
// enriches every line, stores the events (ClickHouse, or the local archive
// without it), runs the rules and hands their alerts to the dispatcher.
//
// Its parts and the order they stop in:
//
//	sources → parsers → enrichers → [store, detector] → dispatcher → receivers
//
// On cancellation the sources stop first and the pipeline drains what they
// read; then the engine's state is saved, the writer sends its last batch,
// and the dispatcher delivers what it can and keeps the rest in its outbox,
// all within DrainTimeout.
type Daemon struct {
	opts   RunOptions
	logger *slog.Logger

	cfgMu sync.Mutex
	cfg   *config.Config

	det        *detector
	engineConf rules.EngineConfig
	writer     *store.Writer  // nil without ClickHouse
	archive    *store.Archive // nil with ClickHouse or with the archive off
	alertRec   *store.AlertWriter
	disp       *alert.Dispatcher
	metrics    *metrics
	reloadCh   chan generation
	fileReload chan struct{} // the rule files changed (watchRules)
	rearm      chan struct{} // a reload took effect: watch its rule files

	stateMu sync.Mutex
	gen     *generation // what the pipeline runs now
	// Counters of pipelines and sources that were replaced by a reload,
	// so that the metrics stay monotonic.
	pastParsers map[string]ingest.ParserStats
	pastSources map[string]source.FileStats

	ready    atomic.Bool
	reloads  atomic.Uint64
	reloadKO atomic.Uint64
}

// generation is what one run of the pipeline is built from; a reload
// builds a new one.
type generation struct {
	cfg *config.Config
	det Detection
	en  *enrichers
	// Set while the pipeline runs, under Daemon.stateMu.
	files    []*source.File
	pipeline *ingest.Pipeline
}

// NewDaemon builds the daemon's parts from opts.Config: it creates the
// state directory (0700), loads the rules and lists, opens the spool or
// the archive and the alert outbox. Nothing runs until Run.
func NewDaemon(opts RunOptions) (*Daemon, error) {
	if opts.Config == nil {
		return nil, errors.New("run: no config")
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.TickInterval <= 0 {
		opts.TickInterval = DefaultTickInterval
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := opts.Config
	d := &Daemon{
		opts: opts, logger: logger, cfg: cfg,
		reloadCh:    make(chan generation, 1),
		fileReload:  make(chan struct{}, 1),
		rearm:       make(chan struct{}, 1),
		pastParsers: make(map[string]ingest.ParserStats),
		pastSources: make(map[string]source.FileStats),
	}
	if err := makeStateDir(cfg.StateDir); err != nil {
		return nil, err
	}
	d.metrics = newMetrics(d)

	g, err := d.build(cfg)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			d.closeParts(g)
		}
	}()

	sc := storeConfigOf(cfg)
	sc.ObserveInsert = d.metrics.observeInsert
	var sqlRunner rules.SQLRunner
	if cfg.ClickHouse.Enabled() {
		if d.writer, err = store.NewWriter(sc, logger); err != nil {
			return nil, err
		}
		sqlRunner = d.writer.Query
		if d.alertRec, err = store.NewAlertWriter(sc, logger); err != nil {
			return nil, err
		}
	} else if cfg.Archive.MaxBytes > 0 {
		if d.archive, err = store.NewArchive(sc, logger); err != nil {
			return nil, err
		}
	}

	receivers, err := d.receivers(cfg)
	if err != nil {
		return nil, err
	}
	ac, err := dispatcherConfig(cfg)
	if err != nil {
		return nil, err
	}
	ac.DrainTimeout = opts.DrainTimeout / 2
	if d.alertRec != nil {
		ac.Recorder = d.alertRec
	}
	if d.disp, err = alert.NewDispatcher(ac, receivers, logger); err != nil {
		return nil, err
	}

	d.engineConf = rules.EngineConfig{
		StateDir: filepath.Join(cfg.StateDir, "rules"),
		MaxKeys:  cfg.Rules.MaxKeys,
		Lateness: cfg.Rules.Lateness,
		SQL:      sqlRunner,
		Logger:   logger,
	}
	engine, err := d.newEngine(g)
	if err != nil {
		return nil, err
	}
	d.det = newDetector(engine, d.send, !opts.flushOnExit)
	d.gen = &g
	ok = true
	return d, nil
}

// makeStateDir creates dir with mode 0700, and tightens an existing one:
// it holds offsets, rule state and alerts with user names and addresses.
func makeStateDir(dir string) error {
	if dir == "" {
		return errors.New("state_dir: empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return nil
}

// build loads the rules and lists and opens the enrichers of cfg, and
// checks its sources: everything a reload may change.
func (d *Daemon) build(cfg *config.Config) (generation, error) {
	g := generation{cfg: cfg}
	det, err := LoadDetection(cfg, d.opts.Builtin, nil, false)
	if err != nil {
		return g, err
	}
	g.det = det
	if _, _, err := d.openInputs(cfg); err != nil {
		return g, err
	}
	if g.en, err = newEnrichers(EnrichOptionsOf(cfg), d.logger); err != nil {
		return g, err
	}
	return g, nil
}

// openInputs makes the sources and parsers of cfg. A source loads its
// saved offsets here, so it is made right before it runs.
func (d *Daemon) openInputs(cfg *config.Config) ([]ingest.Input, []*source.File, error) {
	var (
		inputs []ingest.Input
		files  []*source.File
	)
	for _, s := range cfg.Sources {
		popts, err := cfg.ParseOptions(s)
		if err != nil {
			return nil, nil, err
		}
		p, err := parse.New(s.Format, popts)
		if err != nil {
			return nil, nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		f, err := source.NewFile(cfg.FileConfig(s), d.logger)
		if err != nil {
			return nil, nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		files = append(files, f)
		inputs = append(inputs, ingest.Input{Source: f, Parser: p, Kind: kindOf(s.Format)})
	}
	return inputs, files, nil
}

// closeParts releases the enrichers of g.
func (d *Daemon) closeParts(g generation) {
	if g.en != nil {
		g.en.Close()
	}
}

func (d *Daemon) newEngine(g generation) (*rules.Engine, error) {
	ec := d.engineConf
	ec.Lists = g.det.Lists
	ec.Zones = g.en.zones
	e, err := rules.NewEngine(g.det.Rules, ec)
	if err != nil {
		return nil, err
	}
	d.warm(e, g.cfg.Rules.Warm)
	return e, nil
}

// Warming reads at most warmMaxEvents stored events, for at most
// warmTimeout: a start or a reload waits for it.
const (
	warmMaxEvents = 5_000_000
	warmTimeout   = time.Minute
)

// warm teaches the engine's first_seen rules that start without state what
// the last span of stored events holds, so that a fresh install (or a new
// first_seen rule) neither relearns for its learn period nor alerts on
// every user's usual country. Without ClickHouse, or when it cannot be
// read, the rules learn from live events as usual.
func (d *Daemon) warm(e *rules.Engine, span time.Duration) {
	f, ok := e.Warming()
	if !ok || d.writer == nil || span <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), warmTimeout)
	defer cancel()
	start := time.Now()
	var read uint64
	err := d.writer.ScanEvents(ctx, store.EventFilter{
		Since: start.Add(-span), Kinds: f.Kinds, Actions: f.Actions, Outcomes: f.Outcomes,
		Limit: warmMaxEvents,
	}, func(ev *event.Event) error {
		read++
		e.Warm(ev)
		return nil
	})
	matched, learned := e.WarmStats()
	if err != nil {
		d.logger.Warn("first_seen rules not fully warmed from ClickHouse; they learn from live events",
			"err", err, "read", read, "learned", learned)
		return
	}
	d.logger.Info("first_seen rules warmed from ClickHouse", "span", span.String(), "read", read,
		"matched", matched, "learned", learned, "took", time.Since(start).Round(time.Millisecond))
}

// storeConfigOf maps the clickhouse and archive blocks onto store.Config,
// with the spool and the archive under the state directory.
func storeConfigOf(cfg *config.Config) store.Config {
	sc := store.DefaultConfig()
	ch := cfg.ClickHouse
	sc.DSN = ch.DSN
	sc.Password = ch.Password.Reveal()
	sc.Database = ch.Database
	sc.BatchRows = ch.BatchRows
	sc.BatchInterval = ch.BatchInterval
	sc.SpoolDir = filepath.Join(cfg.StateDir, "spool")
	sc.SpoolMaxBytes = int64(ch.SpoolMaxBytes)
	sc.Retention = ch.Retention
	sc.ArchiveDir = filepath.Join(cfg.StateDir, "archive")
	sc.ArchiveMaxBytes = int64(cfg.Archive.MaxBytes)
	return sc
}

// dispatcherConfig maps the alerts block onto alert.Config.
func dispatcherConfig(cfg *config.Config) (alert.Config, error) {
	ac := alert.DefaultConfig()
	ac.StateDir = filepath.Join(cfg.StateDir, "alerts")
	ac.GroupWait = cfg.Alerts.GroupWait
	ac.GroupInterval = cfg.Alerts.GroupInterval
	ac.RepeatInterval = cfg.Alerts.RepeatInterval
	pii, err := alert.ParsePII(cfg.Alerts.PII)
	if err != nil {
		return ac, fmt.Errorf("alerts.pii: %w", err)
	}
	ac.PII = pii
	for _, s := range cfg.Alerts.Silences {
		ac.Silences = append(ac.Silences, alert.Silence{
			Rules: s.Rules, Match: s.Match, Until: s.Until, Comment: s.Comment,
		})
	}
	return ac, nil
}

// receivers builds the notifiers of the alerts block, each wrapped to
// count what it is sent and what fails, then the extra ones of opts.
func (d *Daemon) receivers(cfg *config.Config) ([]alert.Receiver, error) {
	out, err := configReceivers(cfg, filepath.Join(cfg.StateDir, "alerts"), d.opts.Stdout, d.logger)
	if err != nil {
		return nil, err
	}
	out = append(out, d.opts.Receivers...)
	for i := range out {
		out[i] = d.metrics.counted(out[i])
	}
	return out, nil
}

// configReceivers builds the notifiers the alerts block names: Slack
// (keeping its thread state in stateDir), webhooks, and NDJSON on stdout
// when alerts.stdout is set and stdout is not nil.
func configReceivers(cfg *config.Config, stateDir string, stdout io.Writer, logger *slog.Logger) ([]alert.Receiver, error) {
	var out []alert.Receiver
	for i, s := range cfg.Alerts.Slack {
		pii, err := alert.ParsePII(s.PII)
		if err != nil {
			return nil, fmt.Errorf("alerts.slack[%d].pii: %w", i, err)
		}
		n, err := slack.New(slack.Config{
			Name: s.Name, WebhookURL: s.WebhookURL, WebhookURLFile: s.WebhookURLFile,
			Token: s.Token, TokenFile: s.TokenFile, Channel: s.Channel, APIURL: s.APIURL,
			StateDir:    stateDir,
			MinSeverity: s.MinSeverity, Rules: s.Rules, Tags: s.Tags, PII: pii,
		}, logger)
		if err != nil {
			return nil, fmt.Errorf("alerts.slack[%d]: %w", i, err)
		}
		out = append(out, n.Receiver())
	}
	for i, w := range cfg.Alerts.Webhook {
		pii, err := alert.ParsePII(w.PII)
		if err != nil {
			return nil, fmt.Errorf("alerts.webhook[%d].pii: %w", i, err)
		}
		wc := webhook.Config{
			Name: w.Name, URL: w.URL, Secret: w.Secret, SecretFile: w.SecretFile,
			MinSeverity: w.MinSeverity, Rules: w.Rules, Tags: w.Tags, PII: pii,
		}
		if w.Timeout > 0 {
			wc.HTTPClient = &http.Client{Timeout: w.Timeout}
		}
		n, err := webhook.New(wc)
		if err != nil {
			return nil, fmt.Errorf("alerts.webhook[%d]: %w", i, err)
		}
		out = append(out, n.Receiver())
	}
	if cfg.Alerts.Stdout && stdout != nil {
		out = append(out, alert.Receiver{Notifier: webhook.NewWriter("stdout", stdout)})
	}
	return out, nil
}

// send is the detector's AlertFunc: each alert goes into the dispatcher's
// outbox, which returns once it is durable.
func (d *Daemon) send(_ context.Context, alerts []event.Alert) error {
	for i := range alerts {
		d.metrics.alertRaised(&alerts[i])
		if err := d.disp.Send(alerts[i]); err != nil {
			return fmt.Errorf("queue alert %s: %w", alerts[i].ID, err)
		}
	}
	return nil
}

// Ready reports whether the daemon runs its pipeline (/readyz).
func (d *Daemon) Ready() bool { return d.ready.Load() }

// Run runs the daemon until ctx is cancelled, then drains within
// RunOptions.DrainTimeout. It returns nil after a clean shutdown.
func (d *Daemon) Run(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		errs = make(chan error, 8)
	)
	fail := func(name string, err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("%s: %w", name, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Background stages that outlive the pipeline: they stop after it has
	// drained, on their own contexts.
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	var bg sync.WaitGroup
	if d.writer != nil {
		bg.Go(func() { fail("store", d.writer.Run(bgCtx)) })
	}
	bg.Go(func() { fail("alerts", d.disp.Run(bgCtx)) })

	var srv *http.Server
	if listen := d.cfg.Metrics.Listen; listen != "" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			stopBG()
			bg.Wait()
			d.closeAll()
			return fmt.Errorf("metrics.listen: %w", err)
		}
		srv = &http.Server{Handler: d.metrics.handler(), ReadHeaderTimeout: 5 * time.Second}
		d.logger.Info("serving metrics", "addr", ln.Addr().String())
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fail("metrics", err)
			}
		})
	}

	wg.Go(func() { d.reloadLoop(ctx) })
	if d.cfg.Rules.Watch && d.cfg.File != "" {
		wg.Go(func() {
			watchRules(ctx, d.currentConfig, func() {
				select {
				case d.fileReload <- struct{}{}:
				default:
				}
			}, d.rearm, d.logger.With("component", "rules"))
		})
	}
	tickDone := make(chan struct{})
	go func() { defer close(tickDone); d.tickLoop(ctx) }()

	d.logger.Info("vigil running", "sources", len(d.cfg.Sources), "rules", len(d.gen.det.Rules),
		"clickhouse", d.cfg.ClickHouse.Address(), "receivers", d.cfg.Receivers())
	perr := d.runPipelines(ctx, cancel)
	fail("pipeline", perr)
	cancel()
	<-tickDone
	d.ready.Store(false)

	// Drain, in order, within the drain timeout.
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.DrainTimeout)
	defer dcancel()
	fail("rules", d.det.Close(dctx))
	if d.writer != nil {
		if err := d.writer.Flush(dctx); err != nil {
			d.logger.Warn("events left in the spool for the next start", "err", err)
		}
	}
	// Close makes the running dispatcher deliver what is due at once, for
	// up to the drain timeout, and persist the rest.
	fail("alerts", d.disp.Close())
	stopBG()
	bg.Wait()
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		srv.Shutdown(sctx)
		scancel()
	}
	wg.Wait()
	fail("close", d.closeAll())
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) == 0 {
		d.logger.Info("vigil stopped")
	}
	return errors.Join(all...)
}

// closeAll closes the stores, the outbox and the enrichers.
func (d *Daemon) closeAll() error {
	var errs []error
	if d.disp != nil {
		errs = append(errs, d.disp.Close())
	}
	if d.writer != nil {
		errs = append(errs, d.writer.Close())
	}
	if d.alertRec != nil {
		errs = append(errs, d.alertRec.Close())
	}
	if d.archive != nil {
		errs = append(errs, d.archive.Close())
	}
	d.stateMu.Lock()
	if d.gen != nil && d.gen.en != nil {
		errs = append(errs, d.gen.en.Close())
	}
	d.stateMu.Unlock()
	return errors.Join(errs...)
}

// runPipelines runs the pipeline of the current generation, and again with
// the next one after each reload, until ctx ends or a stage fails.
func (d *Daemon) runPipelines(ctx context.Context, stop context.CancelFunc) error {
	for {
		d.stateMu.Lock()
		g := d.gen
		d.stateMu.Unlock()
		sinks := []ingest.Sink{}
		if d.writer != nil {
			sinks = append(sinks, d.metrics.timed("clickhouse", d.writer))
		} else if d.archive != nil {
			sinks = append(sinks, d.metrics.timed("archive", d.archive))
		}
		sinks = append(sinks, d.metrics.timed("rules", d.det))
		inputs, files, err := d.openInputs(g.cfg)
		if err != nil {
			stop()
			return err
		}
		pipe := ingest.NewPipeline(ingest.PipelineConfig{
			Inputs: inputs, Enrichers: g.en.chain, Sinks: sinks,
			Unparsed: parse.Unparsed, Logger: d.logger,
		})
		d.stateMu.Lock()
		g.files, g.pipeline = files, pipe
		d.stateMu.Unlock()
		pctx, pcancel := context.WithCancel(ctx)
		geoDone := make(chan struct{})
		go func() { g.en.run(pctx); close(geoDone) }()
		next := make(chan generation, 1)
		watchDone := make(chan struct{})
		go func() {
			defer close(watchDone)
			select {
			case n := <-d.reloadCh:
				next <- n
				pcancel()
			case <-pctx.Done():
			}
		}()
		d.ready.Store(true)
		err = pipe.Run(pctx)
		pcancel()
		<-geoDone
		<-watchDone
		d.retire(g)
		if err != nil {
			stop()
			return err
		}
		var n generation
		select {
		case n = <-next:
		default:
			return nil // ctx ended
		}
		// The engine's state follows the rules that did not change.
		d.det.mu.Lock()
		err = d.det.engine.Snapshot()
		var engine *rules.Engine
		if err == nil {
			engine, err = d.newEngine(n)
		}
		if err == nil {
			d.det.engine = engine
		}
		d.det.mu.Unlock()
		if err != nil {
			d.logger.Error("reload: rules engine kept as it was", "err", err)
			d.reloadKO.Add(1)
			d.closeParts(n)
			// Keep the old rules but read the new sources.
			n.det, n.en = g.det, g.en
		} else {
			g.en.Close()
		}
		d.stateMu.Lock()
		d.gen = &n
		d.stateMu.Unlock()
		d.cfgMu.Lock()
		d.cfg = n.cfg
		d.cfgMu.Unlock()
		select {
		case d.rearm <- struct{}{}:
		default:
		}
		d.reloads.Add(1)
		d.logger.Info("reloaded", "sources", len(n.cfg.Sources), "rules", len(n.det.Rules))
	}
}

// retire adds the counters of g's pipeline and sources to the past ones.
func (d *Daemon) retire(g *generation) {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	if g.pipeline == nil {
		return
	}
	per, _ := g.pipeline.Stats().Parsers()
	for name, c := range per {
		p := d.pastParsers[name]
		p.Lines += c.Lines
		p.Events += c.Events
		p.Unparsed += c.Unparsed
		p.Truncated += c.Truncated
		p.EnrichErrors += c.EnrichErrors
		d.pastParsers[name] = p
	}
	for _, f := range g.files {
		st := f.Stats()
		p := d.pastSources[f.Name()]
		p.Lines += st.Lines
		p.Bytes += st.Bytes
		p.Truncated += st.Truncated
		p.Rotations += st.Rotations
		p.Truncations += st.Truncations
		p.Recovered += st.Recovered
		d.pastSources[f.Name()] = p
	}
	g.pipeline = nil
	g.files = nil
}

// tickLoop moves the engine on by the wall clock and runs the sql rules.
func (d *Daemon) tickLoop(ctx context.Context) {
	t := time.NewTicker(d.opts.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := d.det.tick(ctx, now, d.opts.TickInterval); err != nil && ctx.Err() == nil {
				d.logger.Warn("rules tick", "err", err)
			}
		}
	}
}

// reloadLoop reads the config and the rules again on each reload request;
// on any error it logs every problem and keeps what runs.
func (d *Daemon) reloadLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.opts.Reload:
		case <-d.fileReload:
		}
		if err := d.reload(ctx); err != nil {
			d.reloadKO.Add(1)
			d.logger.Error("reload failed; keeping the running config and rules", "err", err)
		}
	}
}

// currentConfig is the config running now.
func (d *Daemon) currentConfig() *config.Config {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	return d.cfg
}

func (d *Daemon) reload(ctx context.Context) error {
	old := d.currentConfig()
	cfg := old
	if old.File != "" {
		var err error
		if cfg, err = config.Load(old.File); err != nil {
			return err
		}
	}
	for key, same := range map[string]bool{
		"state_dir":  cfg.StateDir == old.StateDir,
		"clickhouse": reflect.DeepEqual(cfg.ClickHouse, old.ClickHouse),
		"archive":    cfg.Archive == old.Archive,
		"alerts":     reflect.DeepEqual(cfg.Alerts, old.Alerts),
		"metrics":    cfg.Metrics == old.Metrics,
		"log":        cfg.Log == old.Log,
		"rules.max_keys, rules.lateness": cfg.Rules.MaxKeys == old.Rules.MaxKeys &&
			cfg.Rules.Lateness == old.Rules.Lateness,
	} {
		if !same {
			d.logger.Warn("reload: this part of the config changed and takes effect at the next restart", "key", key)
		}
	}
	g, err := d.build(cfg)
	if err != nil {
		return err
	}
	// Check the new rules bind before the running pipeline is stopped.
	ec := d.engineConf
	ec.StateDir = ""
	ec.Lists, ec.Zones = g.det.Lists, g.en.zones
	if _, err := rules.NewEngine(g.det.Rules, ec); err != nil {
		d.closeParts(g)
		return err
	}
	select {
	case d.reloadCh <- g:
		return nil
	case <-ctx.Done():
		d.closeParts(g)
		return nil
	}
}

// timedSink is a sink whose writes are timed for the metrics.
type timedSink struct {
	name string
	sink ingest.Sink
	m    *metrics
}

func (t timedSink) Write(ctx context.Context, evs []event.Event) error {
	start := time.Now()
	err := t.sink.Write(ctx, evs)
	t.m.observeSink(t.name, time.Since(start), len(evs), err)
	return err
}
