package rules

import (
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// evaluator is the state and logic of one rule kind. process is called
// with the events that passed the rule's where clause and their group key
// (valid only during the call).
type evaluator interface {
	process(e *Engine, c *compiled, ev *event.Event, key []byte)
	size() (keys, evictions uint64)
	save(s *ruleSnap)
	load(s *ruleSnap)
}

// entry is one counted event: its time (unix ns) and raw line for
// evidence.
type entry struct {
	Ts  int64
	Raw string
}

// ringState keeps the last n entries of a group in arrival order; it grows
// to n and then overwrites the oldest. Slot 0 is held in place and the
// others in a slice, so that a group that saw one event (most groups of a
// threshold rule) costs no allocation besides its raw line.
type ringState struct {
	First entry   // slot 0
	More  []entry // slots 1 and up
	N     int32   // entries held
	Head  int32   // next slot to overwrite once full
}

func (r *ringState) at(i int32) *entry {
	if i == 0 {
		return &r.First
	}
	return &r.More[i-1]
}

func (r *ringState) add(x entry, n int) {
	if int(r.N) < n {
		if r.N == 0 {
			r.First = x
		} else {
			r.More = append(r.More, x)
		}
		r.N++
		return
	}
	*r.at(r.Head) = x
	r.Head = (r.Head + 1) % r.N
}

// newest returns the largest entry time, math.MinInt64 when empty.
func (r *ringState) newest() int64 {
	newest := int64(math.MinInt64)
	for i := range r.N {
		newest = max(newest, r.at(i).Ts)
	}
	return newest
}

// inWindow returns the entries within window of the newest one, oldest
// first, and the newest time.
func (r *ringState) inWindow(window time.Duration) ([]entry, int64) {
	newest := r.newest()
	var out []entry
	for i := range r.N {
		if x := r.at(i); newest-x.Ts < int64(window) {
			out = append(out, *x)
		}
	}
	slices.SortStableFunc(out, func(a, b entry) int { return cmpInt(a.Ts, b.Ts) })
	return out, newest
}

// countInWindow counts the entries within window of the newest one without
// allocating.
func (r *ringState) countInWindow(window time.Duration) int {
	newest := r.newest()
	n := 0
	for i := range r.N {
		if newest-r.at(i).Ts < int64(window) {
			n++
		}
	}
	return n
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func evidenceOf(es []entry) []string {
	if len(es) > event.MaxEvidence {
		es = es[len(es)-event.MaxEvidence:]
	}
	out := make([]string, len(es))
	for i, x := range es {
		out[i] = x.Raw
	}
	return out
}

// match: every matching event fires.
type matchEval struct{}

func (matchEval) process(e *Engine, c *compiled, ev *event.Event, key []byte) {
	ts := ev.Ts.UnixNano()
	if e.fold(c, key, ev, ts) {
		return
	}
	e.fire(c, firing{key: key, ev: ev, ts: ts, first: ts, count: 1, evidence: []string{e.evidence(ev)}})
}
func (matchEval) size() (uint64, uint64) { return 0, 0 }
func (matchEval) save(*ruleSnap)         {}
func (matchEval) load(*ruleSnap)         {}

// threshold: at least Threshold matching events per group within Window.
type thresholdEval struct {
	t         *table[ringState]
	threshold int // for checking restored rings
}

func (th *thresholdEval) process(e *Engine, c *compiled, ev *event.Event, key []byte) {
	s, _ := th.t.get(key)
	ts := ev.Ts.UnixNano()
	s.s.add(entry{Ts: ts, Raw: e.evidence(ev)}, c.r.Threshold)
	if int(s.s.N) < c.r.Threshold || s.s.countInWindow(c.r.Window) < c.r.Threshold || e.fold(c, key, ev, ts) {
		return
	}
	in, _ := s.s.inWindow(c.r.Window)
	e.fire(c, firing{key: key, ev: ev, ts: ts, first: in[0].Ts, count: uint64(len(in)), evidence: evidenceOf(in)})
}

func (th *thresholdEval) size() (uint64, uint64) { return uint64(th.t.len()), th.t.evictions }

// distinct: at least Threshold distinct values of Field per group within
// Window.
type distinctEval struct {
	t    *table[distinctState]
	seed maphash.Seed // for distinctVal.H
}

type distinctState struct {
	Vals []distinctVal // at most Threshold, in no particular order
	// one is where Vals starts: most groups hold one value at a time, and
	// inside the table slot it is read with the slot. Slots do not move.
	one [1]distinctVal
}

// distinctVal is one value of the field and the time it was last seen.
// Buf holds the value (its first N bytes) followed by the raw line of that
// event; the buffer is reused when the value comes again or when a new
// value replaces one that left the window, so that the common case
// allocates nothing and reads one place.
type distinctVal struct {
	Buf []byte
	N   int32
	H   uint32 // hash of the value, so that most mismatches need not read Buf
	Ts  int64
}

func (v *distinctVal) value() []byte { return v.Buf[:v.N] }
func (v *distinctVal) raw() []byte   { return v.Buf[v.N:] }

func (d *distinctEval) process(e *Engine, c *compiled, ev *event.Event, key []byte) {
	e.keyBuf2 = c.field.get[0](e.keyBuf2[:0], ev)
	v := e.keyBuf2
	if len(v) == 0 {
		return
	}
	s, _ := d.t.get(key)
	h := uint32(maphash.Bytes(d.seed, v))
	ts := ev.Ts.UnixNano()
	window := int64(c.r.Window)
	if s.s.Vals == nil {
		s.s.Vals = s.s.one[:0]
	}
	vals := s.s.Vals
	found := false
	newest := ts
	for i := range vals {
		newest = max(newest, vals[i].Ts)
		if !found && vals[i].H == h && string(vals[i].value()) == string(v) {
			found = true
			if ts >= vals[i].Ts {
				vals[i].Ts = ts
				vals[i].Buf = append(vals[i].value(), evidenceCut(ev.Raw)...)
			}
		}
	}
	// Drop values that left the window, keeping one buffer for reuse.
	var spare []byte
	n := 0
	for i := range vals {
		if newest-vals[i].Ts >= window {
			spare = vals[i].Buf
			continue
		}
		vals[n] = vals[i]
		n++
	}
	clear(vals[n:])
	vals = vals[:n]
	if !found && newest-ts < window {
		if len(vals) >= c.r.Threshold {
			// Full: the least recent value makes room.
			oldest := 0
			for i := range vals {
				if vals[i].Ts < vals[oldest].Ts {
					oldest = i
				}
			}
			spare = vals[oldest].Buf
			vals = slices.Delete(vals, oldest, oldest+1)
		}
		buf := append(append(spare[:0], v...), evidenceCut(ev.Raw)...)
		vals = append(vals, distinctVal{Buf: buf, N: int32(len(v)), H: h, Ts: ts})
	}
	s.s.Vals = vals
	if len(vals) < c.r.Threshold {
		return
	}
	if o := e.foldInto(c, key, ev, ts); o != nil {
		o.addDistinct(v)
		return
	}
	sorted := slices.Clone(vals)
	slices.SortStableFunc(sorted, func(a, b distinctVal) int { return cmpInt(a.Ts, b.Ts) })
	first := sorted[0].Ts
	if len(sorted) > event.MaxEvidence {
		sorted = sorted[len(sorted)-event.MaxEvidence:]
	}
	names := make([]string, len(sorted))
	evidence := make([]string, len(sorted))
	for i, v := range sorted {
		names[i], evidence[i] = string(v.value()), string(v.raw())
	}
	e.fire(c, firing{key: key, ev: ev, ts: ts, first: first, count: uint64(len(vals)), evidence: evidence,
		distinct: names, extra: map[string]string{}})
}

func (d *distinctEval) size() (uint64, uint64) { return uint64(d.t.len()), d.t.evictions }

// sequence: ordered steps per group within Window.
type sequenceEval struct {
	t     *table[sequenceState]
	steps []Step // for checking restored state
}

type sequenceState struct {
	First ringState // events of step 0
	Step  int32     // the step awaited; 0 until step 0 is complete
	N     int32     // events of the awaited step so far
	Start int64     // time of the first event of the run
	Later []entry   // events of steps after the first
}

func (sq *sequenceEval) process(e *Engine, c *compiled, ev *event.Event, key []byte) {
	ts := ev.Ts.UnixNano()
	steps := c.r.Steps
	s := sq.t.lookup(key)
	if s != nil && s.s.Step > 0 && ts-s.s.Start > int64(c.r.Window) {
		s.s.Step, s.s.N, s.s.Later = 0, 0, nil
	}
	if s != nil && s.s.Step > 0 && c.steps[s.s.Step].match(ev) {
		st := &s.s
		st.N++
		st.Later = append(st.Later, entry{Ts: ts, Raw: e.evidence(ev)})
		if int(st.N) >= steps[st.Step].Count {
			st.Step++
			st.N = 0
		}
		if int(st.Step) == len(steps) {
			sq.complete(e, c, key, ev, st)
		}
		return
	}
	if !c.steps[0].match(ev) {
		return
	}
	if s == nil {
		s, _ = sq.t.get(key)
	}
	st := &s.s
	st.First.add(entry{Ts: ts, Raw: e.evidence(ev)}, steps[0].Count)
	if int(st.First.N) < steps[0].Count || st.First.countInWindow(c.r.Window) < steps[0].Count {
		return
	}
	in, _ := st.First.inWindow(c.r.Window)
	st.Start = in[0].Ts
	if st.Step == 0 {
		st.Step, st.N = 1, 0
	}
	if len(steps) == 1 {
		sq.complete(e, c, key, ev, st)
	}
}

func (sq *sequenceEval) complete(e *Engine, c *compiled, key []byte, ev *event.Event, st *sequenceState) {
	in, _ := st.First.inWindow(c.r.Window)
	all := append(in, st.Later...)
	start := st.Start
	*st = sequenceState{}
	e.fire(c, firing{key: key, ev: ev, ts: ev.Ts.UnixNano(), first: start, count: uint64(len(all)), evidence: evidenceOf(all)})
}

func (sq *sequenceEval) size() (uint64, uint64) { return uint64(sq.t.len()), sq.t.evictions }

// first_seen: a value (tuple) of Field not seen before for the group,
// after the learning period.
type firstSeenEval struct {
	t          *table[firstSeenState]
	LearnUntil int64 // unix ns; 0 before the first event
}

type firstSeenState struct {
	Seen int64 // first time seen, unix ns
}

func (fs *firstSeenEval) process(e *Engine, c *compiled, ev *event.Event, key []byte) {
	full, added := fs.see(e, c, ev, key)
	ts := ev.Ts.UnixNano()
	if !added || ts < fs.LearnUntil {
		return
	}
	n := len(key)
	group := make(map[string]string, len(c.group.names)+len(c.field.names))
	c.group.values(string(full[:n]), group)
	c.field.values(string(full[n:]), group)
	e.fire(c, firing{key: full, ev: ev, ts: ts, first: ts, count: 1, evidence: []string{e.evidence(ev)}, group: group})
}

// see records the tuple of ev for the group key (which starts
// e.keyBuf), the earliest time winning, and returns the group key followed
// by the tuple and whether the tuple is new. The learning period starts at
// the first event recorded. An event whose tuple fields are all empty is
// not recorded: full is nil. Process and Warm share it, so that warming
// learns exactly what processing would.
func (fs *firstSeenEval) see(e *Engine, c *compiled, ev *event.Event, key []byte) (full []byte, added bool) {
	full = c.field.appendKey(key, ev)
	e.keyBuf = full
	empty := true
	for _, g := range c.field.get {
		if len(g(e.keyBuf2[:0], ev)) > 0 {
			empty = false
			break
		}
	}
	if empty {
		return nil, false
	}
	ts := ev.Ts.UnixNano()
	if fs.LearnUntil == 0 {
		fs.LearnUntil = ts + int64(c.r.Learn)
	}
	s, added := fs.t.get(full)
	if !added {
		s.s.Seen = min(s.s.Seen, ts)
		return full, false
	}
	s.s.Seen = ts
	return full, true
}

func (fs *firstSeenEval) size() (uint64, uint64) { return uint64(fs.t.len()), fs.t.evictions }

// velocity: two events of one traveller imply a speed above MaxKmh over at
// least MinKm.
type velocityEval struct{ t *table[velocityState] }

type velocityState struct {
	Ts       int64
	Lat, Lon float64
	Acc      uint16
	Country  string
	City     string
	Raw      string
}

func (v *velocityEval) process(e *Engine, c *compiled, ev *event.Event, key []byte) {
	if ev.GeoLat == 0 && ev.GeoLon == 0 {
		return // no position
	}
	ts := ev.Ts.UnixNano()
	s, added := v.t.get(key)
	prev := s.s
	cur := velocityState{Ts: ts, Lat: ev.GeoLat, Lon: ev.GeoLon, Acc: ev.GeoAccuracyKm, Country: ev.GeoCountry, City: ev.GeoCity, Raw: e.evidence(ev)}
	if ts >= prev.Ts || added {
		s.s = cur
	}
	if added {
		return
	}
	km := haversineKm(prev.Lat, prev.Lon, cur.Lat, cur.Lon)
	if km < c.r.MinKm || float64(prev.Acc) > km/2 || float64(cur.Acc) > km/2 {
		return
	}
	hours := math.Abs(float64(ts-prev.Ts)) / float64(time.Hour)
	kmh := math.Inf(1)
	if hours > 0 {
		kmh = km / hours
	}
	if kmh <= c.r.MaxKmh {
		return
	}
	first, evidence := prev, []string{prev.Raw, cur.Raw}
	if ts < prev.Ts {
		first, evidence = cur, []string{cur.Raw, prev.Raw}
	}
	speed := "inf"
	if !math.IsInf(kmh, 1) {
		speed = strconv.FormatFloat(math.Round(kmh), 'f', 0, 64)
	}
	e.fire(c, firing{key: key, ev: ev, ts: max(ts, prev.Ts), first: first.Ts, count: 2, evidence: evidence,
		extra: map[string]string{
			"distance_km":  strconv.FormatFloat(math.Round(km), 'f', 0, 64),
			"speed_kmh":    speed,
			"prev_country": prev.Country,
			"prev_city":    prev.City,
		}})
}

func (v *velocityEval) size() (uint64, uint64) { return uint64(v.t.len()), v.t.evictions }

// haversineKm is the great-circle distance on a sphere of the Earth's mean
// radius.
func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0088
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// absence: a group whose expected events stopped for Window of event time.
type absenceEval struct {
	t    *table[absenceState]
	next int64  // earliest deadline of a group not yet alerted
	keep copier // the fields of the newest event an alert reads
}

type absenceState struct {
	Last  int64 // unix ns of the newest expected event
	Fired bool
	// Ev and Raw are the newest expected event: the fields its alert and
	// summary read, and its raw line (the evidence) in a buffer reused
	// from event to event, since nearly every event of a busy source
	// replaces the previous one.
	Ev  event.Event
	Raw []byte
}

func newAbsenceEval(r *Rule, maxKeys int) *absenceEval {
	return &absenceEval{
		t:    newTable[absenceState](maxKeys),
		next: math.MaxInt64,
		keep: newCopier(append(slices.Clone(alertFields), r.summaryFields...)),
	}
}

func (ab *absenceEval) process(e *Engine, c *compiled, ev *event.Event, key []byte) {
	ts := ev.Ts.UnixNano()
	s, added := ab.t.get(key)
	if !added && ts <= s.s.Last {
		return
	}
	s.s.Last, s.s.Fired = ts, false
	ab.keep.copy(&s.s.Ev, ev)
	s.s.Raw = append(s.s.Raw[:0], evidenceCut(ev.Raw)...)
	d := ts + int64(c.r.Window)
	if d < ab.next {
		ab.next = d
		e.due(d)
	}
}

// expire fires for the groups whose deadline the watermark passed, oldest
// deadline first.
func (ab *absenceEval) expire(e *Engine, c *compiled) {
	if e.watermark < ab.next {
		return
	}
	type due struct {
		key string
		s   *absenceState
	}
	var fire []due
	next := int64(math.MaxInt64)
	ab.t.each(func(s *slot[absenceState]) {
		if s.s.Fired {
			return
		}
		d := s.s.Last + int64(c.r.Window)
		if d <= e.watermark {
			fire = append(fire, due{strings.Clone(s.key), &s.s})
			return
		}
		next = min(next, d)
	})
	ab.next = next
	slices.SortFunc(fire, func(a, b due) int {
		if x := cmpInt(a.s.Last, b.s.Last); x != 0 {
			return x
		}
		return strings.Compare(a.key, b.key)
	})
	for _, f := range fire {
		f.s.Fired = true
		deadline := f.s.Last + int64(c.r.Window)
		ev := f.s.Ev
		ev.Raw = string(f.s.Raw)
		e.fire(c, firing{key: []byte(f.key), ev: &ev, ts: deadline, first: f.s.Last, count: 1, evidence: []string{ev.Raw},
			extra: map[string]string{"silent_since": time.Unix(0, f.s.Last).UTC().Format(time.RFC3339)}})
	}
}

func (ab *absenceEval) size() (uint64, uint64) { return uint64(ab.t.len()), ab.t.evictions }

// sql rules are run by RunSQL, not per event.
type sqlEval struct{}

func (sqlEval) process(*Engine, *compiled, *event.Event, []byte) {}
func (sqlEval) size() (uint64, uint64)                           { return 0, 0 }
func (sqlEval) save(*ruleSnap)                                   {}
func (sqlEval) load(*ruleSnap)                                   {}
