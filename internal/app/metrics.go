package app

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/ingest/source"
	"github.com/vigil-sec/vigil/internal/event"
)

// metrics is the daemon's Prometheus registry. Counters the parts keep
// themselves (sources, parsers, rules, store, dispatcher, reverse DNS) are
// read at scrape time by a collector; what only the daemon sees (sink and
// insert latency, alerts by receiver) is recorded here as it happens.
type metrics struct {
	d   *Daemon
	reg *prometheus.Registry

	sinkSeconds   *prometheus.HistogramVec
	sinkErrors    *prometheus.CounterVec
	insertSeconds prometheus.Histogram
	insertErrors  prometheus.Counter
	raised        *prometheus.CounterVec
	notified      *prometheus.CounterVec
	notifyErrors  *prometheus.CounterVec
	notifySeconds *prometheus.HistogramVec
}

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		d:   d,
		reg: prometheus.NewRegistry(),
		sinkSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_sink_write_seconds",
			Help:    "Time to hand one batch of events to a sink (clickhouse spool, archive, rules).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}, []string{"sink"}),
		sinkErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_sink_errors_total",
			Help: "Failed batch writes to a sink.",
		}, []string{"sink"}),
		insertSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_clickhouse_insert_seconds",
			Help:    "Duration of one INSERT of a batch of events into ClickHouse, failed attempts included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		insertErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_clickhouse_insert_errors_total",
			Help: "INSERT attempts that failed (each is retried).",
		}),
		raised: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_raised_total",
			Help: "Alerts raised by the rules, by rule and state (firing, resolved); folded repeats are not counted.",
		}, []string{"rule", "state"}),
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_notified_total",
			Help: "Alerts delivered, by receiver and rule.",
		}, []string{"receiver", "rule"}),
		notifyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_notify_errors_total",
			Help: "Failed delivery attempts, by receiver (Slack errors are those of the slack receivers).",
		}, []string{"receiver"}),
		notifySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_notify_seconds",
			Help:    "Duration of one delivery attempt, by receiver.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"receiver"}),
	}
	m.reg.MustRegister(m.sinkSeconds, m.sinkErrors, m.insertSeconds, m.insertErrors,
		m.raised, m.notified, m.notifyErrors, m.notifySeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		statsCollector{d})
	return m
}

// handler serves /metrics, /healthz (the process answers) and /readyz (the
// pipeline runs).
func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !m.d.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}

func (m *metrics) observeInsert(d time.Duration, _ int, err error) {
	m.insertSeconds.Observe(d.Seconds())
	if err != nil {
		m.insertErrors.Inc()
	}
}

func (m *metrics) observeSink(name string, d time.Duration, _ int, err error) {
	m.sinkSeconds.WithLabelValues(name).Observe(d.Seconds())
	if err != nil {
		m.sinkErrors.WithLabelValues(name).Inc()
	}
}

func (m *metrics) alertRaised(a *event.Alert) {
	m.raised.WithLabelValues(a.Rule, string(a.State)).Inc()
}

func (m *metrics) timed(name string, s ingest.Sink) ingest.Sink {
	return timedSink{name: name, sink: s, m: m}
}

// counted wraps r's notifier so that what it delivers and what fails is
// counted by receiver.
func (m *metrics) counted(r alert.Receiver) alert.Receiver {
	r.Notifier = countingNotifier{Notifier: r.Notifier, m: m}
	return r
}

type countingNotifier struct {
	alert.Notifier
	m *metrics
}

func (c countingNotifier) Notify(ctx context.Context, alerts []event.Alert) error {
	name := c.Name()
	start := time.Now()
	err := c.Notifier.Notify(ctx, alerts)
	c.m.notifySeconds.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err != nil {
		c.m.notifyErrors.WithLabelValues(name).Inc()
		return err
	}
	for i := range alerts {
		c.m.notified.WithLabelValues(name, alerts[i].Rule).Inc()
	}
	return nil
}

// statsCollector reads the counters of the daemon's parts at scrape time.
type statsCollector struct{ d *Daemon }

var (
	descSourceLines     = prometheus.NewDesc("vigil_source_lines_total", "Lines read, by source.", []string{"source"}, nil)
	descSourceBytes     = prometheus.NewDesc("vigil_source_bytes_total", "Bytes read, by source.", []string{"source"}, nil)
	descSourceLag       = prometheus.NewDesc("vigil_source_lag_bytes", "Bytes in the open files after the last line read (tail lag), by source.", []string{"source"}, nil)
	descSourceFiles     = prometheus.NewDesc("vigil_source_files", "Files open, by source.", []string{"source"}, nil)
	descSourceRotations = prometheus.NewDesc("vigil_source_rotations_total", "Rotations followed (rename or delete and create), by source.", []string{"source"}, nil)
	descSourceTruncs    = prometheus.NewDesc("vigil_source_truncations_total", "Files truncated in place (copytruncate), by source.", []string{"source"}, nil)
	descSourceLong      = prometheus.NewDesc("vigil_source_truncated_lines_total", "Lines cut at max_line_bytes, by source.", []string{"source"}, nil)
	descParseLines      = prometheus.NewDesc("vigil_parse_lines_total", "Lines parsed, by parser.", []string{"parser"}, nil)
	descParseEvents     = prometheus.NewDesc("vigil_parse_events_total", "Events parsed, by parser.", []string{"parser"}, nil)
	descParseErrors     = prometheus.NewDesc("vigil_parse_errors_total", "Lines a parser refused, kept as unparsed events, by parser.", []string{"parser"}, nil)
	descEnrichErrors    = prometheus.NewDesc("vigil_enrich_errors_total", "Enricher failures (the events were kept), by parser.", []string{"parser"}, nil)
	descRuleEvals       = prometheus.NewDesc("vigil_rule_evaluations_total", "Events a rule's where clause was evaluated on.", []string{"rule"}, nil)
	descRuleMatches     = prometheus.NewDesc("vigil_rule_matches_total", "Events that passed a rule's where clause.", []string{"rule"}, nil)
	descRuleAlerts      = prometheus.NewDesc("vigil_rule_alerts_total", "Alerts a rule fired (folded repeats not counted).", []string{"rule"}, nil)
	descRuleKeys        = prometheus.NewDesc("vigil_rule_state_keys", "Groups of state a rule holds.", []string{"rule"}, nil)
	descRuleEvictions   = prometheus.NewDesc("vigil_rule_evictions_total", "Groups evicted by rules.max_keys.", []string{"rule"}, nil)
	descRuleErrors      = prometheus.NewDesc("vigil_rule_errors_total", "Expression evaluations that failed at run time.", []string{"rule"}, nil)
	descEngineEvents    = prometheus.NewDesc("vigil_rules_events_total", "Events the rules engine processed (since the last reload).", nil, nil)
	descEngineLate      = prometheus.NewDesc("vigil_rules_late_events_total", "Events older than the engine's watermark (since the last reload).", nil, nil)
	descStored          = prometheus.NewDesc("vigil_events_stored_total", "Events inserted into ClickHouse.", nil, nil)
	descBatches         = prometheus.NewDesc("vigil_clickhouse_batches_total", "INSERTs that succeeded.", nil, nil)
	descSpoolBytes      = prometheus.NewDesc("vigil_spool_bytes", "Bytes in the ClickHouse spool.", nil, nil)
	descSpoolDropped    = prometheus.NewDesc("vigil_spool_dropped_events_total", "Events dropped from the full spool.", nil, nil)
	descArchiveDropped  = prometheus.NewDesc("vigil_archive_dropped_events_total", "Events dropped from the local archive at its size cap.", nil, nil)
	descAlertCount      = prometheus.NewDesc("vigil_dispatcher_alerts_total", "Alerts passed to the dispatcher, by what became of them.", []string{"outcome"}, nil)
	descNotifications   = prometheus.NewDesc("vigil_notifications_total", "Notifications, by result (delivered, retried, failed, expired).", []string{"result"}, nil)
	descOutbox          = prometheus.NewDesc("vigil_outbox_pending_alerts", "Alerts in the outbox awaiting delivery.", nil, nil)
	descRDNS            = prometheus.NewDesc("vigil_rdns_total", "Reverse DNS cache and lookup counters.", []string{"what"}, nil)
	descRDNSEntries     = prometheus.NewDesc("vigil_rdns_cache_entries", "Addresses in the reverse DNS cache.", nil, nil)
	descReloads         = prometheus.NewDesc("vigil_reloads_total", "Reloads of the config and rules, by result.", []string{"result"}, nil)
	descReady           = prometheus.NewDesc("vigil_ready", "1 while the pipeline runs.", nil, nil)
)

func (statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descSourceLines, descSourceBytes, descSourceLag, descSourceFiles, descSourceRotations, descSourceTruncs, descSourceLong,
		descParseLines, descParseEvents, descParseErrors, descEnrichErrors,
		descRuleEvals, descRuleMatches, descRuleAlerts, descRuleKeys, descRuleEvictions, descRuleErrors, descEngineEvents, descEngineLate,
		descStored, descBatches, descSpoolBytes, descSpoolDropped, descArchiveDropped,
		descAlertCount, descNotifications, descOutbox, descRDNS, descRDNSEntries, descReloads, descReady,
	} {
		ch <- d
	}
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}

	srcs, parsers, rd := d.ingestStats()
	for _, name := range sortedKeys(srcs) {
		s := srcs[name]
		counter(descSourceLines, s.Lines, name)
		counter(descSourceBytes, s.Bytes, name)
		counter(descSourceRotations, s.Rotations, name)
		counter(descSourceTruncs, s.Truncations, name)
		counter(descSourceLong, s.Truncated, name)
		gauge(descSourceLag, float64(s.LagBytes), name)
		gauge(descSourceFiles, float64(s.Files), name)
	}
	for _, name := range sortedKeys(parsers) {
		p := parsers[name]
		counter(descParseLines, p.Lines, name)
		counter(descParseEvents, p.Events, name)
		counter(descParseErrors, p.Unparsed, name)
		counter(descEnrichErrors, p.EnrichErrors, name)
	}
	if rd != nil {
		counter(descRDNS, rd.Hits, "hits")
		counter(descRDNS, rd.Misses, "misses")
		counter(descRDNS, rd.Lookups, "lookups")
		counter(descRDNS, rd.Timeouts, "timeouts")
		counter(descRDNS, rd.LoadShed, "load_shed")
		counter(descRDNS, rd.Errors, "errors")
		gauge(descRDNSEntries, float64(rd.Entries))
	}

	d.det.mu.Lock()
	es := d.det.engine.Stats()
	d.det.mu.Unlock()
	counter(descEngineEvents, es.Events)
	counter(descEngineLate, es.Late)
	for _, r := range es.Rules {
		counter(descRuleEvals, r.Evaluations, r.Rule)
		counter(descRuleMatches, r.Matches, r.Rule)
		counter(descRuleAlerts, r.Alerts, r.Rule)
		gauge(descRuleKeys, float64(r.Keys), r.Rule)
		counter(descRuleEvictions, r.Evictions, r.Rule)
		counter(descRuleErrors, r.Errors, r.Rule)
	}

	if d.writer != nil {
		ws := d.writer.Stats()
		counter(descStored, ws.Inserted)
		counter(descBatches, ws.Batches)
		gauge(descSpoolBytes, float64(ws.SpoolBytes))
		counter(descSpoolDropped, ws.Dropped)
	}
	if d.archive != nil {
		counter(descArchiveDropped, d.archive.Dropped())
	}

	ds := d.disp.Stats()
	counter(descAlertCount, ds.Received, "received")
	counter(descAlertCount, ds.Silenced, "silenced")
	counter(descAlertCount, ds.Unrouted, "unrouted")
	counter(descAlertCount, ds.Deduplicated, "deduplicated")
	counter(descNotifications, ds.Notifications, "delivered")
	counter(descNotifications, ds.Retries, "retried")
	counter(descNotifications, ds.Failed, "failed")
	counter(descNotifications, ds.Expired, "expired")
	gauge(descOutbox, float64(ds.Pending))

	counter(descReloads, d.reloads.Load(), "ok")
	counter(descReloads, d.reloadKO.Load(), "failed")
	ready := 0.0
	if d.Ready() {
		ready = 1
	}
	gauge(descReady, ready)
}

// ingestStats returns the counters of the sources and the parsers, those of
// pipelines replaced by reloads included, and the reverse DNS counters.
func (d *Daemon) ingestStats() (map[string]source.FileStats, map[string]ingest.ParserStats, *enrich.RDNSStats) {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	srcs := make(map[string]source.FileStats, len(d.pastSources))
	for k, v := range d.pastSources {
		v.LagBytes, v.Files = 0, 0
		srcs[k] = v
	}
	parsers := make(map[string]ingest.ParserStats, len(d.pastParsers))
	for k, v := range d.pastParsers {
		parsers[k] = v
	}
	g := d.gen
	if g == nil {
		return srcs, parsers, nil
	}
	for _, f := range g.files {
		st := f.Stats()
		p := srcs[f.Name()]
		p.Lines += st.Lines
		p.Bytes += st.Bytes
		p.Truncated += st.Truncated
		p.Rotations += st.Rotations
		p.Truncations += st.Truncations
		p.Recovered += st.Recovered
		p.LagBytes, p.Files = st.LagBytes, st.Files
		srcs[f.Name()] = p
	}
	if g.pipeline != nil {
		per, _ := g.pipeline.Stats().Parsers()
		for k, c := range per {
			p := parsers[k]
			p.Lines += c.Lines
			p.Events += c.Events
			p.Unparsed += c.Unparsed
			p.Truncated += c.Truncated
			p.EnrichErrors += c.EnrichErrors
			parsers[k] = p
		}
	}
	var rd *enrich.RDNSStats
	if g.en != nil && g.en.rdns != nil {
		s := g.en.rdns.Stats()
		rd = &s
	}
	return srcs, parsers, rd
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
