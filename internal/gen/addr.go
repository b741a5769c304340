package gen

import (
	"math/rand/v2"
	"net/netip"
)

// Address ranges. Benign and attacker ranges do not overlap, and the pool
// never hands out an address twice, so every address belongs to one actor.
var (
	// Internal staff, agents and machines (RFC 1918, and a ULA for IPv6).
	// Further /16s are used only when 10.20.0.0/16 runs out.
	internalV4 = prefixes("10.20.0.0/16", "10.21.0.0/16", "10.22.0.0/16")
	internalV6 = prefixes("fd20:4b1:17::/48")
	// Benign web visitors from outside: a documentation range and two
	// residential-looking ranges.
	homeV4 = prefixes("198.51.100.0/24", "73.162.0.0/16", "86.145.0.0/16")
	// Attackers: documentation ranges and public ranges that are regulars
	// in honeypot and sshd logs.
	attackV4 = prefixes(
		"192.0.2.0/24", "203.0.113.0/24", "45.155.205.0/24", "185.220.101.0/24",
		"141.98.11.0/24", "218.92.0.0/24", "61.177.172.0/24", "193.32.162.0/24",
		"80.94.95.0/24", "179.43.180.0/24", "5.188.206.0/24", "92.255.85.0/24",
		"103.145.13.0/24", "194.169.175.0/24",
	)
	attackV6 = prefixes("2001:db8::/32")
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

type addrPool struct {
	used map[netip.Addr]struct{}
}

func newAddrPool() addrPool { return addrPool{used: make(map[netip.Addr]struct{})} }

// from returns an unused random host address of one of ps. With spread it
// picks the prefix at random, otherwise it fills them in order.
func (p *addrPool) from(r *rand.Rand, ps []netip.Prefix, spread bool) netip.Addr {
	for round := 0; ; round++ {
		i := round % len(ps)
		if spread {
			i = r.IntN(len(ps))
		}
		if a, ok := p.tryPrefix(r, ps[i]); ok {
			return a
		}
		if round > 64*len(ps) {
			// Every prefix is nearly full: take the first free address.
			for _, pf := range ps {
				for a := pf.Addr().Next(); pf.Contains(a); a = a.Next() {
					if _, used := p.used[a]; !used && hostOK(a) {
						p.used[a] = struct{}{}
						return a
					}
				}
			}
			panic("gen: address pool exhausted")
		}
	}
}

// tryPrefix makes a few attempts at a random unused address in pf.
func (p *addrPool) tryPrefix(r *rand.Rand, pf netip.Prefix) (netip.Addr, bool) {
	base := pf.Addr().AsSlice()
	for range 16 {
		b := append([]byte(nil), base...)
		for bit := pf.Bits(); bit < len(b)*8; bit++ {
			if r.IntN(2) == 1 {
				b[bit/8] |= 0x80 >> (bit % 8)
			}
		}
		if len(b) == 16 {
			// Real IPv6 hosts mostly have short interface ids: keep the
			// middle groups zero often so addresses read naturally.
			if r.IntN(2) == 0 {
				for i := max(pf.Bits()/8+2, 8); i < 14; i++ {
					b[i] = 0
				}
			}
		}
		a, _ := netip.AddrFromSlice(b)
		if !hostOK(a) {
			continue
		}
		if _, used := p.used[a]; used {
			continue
		}
		p.used[a] = struct{}{}
		return a, true
	}
	return netip.Addr{}, false
}

// hostOK rejects network and broadcast-looking IPv4 addresses.
func hostOK(a netip.Addr) bool {
	if a.Is4() {
		last := a.As4()[3]
		return last != 0 && last != 255
	}
	return a.As16()[15] != 0 || a.As16()[14] != 0
}

func (p *addrPool) internal(r *rand.Rand) netip.Addr { return p.from(r, internalV4, false) }

func (p *addrPool) internal6(r *rand.Rand) netip.Addr { return p.from(r, internalV6, false) }

func (p *addrPool) home(r *rand.Rand) netip.Addr { return p.from(r, homeV4, true) }

// attacker returns an attacker address, IPv6 with probability v6.
func (p *addrPool) attacker(r *rand.Rand, v6 float64) netip.Addr {
	if r.Float64() < v6 {
		return p.from(r, attackV6, true)
	}
	return p.from(r, attackV4, true)
}
