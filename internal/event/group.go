package event

import "net/netip"

// DefaultIPv6GroupBits is the prefix length by which GroupAddr groups IPv6
// sources when no other length is configured. A /64 is the smallest subnet
// an ISP hands to one customer, and privacy extensions (RFC 8981) rotate the
// low 64 bits of a client's address every few hours, so per-address keys
// would let one IPv6 client spread its failed logins over many groups.
const DefaultIPv6GroupBits = 64

// GroupAddr returns the network that stands for a as a source wherever rules
// group events by source address. An IPv4 address (also one mapped into
// IPv6, ::ffff:a.b.c.d) is its own group, a /32. An IPv6 address is masked
// to v6Bits, or to DefaultIPv6GroupBits when v6Bits <= 0; values above 128
// mean 128. The zone of a link-local address is dropped. An invalid a gives
// the zero Prefix.
func GroupAddr(a netip.Addr, v6Bits int) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	switch {
	case v6Bits <= 0:
		v6Bits = DefaultIPv6GroupBits
	case v6Bits > 128:
		v6Bits = 128
	}
	// Prefix cannot fail here: a is a zone-less IPv6 address and 0 < v6Bits <= 128.
	p, _ := a.Prefix(v6Bits)
	return p
}
