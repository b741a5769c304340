package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// AuditMapping maps the fields of an application's JSON audit log onto
// event fields. In YAML:
//
//	app: helpdesk                    # program, when the line has no app field
//	fields:                          # canonical name: JSON key
//	  ts: time
//	  user: agent
//	  src_ip: ip
//	  action: event
//	actions:                         # app event name: action and outcome
//	  login_success: {action: login, outcome: success}
//	  pw_reset: {action: password_change}
//
// A mapping is merged over DefaultAuditMapping: the keys it names replace
// the default ones, an empty JSON key removes a default. The zero value is
// therefore the helpdesk mapping itself.
//
// Canonical names are "ts", the event fields a line can fill (host, program,
// action, outcome, reason, auth_method, mfa, user, user_role, target_user,
// session_id, src_ip, src_port, http_method, http_host, http_path,
// http_query, http_status, http_bytes, http_referer, user_agent, severity,
// message) and the long-tail names the rules know, kept in Attrs under that
// name (admin_op, old_value, new_value, object_type, object_id, channel,
// remember_me, user_exists). A JSON key may contain dots to reach into
// nested objects ("actor.name"). JSON keys the mapping does not name go to
// Attrs under their own name; objects and arrays as compact JSON.
type AuditMapping struct {
	App     string                 `yaml:"app,omitempty" json:"app,omitempty"`
	Fields  map[string]string      `yaml:"fields,omitempty" json:"fields,omitempty"`
	Actions map[string]AuditAction `yaml:"actions,omitempty" json:"actions,omitempty"`
}

// AuditAction is the action and outcome an application's event name
// stands for. An empty Outcome leaves the outcome to the line's own
// outcome field, if the mapping names one.
type AuditAction struct {
	Action  string        `yaml:"action" json:"action"`
	Outcome event.Outcome `yaml:"outcome,omitempty" json:"outcome,omitempty"`
}

// DefaultAuditMapping returns the mapping of the helpdesk audit log of
// rule-catalog.md section 5.4.
func DefaultAuditMapping() AuditMapping {
	return AuditMapping{
		Fields: map[string]string{
			"ts":          "ts",
			"program":     "app",
			"action":      "event",
			"outcome":     "outcome",
			"user":        "user",
			"user_role":   "role",
			"src_ip":      "src_ip",
			"user_agent":  "ua",
			"session_id":  "session",
			"auth_method": "auth",
			"mfa":         "mfa",
			"reason":      "reason",
			"target_user": "target",
			"admin_op":    "op",
			"old_value":   "old",
			"new_value":   "new",
			"channel":     "channel",
			"remember_me": "remember_me",
			"message":     "msg",
		},
		Actions: map[string]AuditAction{
			"login_success": {Action: event.ActionLogin, Outcome: event.OutcomeSuccess},
			"login_failure": {Action: event.ActionLogin, Outcome: event.OutcomeFailure},
			"logout":        {Action: event.ActionLogout, Outcome: event.OutcomeSuccess},
			"ticket_reply":  {Action: event.ActionReply},
			"admin_action":  {Action: event.ActionAdminAction},
			"session_start": {Action: event.ActionSessionStart},
			"session_end":   {Action: event.ActionSessionEnd},
		},
	}
}

// merged returns m laid over the default mapping.
func (m AuditMapping) merged() AuditMapping {
	out := DefaultAuditMapping()
	if m.App != "" {
		out.App = m.App
	}
	for name, key := range m.Fields {
		if key == "" {
			delete(out.Fields, name)
		} else {
			out.Fields[name] = key
		}
	}
	maps.Copy(out.Actions, m.Actions)
	return out
}

// Validate reports the first problem of the mapping once merged over the
// default: an unknown canonical name, an action without a name, an unknown
// outcome.
func (m AuditMapping) Validate() error {
	_, err := compileAuditMapping(m)
	return err
}

// Audit parses an application's JSON audit log, one object per line,
// through an AuditMapping. Every line becomes one audit event; the app's
// event name becomes action and outcome through the mapping's actions, and
// an event name it does not list is used as the action as it is.
type Audit struct {
	loc     *time.Location
	tsKey   string
	fields  []auditField // sorted by name, for a deterministic result
	mapped  map[string]bool
	actions map[string]AuditAction
	app     string
}

var _ ingest.Parser = (*Audit)(nil)

type auditField struct {
	name string // canonical name
	key  string // JSON key
}

// NewAudit returns an audit log parser for opts.Audit, which it validates.
func NewAudit(opts Options) (*Audit, error) {
	p, err := compileAuditMapping(opts.Audit)
	if err != nil {
		return nil, err
	}
	p.loc = opts.location()
	return p, nil
}

func compileAuditMapping(m AuditMapping) (*Audit, error) {
	m = m.merged()
	p := &Audit{mapped: make(map[string]bool), actions: m.Actions, app: m.App}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(m.Fields)) {
		key := m.Fields[name]
		if name != "ts" && !isEventField(name) && !attrFields[name] {
			errs = append(errs, fmt.Errorf("audit mapping: unknown field %q (mapped to JSON key %q)", name, key))
			continue
		}
		// A key into a nested object leaves that object to go to Attrs whole.
		p.mapped[key] = true
		if name == "ts" {
			p.tsKey = key
			continue
		}
		p.fields = append(p.fields, auditField{name: name, key: key})
	}
	if p.tsKey == "" {
		errs = append(errs, errors.New("audit mapping: no JSON key for ts"))
	}
	for _, name := range slices.Sorted(maps.Keys(m.Actions)) {
		a := m.Actions[name]
		if a.Action == "" {
			errs = append(errs, fmt.Errorf("audit mapping: action for event %q is empty", name))
		}
		switch a.Outcome {
		case "", event.OutcomeUnknown, event.OutcomeSuccess, event.OutcomeFailure:
		default:
			errs = append(errs, fmt.Errorf("audit mapping: event %q: outcome %q is not success, failure or unknown", name, a.Outcome))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Name returns "audit".
func (p *Audit) Name() string { return "audit" }

// Parse appends the event of one audit log line to dst.
func (p *Audit) Parse(ln ingest.Line, dst []event.Event) ([]event.Event, error) {
	s := strings.TrimSpace(ln.Text)
	if s == "" || s[0] != '{' {
		return dst, noMatch("audit", "not a JSON object")
	}
	m, err := decodeObject(s)
	if err != nil {
		return dst, noMatch("audit", "bad JSON: "+err.Error())
	}
	ev := event.Event{
		Kind:    event.KindAudit,
		Source:  ln.Source,
		Parser:  "audit",
		Program: p.app,
		Action:  event.ActionOther,
		Outcome: event.OutcomeUnknown,
		Raw:     ln.Text,
		EventID: event.NewID(ln.Source, ln.File, ln.Offset, 0),
	}
	tv, ok := lookupJSON(m, p.tsKey)
	if !ok {
		return dst, noMatch("audit", fmt.Sprintf("no timestamp (key %q)", p.tsKey))
	}
	if ev.Ts, ok = parseTimeText(jsonText(tv), p.loc); !ok {
		return dst, noMatch("audit", fmt.Sprintf("bad timestamp %q", jsonText(tv)))
	}
	var outcome event.Outcome
	for _, f := range p.fields {
		v, ok := lookupJSON(m, f.key)
		if !ok || v == nil {
			continue
		}
		text := jsonText(v)
		switch f.name {
		case "action":
			text = strings.TrimSpace(text)
			if a, ok := p.actions[text]; ok {
				ev.Action, outcome = a.Action, a.Outcome
				if a.Action != text {
					ev.SetAttr("app_event", text)
				}
			} else if text != "" {
				ev.Action = text
			}
		default:
			if err := setField(&ev, f.name, text); err != nil {
				return dst, noMatch("audit", err.Error())
			}
		}
	}
	if outcome != "" && outcome != event.OutcomeUnknown {
		ev.Outcome = outcome
	}
	for k, v := range m {
		if !p.mapped[k] && v != nil {
			ev.SetAttr(k, jsonText(v))
		}
	}
	return append(dst, ev), nil
}

// lookupJSON returns the value of key in m, following dots into nested
// objects when m has no such key itself.
func lookupJSON(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	var v any = m
	for key != "" {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		var k string
		k, key, _ = strings.Cut(key, ".")
		if v, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// decodeObject decodes a line that holds exactly one JSON object. Numbers
// stay json.Number, so that they keep the digits the log wrote.
func decodeObject(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not an object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return m, nil
}

// jsonText returns a decoded JSON value as text: a string as it is, a
// number as written, true or false, "" for null, and objects and arrays as
// compact JSON.
func jsonText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// parseTimeText parses a timestamp as JSON logs write it: RFC 3339 (with or
// without a fraction, "T" or a space between date and time; without a zone
// the time is in loc), the common log format time, or epoch seconds,
// milliseconds, microseconds or nanoseconds (told apart by magnitude, with
// an optional fraction). The result is in UTC.
func parseTimeText(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if t, ok := parseEpoch(s); ok {
		return t, true
	}
	if len(s) >= 20 && s[2] == '/' {
		return clfTime(s)
	}
	if len(s) < 19 || s[4] != '-' {
		return time.Time{}, false
	}
	for _, layout := range [...]string{time.RFC3339, "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02 15:04:05Z0700", "2006-01-02 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return validTime(t)
		}
	}
	for _, layout := range [...]string{"2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return validTime(t)
		}
	}
	return time.Time{}, false
}

func validTime(t time.Time) (time.Time, bool) {
	if t.IsZero() {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// parseEpoch parses a Unix time in seconds, milliseconds, microseconds or
// nanoseconds, with an optional decimal fraction of that unit.
func parseEpoch(s string) (time.Time, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	n, ok := parseUint64(whole)
	if !ok || n > 1<<63-1 {
		return time.Time{}, false
	}
	for i := 0; i < len(frac); i++ {
		if !isDigit(frac[i]) {
			return time.Time{}, false
		}
	}
	f := int64(fracNanos(frac)) // fraction of one unit, in billionths
	switch {
	case n < 1e11:
		return time.Unix(int64(n), f).UTC(), true
	case n < 1e14:
		return time.UnixMilli(int64(n)).Add(time.Duration(f / 1e3)).UTC(), true
	case n < 1e17:
		return time.UnixMicro(int64(n)).Add(time.Duration(f / 1e6)).UTC(), true
	default:
		return time.Unix(0, int64(n)).UTC(), true
	}
}

// eventFields are the canonical names of the event fields a mapping or a
// regex group can fill, with setField.
var eventFields = []string{
	"host", "program", "action", "outcome", "reason", "auth_method", "mfa",
	"user", "user_role", "target_user", "session_id", "src_ip", "src_port",
	"http_method", "http_host", "http_path", "http_query", "http_status",
	"http_bytes", "http_referer", "user_agent", "severity", "message",
}

func isEventField(name string) bool { return slices.Contains(eventFields, name) }

// attrFields are long-tail values the rules know by name. They have no
// event field and are kept in Attrs under this name.
var attrFields = map[string]bool{
	"admin_op": true, "old_value": true, "new_value": true, "object_type": true,
	"object_id": true, "channel": true, "remember_me": true, "user_exists": true,
}

// setField sets the field of ev called name (an eventFields or attrFields
// name) from its text. An empty value or "-" sets nothing. Values of typed
// fields (addresses, numbers) that do not parse are errors; role and
// outcome words it does not know leave the field unknown and keep the word
// in Attrs.
func setField(ev *event.Event, name, v string) error {
	v = strings.TrimSpace(v)
	if v == "" || v == "-" {
		return nil
	}
	switch name {
	case "host":
		ev.Host = v
	case "program":
		ev.Program = v
	case "action":
		ev.Action = v
	case "outcome":
		if o, ok := parseOutcome(v); ok {
			ev.Outcome = o
		} else {
			ev.SetAttr("outcome", v)
		}
	case "reason":
		ev.Reason = v
	case "auth_method":
		ev.AuthMethod = v
	case "mfa":
		ev.MFA = v
	case "user":
		ev.User = strings.ToLower(v)
	case "user_role":
		if r, ok := parseRole(v); ok {
			ev.UserRole = r
		} else {
			ev.UserRole = event.RoleUnknown
			ev.SetAttr("role", v)
		}
	case "target_user":
		ev.TargetUser = strings.ToLower(v)
	case "session_id":
		ev.SessionID = v
	case "src_ip":
		a, ok := ParseAddr(v)
		if !ok {
			return fmt.Errorf("src_ip: %q is not an IP address", v)
		}
		ev.SrcIP = a
	case "src_port":
		n, ok := atoiDigits(v)
		if !ok || n > 65535 {
			return fmt.Errorf("src_port: %q is not a port", v)
		}
		ev.SrcPort = uint16(n)
	case "http_method":
		ev.HTTPMethod = v
	case "http_host":
		ev.HTTPHost = v
	case "http_path":
		ev.HTTPPath = v
	case "http_query":
		ev.HTTPQuery = v
	case "http_status":
		n, ok := atoiDigits(v)
		if !ok || n > 999 {
			return fmt.Errorf("http_status: %q is not a status code", v)
		}
		ev.HTTPStatus = uint16(n)
	case "http_bytes":
		n, ok := parseUint64(v)
		if !ok {
			return fmt.Errorf("http_bytes: %q is not a byte count", v)
		}
		ev.HTTPBytes = n
	case "http_referer":
		ev.HTTPReferer = v
	case "user_agent":
		ev.UserAgent = v
	case "severity":
		if sev, ok := normSeverity(strings.ToLower(v)); ok {
			ev.Severity = sev
		} else {
			ev.Severity = v
		}
	case "message":
		ev.Message = v
	default:
		ev.SetAttr(name, v)
	}
	return nil
}

// parseOutcome reads the words applications use for a result.
func parseOutcome(s string) (event.Outcome, bool) {
	switch strings.ToLower(s) {
	case "success", "succeeded", "successful", "ok", "true", "allow", "allowed", "pass", "passed":
		return event.OutcomeSuccess, true
	case "failure", "failed", "fail", "false", "deny", "denied", "error", "rejected", "blocked":
		return event.OutcomeFailure, true
	case "unknown":
		return event.OutcomeUnknown, true
	}
	return "", false
}

// parseRole reads the role names applications use.
func parseRole(s string) (event.Role, bool) {
	switch strings.ToLower(s) {
	case "user", "customer", "client", "end_user", "enduser", "requester", "member":
		return event.RoleUser, true
	case "agent", "staff", "support", "operator":
		return event.RoleAgent, true
	case "admin", "administrator", "superuser", "super_admin", "superadmin", "root":
		return event.RoleAdmin, true
	case "system", "service", "daemon", "cron":
		return event.RoleSystem, true
	case "unknown":
		return event.RoleUnknown, true
	}
	return "", false
}
