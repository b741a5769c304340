package rules

import (
	"bufio"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The snapshot is one gob stream in StateDir/rules.state, written to a
// temporary file, synced and renamed over the old one. It holds the
// watermark, and per rule a fingerprint of its definition, its groups in
// least-recently-used order and its open alerts. A rule whose fingerprint
// changed starts empty.

const (
	snapshotFile    = "rules.state"
	snapshotVersion = 2
)

type snapshot struct {
	Version int
	MaxTs   int64
	Events  uint64
	Late    uint64
	Rules   []ruleSnap
}

type ruleSnap struct {
	ID          string
	Fingerprint string
	Opens       []*openAlert
	NextSQL     int64
	LearnUntil  int64
	Threshold   []keyed[ringState]
	Distinct    []keyed[distinctState]
	Sequence    []keyed[sequenceState]
	FirstSeen   []keyed[firstSeenState]
	Velocity    []keyed[velocityState]
	Absence     []keyed[absenceState]
}

type keyed[S any] struct {
	Key   string
	State S
}

func dump[S any](t *table[S]) []keyed[S] {
	out := make([]keyed[S], 0, t.len())
	t.each(func(s *slot[S]) { out = append(out, keyed[S]{strings.Clone(s.key), s.s}) })
	return out
}

// fill restores the groups of ks, in order, dropping those whose state
// sane rejects (a damaged snapshot must not make the engine index out of
// range later); sane may be nil.
func fill[S any](t *table[S], ks []keyed[S], sane func(*S) bool) {
	for _, k := range ks {
		if sane != nil && !sane(&k.State) {
			continue
		}
		s, _ := t.get([]byte(k.Key))
		s.s = k.State
	}
}

// sane reports whether a restored ring of at most n entries is consistent.
func (r *ringState) sane(n int) bool {
	held := 0
	if r.N > 0 {
		held = 1 + len(r.More)
	}
	return int(r.N) == held && int(r.N) <= n && r.Head >= 0 && (r.N == 0 || r.Head < r.N)
}

func (th *thresholdEval) save(s *ruleSnap) { s.Threshold = dump(th.t) }
func (th *thresholdEval) load(s *ruleSnap) {
	fill(th.t, s.Threshold, func(r *ringState) bool { return r.sane(th.threshold) })
}
func (d *distinctEval) save(s *ruleSnap) { s.Distinct = dump(d.t) }
func (d *distinctEval) load(s *ruleSnap) {
	fill(d.t, s.Distinct, func(st *distinctState) bool {
		for _, v := range st.Vals {
			if v.N < 0 || int(v.N) > len(v.Buf) {
				return false
			}
		}
		return true
	})
	// The hashes are of this engine's seed.
	d.t.each(func(s *slot[distinctState]) {
		for i := range s.s.Vals {
			s.s.Vals[i].H = uint32(maphash.Bytes(d.seed, s.s.Vals[i].value()))
		}
	})
}
func (sq *sequenceEval) save(s *ruleSnap) { s.Sequence = dump(sq.t) }
func (sq *sequenceEval) load(s *ruleSnap) {
	fill(sq.t, s.Sequence, func(st *sequenceState) bool {
		return len(sq.steps) > 0 && st.First.sane(sq.steps[0].Count) && st.Step >= 0 && int(st.Step) < len(sq.steps) && st.N >= 0
	})
}
func (v *velocityEval) save(s *ruleSnap) { s.Velocity = dump(v.t) }
func (v *velocityEval) load(s *ruleSnap) { fill(v.t, s.Velocity, nil) }

func (fs *firstSeenEval) save(s *ruleSnap) {
	s.FirstSeen, s.LearnUntil = dump(fs.t), fs.LearnUntil
}

func (fs *firstSeenEval) load(s *ruleSnap) {
	fill(fs.t, s.FirstSeen, nil)
	fs.LearnUntil = s.LearnUntil
}

func (ab *absenceEval) save(s *ruleSnap) { s.Absence = dump(ab.t) }

func (ab *absenceEval) load(s *ruleSnap) {
	fill(ab.t, s.Absence, nil)
	ab.next = 0 // the next sweep recomputes it
}

// fingerprint identifies what a rule's state depends on.
func fingerprint(r *Rule) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%q\x00%d\x00%d\x00%q\x00%d\x00%d\x00", r.Kind, r.Where, r.GroupBy, r.Window, r.Threshold, r.Field, r.Learn, r.IPv6Prefix)
	for _, s := range r.Steps {
		fmt.Fprintf(h, "%s\x00%d\x00", s.Where, s.Count)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func (e *Engine) statePath() string { return filepath.Join(e.cfg.StateDir, snapshotFile) }

// Snapshot writes the engine's state to the state directory, atomically.
// Without a state directory it does nothing.
func (e *Engine) Snapshot() error {
	if e.cfg.StateDir == "" {
		return nil
	}
	snap := snapshot{Version: snapshotVersion, MaxTs: e.maxTs, Events: e.events, Late: e.late}
	for _, c := range e.rules {
		rs := ruleSnap{ID: c.r.ID, Fingerprint: fingerprint(c.r), NextSQL: c.nextSQL}
		rs.Opens = c.heap.sorted()
		c.eval.save(&rs)
		snap.Rules = append(snap.Rules, rs)
	}
	if err := os.MkdirAll(e.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("rule state: %w", err)
	}
	tmp, err := os.CreateTemp(e.cfg.StateDir, snapshotFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("rule state: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<16)
	err = gob.NewEncoder(w).Encode(&snap)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), e.statePath())
	}
	if err != nil {
		return fmt.Errorf("write rule state %s: %w", e.statePath(), err)
	}
	return nil
}

func (e *Engine) restore() error {
	f, err := os.Open(e.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var snap snapshot
	if err := gob.NewDecoder(bufio.NewReader(f)).Decode(&snap); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("snapshot version %d, want %d", snap.Version, snapshotVersion)
	}
	byID := map[string]*ruleSnap{}
	for i := range snap.Rules {
		byID[snap.Rules[i].ID] = &snap.Rules[i]
	}
	e.events, e.late = snap.Events, snap.Late
	for _, c := range e.rules {
		rs := byID[c.r.ID]
		if rs == nil || rs.Fingerprint != fingerprint(c.r) {
			continue
		}
		c.eval.load(rs)
		c.nextSQL = rs.NextSQL
		for _, o := range rs.Opens {
			o.Until = o.Alert.Ts.UnixNano() + int64(c.r.Cooldown)
			if c.r.Cooldown <= 0 {
				continue
			}
			c.opens[o.Key] = o
			c.heap.push(o)
		}
	}
	if snap.MaxTs != 0 && snap.MaxTs > e.maxTs {
		e.maxTs = snap.MaxTs
		e.watermark = snap.MaxTs - int64(e.cfg.Lateness)
	}
	e.nextDue = 0 // recompute on the next event or tick
	return nil
}
