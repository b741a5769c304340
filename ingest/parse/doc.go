// Package parse holds vigil's log parsers, one file per format, each an
// ingest.Parser:
//
//	sshd      sshd and PAM lines from syslog files (RFC 3164, RFC 3339, RFC 5424) or journalctl -o json
//	access    nginx/apache combined and common access logs, with or without a vhost prefix, and JSON access logs
//	errorlog  nginx error logs and apache 2.2/2.4 error logs
//	audit     an application's JSON audit log through a field mapping
//	regex     any line format described by a regular expression with named groups
//	auto      picks one of the above per line
//
// Parsers are hand-written (strings and byte scanning, no grok): they sit on
// the hot path and are fuzzed. Only the regex format, which the user
// defines, uses package regexp. A parser never panics and never drops a line
// silently: a line in its format that it does not classify becomes an event
// with action "other"; a line not in its format is an error wrapping
// ingest.ErrNoMatch, which the pipeline turns into an "unparsed" event with
// Unparsed.
//
// Parsers are not safe for concurrent use (sshd keeps a small per-pid
// memory); give each source its own.
package parse

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// Options are the settings every parser constructor takes. The zero value
// is usable: local time zone, no trusted proxies, the helpdesk audit mapping.
type Options struct {
	// Location is the zone of timestamps that carry none (RFC 3164 syslog,
	// apache error logs). Nil means time.Local.
	Location *time.Location
	// TrustedProxies are the peers whose X-Forwarded-For header is believed
	// (access logs). The client is the right-most hop not in this set.
	TrustedProxies []netip.Prefix
	// Audit maps an application's JSON audit log onto event fields (format
	// audit). The zero value is the helpdesk mapping, DefaultAuditMapping.
	Audit AuditMapping
	// Pattern is the regular expression of format regex, with named groups
	// named after event fields (ts, src_ip, user, ...).
	Pattern string
	// TimeLayout is the Go time layout of the ts group of format regex;
	// empty means RFC 3339.
	TimeLayout string
	// Kind is the event kind format regex assigns; empty means auth.
	Kind event.Kind
}

func (o Options) location() *time.Location {
	if o.Location == nil {
		return time.Local
	}
	return o.Location
}

// Unparsed returns the event that keeps a line no parser accepted: its raw
// text, the name of the parser that refused it and the reason.
func Unparsed(ln ingest.Line, parser string, kind event.Kind, err error) event.Event {
	ev := event.Event{
		Ts:      ln.Time,
		Kind:    kind,
		Source:  ln.Source,
		Parser:  parser,
		Action:  event.ActionUnparsed,
		Outcome: event.OutcomeUnknown,
		Raw:     ln.Text,
		EventID: event.NewID(ln.Source, ln.File, ln.Offset, 0),
	}
	ev.SetAttr("parse_error", err.Error())
	return ev
}

// noMatch wraps ingest.ErrNoMatch with the reason, for messages such as
// "sshd: no syslog header: line not in this format".
func noMatch(parser, reason string) error {
	return fmt.Errorf("%s: %s: %w", parser, reason, ingest.ErrNoMatch)
}

// parsePID returns the process id in s, or 0 when s is not a number.
func parsePID(s string) uint32 {
	n, _ := atoiDigits(s)
	return uint32(n)
}

// ParseAddr parses a client address as it appears in logs: IPv4, IPv6 in
// any textual form, with a zone id (fe80::1%eth0, stripped) or in brackets
// ([2001:db8::1]). IPv4-mapped IPv6 (::ffff:192.0.2.1) is returned as IPv4,
// so that one client has one address whatever the log wrote.
func ParseAddr(s string) (netip.Addr, bool) {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			s = s[:i]
			break
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
