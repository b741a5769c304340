package rules

import (
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

// ring keeps the last n entries of a group in arrival order; it grows to n
// and then overwrites the oldest, so a group that saw one event holds one
// entry.
type ringState struct {
	Ring []entry
	Head int32 // next slot to overwrite once full
}

func (r *ringState) add(x entry, n int) {
	if len(r.Ring) < n {
		if r.Ring == nil {
			r.Ring = make([]entry, 0, 1)
		}
		r.Ring = append(r.Ring, x)
		return
	}
	r.Ring[r.Head] = x
	r.Head = (r.Head + 1) % int32(len(r.Ring))
}

// inWindow returns the entries within window of the newest one, oldest
// first, and the newest time.
func (r *ringState) inWindow(window time.Duration) ([]entry, int64) {
	newest := int64(math.MinInt64)
	for _, x := range r.Ring {
		newest = max(newest, x.Ts)
	}
	var out []entry
	for _, x := range r.Ring {
		if newest-x.Ts < int64(window) {
			out = append(out, x)
		}
	}
	slices.SortStableFunc(out, func(a, b entry) int { return cmpInt(a.Ts, b.Ts) })
	return out, newest
}

// countInWindow counts the entries within window of the newest one without
// allocating.
func (r *ringState) countInWindow(window time.Duration) int {
	newest := int64(math.MinInt64)
	for _, x := range r.Ring {
		newest = max(newest, x.Ts)
	}
	n := 0
	for _, x := range r.Ring {
		if newest-x.Ts < int64(window) {
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
	e.fire(c, firing{key: key, ev: ev, ts: ts, first: ts, count: 1, evidence: []string{evidenceLine(ev.Raw)}})
}
func (matchEval) size() (uint64, uint64) { return 0, 0 }
func (matchEval) save(*ruleSnap)         {}
func (matchEval) load(*ruleSnap)         {}

// threshold: at least Threshold matching events per group within Window.
type thresholdEval struct{ t *table[ringState] }

func (th *thresholdEval) process(e *Engine, c *compiled, ev *event.Event, key []byte) {
	s, _, _ := th.t.get(key)
	ts := ev.Ts.UnixNano()
	s.s.add(entry{Ts: ts, Raw: evidenceLine(ev.Raw)}, c.r.Threshold)
	if len(s.s.Ring) < c.r.Threshold || s.s.countInWindow(c.r.Window) < c.r.Threshold || e.fold(c, key, ev, ts) {
		return
	}
	in, _ := s.s.inWindow(c.r.Window)
	e.fire(c, firing{key: key, ev: ev, ts: ts, first: in[0].Ts, count: uint64(len(in)), evidence: evidenceOf(in)})
}

func (th *thresholdEval) size() (uint64, uint64) { return uint64(th.t.len()), th.t.evictions }

// distinct: at least Threshold distinct values of Field per group within
// Window.
type distinctEval struct{ t *table[distinctState] }

type distinctState struct {
	Vals []distinctVal
}

type distinctVal struct {
	V   string
	Ts  int64
	Raw string
}

func (d *distinctEval) process(e *Engine, c *compiled, ev *event.Event, key []byte) {
	e.keyBuf2 = c.field.get[0](e.keyBuf2[:0], ev)
	if len(e.keyBuf2) == 0 {
		return
	}
	s, _, _ := d.t.get(key)
	ts := ev.Ts.UnixNano()
	vals := s.s.Vals
	found := false
	newest := ts
	for i := range vals {
		newest = max(newest, vals[i].Ts)
		if !found && vals[i].V == string(e.keyBuf2) {
			found = true
			if ts >= vals[i].Ts {
				vals[i].Ts, vals[i].Raw = ts, evidenceLine(ev.Raw)
			}
		}
	}
	// Drop values that left the window.
	vals = slices.DeleteFunc(vals, func(v distinctVal) bool { return newest-v.Ts >= int64(c.r.Window) })
	if !found && newest-ts < int64(c.r.Window) {
		if len(vals) >= c.r.Threshold {
			// Full: the least recent value makes room.
			oldest := 0
			for i := range vals {
				if vals[i].Ts < vals[oldest].Ts {
					oldest = i
				}
			}
			vals = slices.Delete(vals, oldest, oldest+1)
		}
		vals = append(vals, distinctVal{V: string(e.keyBuf2), Ts: ts, Raw: evidenceLine(ev.Raw)})
	}
	s.s.Vals = vals
	if len(vals) < c.r.Threshold || e.fold(c, key, ev, ts) {
		return
	}
	sorted := slices.Clone(vals)
	slices.SortStableFunc(sorted, func(a, b distinctVal) int { return cmpInt(a.Ts, b.Ts) })
	var names, evidence []string
	for _, v := range sorted {
		names = append(names, v.V)
		evidence = append(evidence, v.Raw)
	}
	if len(evidence) > event.MaxEvidence {
		evidence = evidence[len(evidence)-event.MaxEvidence:]
	}
	if len(names) > event.MaxEvidence {
		names = names[:event.MaxEvidence]
	}
	e.fire(c, firing{key: key, ev: ev, ts: ts, first: sorted[0].Ts, count: uint64(len(sorted)), evidence: evidence,
		extra: map[string]string{"distinct": strings.Join(names, ", ")}})
}

func (d *distinctEval) size() (uint64, uint64) { return uint64(d.t.len()), d.t.evictions }

// sequence: ordered steps per group within Window.
type sequenceEval struct{ t *table[sequenceState] }

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
		st.Later = append(st.Later, entry{Ts: ts, Raw: evidenceLine(ev.Raw)})
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
		s, _, _ = sq.t.get(key)
	}
	st := &s.s
	st.First.add(entry{Ts: ts, Raw: evidenceLine(ev.Raw)}, steps[0].Count)
	if len(st.First.Ring) < steps[0].Count || st.First.countInWindow(c.r.Window) < steps[0].Count {
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
	n := len(key)
	full := c.field.appendKey(key, ev)
	e.keyBuf = full
	empty := true
	for _, g := range c.field.get {
		if len(g(e.keyBuf2[:0], ev)) > 0 {
			empty = false
			break
		}
	}
	if empty {
		return
	}
	ts := ev.Ts.UnixNano()
	if fs.LearnUntil == 0 {
		fs.LearnUntil = ts + int64(c.r.Learn)
	}
	s, added, _ := fs.t.get(full)
	if !added {
		s.s.Seen = min(s.s.Seen, ts)
		return
	}
	s.s.Seen = ts
	if ts < fs.LearnUntil {
		return
	}
	group := make(map[string]string, len(c.group.names)+len(c.field.names))
	c.group.values(string(full[:n]), group)
	c.field.values(string(full[n:]), group)
	e.fire(c, firing{key: full, ev: ev, ts: ts, first: ts, count: 1, evidence: []string{evidenceLine(ev.Raw)}, group: group})
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
	s, added, _ := v.t.get(key)
	prev := s.s
	cur := velocityState{Ts: ts, Lat: ev.GeoLat, Lon: ev.GeoLon, Acc: ev.GeoAccuracyKm, Country: ev.GeoCountry, City: ev.GeoCity, Raw: evidenceLine(ev.Raw)}
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
	next int64 // earliest deadline of a group not yet alerted
}

type absenceState struct {
	Last  int64 // unix ns of the newest expected event
	Fired bool
	Ev    event.Event // the newest expected event (its raw line is the evidence)
}

func (ab *absenceEval) process(e *Engine, c *compiled, ev *event.Event, key []byte) {
	ts := ev.Ts.UnixNano()
	s, added, _ := ab.t.get(key)
	if !added && ts <= s.s.Last {
		return
	}
	s.s.Last, s.s.Fired = ts, false
	s.s.Ev = *ev
	s.s.Ev.Raw = evidenceLine(ev.Raw)
	s.s.Ev.Attrs = nil
	d := ts + int64(c.r.Window)
	ab.next = min(ab.next, d)
	e.due(d)
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
			fire = append(fire, due{s.key, &s.s})
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
