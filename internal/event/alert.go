package event

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Severity ranks alerts. Its order is the order of the constants: info is
// the lowest, critical the highest.
type Severity string

// Severities, lowest first.
const (
	SeverityInfo     Severity = "info"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Rank returns the position of s in the order info < low < medium < high <
// critical, from 0, and -1 for a value that is not a severity.
func (s Severity) Rank() int {
	switch s {
	case SeverityInfo:
		return 0
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return -1
}

// ParseSeverity returns the severity named s (case-insensitive).
func ParseSeverity(s string) (Severity, error) {
	sev := Severity(strings.ToLower(strings.TrimSpace(s)))
	if sev.Rank() < 0 {
		return "", fmt.Errorf("unknown severity %q (want info, low, medium, high or critical)", s)
	}
	return sev, nil
}

// AlertState is where an alert is in its life.
type AlertState string

// Alert states. An alert is firing while events keep folding into it within
// its rule's cooldown; it is resolved when the cooldown passed without one.
const (
	AlertFiring   AlertState = "firing"
	AlertResolved AlertState = "resolved"
)

// Alert is what a rule raises. The rules engine fills it, the dispatcher
// routes and delivers it, the store keeps each of its versions. Repeats of
// the same rule and group inside the rule's cooldown fold into the open alert:
// Count grows, LastTs moves, ID stays.
//
// JSON keys are the canonical snake_case names, as for Event.
type Alert struct {
	// ID is deterministic: the same rule, group and first event give the
	// same ID, so a replay raises the same alerts and a store that sees an
	// alert twice replaces the older version.
	ID         string            `json:"id"`
	Rule       string            `json:"rule"`
	Title      string            `json:"title"`
	Severity   Severity          `json:"severity"`
	Tags       []string          `json:"tags,omitempty"`
	State      AlertState        `json:"state"`
	Ts         time.Time         `json:"ts"`       // event time at which it fired
	FirstTs    time.Time         `json:"first_ts"` // time of the first event that counted
	LastTs     time.Time         `json:"last_ts"`  // time of the latest event folded in
	Count      uint64            `json:"count"`    // events that counted (threshold) or repeats folded in
	Group      map[string]string `json:"group,omitempty"`
	SrcIP      netip.Addr        `json:"src_ip"`
	User       string            `json:"user"`
	Host       string            `json:"host"`
	GeoCountry string            `json:"geo_country"`
	ASN        uint32            `json:"asn,omitempty"`
	ASOrg      string            `json:"as_org,omitempty"`
	// SrcHost is the client's host name, set only when forward-confirmed
	// (the event's src_host_verified).
	SrcHost string `json:"src_host,omitempty"`
	// PII is how the alert package treated personal data for a receiver
	// (mask or remove); empty when the values are as logged.
	PII         string `json:"pii,omitempty"`
	Summary     string `json:"summary"`
	Description string `json:"description,omitempty"`
	// Evidence holds the raw lines of the triggering events, oldest first,
	// capped by the engine (MaxEvidence lines of at most MaxEvidenceBytes
	// each).
	Evidence []string `json:"evidence"`
	// EventIDs identify the events behind Evidence, in the same order.
	EventIDs []ID `json:"event_ids,omitempty"`
}

// Caps on Alert.Evidence.
const (
	MaxEvidence      = 20
	MaxEvidenceBytes = 2048
)

// GroupKey returns the alert's group as one stable string, "k=v,k=v" in
// key order, for deduplication by rule and group.
func (a *Alert) GroupKey() string {
	return GroupKeyOf(a.Group)
}

// GroupKeyOf returns g as one stable string, "k=v,k=v" in key order.
func GroupKeyOf(g map[string]string) string {
	if len(g) == 0 {
		return ""
	}
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	// Insertion sort: groups have a handful of keys.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(g[k])
	}
	return b.String()
}
