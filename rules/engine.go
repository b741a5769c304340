package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
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
// not safe for concurrent use: one goroutine calls Warm, Process, Tick,
// Flush, RunSQL, Snapshot and Stats (the app's rules worker).
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

	dispatch map[dispatchKey]*dispatch // rules per dispatch key, bounded
	last     *dispatch                 // that of the previous event

	maxTs     int64 // newest event time seen, unix ns; math.MinInt64 before any
	watermark int64
	nextDue   int64 // watermark at which something expires
	events    uint64
	late      uint64

	out     []event.Alert
	keyBuf  []byte // the group key of the event being processed
	keyBuf2 []byte // scratch for one field value
	sumBuf  []byte // scratch for a summary

	cur    *event.Event // the event Process is evaluating
	curRaw string       // its evidence line, once a rule needed it
	curOK  bool

	warm warming // the first_seen rules Warm may feed
}

// compiled is one rule bound to an engine.
type compiled struct {
	r      *Rule
	idx    int
	where  *predicate
	steps  []*predicate
	group  fieldSet
	field  fieldSet
	filter filter       // what an event must have to possibly match
	guard  boolFn       // where without what filter implies; nil: run where
	always bool         // filter implies where
	plan   *summaryPlan // renders the summary without the template; nil when it cannot
	eval   evaluator

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
		dispatch: map[dispatchKey]*dispatch{},
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
	}
	if cfg.StateDir != "" {
		if err := e.restore(); err != nil {
			e.logger.Warn("rule state not restored, starting empty", "path", e.statePath(), "err", err)
		}
	}
	e.initWarm()
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
	c.filter = prefilter(c)
	if c.where != nil && c.where.fast != nil {
		c.guard, c.always = compileGuarded(c.where.prog.Node(), b, c.filter.implies)
	}
	c.plan = newSummaryPlan(r)
	if r.summary == nil {
		return nil, fmt.Errorf("rule was not loaded by Parse or LoadFS")
	}
	switch r.Kind {
	case KindMatch:
		c.eval = &matchEval{}
	case KindThreshold:
		c.eval = &thresholdEval{t: newTable[ringState](maxKeys), threshold: r.Threshold}
	case KindDistinct:
		c.eval = &distinctEval{t: newTable[distinctState](maxKeys), seed: maphash.MakeSeed()}
	case KindSequence:
		c.eval = &sequenceEval{t: newTable[sequenceState](maxKeys), steps: r.Steps}
	case KindFirstSeen:
		c.eval = &firstSeenEval{t: newTable[firstSeenState](maxKeys)}
	case KindVelocity:
		c.eval = &velocityEval{t: newTable[velocityState](maxKeys)}
	case KindAbsence:
		c.eval = newAbsenceEval(r, maxKeys)
	case KindSQL:
		c.eval = &sqlEval{}
	default:
		return nil, fmt.Errorf("unknown kind %q", r.Kind)
	}
	return c, nil
}

// The engine dispatches an event to the rules it may match by three
// fields that nearly every rule pins in the top-level conjunction of its
// where clause: action, kind and outcome.
var dispatchFields = [...]string{"action", "kind", "outcome"}

// filter holds, per dispatch field, the values an event must have to
// possibly match a rule; nil allows any value, an empty slice none.
type filter [len(dispatchFields)][]string

func (f *filter) allows(k dispatchKey) bool {
	for i, v := range [...]string{k.action, k.kind, k.outcome} {
		if f[i] != nil && !slices.Contains(f[i], v) {
			return false
		}
	}
	return true
}

// implies reports whether every event the filter lets through makes n
// true: n pins a dispatch field to values (==, in, || of those) that
// include all those the filter allows.
func (f *filter) implies(n ast.Node) bool {
	for i, name := range dispatchFields {
		if f[i] == nil {
			continue
		}
		vals := exactValues(n, name)
		if vals == nil {
			continue
		}
		all := true
		for _, v := range f[i] {
			all = all && slices.Contains(vals, v)
		}
		if all {
			return true
		}
	}
	return false
}

// exactValues returns the values of field for which n is true, when n is
// nothing but a test of field against constants; nil otherwise.
func exactValues(n ast.Node, field string) []string {
	if bin, ok := n.(*ast.BinaryNode); ok {
		switch bin.Operator {
		case "||", "or":
			l, r := exactValues(bin.Left, field), exactValues(bin.Right, field)
			if l == nil || r == nil {
				return nil
			}
			return append(slices.Clone(l), r...)
		case "==", "in":
			return valuesOf(n, field)
		}
	}
	return nil
}

// matches reports whether ev passes the rule's where clause; the engine
// calls it only with events that passed the rule's filter.
func (c *compiled) matches(ev *event.Event) bool {
	switch {
	case c.always:
		return true
	case c.guard != nil:
		return c.guard(ev)
	}
	return c.where.match(ev)
}

// dispatchKey is an event's values of the dispatch fields.
type dispatchKey struct{ action, kind, outcome string }

// dispatch is the rules an event with key may match, in rule order.
type dispatch struct {
	key   dispatchKey
	rules []int
}

// prefilter reads the filter of a rule from its where clause (action ==
// "x", kind in [...], kind == "a" || kind == "b", under &&); for a field
// that where leaves open in a sequence rule, the union over its steps.
func prefilter(c *compiled) filter {
	var f filter
	if c.r.Kind == KindSQL {
		f[0] = []string{} // runs on the store, not on events
		return f
	}
	for i, name := range dispatchFields {
		if c.where != nil {
			f[i] = valuesOf(c.where.prog.Node(), name)
		}
		if f[i] != nil || c.r.Kind != KindSequence {
			continue
		}
		var all []string
		for _, s := range c.steps {
			a := valuesOf(s.prog.Node(), name)
			if a == nil {
				all = nil
				break
			}
			all = append(all, a...)
		}
		if all != nil {
			slices.Sort(all)
			f[i] = slices.Compact(all)
		}
	}
	return f
}

// valuesOf returns the values of field that an event must have for n to
// be true, sorted, or nil when n does not restrict them.
func valuesOf(n ast.Node, field string) []string {
	bin, ok := n.(*ast.BinaryNode)
	if !ok {
		return nil
	}
	switch bin.Operator {
	case "&&", "and":
		l, r := valuesOf(bin.Left, field), valuesOf(bin.Right, field)
		switch {
		case l == nil:
			return r
		case r == nil:
			return l
		}
		both := []string{}
		for _, v := range l {
			if slices.Contains(r, v) {
				both = append(both, v)
			}
		}
		return both
	case "||", "or":
		l, r := valuesOf(bin.Left, field), valuesOf(bin.Right, field)
		if l == nil || r == nil {
			return nil
		}
		all := append(slices.Clone(l), r...)
		slices.Sort(all)
		return slices.Compact(all)
	case "==":
		if isIdent(bin.Left, field) {
			if s, ok := constString(bin.Right); ok {
				return []string{s}
			}
		}
		if isIdent(bin.Right, field) {
			if s, ok := constString(bin.Left); ok {
				return []string{s}
			}
		}
	case "in":
		if !isIdent(bin.Left, field) {
			return nil
		}
		out := []string{}
		switch r := bin.Right.(type) {
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
			switch rv.Kind() {
			case reflect.Map:
				for _, k := range rv.MapKeys() {
					s, ok := k.Interface().(string)
					if !ok {
						return nil
					}
					out = append(out, s)
				}
			case reflect.Slice:
				for i := range rv.Len() {
					s, ok := rv.Index(i).Interface().(string)
					if !ok {
						return nil
					}
					out = append(out, s)
				}
			default:
				return nil
			}
		default:
			return nil
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return nil
}

func isIdent(n ast.Node, name string) bool {
	got, ok := fieldName(n)
	return ok && got == name
}

// rulesFor returns the indices of the rules ev may match, in rule order.
// The answer for the previous event's dispatch key is kept at hand: in a
// real stream most events follow one of the same shape.
func (e *Engine) rulesFor(ev *event.Event) []int {
	k := dispatchKey{ev.Action, string(ev.Kind), string(ev.Outcome)}
	if d := e.last; d != nil && k == d.key {
		return d.rules
	}
	d := e.dispatch[k]
	if d == nil {
		// The key outlives the event: copy it off the reader's buffers.
		d = &dispatch{key: dispatchKey{strings.Clone(k.action), strings.Clone(k.kind), strings.Clone(k.outcome)}, rules: []int{}}
		for _, c := range e.rules {
			if c.filter.allows(k) {
				d.rules = append(d.rules, c.idx)
			}
		}
		if len(e.dispatch) < 4096 {
			e.dispatch[d.key] = d
		}
	}
	e.last = d
	return d.rules
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
	e.cur, e.curRaw, e.curOK = ev, "", false
	for _, i := range e.rulesFor(ev) {
		c := e.rules[i]
		c.stats.Evaluations++
		if !c.matches(ev) {
			continue
		}
		c.stats.Matches++
		if late {
			c.stats.Late++
		}
		e.keyBuf = c.group.appendKey(e.keyBuf[:0], ev)
		c.eval.process(e, c, ev, e.keyBuf)
	}
	e.cur, e.curRaw = nil, "" // ev is not kept
	return e.take()
}

// Matching returns the ids of the rules whose where clause, or one of whose
// sequence steps, matches ev, in rule order. It changes no state: it is
// what `vigil explain` shows.
func (e *Engine) Matching(ev *event.Event) []string {
	var ids []string
	for _, i := range e.rulesFor(ev) {
		c := e.rules[i]
		if c.r.Kind == KindSQL {
			continue // runs on the store, not on events
		}
		// A rule without where matches through its steps only.
		hit := (c.where != nil || len(c.steps) == 0) && c.matches(ev)
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
		for len(c.heap) > 0 && c.heap[0].until <= e.watermark {
			if o := c.heap.pop(); !o.closed {
				e.close(c, o, event.AlertResolved)
			}
		}
		if len(c.heap) > 0 {
			next = min(next, c.heap[0].until)
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
		for _, o := range c.heap.sorted() {
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
	// Distinct holds a distinct rule's values named by the alert, newest
	// last, at most event.MaxEvidence; repeats folded in refresh it.
	Distinct []string
	closed   bool // closed before its cooldown ended; its heap entry is stale
}

// addDistinct moves v to the end of the alert's distinct values, dropping
// the oldest past event.MaxEvidence; emit renders them for the summary.
func (o *openAlert) addDistinct(v []byte) {
	n := len(o.Distinct)
	if n > 0 && o.Distinct[n-1] == string(v) {
		return
	}
	s := ""
	if i := slices.IndexFunc(o.Distinct, func(x string) bool { return x == string(v) }); i >= 0 {
		s = o.Distinct[i]
		o.Distinct = slices.Delete(o.Distinct, i, i+1)
	} else {
		s = string(v)
	}
	o.Distinct = append(o.Distinct, s)
	if n := len(o.Distinct) - event.MaxEvidence; n > 0 {
		o.Distinct = slices.Delete(o.Distinct, 0, n)
	}
}

// openHeap orders a rule's open alerts by the end of their cooldown, then
// by id. An entry carries both, so that sifting reads the heap's own
// contiguous memory rather than every alert on the way. An alert closed
// before its time (closed set) stays in the heap until it comes to the
// top, where it is dropped.
type openHeap []openEntry

type openEntry struct {
	until int64
	id    string
	o     *openAlert
}

func (h openHeap) less(i, j int) bool {
	if h[i].until != h[j].until {
		return h[i].until < h[j].until
	}
	return h[i].id < h[j].id
}

func (h *openHeap) push(o *openAlert) {
	*h = append(*h, openEntry{o.Until, o.Alert.ID, o})
	for i := len(*h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		(*h)[i], (*h)[p] = (*h)[p], (*h)[i]
		i = p
	}
}

// pop removes and returns the first alert, closed or not.
func (h *openHeap) pop() *openAlert {
	old := *h
	o := old[0].o
	n := len(old) - 1
	old[0] = old[n]
	old[n] = openEntry{}
	*h = old[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && h.less(r, l) {
			l = r
		}
		if !h.less(l, i) {
			break
		}
		old[i], old[l] = old[l], old[i]
		i = l
	}
	return o
}

// sorted returns the alerts not closed, in heap order.
func (h openHeap) sorted() []*openAlert {
	es := slices.Clone(h)
	slices.SortFunc(es, func(a, b openEntry) int {
		if a.until != b.until {
			return cmpInt(a.until, b.until)
		}
		return strings.Compare(a.id, b.id)
	})
	out := make([]*openAlert, 0, len(es))
	for _, e := range es {
		if !e.o.closed {
			out = append(out, e.o)
		}
	}
	return out
}

// firing describes one firing of a rule, before cooldown applies.
type firing struct {
	key      []byte // group key
	ev       *event.Event
	ts       int64 // event time of the firing, unix ns
	first    int64 // time of the first event that counted
	count    uint64
	evidence []string
	distinct []string          // a distinct rule's values, newest last
	extra    map[string]string // summary values beyond the event's fields
	group    map[string]string // when not nil, the alert's group (else decoded from key)
}

// fold folds a repeat at ts into the open alert of the rule and group key,
// if there is one whose cooldown has not ended, and reports whether it did.
// Evaluators call it before building a firing, which costs more.
func (e *Engine) fold(c *compiled, key []byte, ev *event.Event, ts int64) bool {
	return e.foldInto(c, key, ev, ts) != nil
}

// foldInto is fold returning the open alert folded into, or nil.
func (e *Engine) foldInto(c *compiled, key []byte, ev *event.Event, ts int64) *openAlert {
	o := c.opens[string(key)]
	if o == nil || ts >= o.Until {
		return nil
	}
	o.Alert.Count++
	if t := time.Unix(0, ts).UTC(); t.After(o.Alert.LastTs) {
		o.Alert.LastTs = t
	}
	if ev != nil && len(o.Alert.Evidence) < event.MaxEvidence {
		o.Alert.Evidence = append(o.Alert.Evidence, e.evidence(ev))
	}
	c.stats.Folded++
	return o
}

// fire raises f, or folds it into the open alert of its rule and group.
func (e *Engine) fire(c *compiled, f firing) {
	if e.fold(c, f.key, f.ev, f.ts) {
		return
	}
	key := string(f.key)
	if o := c.opens[key]; o != nil {
		o.closed = true // its heap entry goes when it comes to the top
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
	if ev := f.ev; ev != nil {
		a.SrcIP, a.User, a.Host, a.GeoCountry = ev.SrcIP, ev.User, ev.Host, ev.GeoCountry
		a.ASN, a.ASOrg = ev.ASN, ev.ASOrg
		if ev.SrcHostVerified {
			a.SrcHost = ev.SrcHost
		}
	}
	a.ID = alertID(c.r.ID, event.GroupKeyOf(group), f.first, f.ts)
	o := &openAlert{Alert: a, Key: key, Extra: f.extra, Distinct: f.distinct, Until: f.ts + int64(c.r.Cooldown)}
	if f.ev != nil {
		o.Ev = *f.ev
	}
	c.stats.Alerts++
	e.emit(c, o)
	if c.r.Cooldown <= 0 {
		return
	}
	for len(c.opens) >= e.cfg.MaxKeys && len(c.heap) > 0 {
		// Bounded: the alert closest to the end of its cooldown closes early.
		if old := c.heap.pop(); !old.closed {
			e.close(c, old, event.AlertResolved)
		}
	}
	c.opens[key] = o
	c.heap.push(o)
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
	if o.Distinct != nil {
		if o.Extra == nil {
			o.Extra = map[string]string{} // a snapshot drops an empty map
		}
		o.Extra["distinct"] = strings.Join(o.Distinct, ", ")
	}
	o.Alert.Summary = summarizeWith(c.plan, &e.sumBuf, c.r, &o.Ev, o.Alert.Count, o.Extra)
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

// evidence returns evidenceLine(ev.Raw). The line of the event being
// processed is copied once, however many rules keep it.
func (e *Engine) evidence(ev *event.Event) string {
	if ev != e.cur {
		return evidenceLine(ev.Raw)
	}
	if !e.curOK {
		e.curRaw, e.curOK = evidenceLine(ev.Raw), true
	}
	return e.curRaw
}

// evidenceLine returns a copy of raw cut at event.MaxEvidenceBytes, so that
// state does not pin the reader's buffers.
func evidenceLine(raw string) string {
	return strings.Clone(evidenceCut(raw))
}

// evidenceCut returns raw cut at event.MaxEvidenceBytes, not splitting a
// UTF-8 sequence.
func evidenceCut(raw string) string {
	if len(raw) > event.MaxEvidenceBytes {
		cut := event.MaxEvidenceBytes
		for cut > 0 && raw[cut]&0xc0 == 0x80 {
			cut--
		}
		raw = raw[:cut]
	}
	return raw
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
