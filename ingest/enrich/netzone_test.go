package enrich

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
)

func mustZones(t testing.TB, cfg NetworkConfig) *Zones {
	t.Helper()
	z, err := NewZones(cfg)
	if err != nil {
		t.Fatalf("NewZones: %v", err)
	}
	return z
}

func TestZonesEnrich(t *testing.T) {
	z := mustZones(t, NetworkConfig{
		Internal:        []string{"10.0.0.0/8", "192.168.0.0/16", "2001:db8:1::/48", "198.51.100.77"},
		InternalDomains: []string{"corp.example.com", "VPN.Example.NET."},
		Trusted:         []string{"198.51.100.0/24", "2001:db8::/32", "203.0.113.9"},
	})
	tests := []struct {
		name     string
		ip       string
		host     string
		verified bool
		want     event.Zone
	}{
		{"no source address", "", "", false, ""},
		{"internal ipv4", "10.20.4.17", "", false, event.ZoneInternal},
		{"internal ipv4 last address", "10.255.255.255", "", false, event.ZoneInternal},
		{"just outside internal", "11.0.0.0", "", false, event.ZoneExternal},
		{"internal single address beats trusted network", "198.51.100.77", "", false, event.ZoneInternal},
		{"trusted ipv4", "198.51.100.23", "", false, event.ZoneTrusted},
		{"trusted single address", "203.0.113.9", "", false, event.ZoneTrusted},
		{"neighbour of trusted single address", "203.0.113.10", "", false, event.ZoneExternal},
		{"external ipv4", "192.0.2.1", "", false, event.ZoneExternal},
		{"ipv4-mapped internal", "::ffff:10.1.1.1", "", false, event.ZoneInternal},
		{"internal ipv6 beats trusted ipv6", "2001:db8:1:2::5", "", false, event.ZoneInternal},
		{"trusted ipv6", "2001:db8:2::5", "", false, event.ZoneTrusted},
		{"external ipv6", "2001:db9::1", "", false, event.ZoneExternal},
		{"ipv6 with zone", "fe80::1%eth0", "", false, event.ZoneExternal},
		{"verified host under internal domain", "192.0.2.1", "pc7.corp.example.com", true, event.ZoneInternal},
		{"verified host is the internal domain", "192.0.2.1", "corp.example.com", true, event.ZoneInternal},
		{"verified host, case and trailing dot", "192.0.2.1", "PC7.Corp.Example.COM.", true, event.ZoneInternal},
		{"verified host, domain configured with caps and dot", "192.0.2.1", "gw.vpn.example.net", true, event.ZoneInternal},
		{"unverified host under internal domain", "192.0.2.1", "pc7.corp.example.com", false, event.ZoneExternal},
		{"unverified internal host from trusted net", "198.51.100.5", "pc7.corp.example.com", false, event.ZoneTrusted},
		{"label boundary", "192.0.2.1", "evilcorp.example.com", true, event.ZoneExternal},
		{"suffix of domain is not under it", "192.0.2.1", "example.com", true, event.ZoneExternal},
		{"domain as a middle label", "192.0.2.1", "corp.example.com.evil.test", true, event.ZoneExternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := event.Event{SrcHost: tc.host, SrcHostVerified: tc.verified}
			if tc.ip != "" {
				ev.SrcIP = netip.MustParseAddr(tc.ip)
			}
			if err := z.Enrich(context.Background(), &ev); err != nil {
				t.Fatalf("Enrich: %v", err)
			}
			if ev.SrcZone != tc.want {
				t.Errorf("Enrich(%s, %q, verified=%v) zone = %q, want %q", tc.ip, tc.host, tc.verified, ev.SrcZone, tc.want)
			}
		})
	}
}

func TestZonesDefaults(t *testing.T) {
	z := mustZones(t, NetworkConfig{})
	for ip, want := range map[string]event.Zone{
		"10.0.0.1":     event.ZoneInternal,
		"172.16.0.1":   event.ZoneInternal,
		"172.31.255.1": event.ZoneInternal,
		"172.32.0.1":   event.ZoneExternal,
		"192.168.1.1":  event.ZoneInternal,
		"127.0.0.1":    event.ZoneInternal,
		"::1":          event.ZoneInternal,
		"fd12:3456::1": event.ZoneInternal,
		"100.64.0.1":   event.ZoneExternal,
		"8.8.8.8":      event.ZoneExternal,
		"2001:db8::1":  event.ZoneExternal,
	} {
		if got := z.Zone(netip.MustParseAddr(ip), "", false); got != want {
			t.Errorf("default Zone(%s) = %q, want %q", ip, got, want)
		}
	}
	// An explicitly empty list means no internal networks at all.
	none := mustZones(t, NetworkConfig{Internal: []string{}})
	if got := none.Zone(netip.MustParseAddr("10.0.0.1"), "", false); got != event.ZoneExternal {
		t.Errorf("with internal: [] Zone(10.0.0.1) = %q, want external", got)
	}
}

func TestNetworkConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  NetworkConfig
		want []string // substrings, all must appear
	}{
		{
			name: "bad trusted entry is named by index",
			cfg:  NetworkConfig{Trusted: []string{"198.51.100.0/24", "203.0.113.0/24", "10.0.0.300/8"}},
			want: []string{`network.trusted[2]: "10.0.0.300/8" is not a CIDR`},
		},
		{
			name: "bad single address",
			cfg:  NetworkConfig{Internal: []string{"10.0.0.256"}},
			want: []string{`network.internal[0]: "10.0.0.256" is not a CIDR or an IP address`},
		},
		{
			name: "prefix too long",
			cfg:  NetworkConfig{TrustedProxies: []string{"127.0.0.1/33"}},
			want: []string{`network.trusted_proxies[0]: "127.0.0.1/33" is not a CIDR`},
		},
		{
			name: "address with zone",
			cfg:  NetworkConfig{Trusted: []string{"fe80::1%eth0"}},
			want: []string{`network.trusted[0]: "fe80::1%eth0"`},
		},
		{
			name: "host name where a CIDR belongs",
			cfg:  NetworkConfig{Internal: []string{"corp.example.com"}},
			want: []string{`network.internal[0]: "corp.example.com"`},
		},
		{
			name: "bad domains",
			cfg:  NetworkConfig{InternalDomains: []string{"corp.example.com", "", ".", "bad domain.com", "a..b"}},
			want: []string{
				`network.internal_domains[1]: "" is not a domain name`,
				`network.internal_domains[2]: "." is not a domain name`,
				`network.internal_domains[3]: "bad domain.com" is not a domain name`,
				`network.internal_domains[4]: "a..b" is not a domain name`,
			},
		},
		{
			name: "all errors at once",
			cfg:  NetworkConfig{Internal: []string{"x"}, Trusted: []string{"y"}, TrustedProxies: []string{"z"}},
			want: []string{"network.internal[0]", "network.trusted[0]", "network.trusted_proxies[0]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewZones(tc.cfg)
			if err == nil {
				t.Fatalf("NewZones(%+v) succeeded, want errors %q", tc.cfg, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewZones error %q lacks %q", err, w)
				}
			}
			if verr := tc.cfg.Validate(); verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate() = %v, want the NewZones error %v", verr, err)
			}
		})
	}
}

func TestNetworkConfigAccepts(t *testing.T) {
	cfg := NetworkConfig{
		Internal:        []string{" 10.1.2.3/8 ", "::ffff:192.168.0.0/112", "0.0.0.0/0"},
		InternalDomains: []string{"*.corp.example.com", ".lan", "Office.Example.org."},
		Trusted:         []string{"::/0", "2001:db8::1"},
		TrustedProxies:  []string{"127.0.0.1", "::1", "10.0.0.0/8"},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	z := mustZones(t, cfg)
	for _, host := range []string{"a.corp.example.com", "nas.lan", "office.example.org"} {
		if !z.InternalHost(host) {
			t.Errorf("InternalHost(%q) = false, want true", host)
		}
	}
	if got := z.Zone(netip.MustParseAddr("8.8.8.8"), "", false); got != event.ZoneInternal {
		t.Errorf("with 0.0.0.0/0 internal, Zone(8.8.8.8) = %q", got)
	}
	if got := z.Zone(netip.MustParseAddr("2001:4860::8888"), "", false); got != event.ZoneTrusted {
		t.Errorf("with ::/0 trusted, Zone(2001:4860::8888) = %q", got)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.0.0.0/8"),
	}
	got := z.TrustedProxyPrefixes()
	if !slices.Equal(got, want) {
		t.Errorf("TrustedProxyPrefixes() = %v, want %v", got, want)
	}
	got[0] = netip.Prefix{}
	if z.TrustedProxyPrefixes()[0] != want[0] {
		t.Error("TrustedProxyPrefixes returned its internal slice")
	}
}

// TestRangesAgainstLinearScan checks the merged binary-search tables against
// Prefix.Contains over overlapping, nested and adjacent prefixes.
func TestRangesAgainstLinearScan(t *testing.T) {
	prefixes := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("10.1.0.0/16"), // nested
		netip.MustParsePrefix("11.0.0.0/8"),  // adjacent
		netip.MustParsePrefix("192.0.2.128/25"),
		netip.MustParsePrefix("192.0.2.0/25"), // adjacent, listed later
		netip.MustParsePrefix("203.0.113.5/32"),
		netip.MustParsePrefix("255.255.255.255/32"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("2001:db8:ffff::/48"), // nested at the end
		netip.MustParsePrefix("2001:db9::/64"),
		netip.MustParsePrefix("2001:db9:0:1::/64"), // adjacent
		netip.MustParsePrefix("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"),
		netip.MustParsePrefix("::/128"),
	}
	r := newRanges(prefixes)
	// 2001:db8::/32 ends where 2001:db9::/64 begins, so IPv6 merges to
	// ::, 2001:db8::-2001:db9:0:1:ffff:ffff:ffff:ffff and the top /120.
	if len(r.v4) != 4 || len(r.v6) != 3 {
		t.Errorf("merged to %d IPv4 and %d IPv6 spans, want 4 and 3: %+v", len(r.v4), len(r.v6), r)
	}
	probes := []string{
		"9.255.255.255", "10.0.0.0", "10.1.2.3", "11.255.255.255", "12.0.0.0",
		"192.0.1.255", "192.0.2.0", "192.0.2.127", "192.0.2.128", "192.0.2.255", "192.0.3.0",
		"203.0.113.4", "203.0.113.5", "203.0.113.6", "255.255.255.254", "255.255.255.255", "0.0.0.0",
		"::", "::1", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
		"2001:db9::1", "2001:db9:0:1:ffff:ffff:ffff:ffff", "2001:db9:0:2::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:feff",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	}
	for _, s := range probes {
		a := netip.MustParseAddr(s)
		want := slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
		if got := r.contains(a); got != want {
			t.Errorf("contains(%s) = %v, want %v", s, got, want)
		}
	}
	var empty ranges
	if empty.contains(netip.MustParseAddr("10.0.0.1")) || empty.contains(netip.MustParseAddr("::1")) {
		t.Error("empty ranges contain an address")
	}
}

// benchZones is a realistic configuration of about 20 prefixes: the
// default internal networks, office and VPN egress, a few trusted hosts.
func benchZones(b *testing.B) *Zones {
	cfg := NetworkConfig{
		Internal:        append(DefaultInternal(), "100.64.0.0/10", "2001:db8:100::/48"),
		InternalDomains: []string{"corp.example.com", "vpn.example.net"},
		TrustedProxies:  []string{"127.0.0.1"},
	}
	for i := range 10 {
		cfg.Trusted = append(cfg.Trusted, fmt.Sprintf("198.51.%d.0/24", 100+i))
	}
	cfg.Trusted = append(cfg.Trusted, "2001:db8:200::/48", "203.0.113.9")
	return mustZones(b, cfg)
}

func BenchmarkZones(b *testing.B) {
	z := benchZones(b)
	for _, bc := range []struct{ name, ip, host string }{
		{"external_v4", "192.0.2.44", ""},
		{"internal_v4", "10.20.4.17", ""},
		{"trusted_v4", "198.51.107.23", ""},
		{"external_v6", "2001:db8:300::1", ""},
		{"verified_host", "192.0.2.44", "pc7.corp.example.com"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ev := event.Event{SrcIP: netip.MustParseAddr(bc.ip), SrcHost: bc.host, SrcHostVerified: bc.host != ""}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				ev.SrcZone = ""
				_ = z.Enrich(ctx, &ev)
			}
			if ev.SrcZone == "" {
				b.Fatal("no zone set")
			}
		})
	}
}
