package rules

import (
	"container/heap"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"

	"github.com/vigil-sec/vigil/internal/event"
)

// Engine defaults.
const (
	DefaultMaxKeys  = 100_000
	DefaultLateness = time.Minute
)

// EngineConfig configures an Engine. The zero value works: no state
// directory, DefaultMaxKeys, DefaultLateness, no lists, the default
// internal networks.
type EngineConfig struct {
	// StateDir is where Snapshot writes the engine's state and where
	// NewEngine restores it from; empty means no persistence.
	StateDir string
	// MaxKeys caps the groups each rule keeps (and its open alerts); the
	// least recently used group is evicted past it. 0 means DefaultMaxKeys.
	MaxKeys int
	// Lateness is how far behind the newest event time the watermark runs.
	// 0 means DefaultLateness; a negative value means none.
	Lateness time.Duration
	// Lists answers in_list; nil means no lists.
	Lists ListLookup
	// Zones answers is_internal; nil means the default internal networks.
	Zones ZoneLookup
	// SQL runs the queries of sql rules; nil means they never run.
	SQL    SQLRunner
	Logger *slog.Logger
}

// Engine evaluates rules over events on event time and raises alerts. It is
// not safe for concurrent use: one goroutine calls Process, Tick, Flush,
// RunSQL, Snapshot and Stats (the app's rules worker).
//
// Output. An alert is returned once when it fires (state firing). Repeats
// for the same rule and group inside the rule's cooldown fold into it
// (Count, LastTs and Evidence grow, the ID stays); if any did, the alert is
// returned once more when its cooldown ends on event time, with state
// resolved and its final count, or by Flush.
type Engine struct {
	cfg    EngineConfig
	logger *slog.Logger
	rules  []*compiled

	byAction  map[string][]int
	anyAction []int // rules without an action prefilter

	maxTs     int64 // newest event time seen, unix ns; math.MinInt64 before any
	watermark int64
	nextDue   int64 // watermark at which something expires
	events    uint64
	late      uint64

	out     []event.Alert
	keyBuf  []byte // the group key of the event being processed
	keyBuf2 []byte // scratch for one field value
}

// compiled is one rule bound to an engine.
type compiled struct {
	r       *Rule
	idx     int
	where   *predicate
	steps   []*predicate
	group   fieldSet
	field   fieldSet
	actions []string // prefilter on action; nil matches every action
	eval    evaluator

	opens   map[string]*openAlert
	heap    openHeap
	nextSQL int64

	stats RuleStats
}

// RuleStats are the counters of one rule.
type RuleStats struct {
	Rule        string
	Evaluations uint64 // events its where clause was evaluated on
	Matches     uint64 // events that passed where
	Late        uint64 // matching events older than the watermark
	Alerts      uint64 // alerts fired (folded repeats not counted)
	Folded      uint64 // repeats folded into open alerts
	Keys        uint64 // groups held now
	Evictions   uint64 // groups evicted by the key cap
	Errors      uint64 // expression evaluations that failed at run time
}

// Stats are the engine's counters.
type Stats struct {
	Events    uint64
	Late      uint64 // events older than the watermark
	Watermark time.Time
	Rules     []RuleStats
}

// NewEngine binds rules to a new engine. Disabled rules are skipped. When
// cfg.StateDir holds a snapshot, the state of every rule whose definition
// did not change is restored; an unreadable snapshot is logged and
// ignored.
func NewEngine(rules []*Rule, cfg EngineConfig) (*Engine, error) {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	switch {
	case cfg.Lateness == 0:
		cfg.Lateness = DefaultLateness
	case cfg.Lateness < 0:
		cfg.Lateness = 0
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:      cfg,
		logger:   logger.With("component", "rules"),
		byAction: map[string][]int{},
		maxTs:    math.MinInt64,
	}
	e.watermark, e.nextDue = math.MinInt64, math.MaxInt64
	b := &binding{lists: cfg.Lists, zones: cfg.Zones, cache: newPatternCache()}
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		c, err := compileRule(r, b, cfg.MaxKeys)
		if err != nil {
			return nil, fmt.Errorf("%s: rule %s: %w", r.Position(), r.ID, err)
		}
		c.idx = len(e.rules)
		e.rules = append(e.rules, c)
		if c.actions == nil {
			e.anyAction = append(e.anyAction, c.idx)
		}
	}
	if cfg.StateDir != "" {
		if err := e.restore(); err != nil {
			e.logger.Warn("rule state not restored, starting empty", "path", e.statePath(), "err", err)
		}
	}
	return e, nil
}

func compileRule(r *Rule, b *binding, maxKeys int) (*compiled, error) {
	c := &compiled{r: r, opens: map[string]*openAlert{}, stats: RuleStats{Rule: r.ID}}
	var err error
	if r.Where != "" {
		if c.where, err = compileExpr(r.Where, b); err != nil {
			return nil, fmt.Errorf("where: %w", err)
		}
	}
	for i, s := range r.Steps {
		p, err := compileExpr(s.Where, b)
		if err != nil {
			return nil, fmt.Errorf("steps[%d].where: %w", i, err)
		}
		c.steps = append(c.steps, p)
	}
	c.group = newFieldSet(r.GroupBy, r.IPv6Prefix)
	c.field = newFieldSet(r.Field, r.IPv6Prefix)
	c.actions = prefilter(c)
	if r.summary == nil {
		return nil, fmt.Errorf("rule was not loaded by Parse or LoadFS")
	}
	switch r.Kind {
	case KindMatch:
		c.eval = &matchEval{}
	case KindThreshold:
		c.eval = &thresholdEval{t: newTable[ringState](maxKeys)}
	case KindDistinct:
		c.eval = &distinctEval{t: newTable[distinctState](maxKeys)}
	case KindSequence:
		c.eval = &sequenceEval{t: newTable[sequenceState](maxKeys)}
	case KindFirstSeen:
		c.eval = &firstSeenEval{t: newTable[firstSeenState](maxKeys)}
	case KindVelocity:
		c.eval = &velocityEval{t: newTable[velocityState](maxKeys)}
	case KindAbsence:
		c.eval = &absenceEval{t: newTable[absenceState](maxKeys), next: math.MaxInt64}
	case KindSQL:
		c.eval = &sqlEval{}
	default:
		return nil, fmt.Errorf("unknown kind %q", r.Kind)
	}
	return c, nil
}

// prefilter returns the actions an event must have to possibly match the
// rule, read from the top-level conjunction of its where clause (action ==
// "x", action in [...]); for a sequence rule without one, the union over
// its steps. nil means any action.
func prefilter(c *compiled) []string {
	if c.r.Kind == KindSQL {
		return []string{}
	}
	if c.where != nil {
		if a := actionsOf(c.where.prog.Node()); a != nil {
			return a
		}
	}
	if c.r.Kind != KindSequence {
		return nil
	}
	var all []string
	for _, s := range c.steps {
		a := actionsOf(s.prog.Node())
		if a == nil {
			return nil
		}
		all = append(all, a...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

func actionsOf(n ast.Node) []string {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			if a := actionsOf(n.Left); a != nil {
				return a
			}
			return actionsOf(n.Right)
		case "==":
			if isIdent(n.Left, "action") {
				if s, ok := constString(n.Right); ok {
					return []string{s}
				}
			}
			if isIdent(n.Right, "action") {
				if s, ok := constString(n.Left); ok {
					return []string{s}
				}
			}
		case "in":
			if !isIdent(n.Left, "action") {
				return nil
			}
			var out []string
			switch r := n.Right.(type) {
			case *ast.ArrayNode:
				for _, x := range r.Nodes {
					s, ok := constString(x)
					if !ok {
						return nil
					}
					out = append(out, s)
				}
			case *ast.ConstantNode:
				rv := reflect.ValueOf(r.Value)
				if rv.Kind() != reflect.Map {
					return nil
				}
				for _, k := range rv.MapKeys() {
					s, ok := k.Interface().(string)
					if !ok {
						return nil
					}
					out = append(out, s)
				}
			default:
				return nil
			}
			slices.Sort(out)
			return out
		}
	}
	return nil
}

func isIdent(n ast.Node, name string) bool {
	if c, ok := n.(*ast.CallNode); ok && len(c.Arguments) == 1 {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Value == "$named_string" {
			n = c.Arguments[0]
		}
	}
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == name
}

// rulesFor returns the indices of the rules an event with action may match,
// in rule order.
func (e *Engine) rulesFor(action string) []int {
	if idx, ok := e.byAction[action]; ok {
		return idx
	}
	var idx []int
	for _, c := range e.rules {
		if c.actions == nil || slices.Contains(c.actions, action) {
			idx = append(idx, c.idx)
		}
	}
	if len(e.byAction) < 4096 {
		e.byAction[action] = idx
	}
	return idx
}

// Process evaluates every rule on ev and returns the alerts this raised:
// new alerts, and the closing versions of alerts whose cooldown the
// advancing watermark ended. The slice is the caller's. ev is not kept.
func (e *Engine) Process(ev *event.Event) []event.Alert {
	e.events++
	ts := ev.Ts.UnixNano()
	late := false
	if ts > e.maxTs {
		e.advance(ts)
	} else if ts < e.watermark {
		late = true
		e.late++
	}
	for _, i := range e.rulesFor(ev.Action) {
		c := e.rules[i]
		c.stats.Evaluations++
		if !c.where.match(ev) {
			continue
		}
		c.stats.Matches++
		if late {
			c.stats.Late++
		}
		e.keyBuf = c.group.appendKey(e.keyBuf[:0], ev)
		c.eval.process(e, c, ev, e.keyBuf)
	}
	return e.take()
}

// Matching returns the ids of the rules whose where clause, or one of whose
// sequence steps, matches ev, in rule order. It changes no state: it is
// what `vigil explain` shows.
func (e *Engine) Matching(ev *event.Event) []string {
	var ids []string
	for _, i := range e.rulesFor(ev.Action) {
		c := e.rules[i]
		if c.r.Kind == KindSQL {
			continue // runs on the store, not on events
		}
		// A rule without where matches through its steps only.
		hit := (c.where != nil || len(c.steps) == 0) && c.where.match(ev)
		for _, s := range c.steps {
			if hit {
				break
			}
			hit = s.match(ev)
		}
		if hit {
			ids = append(ids, c.r.ID)
		}
	}
	return ids
}

func (e *Engine) take() []event.Alert {
	if len(e.out) == 0 {
		return nil
	}
	out := e.out
	e.out = nil
	return out
}

// advance moves the newest event time to ts (unix ns) and runs what the
// new watermark makes due.
func (e *Engine) advance(ts int64) {
	e.maxTs = ts
	e.watermark = ts - int64(e.cfg.Lateness)
	if e.watermark >= e.nextDue {
		e.sweep()
	}
}

// Tick moves the engine's clock to now if no event has: the watermark
// becomes at least now minus the lateness, so that absence rules fire and
// cooldowns end while no events come. The daemon calls it on a timer with
// the wall clock; a replay need not call it. It returns what fired or
// closed.
func (e *Engine) Tick(now time.Time) []event.Alert {
	if ts := now.UnixNano(); ts > e.maxTs {
		e.advance(ts)
	}
	return e.take()
}

// sweep closes the open alerts whose cooldown the watermark passed and runs
// the absence checks that are due, in a deterministic order.
func (e *Engine) sweep() {
	next := int64(math.MaxInt64)
	for _, c := range e.rules {
		for len(c.heap) > 0 && c.heap[0].Until <= e.watermark {
			o := heap.Pop(&c.heap).(*openAlert)
			e.close(c, o, event.AlertResolved)
		}
		if len(c.heap) > 0 {
			next = min(next, c.heap[0].Until)
		}
		if ab, ok := c.eval.(*absenceEval); ok {
			ab.expire(e, c)
			next = min(next, ab.next)
		}
	}
	e.nextDue = next
}

func (e *Engine) due(t int64) {
	e.nextDue = min(e.nextDue, t)
}

// Flush returns the current version of every open alert that changed since
// it was last returned (repeats folded in), without closing it. A replay
// calls it at the end of its input.
func (e *Engine) Flush() []event.Alert {
	for _, c := range e.rules {
		opens := slices.Clone(c.heap)
		slices.SortFunc(opens, func(a, b *openAlert) int { return cmpOpen(a, b) })
		for _, o := range opens {
			if o.Alert.Count != o.Emitted {
				e.emit(c, o)
			}
		}
	}
	return e.take()
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := Stats{Events: e.events, Late: e.late}
	if e.watermark != math.MinInt64 {
		s.Watermark = time.Unix(0, e.watermark).UTC()
	}
	for _, c := range e.rules {
		rs := c.stats
		rs.Keys, rs.Evictions = c.eval.size()
		if c.where != nil {
			rs.Errors = c.where.errs
		}
		for _, p := range c.steps {
			rs.Errors += p.errs
		}
		s.Rules = append(s.Rules, rs)
	}
	return s
}

// Rules returns the rules the engine runs, in order.
func (e *Engine) Rules() []*Rule {
	out := make([]*Rule, len(e.rules))
	for i, c := range e.rules {
		out[i] = c.r
	}
	return out
}

// openAlert is an alert inside its cooldown. Its fields are exported for
// the snapshot.
type openAlert struct {
	Alert   event.Alert
	Key     string
	Until   int64       // unix ns at which the cooldown ends
	Emitted uint64      // Count when last returned
	Ev      event.Event // the event that fired it, for the summary
	Extra   map[string]string
	index   int
}

func cmpOpen(a, b *openAlert) int {
	if a.Until != b.Until {
		if a.Until < b.Until {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Alert.ID, b.Alert.ID)
}

type openHeap []*openAlert

func (h openHeap) Len() int           { return len(h) }
func (h openHeap) Less(i, j int) bool { return cmpOpen(h[i], h[j]) < 0 }
func (h openHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *openHeap) Push(x any) {
	o := x.(*openAlert)
	o.index = len(*h)
	*h = append(*h, o)
}
func (h *openHeap) Pop() any {
	old := *h
	o := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	o.index = -1
	return o
}

// firing describes one firing of a rule, before cooldown applies.
type firing struct {
	key      []byte // group key
	ev       *event.Event
	ts       int64 // event time of the firing, unix ns
	first    int64 // time of the first event that counted
	count    uint64
	evidence []string
	extra    map[string]string // summary values beyond the event's fields
	group    map[string]string // when not nil, the alert's group (else decoded from key)
}

// fold folds a repeat at ts into the open alert of the rule and group key,
// if there is one whose cooldown has not ended, and reports whether it did.
// Evaluators call it before building a firing, which costs more.
func (e *Engine) fold(c *compiled, key []byte, ev *event.Event, ts int64) bool {
	o := c.opens[string(key)]
	if o == nil || ts >= o.Until {
		return false
	}
	o.Alert.Count++
	if t := time.Unix(0, ts).UTC(); t.After(o.Alert.LastTs) {
		o.Alert.LastTs = t
	}
	if ev != nil && len(o.Alert.Evidence) < event.MaxEvidence {
		o.Alert.Evidence = append(o.Alert.Evidence, evidenceLine(ev.Raw))
	}
	c.stats.Folded++
	return true
}

// fire raises f, or folds it into the open alert of its rule and group.
func (e *Engine) fire(c *compiled, f firing) {
	if e.fold(c, f.key, f.ev, f.ts) {
		return
	}
	key := string(f.key)
	if o := c.opens[key]; o != nil {
		heap.Remove(&c.heap, o.index)
		e.close(c, o, event.AlertResolved)
	}
	group := f.group
	if group == nil {
		group = make(map[string]string, len(c.group.names))
		c.group.values(key, group)
	}
	fireTs := time.Unix(0, f.ts).UTC()
	a := event.Alert{
		Rule:        c.r.ID,
		Title:       c.r.Title,
		Severity:    c.r.Severity,
		Tags:        c.r.Tags,
		State:       event.AlertFiring,
		Ts:          fireTs,
		FirstTs:     time.Unix(0, f.first).UTC(),
		LastTs:      fireTs,
		Count:       f.count,
		Group:       group,
		Description: c.r.Description,
		Evidence:    f.evidence,
	}
	if f.ev != nil {
		a.SrcIP, a.User, a.Host, a.GeoCountry = f.ev.SrcIP, f.ev.User, f.ev.Host, f.ev.GeoCountry
	}
	a.ID = alertID(c.r.ID, event.GroupKeyOf(group), f.first, f.ts)
	o := &openAlert{Alert: a, Key: key, Extra: f.extra, Until: f.ts + int64(c.r.Cooldown)}
	if f.ev != nil {
		o.Ev = *f.ev
	}
	c.stats.Alerts++
	e.emit(c, o)
	if c.r.Cooldown <= 0 {
		return
	}
	if len(c.opens) >= e.cfg.MaxKeys {
		// Bounded: the alert closest to the end of its cooldown closes early.
		old := heap.Pop(&c.heap).(*openAlert)
		e.close(c, old, event.AlertResolved)
	}
	c.opens[key] = o
	heap.Push(&c.heap, o)
	e.due(o.Until)
}

// close ends an open alert's cooldown, returning its last version when
// repeats were folded in since it was last returned.
func (e *Engine) close(c *compiled, o *openAlert, state event.AlertState) {
	if c.opens[o.Key] == o {
		delete(c.opens, o.Key)
	}
	if o.Alert.Count != o.Emitted {
		o.Alert.State = state
		e.emit(c, o)
	}
}

// emit renders the summary and appends a copy of the alert to the output.
func (e *Engine) emit(c *compiled, o *openAlert) {
	o.Emitted = o.Alert.Count
	o.Alert.Summary = summarize(c.r, &o.Ev, o.Alert.Count, o.Extra)
	a := o.Alert
	a.Evidence = slices.Clone(a.Evidence)
	a.Group = cloneMap(a.Group)
	e.out = append(e.out, a)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// alertID is deterministic: the rule, the group and the times of the first
// event and of the firing.
func alertID(rule, group string, first, fired int64) string {
	h := sha256.New()
	h.Write([]byte(rule))
	h.Write([]byte{0})
	h.Write([]byte(group))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, first, 10))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, fired, 10))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// evidenceLine returns a copy of raw cut at event.MaxEvidenceBytes, so that
// state does not pin the reader's buffers.
func evidenceLine(raw string) string {
	if len(raw) > event.MaxEvidenceBytes {
		cut := event.MaxEvidenceBytes
		for cut > 0 && raw[cut]&0xc0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		raw = raw[:cut]
	}
	return strings.Clone(raw)
}

// summarize executes the rule's summary template over the event's fields
// under their canonical names, plus count, window, rule, title and extra.
func summarize(r *Rule, ev *event.Event, count uint64, extra map[string]string) string {
	if s := extra["summary"]; s != "" && r.Summary == "" {
		return s // an sql rule's row gave it
	}
	data := make(map[string]any, len(r.summaryFields)+8)
	rv := reflect.ValueOf(ev).Elem()
	for _, name := range r.summaryFields {
		f := eventFieldMap[name]
		v := rv.FieldByIndex(f.Index).Interface()
		switch v := v.(type) {
		case fmt.Stringer:
			if name == "src_ip" && !ev.SrcIP.IsValid() {
				data[name] = ""
				continue
			}
			data[name] = v.String()
		default:
			data[name] = v
		}
	}
	data["ts"] = ev.Ts.UTC().Format(time.RFC3339)
	data["count"] = count
	data["window"] = formatDuration(r.Window)
	data["rule"] = r.ID
	data["title"] = r.Title
	for k, v := range extra {
		data[k] = v
	}
	var b strings.Builder
	if err := r.summary.Execute(&b, data); err != nil {
		return r.Title
	}
	return b.String()
}

// formatDuration writes d the way rule files do: 2m, 4h, 14d, 90s.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}
