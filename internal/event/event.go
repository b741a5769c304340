// Package event defines Event, the normalized record every vigil stage
// passes on: parsers fill it from a log line, enrichers add hostname, geo and
// network zone, the store writes it to ClickHouse and the rules read it.
//
// The package uses the standard library only so that every other package can
// import it. An Event is a plain value: it is not safe for concurrent
// mutation, but copies share nothing except Attrs.
//
// Field names follow one vocabulary: the JSON key, the ClickHouse column and
// the rule expression name are the same snake_case word (src_ip), the Go field
// is its CamelCase (SrcIP). The struct tags carry the word for encoding/json
// (json) and for expr-lang/expr (expr).
package event

import (
	"net/netip"
	"time"
)

// Kind is the log family an event came from.
type Kind string

// Kinds.
const (
	KindAuth  Kind = "auth"
	KindWeb   Kind = "web"
	KindError Kind = "error"
	KindAudit Kind = "audit"
)

// Outcome is the result of an action.
type Outcome string

// Outcomes. The empty value is written as unknown.
const (
	OutcomeUnknown Outcome = "unknown"
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
)

// Actions used by the shipped parsers. Applications may emit others through
// the audit field mapping; Action is an open set.
const (
	ActionLogin        = "login"
	ActionLoginProbe   = "login_probe"
	ActionLogout       = "logout"
	ActionReply        = "reply"
	ActionAdminAction  = "admin_action"
	ActionSessionStart = "session_start"
	ActionSessionEnd   = "session_end"
	ActionHTTPRequest  = "http_request"
	ActionError        = "error"
	ActionDNSMismatch  = "dns_mismatch"
	// ActionOther marks a line the parser recognised as its format but whose
	// message it does not classify. It is kept, never dropped.
	ActionOther = "other"
)

// Role is the role of the acting user.
type Role string

// Roles. The empty value is written as unknown.
const (
	RoleUnknown Role = "unknown"
	RoleUser    Role = "user"
	RoleAgent   Role = "agent"
	RoleAdmin   Role = "admin"
	RoleSystem  Role = "system"
)

// Zone classifies the source address against the configured networks.
type Zone string

// Zones. The empty value means the event was not classified.
const (
	ZoneInternal Zone = "internal"
	ZoneTrusted  Zone = "trusted"
	ZoneExternal Zone = "external"
)

// Event is one normalized log record. The zero value is an empty event; a
// parser sets at least Ts, Kind, Parser, Action and Raw.
type Event struct {
	Ts      time.Time `json:"ts" expr:"ts"`           // event time from the line, millisecond precision is stored
	Host    string    `json:"host" expr:"host"`       // machine that wrote the log
	Kind    Kind      `json:"kind" expr:"kind"`       // auth, web, error, audit
	Source  string    `json:"source" expr:"source"`   // configured source name
	Parser  string    `json:"parser" expr:"parser"`   // parser that produced the event
	Program string    `json:"program" expr:"program"` // syslog tag or application name
	PID     uint32    `json:"pid" expr:"pid"`         // process id of the program, when the line names one
	Action  string    `json:"action" expr:"action"`   // login, login_probe, http_request, ...
	Outcome Outcome   `json:"outcome" expr:"outcome"`
	Reason  string    `json:"reason" expr:"reason"` // bad_password, invalid_user, ...

	AuthMethod string `json:"auth_method" expr:"auth_method"`
	MFA        string `json:"mfa" expr:"mfa"`
	User       string `json:"user" expr:"user"`
	UserRole   Role   `json:"user_role" expr:"user_role"`
	TargetUser string `json:"target_user" expr:"target_user"`
	SessionID  string `json:"session_id" expr:"session_id"` // a keyed hash, never a raw cookie

	SrcIP           netip.Addr `json:"src_ip" expr:"src_ip"`
	SrcPort         uint16     `json:"src_port" expr:"src_port"`
	SrcHost         string     `json:"src_host" expr:"src_host"`                   // PTR name
	SrcHostVerified bool       `json:"src_host_verified" expr:"src_host_verified"` // forward lookup of SrcHost contains SrcIP
	SrcZone         Zone       `json:"src_zone" expr:"src_zone"`

	GeoCountry    string  `json:"geo_country" expr:"geo_country"`
	GeoCity       string  `json:"geo_city" expr:"geo_city"`
	GeoLat        float64 `json:"geo_lat" expr:"geo_lat"`
	GeoLon        float64 `json:"geo_lon" expr:"geo_lon"`
	GeoAccuracyKm uint16  `json:"geo_accuracy_km" expr:"geo_accuracy_km"` // radius around geo_lat/geo_lon with ~67% confidence; 0 = unknown
	ASN           uint32  `json:"asn" expr:"asn"`
	ASOrg         string  `json:"as_org" expr:"as_org"`

	HTTPMethod  string `json:"http_method" expr:"http_method"`
	HTTPHost    string `json:"http_host" expr:"http_host"`
	HTTPPath    string `json:"http_path" expr:"http_path"`
	HTTPQuery   string `json:"http_query" expr:"http_query"`
	HTTPStatus  uint16 `json:"http_status" expr:"http_status"`
	HTTPBytes   uint64 `json:"http_bytes" expr:"http_bytes"`
	HTTPReferer string `json:"http_referer" expr:"http_referer"`
	UserAgent   string `json:"user_agent" expr:"user_agent"`

	Severity string            `json:"severity" expr:"severity"`
	Message  string            `json:"message" expr:"message"`
	Attrs    map[string]string `json:"attrs,omitempty" expr:"attrs"` // the long tail: pid, key fingerprint, AH code, ...
	Raw      string            `json:"raw" expr:"raw"`
	EventID  ID                `json:"event_id" expr:"event_id"`
}

// SetAttr sets one attribute, allocating the map on first use.
func (e *Event) SetAttr(key, value string) {
	if e.Attrs == nil {
		e.Attrs = make(map[string]string, 4)
	}
	e.Attrs[key] = value
}

// ActionUnparsed marks a line that no parser accepted. Such an event keeps
// the line in Raw and the parser's error in Attrs["parse_error"], so that
// nothing read is lost.
const ActionUnparsed = "unparsed"
