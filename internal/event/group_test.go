package event

import (
	"net/netip"
	"testing"
)

func TestGroupAddr(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		v6Bits int
		want   string
	}{
		{"ipv4 is its own group", "198.51.100.23", 64, "198.51.100.23/32"},
		{"ipv4 ignores v6Bits", "203.0.113.9", 8, "203.0.113.9/32"},
		{"ipv4-mapped ipv6 groups as ipv4", "::ffff:198.51.100.23", 64, "198.51.100.23/32"},
		{"ipv6 default /64", "2001:db8:1:2:3:4:5:6", 0, "2001:db8:1:2::/64"},
		{"ipv6 negative bits mean default", "2001:db8:1:2:3:4:5:6", -1, "2001:db8:1:2::/64"},
		{"ipv6 /56", "2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::/56"},
		{"ipv6 /128", "2001:db8::1", 128, "2001:db8::1/128"},
		{"ipv6 above 128 clamps", "2001:db8::1", 200, "2001:db8::1/128"},
		{"ipv6 zone dropped", "fe80::1:2:3:4%eth0", 64, "fe80::/64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := GroupAddr(netip.MustParseAddr(tc.in), tc.v6Bits)
			if got.String() != tc.want {
				t.Errorf("GroupAddr(%s, %d) = %s, want %s", tc.in, tc.v6Bits, got, tc.want)
			}
		})
	}
}

func TestGroupAddrSameGroup(t *testing.T) {
	// Two privacy addresses of one client share a group; a neighbour /64 does not.
	a := GroupAddr(netip.MustParseAddr("2001:db8:aa:1:1111:2222:3333:4444"), 0)
	b := GroupAddr(netip.MustParseAddr("2001:db8:aa:1:9999:8888:7777:6666"), 0)
	c := GroupAddr(netip.MustParseAddr("2001:db8:aa:2:1111:2222:3333:4444"), 0)
	if a != b {
		t.Errorf("addresses of one /64 grouped as %s and %s", a, b)
	}
	if a == c {
		t.Errorf("addresses of different /64s share group %s", a)
	}
}

func TestGroupAddrInvalid(t *testing.T) {
	if got := GroupAddr(netip.Addr{}, 64); got.IsValid() {
		t.Errorf("GroupAddr(invalid) = %s, want the zero Prefix", got)
	}
}
