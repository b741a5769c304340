package enrich

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
)

// DefaultInternal returns the networks that count as internal when the
// configuration names none: RFC 1918 private IPv4, loopback (127.0.0.0/8 and
// ::1/128) and IPv6 unique local addresses (fc00::/7). It returns a new slice
// on every call.
func DefaultInternal() []string {
	return []string{
		"10.0.0.0/8",
		"172.16.0.0/12",
		"192.168.0.0/16",
		"127.0.0.0/8",
		"::1/128",
		"fc00::/7",
	}
}

// NetworkConfig is the network block of the configuration: which source
// addresses are internal, which are trusted (the login allowlist), and
// which reverse proxies may name the client in X-Forwarded-For.
//
// Entries of Internal, Trusted and TrustedProxies are CIDRs
// ("198.51.100.0/24") or single addresses, taken as /32 or /128. Host bits
// set in a CIDR are ignored ("10.1.2.3/8" is 10.0.0.0/8).
type NetworkConfig struct {
	// Internal lists the internal networks. Nil means DefaultInternal; an
	// empty, non-nil list means that no address is internal. A configured
	// list replaces the defaults, it does not extend them.
	Internal []string `yaml:"internal"`
	// InternalDomains lists DNS suffixes of internal hosts. A source whose
	// reverse-DNS name is forward-confirmed (src_host_verified) and lies
	// under one of them counts as internal, wherever its address is.
	InternalDomains []string `yaml:"internal_domains"`
	// Trusted lists the networks allowed to log in: the login allowlist.
	Trusted []string `yaml:"trusted"`
	// TrustedProxies lists the reverse proxies whose X-Forwarded-For header
	// the access-log parser believes.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// DefaultNetworkConfig returns the network configuration used when the
// config file has no network block: DefaultInternal and nothing else.
func DefaultNetworkConfig() NetworkConfig {
	return NetworkConfig{Internal: DefaultInternal()}
}

// Validate checks every entry without building anything. It reports all bad
// entries at once, each named by its key path in the config file, for
// example: network.trusted[2]: "10.0.0.300/8" is not a CIDR.
func (c NetworkConfig) Validate() error {
	_, err := c.parse()
	return err
}

type parsedNetwork struct {
	internal, trusted, proxies []netip.Prefix
	domains                    []string
}

func (c NetworkConfig) parse() (parsedNetwork, error) {
	var p parsedNetwork
	var errs []error
	internal := c.Internal
	if internal == nil {
		internal = DefaultInternal()
	}
	p.internal = parsePrefixes("network.internal", internal, &errs)
	p.trusted = parsePrefixes("network.trusted", c.Trusted, &errs)
	p.proxies = parsePrefixes("network.trusted_proxies", c.TrustedProxies, &errs)
	for i, d := range c.InternalDomains {
		n, ok := normalizeDomain(d)
		if !ok {
			errs = append(errs, fmt.Errorf("network.internal_domains[%d]: %q is not a domain name", i, d))
			continue
		}
		p.domains = append(p.domains, n)
	}
	return p, errors.Join(errs...)
}

// parsePrefixes parses CIDRs and single addresses. Errors name key[i].
func parsePrefixes(key string, entries []string, errs *[]error) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(entries))
	for i, s := range entries {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s[%d]: %q %s", key, i, s, err.Error()))
			continue
		}
		out = append(out, p)
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, errors.New("is not a CIDR or an IP address")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("is not a CIDR")
	}
	// An IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) means the IPv4 network:
	// lookups unmap addresses, so the prefix must be unmapped too.
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// normalizeDomain lower-cases d and strips a trailing dot and a leading "."
// or "*."; it reports false for anything that is not a host name.
func normalizeDomain(d string) (string, bool) {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimSuffix(d, ".")
	d = strings.TrimPrefix(d, "*.")
	d = strings.TrimPrefix(d, ".")
	if d == "" || len(d) > 253 {
		return "", false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return "", false
		}
		for i := range len(label) {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return d, true
}

// Zones classifies source addresses into internal, trusted and external. It
// is immutable after NewZones and safe for concurrent use.
type Zones struct {
	internal ranges
	trusted  ranges
	domains  []string // lower-case, no trailing dot
	proxies  []netip.Prefix
}

// NewZones validates cfg (see NetworkConfig.Validate) and builds the lookup
// tables.
func NewZones(cfg NetworkConfig) (*Zones, error) {
	p, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	return &Zones{
		internal: newRanges(p.internal),
		trusted:  newRanges(p.trusted),
		domains:  p.domains,
		proxies:  p.proxies,
	}, nil
}

// Enrich sets ev.SrcZone from ev.SrcIP, ev.SrcHost and ev.SrcHostVerified
// (see Zone). An event without a source address is left without a zone. It
// never fails and never blocks; run it after the reverse-DNS enricher so
// that internal domains can take effect.
func (z *Zones) Enrich(_ context.Context, ev *event.Event) error {
	if !ev.SrcIP.IsValid() {
		return nil
	}
	ev.SrcZone = z.Zone(ev.SrcIP, ev.SrcHost, ev.SrcHostVerified)
	return nil
}

// Zone classifies a source. Precedence is internal, then trusted, then
// external: a source is internal when addr lies in an internal network, or
// when hostVerified is true and host is an internal domain or lies under one
// (matched on label boundaries, ignoring case and a trailing dot:
// corp.example.com covers a.corp.example.com and itself, not
// evilcorp.example.com). Otherwise it is trusted when addr lies in a trusted
// network, else external. An IPv4-mapped IPv6 address is classified as its
// IPv4 address. An invalid addr gives the empty Zone.
func (z *Zones) Zone(addr netip.Addr, host string, hostVerified bool) event.Zone {
	if !addr.IsValid() {
		return ""
	}
	addr = addr.Unmap()
	switch {
	case z.internal.contains(addr):
		return event.ZoneInternal
	case hostVerified && z.InternalHost(host):
		return event.ZoneInternal
	case z.trusted.contains(addr):
		return event.ZoneTrusted
	default:
		return event.ZoneExternal
	}
}

// InternalHost reports whether host is one of the internal domains or lies
// under one. It does not check whether host is forward-confirmed; callers
// must.
func (z *Zones) InternalHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	for _, d := range z.domains {
		if hasDomainSuffix(host, d) {
			return true
		}
	}
	return false
}

// hasDomainSuffix reports whether host equals domain or ends with
// "."+domain, ignoring ASCII case. domain is lower-case. It does not allocate.
func hasDomainSuffix(host, domain string) bool {
	switch {
	case len(host) == len(domain):
		return strings.EqualFold(host, domain)
	case len(host) > len(domain):
		cut := len(host) - len(domain)
		return host[cut-1] == '.' && strings.EqualFold(host[cut:], domain)
	default:
		return false
	}
}

// TrustedProxyPrefixes returns the trusted reverse proxies, masked and with
// single addresses as /32 or /128, in configuration order. The slice is a
// copy.
func (z *Zones) TrustedProxyPrefixes() []netip.Prefix {
	return slices.Clone(z.proxies)
}

// ranges is a set of addresses as sorted, non-overlapping, non-adjacent
// inclusive intervals, one list per family. A lookup is a binary search:
// O(log n), no allocation.
type ranges struct {
	v4 []span4
	v6 []span6
}

type span4 struct{ lo, hi uint32 }

type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// next returns a+1, and false when a is the maximum.
func (a u128) next() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return u128{a.hi + 1, 0}, true
	}
	return a, false
}

type span6 struct{ lo, hi u128 }

func addr4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addr6(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func newRanges(prefixes []netip.Prefix) ranges {
	var r ranges
	for _, p := range prefixes {
		p = p.Masked()
		if p.Addr().Is4() {
			host := uint32(0)
			if p.Bits() < 32 {
				host = ^uint32(0) >> p.Bits()
			}
			lo := addr4(p.Addr())
			r.v4 = append(r.v4, span4{lo, lo | host})
			continue
		}
		lo := addr6(p.Addr())
		var host u128
		switch b := p.Bits(); {
		case b == 0:
			host = u128{^uint64(0), ^uint64(0)}
		case b < 64:
			host = u128{^uint64(0) >> b, ^uint64(0)}
		case b < 128:
			host = u128{0, ^uint64(0) >> (b - 64)}
		}
		r.v6 = append(r.v6, span6{lo, u128{lo.hi | host.hi, lo.lo | host.lo}})
	}
	slices.SortFunc(r.v4, func(a, b span4) int { return cmp.Compare(a.lo, b.lo) })
	slices.SortFunc(r.v6, func(a, b span6) int { return a.lo.cmp(b.lo) })
	r.v4 = merge(r.v4, func(cur *span4, s span4) bool {
		if cur.hi != ^uint32(0) && s.lo > cur.hi+1 {
			return false
		}
		cur.hi = max(cur.hi, s.hi)
		return true
	})
	r.v6 = merge(r.v6, func(cur *span6, s span6) bool {
		if n, ok := cur.hi.next(); ok && s.lo.cmp(n) > 0 {
			return false
		}
		if s.hi.cmp(cur.hi) > 0 {
			cur.hi = s.hi
		}
		return true
	})
	return r
}

// merge folds sorted spans in place: absorb reports whether s overlaps or
// touches cur and, if so, has widened cur to cover it.
func merge[S any](spans []S, absorb func(cur *S, s S) bool) []S {
	if len(spans) == 0 {
		return nil
	}
	out := spans[:1]
	for _, s := range spans[1:] {
		if !absorb(&out[len(out)-1], s) {
			out = append(out, s)
		}
	}
	return slices.Clip(out)
}

// contains reports whether a (unmapped, valid) lies in one of the ranges.
func (r *ranges) contains(a netip.Addr) bool {
	if a.Is4() {
		x := addr4(a)
		// Find the last span with lo <= x.
		lo, hi := 0, len(r.v4)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if r.v4[m].lo <= x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo > 0 && x <= r.v4[lo-1].hi
	}
	x := addr6(a)
	lo, hi := 0, len(r.v6)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.v6[m].lo.cmp(x) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && x.cmp(r.v6[lo-1].hi) <= 0
}
