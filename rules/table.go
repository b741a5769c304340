package rules

// table holds the per-group state of one rule: a map from group key to a
// slot in a chunked slab, and an intrusive least-recently-used list through
// the slots. When it holds max keys, adding one evicts the least recently
// used. Slots hold no pointers besides their key and their state's own, so
// a million keys cost the garbage collector little, and the slab grows by chunks, never by copying.
type table[S any] struct {
	index      map[string]int32
	chunks     [][]slot[S]
	head, tail int32 // most and least recently used; -1 when empty
	free       []int32
	n          int32 // slots handed out from the slab
	max        int
	evictions  uint64
	spare      slot[S] // the last evicted slot
}

const chunkBits = 12

type slot[S any] struct {
	key        string
	prev, next int32
	s          S
}

func newTable[S any](max int) *table[S] {
	return &table[S]{index: make(map[string]int32), head: -1, tail: -1, max: max}
}

func (t *table[S]) at(i int32) *slot[S] {
	return &t.chunks[i>>chunkBits][i&(1<<chunkBits-1)]
}

// len returns the number of keys held.
func (t *table[S]) len() int { return len(t.index) }

// lookup returns the slot of key, marking it most recently used, or nil.
func (t *table[S]) lookup(key []byte) *slot[S] {
	i, ok := t.index[string(key)]
	if !ok {
		return nil
	}
	t.touch(i)
	return t.at(i)
}

// get returns the slot of key, adding a zero one when missing. evicted is
// the slot that made room, valid until the next call, or nil.
func (t *table[S]) get(key []byte) (s *slot[S], added bool, evicted *slot[S]) {
	if s := t.lookup(key); s != nil {
		return s, false, nil
	}
	var i int32
	switch {
	case len(t.index) >= t.max && t.tail >= 0:
		i = t.tail
		old := t.at(i)
		t.unlink(i)
		delete(t.index, old.key)
		t.evictions++
		t.spare = *old
		evicted = &t.spare
	case len(t.free) > 0:
		i = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
	default:
		i = t.n
		if int(i>>chunkBits) == len(t.chunks) {
			t.chunks = append(t.chunks, make([]slot[S], 1<<chunkBits))
		}
		t.n++
	}
	s = t.at(i)
	*s = slot[S]{key: string(key), prev: -1, next: -1}
	t.index[s.key] = i
	t.pushFront(i)
	return s, true, evicted
}

// each calls fn for every slot, least recently used first.
func (t *table[S]) each(fn func(s *slot[S])) {
	for i := t.tail; i >= 0; {
		s := t.at(i)
		prev := s.prev
		fn(s)
		i = prev
	}
}

func (t *table[S]) touch(i int32) {
	if t.head == i {
		return
	}
	t.unlink(i)
	t.pushFront(i)
}

func (t *table[S]) unlink(i int32) {
	s := t.at(i)
	if s.prev >= 0 {
		t.at(s.prev).next = s.next
	} else if t.head == i {
		t.head = s.next
	}
	if s.next >= 0 {
		t.at(s.next).prev = s.prev
	} else if t.tail == i {
		t.tail = s.prev
	}
	s.prev, s.next = -1, -1
}

func (t *table[S]) pushFront(i int32) {
	s := t.at(i)
	s.prev, s.next = -1, t.head
	if t.head >= 0 {
		t.at(t.head).prev = i
	}
	t.head = i
	if t.tail < 0 {
		t.tail = i
	}
}
