package parse

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// Regex parses any line format described by a regular expression
// (Options.Pattern, RE2 syntax) whose named groups are named after event
// fields:
//
//	(?P<ts>\S+) (?P<host>\S+) login (?P<outcome>\w+) user=(?P<user>\S+) ip=(?P<src_ip>\S+)
//
// The group ts is read with Options.TimeLayout (a Go layout, default RFC
// 3339; "unix" for epoch seconds or milliseconds); a layout without a year
// takes the year of the line's read time. Groups named after other event
// fields (see AuditMapping for the list) fill them; groups with any other
// name go to Attrs. A line the pattern does not match, or whose typed
// groups (ts, src_ip, src_port, http_status, http_bytes) do not parse, is
// refused with ingest.ErrNoMatch. Without a ts group the event time is the
// time the line was read.
//
// Kind is Options.Kind (default auth). Action is the action group, or by
// kind: http_request for web, error for error, other otherwise.
type Regex struct {
	re     *regexp.Regexp
	names  []string // group names by index; "" for unnamed groups
	layout string
	loc    *time.Location
	kind   event.Kind
	action string
}

var _ ingest.Parser = (*Regex)(nil)

// NewRegex compiles opts.Pattern into a parser.
func NewRegex(opts Options) (*Regex, error) {
	if opts.Pattern == "" {
		return nil, errors.New("regex: empty pattern")
	}
	re, err := regexp.Compile(opts.Pattern)
	if err != nil {
		return nil, fmt.Errorf("regex: compile pattern: %w", err)
	}
	p := &Regex{re: re, names: re.SubexpNames(), layout: opts.TimeLayout, loc: opts.location(), kind: opts.Kind}
	if p.layout == "" {
		p.layout = time.RFC3339
	}
	switch p.kind {
	case "", event.KindAuth:
		p.kind, p.action = event.KindAuth, event.ActionOther
	case event.KindWeb:
		p.action = event.ActionHTTPRequest
	case event.KindError:
		p.action = event.ActionError
	case event.KindAudit:
		p.action = event.ActionOther
	default:
		return nil, fmt.Errorf("regex: unknown kind %q (want auth, web, error or audit)", opts.Kind)
	}
	named := 0
	for _, n := range p.names {
		if n != "" {
			named++
		}
	}
	if named == 0 {
		return nil, errors.New("regex: pattern has no named groups (name them after event fields: ts, src_ip, user, ...)")
	}
	return p, nil
}

// Name returns "regex".
func (p *Regex) Name() string { return "regex" }

// Parse appends the event of one line to dst.
func (p *Regex) Parse(ln ingest.Line, dst []event.Event) ([]event.Event, error) {
	m := p.re.FindStringSubmatchIndex(ln.Text)
	if m == nil {
		return dst, noMatch("regex", "pattern does not match")
	}
	ev := event.Event{
		Ts:      ln.Time,
		Kind:    p.kind,
		Source:  ln.Source,
		Parser:  "regex",
		Action:  p.action,
		Outcome: event.OutcomeUnknown,
		Raw:     ln.Text,
		EventID: event.NewID(ln.Source, ln.File, ln.Offset, 0),
	}
	for i, name := range p.names {
		if name == "" || m[2*i] < 0 {
			continue
		}
		v := ln.Text[m[2*i]:m[2*i+1]]
		switch {
		case name == "ts":
			t, err := p.parseTime(v, ln.Time)
			if err != nil {
				return dst, noMatch("regex", "group ts: "+err.Error())
			}
			ev.Ts = t
		case isEventField(name) || attrFields[name]:
			if err := setField(&ev, name, v); err != nil {
				return dst, noMatch("regex", "group "+err.Error())
			}
		case v != "":
			ev.SetAttr(name, v)
		}
	}
	if ev.Ts.IsZero() {
		return dst, noMatch("regex", "no time: no ts group and no read time")
	}
	return append(dst, ev), nil
}

// parseTime reads the ts group. A layout without a year gets the year of
// ref (the read time), or the year before when that would put the line more
// than a week after ref: a December line read in January.
func (p *Regex) parseTime(v string, ref time.Time) (time.Time, error) {
	if p.layout == "unix" {
		t, ok := parseEpoch(v)
		if !ok {
			return time.Time{}, fmt.Errorf("%q is not a Unix time", v)
		}
		return t, nil
	}
	t, err := time.ParseInLocation(p.layout, v, p.loc)
	if err != nil {
		return time.Time{}, err
	}
	if t.Year() == 0 {
		if ref.IsZero() {
			ref = time.Now()
		}
		t = t.AddDate(ref.In(p.loc).Year(), 0, 0)
		if t.After(ref.Add(7 * 24 * time.Hour)) {
			t = t.AddDate(-1, 0, 0)
		}
	}
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("%q is the zero time", v)
	}
	return t.UTC(), nil
}
