package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-sec/vigil/internal/event"
)

// Writer stores events in ClickHouse's events table. Its Write has the
// shape of ingest.Sink.
//
// The spool is a write-ahead log: Write appends the events to it and fsyncs
// before returning, so a caller may commit its read offset as soon as Write
// returns. Run sends the spooled events in order, in batches of
// Config.BatchRows rows or Config.BatchInterval, retrying with backoff while
// ClickHouse is unreachable, and advances the spool's cursor after each
// insert. After a crash the batch in flight is sent again: at most one
// batch is duplicated, with the same event_id values.
//
// Life: NewWriter, then Run in its own goroutine and Write from any number
// of goroutines; to stop, Flush under a deadline (so the last partial batch
// goes out), cancel Run's context, wait for Run, then Close.
type Writer struct {
	cfg      Config
	logger   *slog.Logger
	conn     driver.Conn
	database string
	spool    *spool

	wmu sync.Mutex // serializes Write
	buf []byte

	cmu          sync.Mutex // guards the cache of recently written batches
	cache        []cached
	cachedEvents int

	notify   chan struct{} // a Write happened or a Flush waits
	flushing atomic.Int32  // Flush callers waiting
	pmu      sync.Mutex
	progress chan struct{} // closed and replaced after each acknowledged batch

	// Used by Run only.
	dialect       Dialect
	blk           eventBlock
	lastRetention time.Time

	inserted, batches, retries atomic.Uint64
}

// cached is a batch that Write put in the spool and that Run may send
// without reading it back from disk.
type cached struct {
	start, end position
	evs        []event.Event
}

// WriterStats are a Writer's counters.
type WriterStats struct {
	Inserted   uint64 // events inserted into ClickHouse
	Batches    uint64 // INSERTs that succeeded
	Retries    uint64 // INSERT attempts that failed and were retried
	Dropped    uint64 // events dropped from the full spool (oldest first)
	Corrupt    uint64 // spool records skipped as corrupt
	SpoolBytes int64  // bytes in the spool, sent or not
}

// NewWriter opens the spool in cfg.SpoolDir and prepares a connection to
// cfg.DSN. It does not contact ClickHouse: Run does, and runs the
// migrations first. logger may be nil.
func NewWriter(cfg Config, logger *slog.Logger) (*Writer, error) {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "store")
	if cfg.DSN == "" {
		return nil, errors.New("store: no clickhouse dsn")
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("store: no spool directory")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conn, db, err := open(cfg, logger)
	if err != nil {
		return nil, err
	}
	sp, err := openSpool(cfg.SpoolDir, cfg.SpoolMaxBytes, logger)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &Writer{
		cfg: cfg, logger: logger, conn: conn, database: db, spool: sp,
		notify:   make(chan struct{}, 1),
		progress: make(chan struct{}),
	}, nil
}

// Write appends evs to the spool and returns once they are fsynced there.
// It does not keep evs. It never waits for ClickHouse.
func (w *Writer) Write(ctx context.Context, evs []event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w.wmu.Lock()
	w.buf = appendBatch(w.buf[:0], evs)
	start, end, err := w.spool.append(w.buf)
	if cap(w.buf) > 64<<20 {
		w.buf = nil
	}
	w.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("spool %d events: %w", len(evs), err)
	}
	w.cmu.Lock()
	if w.cachedEvents+len(evs) <= 4*w.cfg.BatchRows {
		w.cache = append(w.cache, cached{start: start, end: end, evs: slices.Clone(evs)})
		w.cachedEvents += len(evs)
	}
	w.cmu.Unlock()
	w.wake()
	return nil
}

func (w *Writer) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// Flush waits until every event written before the call is in ClickHouse
// (Run must be running), or ctx ends. It makes Run send a partial batch at
// once.
func (w *Writer) Flush(ctx context.Context) error {
	target := w.spool.end()
	w.flushing.Add(1)
	defer w.flushing.Add(-1)
	w.wake()
	for {
		w.pmu.Lock()
		ch := w.progress
		w.pmu.Unlock()
		if !w.spool.acked().less(target) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("flush: %w", ctx.Err())
		}
	}
}

// Stats returns the counters.
func (w *Writer) Stats() WriterStats {
	b, dropped, corrupt := w.spool.stats()
	return WriterStats{
		Inserted: w.inserted.Load(), Batches: w.batches.Load(), Retries: w.retries.Load(),
		Dropped: dropped, Corrupt: corrupt, SpoolBytes: b,
	}
}

// Close closes the spool and the connection. Call it after Run returned;
// events not yet sent stay in the spool for the next start.
func (w *Writer) Close() error {
	err := w.spool.close()
	if cerr := w.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// Run sends spooled events to ClickHouse until ctx is cancelled, and drops
// expired partitions once an hour. It returns nil on cancellation; what was
// not sent stays in the spool.
func (w *Writer) Run(ctx context.Context) error {
	r := &reader{s: w.spool, pos: w.spool.acked()}
	defer r.close()
	var (
		pending []event.Event
		end     position
		firstAt time.Time
		timer   = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	for ctx.Err() == nil {
		for len(pending) < w.cfg.BatchRows {
			evs, e, ok, err := w.nextRecord(r)
			if err != nil {
				w.logger.Error("read spool", "err", err)
				if !w.sleep(ctx, time.Second) {
					return nil
				}
				break
			}
			if !ok {
				break
			}
			if len(pending) == 0 {
				firstAt = time.Now()
			}
			pending = append(pending, evs...)
			end = e
		}
		if len(pending) == 0 {
			if end != (position{}) && w.spool.acked().less(end) {
				// Only corrupt or empty records since the last insert.
				w.ackAndBroadcast(end)
			}
			w.retention(ctx)
			select {
			case <-w.notify:
			case <-ctx.Done():
			}
			continue
		}
		if wait := w.cfg.BatchInterval - time.Since(firstAt); len(pending) < w.cfg.BatchRows && w.flushing.Load() == 0 && wait > 0 {
			timer.Reset(wait)
			select {
			case <-w.notify:
			case <-timer.C:
			case <-ctx.Done():
			}
			timer.Stop()
			if len(pending) < w.cfg.BatchRows && w.flushing.Load() == 0 && time.Since(firstAt) < w.cfg.BatchInterval && ctx.Err() == nil {
				continue
			}
		}
		if err := w.send(ctx, pending); err != nil {
			return nil // cancelled; the batch stays in the spool
		}
		w.inserted.Add(uint64(len(pending)))
		w.batches.Add(1)
		w.ackAndBroadcast(end)
		clear(pending) // let the events' strings go
		pending = pending[:0]
	}
	return nil
}

func (w *Writer) ackAndBroadcast(end position) {
	if err := w.spool.ack(end); err != nil {
		w.logger.Error("advance spool cursor", "err", err)
	}
	w.pmu.Lock()
	close(w.progress)
	w.progress = make(chan struct{})
	w.pmu.Unlock()
}

// nextRecord returns the events of the next spooled batch, from the cache
// when Write left them there, else from disk. ok is false at the end.
func (w *Writer) nextRecord(r *reader) (evs []event.Event, end position, ok bool, err error) {
	w.cmu.Lock()
	for len(w.cache) > 0 && w.cache[0].start.less(r.pos) {
		w.dropCached()
	}
	if len(w.cache) > 0 && w.cache[0].start == r.pos {
		c := w.cache[0]
		w.dropCached()
		w.cmu.Unlock()
		r.pos = c.end
		return c.evs, c.end, true, nil
	}
	w.cmu.Unlock()
	p, end, err := r.next()
	if err != nil || p == nil {
		return nil, end, false, err
	}
	evs, err = decodeBatch(nil, p)
	if err != nil {
		w.spool.mu.Lock()
		w.spool.corrupt++
		w.spool.mu.Unlock()
		w.logger.Error("undecodable spool record, skipped", "seq", end.seq, "offset", end.off, "err", err)
		return nil, end, true, nil
	}
	return evs, end, true, nil
}

func (w *Writer) dropCached() {
	w.cachedEvents -= len(w.cache[0].evs)
	w.cache[0] = cached{}
	w.cache = w.cache[1:]
}

// send inserts evs, retrying with backoff until it succeeds or ctx ends.
func (w *Writer) send(ctx context.Context, evs []event.Event) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := w.ready(ctx)
		if err == nil {
			actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			start := time.Now()
			err = insertEvents(actx, w.conn, w.dialect, &w.blk, evs)
			cancel()
			if w.cfg.ObserveInsert != nil {
				w.cfg.ObserveInsert(time.Since(start), len(evs), err)
			}
		}
		if err == nil {
			if attempt > 1 {
				w.logger.Info("clickhouse insert succeeded after retries", "attempt", attempt, "count", len(evs))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.retries.Add(1)
		if attempt == 1 || attempt%10 == 0 {
			w.logger.Warn("clickhouse insert failed, retrying", "attempt", attempt, "count", len(evs), "err", err)
		}
		d := backoff/2 + rand.N(backoff/2+1)
		if !w.sleep(ctx, d) {
			return ctx.Err()
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// ready runs the migrations on the first successful contact and learns the
// dialect.
func (w *Writer) ready(ctx context.Context) error {
	if w.dialect != "" {
		return nil
	}
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := migrateCreating(mctx, w.conn, w.cfg, w.database, "", w.logger)
	if err != nil {
		return err
	}
	d, err := dialectOf(mctx, w.conn)
	if err != nil {
		return err
	}
	w.dialect = d
	w.logger.Info("clickhouse schema ready", "server", res.Server, "dialect", d, "applied", len(res.Applied))
	return nil
}

// retention drops expired partitions at most once an hour.
func (w *Writer) retention(ctx context.Context) {
	if w.cfg.Retention <= 0 || time.Since(w.lastRetention) < time.Hour {
		return
	}
	w.lastRetention = time.Now()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := w.ready(rctx); err != nil {
		w.logger.Warn("retention: clickhouse not ready", "err", err)
		return
	}
	dropped, err := DropExpired(rctx, w.conn, w.database, w.cfg.Retention, time.Now())
	if err != nil {
		w.logger.Warn("retention", "err", err)
		return
	}
	if len(dropped) > 0 {
		w.logger.Info("dropped expired partitions", "count", len(dropped))
	}
}

func (w *Writer) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
