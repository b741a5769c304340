package rules

import (
	"text/template"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Kind is what a rule counts and when it fires; see the package
// documentation for each.
type Kind string

// Rule kinds.
const (
	KindMatch     Kind = "match"
	KindThreshold Kind = "threshold"
	KindDistinct  Kind = "distinct"
	KindSequence  Kind = "sequence"
	KindFirstSeen Kind = "first_seen"
	KindVelocity  Kind = "velocity"
	KindAbsence   Kind = "absence"
	KindSQL       Kind = "sql"
)

// Kinds lists every rule kind, in the order of the documentation.
func Kinds() []Kind {
	return []Kind{KindMatch, KindThreshold, KindDistinct, KindSequence, KindFirstSeen, KindVelocity, KindAbsence, KindSQL}
}

// Defaults applied when a rule leaves a key out.
const (
	DefaultCooldown = 15 * time.Minute
	DefaultMaxKmh   = 800
	DefaultMinKm    = 500
)

// Rule is one validated detection rule as loaded from YAML. Its
// expressions have been compiled once to check them; an Engine compiles
// them again bound to its own lists and zones. A Rule is immutable after
// loading and may be shared by several engines.
type Rule struct {
	ID          string
	Title       string
	Severity    event.Severity
	Description string
	Tags        []string
	Kind        Kind
	Where       string        // expr; empty means every event (sequence, sql)
	GroupBy     []string      // event field names, or attrs.NAME
	Cooldown    time.Duration // 0 means every firing is its own alert
	Summary     string        // text/template source
	Enabled     bool
	IPv6Prefix  int // prefix length grouping IPv6 src_ip; 0 means event.DefaultIPv6GroupBits

	Window    time.Duration // threshold, distinct, sequence, absence
	Threshold int           // threshold, distinct
	Field     []string      // distinct (one field), first_seen (one or more)
	Steps     []Step        // sequence
	Learn     time.Duration // first_seen
	MaxKmh    float64       // velocity
	MinKm     float64       // velocity
	Query     string        // sql
	Every     time.Duration // sql

	Tests []Test

	// File and Line locate the rule's document.
	File string
	Line int

	summary       *template.Template
	summaryFields []string // the event fields the summary may name
}

// Step is one step of a sequence rule.
type Step struct {
	Where string
	Count int // matching events needed before the next step; at least 1
	Line  int
}

// Test is one inline test of a rule: input lines or events, and the alerts
// expected from them.
type Test struct {
	Name   string
	Format string // parser for Lines; default auto
	Lines  string
	// Events are input events given field by field under their canonical
	// names; they follow the events parsed from Lines.
	Events []event.Event
	// Set holds fields set on every input event after enrichment, as a
	// JSON object under canonical names.
	Set []byte
	// Alerts are the alerts expected, in order of firing; each is compared
	// in its final version (repeats folded in).
	Alerts []ExpectedAlert
	Line   int
}

// ExpectedAlert lists the fields of an alert that a test checks; nil or
// empty fields are not checked.
type ExpectedAlert struct {
	Group    map[string]string
	Count    *uint64
	Severity string
	User     *string
	SrcIP    *string
	Summary  *string
	Line     int
}

// Position returns "file:line" of the rule.
func (r *Rule) Position() string { return pos(r.File, r.Line) }
