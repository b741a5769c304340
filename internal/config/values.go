package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ByteSize is a size in bytes. In YAML it is an integer or a number with a
// unit: 64KiB, 1MiB, 10GiB (powers of 1024), 500KB, 10MB, 1GB (powers of
// 1000), or B.
type ByteSize int64

// String formats b with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		size ByteSize
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalYAML writes b with its unit.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1000,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1000 * 1000,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1000 * 1000 * 1000,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1000 * 1000 * 1000 * 1000,
}

// ParseByteSize parses a size such as "64KiB", "10MB" or "4096".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '_') {
		i++
	}
	num := strings.ReplaceAll(t[:i], "_", "")
	unit, ok := byteUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if num == "" || !ok {
		return 0, fmt.Errorf("invalid size %q (want bytes or a number with a unit: 64KiB, 10MiB, 1GiB)", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(n * unit), nil
}

// ParseDuration parses a Go duration ("300ms", "1h30m") that may also use
// d for days ("14d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	bad := fmt.Errorf("invalid duration %q (want a number and a unit: 300ms, 30s, 5m, 2h, 14d)", s)
	if t == "" {
		return 0, bad
	}
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	var days int64
	if i := strings.IndexByte(t, 'd'); i >= 0 {
		n, err := strconv.ParseInt(t[:i], 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/int64(24*time.Hour) {
			return 0, bad
		}
		days, t = n, t[i+1:]
	}
	var rest time.Duration
	if t != "" {
		if t[0] < '0' || t[0] > '9' {
			// "5d-1h" and "d1h" are not durations.
			if t[0] != '.' {
				return 0, bad
			}
		}
		d, err := time.ParseDuration(t)
		if err != nil {
			return 0, bad
		}
		rest = d
	}
	total := time.Duration(days) * 24 * time.Hour
	if total > math.MaxInt64-rest {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	total += rest
	if neg {
		total = -total
	}
	return total, nil
}

// parsePrefix parses a CIDR or a single address (taken as /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
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
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}
