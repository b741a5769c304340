package rules

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
)

// TestTableMatchesModel drives a table and a plain model (a map and a
// recency list) with the same random gets and lookups, keys short and long,
// through growth, evictions and log compactions, and compares contents,
// recency order and counters along the way.
func TestTableMatchesModel(t *testing.T) {
	for _, max := range []int{1, 3, 50, 1000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(max), 9))
			tab := newTable[int](max)
			vals := map[string]int{}
			var order []string // least recently used first
			evictions := 0
			touch := func(k string) {
				order = slices.DeleteFunc(order, func(x string) bool { return x == k })
				order = append(order, k)
			}
			key := func() string {
				n := rng.IntN(max*2 + 5)
				if n%3 == 0 {
					return fmt.Sprintf("a-long-key-beyond-the-inline-bytes-%d", n)
				}
				return fmt.Sprint(n)
			}
			for step := range 20000 {
				k := key()
				if rng.IntN(4) == 0 {
					s := tab.lookup([]byte(k))
					_, ok := vals[k]
					if (s != nil) != ok {
						t.Fatalf("step %d: lookup(%q) found %v, model %v", step, k, s != nil, ok)
					}
					if ok {
						if s.key != k || s.s != vals[k] {
							t.Fatalf("step %d: lookup(%q) = %q %d, model %d", step, k, s.key, s.s, vals[k])
						}
						touch(k)
					}
					continue
				}
				s, added := tab.get([]byte(k))
				_, had := vals[k]
				if added == had {
					t.Fatalf("step %d: get(%q) added %v, model had it %v", step, k, added, had)
				}
				if !had && len(vals) >= max {
					delete(vals, order[0])
					order = order[1:]
					evictions++
				}
				if s.key != k || (had && s.s != vals[k]) {
					t.Fatalf("step %d: get(%q) = %q %d, model %d", step, k, s.key, s.s, vals[k])
				}
				s.s = step
				vals[k] = step
				touch(k)
				if step%97 == 0 {
					var got []string
					tab.each(func(s *slot[int]) { got = append(got, s.key) })
					if !slices.Equal(got, order) {
						t.Fatalf("step %d: order %q, model %q", step, got, order)
					}
				}
			}
			if tab.len() != len(vals) || tab.evictions != uint64(evictions) {
				t.Errorf("%d keys, %d evictions; model %d, %d", tab.len(), tab.evictions, len(vals), evictions)
			}
			if len(tab.order) > 2*tab.len()+64+1 {
				t.Errorf("recency log holds %d entries for %d keys", len(tab.order), tab.len())
			}
		})
	}
}

// TestAddrKeyText checks that an address written into a key in binary
// reads back as the text the field's getter writes, for IPv4 and IPv6
// addresses under every prefix length.
func TestAddrKeyText(t *testing.T) {
	addrs := []string{"203.0.113.7", "10.0.0.1", "::ffff:192.0.2.1", "2001:db8:1:2:3:4:5:6", "fe80::1%eth0", "::", "ffff::ffff"}
	for _, s := range addrs {
		for _, bits := range []int{0, 1, 7, 8, 48, 63, 64, 65, 127, 128} {
			ev := event.Event{SrcIP: netip.MustParseAddr(s)}
			fs := newFieldSet([]string{"src_ip"}, bits)
			want := string(fs.get[0](nil, &ev))
			m := map[string]string{}
			fs.values(string(fs.appendKey(nil, &ev)), m)
			if m["src_ip"] != want {
				t.Errorf("%s /%d: key reads back %q, getter writes %q", s, bits, m["src_ip"], want)
			}
		}
	}
	ev := event.Event{}
	if k := newFieldSet([]string{"src_ip"}, 64).appendKey(nil, &ev); string(k) != "\x00\x00" {
		t.Errorf("no address: key %q, want an empty value", k)
	}
}
