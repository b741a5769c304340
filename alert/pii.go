package alert

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-sec/vigil/internal/event"
)

// PII says what a receiver sees of personal data: user names, client
// addresses and client host names.
type PII string

// PII modes.
const (
	// PIIRetain shows personal data as it is.
	PIIRetain PII = "retain"
	// PIIMask keeps enough to correlate: alice -> a***e, 203.0.113.7 ->
	// 203.0.113.x, an IPv6 address keeps its /64.
	PIIMask PII = "mask"
	// PIIRemove drops personal data.
	PIIRemove PII = "remove"
)

// Removed replaces personal data in texts under PIIRemove.
const Removed = "[removed]"

// ParsePII returns the mode named s; empty is PIIRetain.
func ParsePII(s string) (PII, error) {
	switch p := PII(strings.ToLower(strings.TrimSpace(s))); p {
	case "", PIIRetain:
		return PIIRetain, nil
	case PIIMask, PIIRemove:
		return p, nil
	}
	return "", fmt.Errorf("unknown pii mode %q (want retain, mask or remove)", s)
}

// piiGroupKeys are group keys whose values are personal data whatever they
// look like.
var piiGroupKeys = []string{"user", "target_user", "src_ip", "src_host", "session_id"}

// ApplyPII returns a copy of a with its personal data treated as mode says:
// User, SrcIP, SrcHost, the personal group values (user, target_user,
// src_ip, src_host, session_id, and any value that is an address), and
// every occurrence of those users and of any IP address in Summary,
// Description and Evidence. It sets a.PII to the mode unless it is
// PIIRetain, so that a receiver shows SrcIP as AddrText does. a itself is
// not modified.
func ApplyPII(a event.Alert, mode PII) event.Alert {
	if mode == "" || mode == PIIRetain {
		return a
	}
	users := []string{}
	if a.User != "" {
		users = append(users, a.User)
	}
	for _, k := range []string{"user", "target_user"} {
		if v := a.Group[k]; v != "" && !slices.Contains(users, v) {
			users = append(users, v)
		}
	}
	// Longer names first, so that "alice" inside "alice2" is not replaced
	// before "alice2" is.
	slices.SortFunc(users, func(x, y string) int { return len(y) - len(x) })

	out := a
	out.PII = string(mode)
	out.User = scrubUser(a.User, mode)
	out.SrcHost = scrubHost(a.SrcHost, mode)
	switch {
	case !a.SrcIP.IsValid():
	case mode == PIIMask:
		out.SrcIP = maskedPrefix(a.SrcIP)
	default:
		out.SrcIP = netip.Addr{}
	}
	if a.Group != nil {
		out.Group = maps.Clone(a.Group)
		for k, v := range out.Group {
			switch {
			case v == "":
			case isIP(v):
				out.Group[k] = scrubIPText(v, mode)
			case k == "src_host":
				out.Group[k] = scrubHost(v, mode)
			case slices.Contains(piiGroupKeys, k):
				out.Group[k] = scrubUser(v, mode)
			}
		}
	}
	out.Summary = scrubText(a.Summary, users, mode)
	out.Description = scrubText(a.Description, users, mode)
	if a.Evidence != nil {
		out.Evidence = make([]string, len(a.Evidence))
		for i, l := range a.Evidence {
			out.Evidence[i] = scrubText(l, users, mode)
		}
	}
	return out
}

// AddrText returns a.SrcIP as a receiver shows it: masked ("203.0.113.x")
// when ApplyPII masked it, "" when there is none or it was removed.
func AddrText(a *event.Alert) string {
	if !a.SrcIP.IsValid() {
		return ""
	}
	if a.PII == string(PIIMask) {
		return MaskAddr(a.SrcIP)
	}
	return a.SrcIP.String()
}

// MaskUser keeps the first and last character of a name: alice -> a***e.
// Names of one or two characters keep only the first.
func MaskUser(s string) string {
	if s == "" {
		return ""
	}
	first, n := utf8.DecodeRuneInString(s)
	if utf8.RuneCountInString(s) <= 2 {
		return string(first) + "***"
	}
	last, _ := utf8.DecodeLastRuneInString(s[n:])
	return string(first) + "***" + string(last)
}

// MaskAddr hides the host part of an address: the last octet of an IPv4
// address (203.0.113.x), everything after the /64 of an IPv6 address
// (2001:db8:1:2:x:x:x:x).
func MaskAddr(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		return fmt.Sprintf("%d.%d.%d.x", b[0], b[1], b[2])
	}
	b := ip.As16()
	return fmt.Sprintf("%x:%x:%x:%x:x:x:x:x",
		uint16(b[0])<<8|uint16(b[1]), uint16(b[2])<<8|uint16(b[3]),
		uint16(b[4])<<8|uint16(b[5]), uint16(b[6])<<8|uint16(b[7]))
}

// maskedPrefix returns the network part MaskAddr keeps, as an address.
func maskedPrefix(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p.Addr()
}

func scrubUser(s string, mode PII) string {
	if s == "" {
		return ""
	}
	if mode == PIIMask {
		return MaskUser(s)
	}
	return ""
}

// scrubHost keeps the last two labels of a masked host name
// (***.example.net).
func scrubHost(s string, mode PII) string {
	if s == "" || mode != PIIMask {
		return ""
	}
	labels := strings.Split(strings.TrimSuffix(s, "."), ".")
	if len(labels) <= 2 {
		return "***"
	}
	return "***." + strings.Join(labels[len(labels)-2:], ".")
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func scrubIPText(s string, mode PII) string {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	if mode == PIIMask {
		return MaskAddr(ip)
	}
	return Removed
}

// scrubText replaces every IP address in s and every whole-word occurrence
// of users.
func scrubText(s string, users []string, mode PII) string {
	if s == "" {
		return s
	}
	s = scrubIPs(s, mode)
	for _, u := range users {
		repl := Removed
		if mode == PIIMask {
			repl = MaskUser(u)
		}
		s = replaceWord(s, u, repl)
	}
	return s
}

func ipChar(r byte) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == '.' || r == ':'
}

// scrubIPs finds runs of address characters and replaces those that parse
// as an address (with a trailing '.' or ':' of the sentence left alone).
func scrubIPs(s string, mode PII) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !ipChar(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && ipChar(s[j]) {
			j++
		}
		if i > 0 && isWordByte(s[i-1]) {
			i = j
			continue
		}
		end := j
		for end > i && (s[end-1] == '.' || s[end-1] == ':') {
			end--
		}
		cand := s[i:end]
		if (j == len(s) || !isWordByte(s[j])) && strings.ContainsAny(cand, ".:") && isIP(cand) {
			b.WriteString(s[last:i])
			b.WriteString(scrubIPText(cand, mode))
			last = end
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// isWordByte reports whether c continues a word that an address or a user
// name must not be part of.
func isWordByte(c byte) bool {
	return c >= 'g' && c <= 'z' || c >= 'G' && c <= 'Z' || c == '_' || c >= 0x80
}

// replaceWord replaces occurrences of w in s that are not part of a longer
// word (letters, digits, '_' or '-' on either side).
func replaceWord(s, w, repl string) string {
	if w == "" || !strings.Contains(s, w) {
		return s
	}
	var b strings.Builder
	i := 0
	for {
		j := strings.Index(s[i:], w)
		if j < 0 {
			break
		}
		j += i
		k := j + len(w)
		before, _ := utf8.DecodeLastRuneInString(s[:j])
		after, _ := utf8.DecodeRuneInString(s[k:])
		if (j == 0 || !nameRune(before)) && (k == len(s) || !nameRune(after)) {
			b.WriteString(s[i:j])
			b.WriteString(repl)
		} else {
			b.WriteString(s[i:k])
		}
		i = k
	}
	b.WriteString(s[i:])
	return b.String()
}

func nameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-'
}
