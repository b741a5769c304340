package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// ErrClosed is returned by Send and Run after Close.
var ErrClosed = errors.New("alert dispatcher is closed")

// Dispatcher routes, groups and delivers alerts. See the package comment.
// Send is safe for concurrent use.
type Dispatcher struct {
	cfg       Config
	logger    *slog.Logger
	clock     Clock
	receivers []*receiver
	outbox    *outbox
	stats     counters

	// sendMu is held for reading by every Send and for writing by Close,
	// so that Close waits for Sends in progress.
	sendMu sync.RWMutex
	closed bool

	silMu       sync.Mutex
	silPath     string
	fileSil     []Silence
	silMod      time.Time
	silSize     int64
	silChecked  time.Time
	silErrShown string

	mu       sync.Mutex
	groups   map[groupKey]*group
	rand     *rand.Rand
	nextID   uint64
	running  bool
	stopped  bool
	draining bool

	wake    chan struct{}
	closing chan struct{}
	runDone chan struct{}
}

type receiver struct {
	n     Notifier
	name  string
	route Route
	pii   PII
	ready chan struct{}
	queue []*batch // guarded by Dispatcher.mu

	// lastPermanent is the permanent error last logged; only the
	// receiver's worker touches it.
	lastPermanent string
}

type groupKey struct{ receiver, rule string }

// group is Alertmanager's aggregation group: one rule's alerts for one
// receiver, keyed by rule and group (the dedup key).
type group struct {
	key         groupKey
	r           *receiver
	entries     map[string]*entry
	created     time.Time
	next        time.Time // next flush; zero: none due
	lastFlush   time.Time
	lastSent    time.Time
	flushedOnce bool
	inflight    bool
}

type entry struct {
	alert       event.Alert
	alertSeq    uint64   // outbox seq of alert
	first       uint64   // outbox seq of the first version: the order within the group
	pending     []uint64 // outbox seqs not yet handed to a notification
	changed     bool
	sentVersion string
	updated     time.Time
}

type batch struct {
	id      string
	g       *group
	alerts  []event.Alert
	seqs    []uint64
	created time.Time
}

type counters struct {
	received, silenced, unrouted, deduplicated     atomic.Uint64
	notifications, alerts, retries, failed, expire atomic.Uint64
	recorderErrors                                 atomic.Uint64
}

// Stats are the dispatcher's counters since NewDispatcher.
type Stats struct {
	// Received counts alerts passed to Send; Silenced, Unrouted (no
	// receiver's route matched) and Deduplicated (an unchanged version of
	// an alert already notified) those of them that went no further.
	Received, Silenced, Unrouted, Deduplicated uint64
	// Notifications counts delivered notifications, Alerts the alerts in
	// them.
	Notifications, Alerts uint64
	// Retries counts failed attempts that were retried; Failed
	// notifications given up on a permanent error; Expired those given up
	// after Config.MaxAge.
	Retries, Failed, Expired uint64
	// RecorderErrors counts failed Recorder.WriteAlert calls.
	RecorderErrors uint64
	// Pending is the number of alerts in the outbox.
	Pending int
}

// NewDispatcher opens the outbox in cfg.StateDir and returns a Dispatcher
// for receivers. Alerts left in the outbox by an earlier run are queued
// again for the receivers (by name) still configured. Names must be
// unique. A nil logger discards.
func NewDispatcher(cfg Config, receivers []Receiver, logger *slog.Logger) (*Dispatcher, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "alert")
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	d := &Dispatcher{
		cfg:     cfg,
		logger:  logger,
		clock:   cfg.Clock,
		silPath: SilencesPath(cfg.StateDir),
		groups:  map[groupKey]*group{},
		rand:    rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid()))),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		runDone: make(chan struct{}),
	}
	names := map[string]bool{}
	for i, rc := range receivers {
		if rc.Notifier == nil {
			return nil, fmt.Errorf("receiver %d: no notifier", i)
		}
		name := rc.Notifier.Name()
		if name == "" || names[name] {
			return nil, fmt.Errorf("receiver %d: name %q is empty or used twice", i, name)
		}
		names[name] = true
		if err := rc.Route.Validate(); err != nil {
			return nil, fmt.Errorf("receiver %s: %w", name, err)
		}
		pii := cfg.PII
		if rc.PII != "" {
			p, err := ParsePII(string(rc.PII))
			if err != nil {
				return nil, fmt.Errorf("receiver %s: %w", name, err)
			}
			pii = p
		}
		d.receivers = append(d.receivers, &receiver{n: rc.Notifier, name: name, route: rc.Route, pii: pii, ready: make(chan struct{}, 1)})
	}
	ob, pending, err := openOutbox(cfg.StateDir, logger)
	if err != nil {
		return nil, fmt.Errorf("open alert outbox: %w", err)
	}
	d.outbox = ob
	d.restore(pending)
	return d, nil
}

// restore queues the alerts an earlier run left undelivered.
func (d *Dispatcher) restore(pending []pendingAlert) {
	now := d.clock.Now()
	for _, p := range pending {
		var rs []*receiver
		for _, name := range p.receivers {
			if r := d.receiver(name); r != nil {
				rs = append(rs, r)
				continue
			}
			d.logger.Warn("dropping an undelivered alert of a receiver no longer configured", "receiver", name, "rule", p.alert.Rule, "alert_id", p.alert.ID)
			if err := d.outbox.ack(name, []uint64{p.seq}); err != nil {
				d.logger.Error("alert outbox ack failed", "err", err)
			}
		}
		d.mu.Lock()
		dups := d.acceptLocked(p.seq, p.alert, rs, now)
		d.mu.Unlock()
		d.ackAll(dups)
	}
	if len(pending) > 0 {
		d.logger.Info("alert outbox restored", "count", len(pending))
	}
}

func (d *Dispatcher) receiver(name string) *receiver {
	for _, r := range d.receivers {
		if r.name == name {
			return r
		}
	}
	return nil
}

// Send accepts a: it records it (Config.Recorder), applies silences and
// routes, and returns once a is durable in the outbox, before any receiver
// is called. An alert without a rule is an error; one without a state is
// firing. After Close, Send returns ErrClosed.
func (d *Dispatcher) Send(a event.Alert) error {
	if a.Rule == "" {
		return fmt.Errorf("alert %q has no rule", a.ID)
	}
	if a.State == "" {
		a.State = event.AlertFiring
	}
	d.sendMu.RLock()
	defer d.sendMu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	d.stats.received.Add(1)
	now := d.clock.Now()
	d.record(a)
	if d.silenced(&a, now) {
		d.stats.silenced.Add(1)
		d.logger.Debug("alert silenced", "rule", a.Rule, "group_key", a.GroupKey())
		return nil
	}
	var rs []*receiver
	var names []string
	for _, r := range d.receivers {
		if r.route.Match(&a) {
			rs = append(rs, r)
			names = append(names, r.name)
		}
	}
	if len(rs) == 0 {
		d.stats.unrouted.Add(1)
		return nil
	}
	seq, err := d.outbox.add(&a, names)
	if err != nil {
		return fmt.Errorf("alert %s: %w", a.ID, err)
	}
	d.mu.Lock()
	dups := d.acceptLocked(seq, a, rs, now)
	d.mu.Unlock()
	d.ackAll(dups)
	d.poke()
	return nil
}

func (d *Dispatcher) record(a event.Alert) {
	if d.cfg.Recorder == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
	defer cancel()
	if err := d.cfg.Recorder.WriteAlert(ctx, a); err != nil {
		if d.stats.recorderErrors.Add(1) == 1 {
			d.logger.Warn("alert history write failed", "rule", a.Rule, "err", err)
		}
	}
}

// silenced reports whether a config or file silence mutes a at now.
func (d *Dispatcher) silenced(a *event.Alert, now time.Time) bool {
	for i := range d.cfg.Silences {
		if s := &d.cfg.Silences[i]; s.Active(now) && s.Matches(a) {
			return true
		}
	}
	d.silMu.Lock()
	defer d.silMu.Unlock()
	d.reloadSilencesLocked(now)
	for i := range d.fileSil {
		if s := &d.fileSil[i]; s.Active(now) && s.Matches(a) {
			return true
		}
	}
	return false
}

// reloadSilencesLocked re-reads the silences file when it changed, at most
// once a second.
func (d *Dispatcher) reloadSilencesLocked(now time.Time) {
	if !d.silChecked.IsZero() && now.Sub(d.silChecked) < time.Second && now.After(d.silChecked) {
		return
	}
	d.silChecked = now
	fi, err := os.Stat(d.silPath)
	if err != nil {
		d.fileSil, d.silMod, d.silSize = nil, time.Time{}, 0
		return
	}
	if fi.ModTime().Equal(d.silMod) && fi.Size() == d.silSize {
		return
	}
	s, err := LoadSilences(d.silPath)
	if err != nil {
		if err.Error() != d.silErrShown {
			d.logger.Error("silences file unreadable; keeping the previous silences", "path", d.silPath, "err", err)
			d.silErrShown = err.Error()
		}
		return
	}
	d.silErrShown = ""
	d.fileSil, d.silMod, d.silSize = s, fi.ModTime(), fi.Size()
}

type ackItem struct {
	receiver string
	seq      uint64
}

func version(a *event.Alert) string {
	return a.ID + "|" + strconv.FormatUint(a.Count, 10) + "|" + string(a.State) + "|" + a.LastTs.UTC().Format(time.RFC3339Nano)
}

// acceptLocked adds the alert stored as seq to the group of each receiver.
// It returns the receivers for which it was an unchanged repeat of what
// they were already sent: those seqs need only an ack.
func (d *Dispatcher) acceptLocked(seq uint64, a event.Alert, rs []*receiver, now time.Time) []ackItem {
	var dups []ackItem
	key := a.Rule + "\x00" + a.GroupKey()
	for _, r := range rs {
		gk := groupKey{r.name, a.Rule}
		g := d.groups[gk]
		if g == nil {
			g = &group{key: gk, r: r, entries: map[string]*entry{}, created: now}
			d.groups[gk] = g
		}
		e := g.entries[key]
		if e == nil {
			e = &entry{first: seq}
			g.entries[key] = e
		}
		e.updated = now
		if seq < e.alertSeq {
			// A concurrent Send of a newer version got here first; this
			// one is only delivered as part of it.
			e.pending = append(e.pending, seq)
			continue
		}
		if !e.changed && e.sentVersion == version(&a) {
			d.stats.deduplicated.Add(1)
			dups = append(dups, ackItem{r.name, seq})
			continue
		}
		e.alert, e.alertSeq, e.changed = a, seq, true
		e.pending = append(e.pending, seq)
		d.scheduleLocked(g, now)
	}
	return dups
}

func (d *Dispatcher) ackAll(items []ackItem) {
	for _, it := range items {
		if err := d.outbox.ack(it.receiver, []uint64{it.seq}); err != nil {
			d.logger.Error("alert outbox ack failed", "err", err)
		}
	}
}

func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// scheduleLocked sets when g is next looked at.
func (d *Dispatcher) scheduleLocked(g *group, now time.Time) {
	g.next = time.Time{}
	if g.inflight {
		return // done reschedules
	}
	changed := false
	firing := false
	var oldest time.Time
	for _, e := range g.entries {
		changed = changed || e.changed
		if e.alert.State == event.AlertFiring {
			firing = true
			if oldest.IsZero() || e.updated.Before(oldest) {
				oldest = e.updated
			}
		}
	}
	switch {
	case changed && d.draining:
		g.next = now
	case changed && !g.flushedOnce:
		g.next = g.created.Add(d.cfg.GroupWait)
	case changed:
		g.next = g.lastFlush.Add(d.cfg.GroupInterval)
	default:
		if firing && d.cfg.RepeatInterval > 0 {
			g.next = g.lastSent.Add(d.cfg.RepeatInterval)
		}
		if !oldest.IsZero() && d.cfg.ResolveTimeout > 0 {
			if t := oldest.Add(d.cfg.ResolveTimeout); g.next.IsZero() || t.Before(g.next) {
				g.next = t
			}
		}
	}
}

// flushLocked turns g's changes (or, after RepeatInterval, its firing
// alerts) into a notification on its receiver's queue.
func (d *Dispatcher) flushLocked(g *group, now time.Time) {
	var list []*entry
	for key, e := range g.entries {
		if !e.changed && e.alert.State == event.AlertFiring && d.cfg.ResolveTimeout > 0 && now.Sub(e.updated) >= d.cfg.ResolveTimeout {
			delete(g.entries, key)
			continue
		}
		if e.changed {
			list = append(list, e)
		}
	}
	if len(list) == 0 && g.flushedOnce && d.cfg.RepeatInterval > 0 && !d.draining && now.Sub(g.lastSent) >= d.cfg.RepeatInterval {
		for _, e := range g.entries {
			if e.alert.State == event.AlertFiring {
				list = append(list, e)
			}
		}
	}
	if len(list) == 0 {
		if len(g.entries) == 0 {
			delete(d.groups, g.key)
			return
		}
		d.scheduleLocked(g, now)
		return
	}
	slices.SortFunc(list, func(a, b *entry) int { return cmpUint(a.first, b.first) })
	d.nextID++
	b := &batch{id: fmt.Sprintf("%s/%d/%d", g.r.name, now.UnixNano(), d.nextID), g: g, created: now}
	for _, e := range list {
		b.alerts = append(b.alerts, ApplyPII(e.alert, g.r.pii))
		b.seqs = append(b.seqs, e.pending...)
		e.pending, e.changed = nil, false
		e.sentVersion = version(&e.alert)
	}
	for key, e := range g.entries {
		if e.alert.State == event.AlertResolved && !e.changed {
			delete(g.entries, key)
		}
	}
	g.inflight, g.flushedOnce, g.lastFlush = true, true, now
	g.next = time.Time{}
	g.r.queue = append(g.r.queue, b)
	select {
	case g.r.ready <- struct{}{}:
	default:
	}
}

// done finishes b, delivered or given up: its alerts leave the outbox for
// b's receiver, and its group may flush again.
func (d *Dispatcher) done(b *batch) {
	if err := d.outbox.ack(b.g.r.name, b.seqs); err != nil {
		d.logger.Error("alert outbox ack failed; the alerts may be delivered again after a restart", "receiver", b.g.r.name, "err", err)
	}
	now := d.clock.Now()
	d.mu.Lock()
	g := b.g
	g.inflight = false
	// A failed notification counts as sent for repeat_interval too:
	// otherwise a receiver that rejects everything would be sent the
	// group's firing alerts again at once, in a loop.
	g.lastSent = now
	if len(g.entries) == 0 {
		if d.groups[g.key] == g {
			delete(d.groups, g.key)
		}
	} else {
		d.scheduleLocked(g, now)
	}
	d.mu.Unlock()
	d.poke()
}

// Run delivers alerts until ctx is cancelled or Close is called. On
// cancellation it returns at once, leaving undelivered alerts in the
// outbox; Close instead makes it drain first. Run returns nil in both
// cases, and only after its goroutines have exited. It may be called once.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.stopped || d.running {
		d.mu.Unlock()
		return ErrClosed
	}
	d.running = true
	d.mu.Unlock()
	defer close(d.runDone)

	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for _, r := range d.receivers {
		wg.Go(func() { d.work(wctx, r) })
	}

	closing := d.closing
	var drainEnd <-chan time.Time
	for {
		now := d.clock.Now()
		d.mu.Lock()
		var next time.Time
		for _, g := range d.groups {
			if !g.inflight && !g.next.IsZero() && !now.Before(g.next) {
				d.flushLocked(g, now)
			}
		}
		idle := true
		for _, g := range d.groups {
			if g.inflight {
				idle = false
			}
			if !g.next.IsZero() && (next.IsZero() || g.next.Before(next)) {
				next = g.next
			}
		}
		if d.draining {
			for _, g := range d.groups {
				for _, e := range g.entries {
					if e.changed {
						idle = false
					}
				}
			}
		}
		draining := d.draining
		d.mu.Unlock()
		if draining && idle {
			return nil
		}
		var timer <-chan time.Time
		if !next.IsZero() && !draining {
			timer = d.clock.After(next.Sub(now))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-timer:
		case <-closing:
			closing = nil
			drainEnd = d.clock.After(d.cfg.DrainTimeout)
			d.mu.Lock()
			d.draining = true
			for _, g := range d.groups {
				d.scheduleLocked(g, now)
			}
			d.mu.Unlock()
		case <-drainEnd:
			d.logger.Warn("alert drain timed out; undelivered alerts stay in the outbox", "count", d.outbox.len())
			return nil
		}
	}
}

func (d *Dispatcher) work(ctx context.Context, r *receiver) {
	for {
		d.mu.Lock()
		var b *batch
		if len(r.queue) > 0 {
			b = r.queue[0]
			r.queue = r.queue[1:]
		}
		d.mu.Unlock()
		if b == nil {
			select {
			case <-ctx.Done():
				return
			case <-r.ready:
				continue
			}
		}
		d.deliver(ctx, r, b)
		if ctx.Err() != nil {
			return
		}
	}
}

// deliver tries b until it is delivered, fails permanently, expires or ctx
// ends.
func (d *Dispatcher) deliver(ctx context.Context, r *receiver, b *batch) {
	nctx := WithNotificationID(ctx, b.id)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(nctx, d.cfg.Timeout)
		err := r.n.Notify(actx, b.alerts)
		cancel()
		if err == nil {
			d.stats.notifications.Add(1)
			d.stats.alerts.Add(uint64(len(b.alerts)))
			if r.lastPermanent != "" {
				d.logger.Info("receiver delivers again", "receiver", r.name)
				r.lastPermanent = ""
			}
			d.done(b)
			return
		}
		if ctx.Err() != nil {
			return // shutting down: the alerts stay in the outbox
		}
		if IsPermanent(err) {
			d.stats.failed.Add(1)
			if msg := err.Error(); msg != r.lastPermanent {
				r.lastPermanent = msg
				d.logger.Error("receiver rejected the notification; fix its configuration (further identical errors are only counted)",
					"receiver", r.name, "rule", b.g.key.rule, "count", len(b.alerts), "err", err)
			}
			d.done(b)
			return
		}
		wait := d.backoff(attempt, RetryAfter(err))
		if d.cfg.MaxAge > 0 && d.clock.Now().Add(wait).Sub(b.created) > d.cfg.MaxAge {
			d.stats.expire.Add(1)
			d.logger.Error("giving up on a notification after max_age", "receiver", r.name, "rule", b.g.key.rule,
				"count", len(b.alerts), "attempt", attempt, "err", err)
			d.done(b)
			return
		}
		d.stats.retries.Add(1)
		if attempt&(attempt-1) == 0 { // 1, 2, 4, 8...: a long outage logs a handful of lines
			d.logger.Warn("notification failed, retrying", "receiver", r.name, "rule", b.g.key.rule,
				"attempt", attempt, "retry_in", wait, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.clock.After(wait):
		}
	}
}

// backoff returns the wait before attempt+1: RetryInitial doubled per
// attempt up to RetryMax, the upper half of it chosen at random, and never
// less than retryAfter.
func (d *Dispatcher) backoff(attempt int, retryAfter time.Duration) time.Duration {
	w := d.cfg.RetryInitial
	for i := 1; i < attempt && w < d.cfg.RetryMax; i++ {
		w *= 2
	}
	w = min(w, d.cfg.RetryMax)
	d.mu.Lock()
	w = w/2 + time.Duration(d.rand.Int64N(int64(w/2)+1))
	d.mu.Unlock()
	return max(w, retryAfter)
}

// Close stops accepting alerts (Send returns ErrClosed), and if Run is
// running makes it flush every group at once and keep delivering for up to
// Config.DrainTimeout; then it closes the outbox. What is still undelivered
// is delivered after the next start.
func (d *Dispatcher) Close() error {
	d.sendMu.Lock()
	if d.closed {
		d.sendMu.Unlock()
		return nil
	}
	d.closed = true
	d.sendMu.Unlock()
	d.mu.Lock()
	d.stopped = true
	running := d.running
	d.mu.Unlock()
	if running {
		close(d.closing)
		<-d.runDone
	}
	return d.outbox.close()
}

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{
		Received:       d.stats.received.Load(),
		Silenced:       d.stats.silenced.Load(),
		Unrouted:       d.stats.unrouted.Load(),
		Deduplicated:   d.stats.deduplicated.Load(),
		Notifications:  d.stats.notifications.Load(),
		Alerts:         d.stats.alerts.Load(),
		Retries:        d.stats.retries.Load(),
		Failed:         d.stats.failed.Load(),
		Expired:        d.stats.expire.Load(),
		RecorderErrors: d.stats.recorderErrors.Load(),
		Pending:        d.outbox.len(),
	}
}
