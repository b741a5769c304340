package rules

import (
	"slices"

	"github.com/vigil-sec/vigil/internal/event"
)

// Warming. A first_seen rule learns for its learn period from the first
// event it sees, and alerts on nothing meanwhile; after it, on every tuple
// it has not seen, such as each user's usual country when the period was
// short of their habits. A fresh install over a store that already holds
// months of events, or a first_seen rule added or changed since the last
// snapshot, would relearn what the store knows. So the daemon, at start,
// asks Warming which stored events would help, reads them back oldest
// first and hands each to Warm before the first Process.

// WarmFilter is what the engine wants to read from history to warm its
// first_seen rules: events of these kinds, actions and outcomes (an empty
// slice allows any value). It is the union of the rules' dispatch filters,
// so it may let through events that no rule matches; Warm checks each
// rule's where. How far back to read is the caller's choice.
type WarmFilter struct {
	Kinds    []event.Kind
	Actions  []string
	Outcomes []event.Outcome
}

// warming is the engine's state for Warm: the rules it feeds, chosen once
// the snapshot is restored, and what it did.
type warming struct {
	rules   []warmRule
	start   uint64 // e.events when the engine was built; Process moves it
	events  uint64 // warm events that matched the where of a rule fed
	learned uint64 // tuples they recorded
}

type warmRule struct {
	c  *compiled
	fs *firstSeenEval
}

// initWarm picks the first_seen rules that hold no state: none restored
// from the snapshot, nothing seen. A rule whose filter allows no event is
// left out, since no history can warm it.
func (e *Engine) initWarm() {
	e.warm.start = e.events
	for _, c := range e.rules {
		fs, ok := c.eval.(*firstSeenEval)
		if !ok || fs.LearnUntil != 0 || fs.t.len() > 0 || c.filter.none() {
			continue
		}
		e.warm.rules = append(e.warm.rules, warmRule{c, fs})
	}
}

// none reports whether the filter allows no event at all.
func (f *filter) none() bool {
	for _, vals := range f {
		if vals != nil && len(vals) == 0 {
			return true
		}
	}
	return false
}

// warming reports whether Warm would still feed some rule: there is one
// to warm and Process has not run.
func (e *Engine) warming() bool {
	return len(e.warm.rules) > 0 && e.events == e.warm.start
}

// Warming reports which events would warm the engine's first_seen rules
// that hold no state yet: no snapshot restored for them, nothing seen. ok
// is false when there are none, or once Process has run. A rule whose
// where does not pin a field leaves that field open in the filter.
func (e *Engine) Warming() (f WarmFilter, ok bool) {
	if !e.warming() {
		return WarmFilter{}, false
	}
	for i, name := range dispatchFields {
		vals := e.warmValues(i)
		switch name {
		case "action":
			f.Actions = vals
		case "kind":
			f.Kinds = typed[event.Kind](vals)
		case "outcome":
			f.Outcomes = typed[event.Outcome](vals)
		}
	}
	return f, true
}

// warmValues returns the values of dispatch field i that some rule being
// warmed allows, sorted, or nil when one of them allows any.
func (e *Engine) warmValues(i int) []string {
	var all []string
	for _, w := range e.warm.rules {
		if w.c.filter[i] == nil {
			return nil
		}
		all = append(all, w.c.filter[i]...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

func typed[T ~string](vals []string) []T {
	if vals == nil {
		return nil
	}
	out := make([]T, len(vals))
	for i, v := range vals {
		out[i] = T(v)
	}
	return out
}

// Warm feeds one historical event to the first_seen rules being warmed
// (those Warming describes). When a rule's where matches, the tuple's
// first-seen time is recorded, the earliest winning, and the rule's
// learning period starts at the oldest warm event, as if the events had
// been processed live; but nothing fires, no cooldown opens, and the
// other rules, the rule counters of Stats and the watermark are left as
// they were. Events should come oldest first: past the key cap, the least
// recently seen tuples are the ones evicted. Call Warm before the first
// Process; once Process has run, Warm does nothing. ev is not kept.
func (e *Engine) Warm(ev *event.Event) {
	if !e.warming() {
		return
	}
	k := dispatchKey{ev.Action, string(ev.Kind), string(ev.Outcome)}
	ts := ev.Ts.UnixNano()
	matched := false
	for _, w := range e.warm.rules {
		if !w.c.filter.allows(k) || !w.c.matches(ev) {
			continue
		}
		matched = true
		e.keyBuf = w.c.group.appendKey(e.keyBuf[:0], ev)
		full, added := w.fs.see(e, w.c, ev, e.keyBuf)
		if full == nil {
			continue
		}
		if added {
			e.warm.learned++
		}
		// History read out of order still starts learning at its oldest
		// event, which live processing would have seen first.
		w.fs.LearnUntil = min(w.fs.LearnUntil, ts+int64(w.c.r.Learn))
	}
	if matched {
		e.warm.events++
	}
}

// WarmStats returns how many events given to Warm matched the where of a
// rule being warmed, and how many tuples they taught the rules (evicted
// ones included), for the daemon to log.
func (e *Engine) WarmStats() (events, learned uint64) {
	return e.warm.events, e.warm.learned
}
