package rules

import (
	"hash/maphash"
	"unsafe"
)

// table holds the per-group state of one rule: slots in a chunked slab, an
// open-addressing index from group key to slot, and a least-recently-used
// order. When it holds max keys, adding one evicts the least recently used
// and reuses its slot.
//
// It is built for a million keys and for lookups that miss the processor's
// caches: a slot carries its key (in place when it is short, as most are:
// an IPv4 address is 7 bytes), its clock and the state, with no other
// allocation than a long key's bytes and the state's own; the
// index is one flat []uint64 of at most half load, each entry a hash tag
// and a slot number, so that a probe rarely reads a slot that is not the
// one sought; the slab grows by chunks, never by copying, and no slot
// moves.
//
// The recency order is a log of touches rather than a linked list, so that
// a touch writes the touched slot and appends to the log instead of
// rewriting three slots scattered in memory. A log entry is stale when its
// slot was touched again later (the slot's clock moved on); the least
// recently used slot is the one of the oldest entry that is not stale,
// which makes the order exactly that of a linked list. The log is
// compacted when stale entries outnumber the keys, or consumed ones (by
// evictions) fill half of it.
type table[S any] struct {
	seed      maphash.Seed
	index     []uint64 // hash<<32 | slot+1; 0 is empty
	chunks    [][]slot[S]
	order     []uint64 // clock<<32 | slot per touch, oldest first
	front     int      // order[:front] is consumed
	clock     uint32   // touches so far, modulo 2^32
	last      int32    // the slot touched last; -1 when none
	n         int32    // slots handed out from the slab
	keys      int      // keys held
	max       int
	evictions uint64
}

const (
	chunkBits     = 12
	minIndexSize  = 16
	indexSlotMask = 1<<32 - 1
)

// inlineKey is the longest key a slot holds in place: an IPv4 address as
// a key takes 7 bytes, an IPv6 /64 12.
const inlineKey = 12

// slot is one group. key points into inl when the key fits there, so it
// is valid only while the slot holds that key: copy it to keep it.
type slot[S any] struct {
	key   string
	clock uint32 // the table's clock at its latest touch
	inl   [inlineKey]byte
	s     S
}

func newTable[S any](max int) *table[S] {
	return &table[S]{seed: maphash.MakeSeed(), index: make([]uint64, minIndexSize), last: -1, max: max}
}

func (t *table[S]) at(i int32) *slot[S] {
	return &t.chunks[i>>chunkBits][i&(1<<chunkBits-1)]
}

// len returns the number of keys held.
func (t *table[S]) len() int { return t.keys }

func (t *table[S]) hash(key string) uint32 {
	return uint32(maphash.String(t.seed, key))
}

// view returns key as a string without copying, for lookups only.
func view(key []byte) string { return unsafe.String(unsafe.SliceData(key), len(key)) }

// find returns the index position of key (or of the empty entry that ends
// its probe sequence) and its slot, or -1.
func (t *table[S]) find(key string, h uint32) (pos int, i int32) {
	mask := len(t.index) - 1
	for pos = int(h) & mask; ; pos = (pos + 1) & mask {
		e := t.index[pos]
		if e == 0 {
			return pos, -1
		}
		if uint32(e>>32) == h {
			i = int32(e&indexSlotMask) - 1
			if t.at(i).key == key {
				return pos, i
			}
		}
	}
}

// lookup returns the slot of key, marking it most recently used, or nil.
func (t *table[S]) lookup(key []byte) *slot[S] {
	k := view(key)
	_, i := t.find(k, t.hash(k))
	if i < 0 {
		return nil
	}
	t.touch(i)
	return t.at(i)
}

// get returns the slot of key, adding a zero one when missing (and
// evicting the least recently used one when full).
func (t *table[S]) get(key []byte) (s *slot[S], added bool) {
	k := view(key)
	h := t.hash(k)
	pos, i := t.find(k, h)
	if i >= 0 {
		t.touch(i)
		return t.at(i), false
	}
	if t.keys >= t.max && t.keys > 0 {
		i = t.oldest()
		t.front++
		if t.last == i {
			t.last = -1
		}
		old := t.at(i)
		t.unindex(old.key)
		t.keys--
		t.evictions++
		pos, _ = t.find(k, h) // the removal may have shifted entries
	} else {
		i = t.n
		if int(i>>chunkBits) == len(t.chunks) {
			t.chunks = append(t.chunks, make([]slot[S], 1<<chunkBits))
		}
		t.n++
	}
	s = t.at(i)
	*s = slot[S]{}
	if len(key) <= inlineKey {
		n := copy(s.inl[:], key)
		s.key = unsafe.String(&s.inl[0], n)
	} else {
		s.key = string(key)
	}
	t.index[pos] = uint64(h)<<32 | uint64(i+1)
	t.keys++
	if t.keys*2 > len(t.index) {
		t.grow()
	}
	t.touch(i)
	return s, true
}

// grow doubles the index, placing each entry by its hash tag.
func (t *table[S]) grow() {
	old := t.index
	t.index = make([]uint64, 2*len(old))
	mask := len(t.index) - 1
	for _, e := range old {
		if e == 0 {
			continue
		}
		pos := int(e>>32) & mask
		for t.index[pos] != 0 {
			pos = (pos + 1) & mask
		}
		t.index[pos] = e
	}
}

// unindex removes key from the index, shifting back the entries after it
// in its probe run so that no lookup stops short (no tombstones).
func (t *table[S]) unindex(key string) {
	pos, i := t.find(key, t.hash(key))
	if i < 0 {
		return
	}
	mask := len(t.index) - 1
	for {
		t.index[pos] = 0
		next := pos
		for {
			next = (next + 1) & mask
			e := t.index[next]
			if e == 0 {
				return
			}
			// The entry may fill the hole unless its home lies cyclically
			// in (pos, next].
			home := int(e>>32) & mask
			if (next-home)&mask >= (next-pos)&mask {
				t.index[pos] = e
				pos = next
				break
			}
		}
	}
}

// each calls fn for every slot, least recently used first. fn must not
// add or touch keys.
func (t *table[S]) each(fn func(s *slot[S])) {
	for _, e := range t.order[t.front:] {
		if s := t.at(int32(uint32(e))); t.live(e, s) {
			fn(s)
		}
	}
}

// live reports whether the log entry e is its slot's latest touch. The
// clock runs modulo 2^32, which is enough: a stale entry is compacted
// away long before the clock could come round to it.
func (t *table[S]) live(e uint64, s *slot[S]) bool {
	return s.clock == uint32(e>>32)
}

// oldest returns the least recently used slot, consuming the stale log
// entries before it. The table must not be empty.
func (t *table[S]) oldest() int32 {
	for {
		e := t.order[t.front]
		i := int32(uint32(e))
		if t.live(e, t.at(i)) {
			return i
		}
		t.front++
	}
}

// touch makes slot i the most recently used.
func (t *table[S]) touch(i int32) {
	if t.last == i {
		return // already the latest touch
	}
	t.last = i
	t.clock++
	t.at(i).clock = t.clock
	if len(t.order)-t.front > 2*t.keys+64 || t.front > 64 && t.front > len(t.order)/2 {
		t.compact()
	}
	t.order = append(t.order, uint64(t.clock)<<32|uint64(uint32(i)))
}

// compact drops the consumed and stale entries of the log, in place.
func (t *table[S]) compact() {
	n := 0
	for _, e := range t.order[t.front:] {
		if t.live(e, t.at(int32(uint32(e)))) {
			t.order[n] = e
			n++
		}
	}
	t.order = t.order[:n]
	t.front = 0
}
