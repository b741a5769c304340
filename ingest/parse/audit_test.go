package parse

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

func TestAudit(t *testing.T) {
	const ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0"
	// The config sketch of DESIGN.md, laid over the default.
	sketch := AuditMapping{Fields: map[string]string{"ts": "time", "user": "agent", "src_ip": "ip", "action": "event"}}
	tests := []struct {
		name    string
		mapping AuditMapping
		in      string
		want    event.Event
		wantErr string
	}{
		{
			name: "login_success",
			in:   `{"ts":"2025-03-03T09:21:45.120Z","app":"helpdesk","event":"login_success","user":"jdoe","role":"agent","src_ip":"10.20.4.17","session":"hmac:5be0c1d2a9f04e77","ua":"` + ua + `","auth":"password","mfa":"totp","remember_me":false}`,
			want: event.Event{Ts: utcTime("2025-03-03T09:21:45.12Z"), Program: "helpdesk", Action: event.ActionLogin, Outcome: event.OutcomeSuccess, User: "jdoe", UserRole: event.RoleAgent,
				SrcIP: addrOf("10.20.4.17"), SessionID: "hmac:5be0c1d2a9f04e77", UserAgent: ua, AuthMethod: "password", MFA: "totp",
				Attrs: map[string]string{"app_event": "login_success", "remember_me": "false"}},
		},
		{
			name: "login_failure",
			in:   `{"ts":"2025-03-03T09:23:02.004Z","app":"helpdesk","event":"login_failure","user":"JDoe","role":"agent","src_ip":"203.0.113.77","ua":"python-requests/2.31.0","reason":"bad_password","attempt":4}`,
			want: event.Event{Ts: utcTime("2025-03-03T09:23:02.004Z"), Program: "helpdesk", Action: event.ActionLogin, Outcome: event.OutcomeFailure, Reason: "bad_password", User: "jdoe", UserRole: event.RoleAgent,
				SrcIP: addrOf("203.0.113.77"), UserAgent: "python-requests/2.31.0", Attrs: map[string]string{"app_event": "login_failure", "attempt": "4"}},
		},
		{
			name: "ticket_reply",
			in:   `{"ts":"2025-03-03T09:40:11.870Z","app":"helpdesk","event":"ticket_reply","user":"jdoe","role":"agent","src_ip":"203.0.113.77","session":"hmac:91aa03f7c2d84b10","ticket_id":"T-4411","channel":"web"}`,
			want: event.Event{Ts: utcTime("2025-03-03T09:40:11.87Z"), Program: "helpdesk", Action: event.ActionReply, User: "jdoe", UserRole: event.RoleAgent,
				SrcIP: addrOf("203.0.113.77"), SessionID: "hmac:91aa03f7c2d84b10", Attrs: map[string]string{"app_event": "ticket_reply", "ticket_id": "T-4411", "channel": "web"}},
		},
		{
			name: "admin_action",
			in:   `{"ts":"2025-03-03T10:02:33.511Z","app":"helpdesk","event":"admin_action","user":"mroe","role":"admin","src_ip":"10.20.4.5","session":"hmac:0c7d19e4b2aa6f03","op":"role_change","target":"jdoe","old":"agent","new":"admin"}`,
			want: event.Event{Ts: utcTime("2025-03-03T10:02:33.511Z"), Program: "helpdesk", Action: event.ActionAdminAction, User: "mroe", UserRole: event.RoleAdmin, TargetUser: "jdoe",
				SrcIP: addrOf("10.20.4.5"), SessionID: "hmac:0c7d19e4b2aa6f03", Attrs: map[string]string{"admin_op": "role_change", "old_value": "agent", "new_value": "admin"}},
		},
		{
			name: "session_end",
			in:   `{"ts":"2025-03-03T11:52:10.640Z","app":"helpdesk","event":"session_end","user":"jdoe","role":"agent","src_ip":"10.20.4.17","session":"hmac:5be0c1d2a9f04e77","reason":"idle_timeout","duration_s":9025}`,
			want: event.Event{Ts: utcTime("2025-03-03T11:52:10.64Z"), Program: "helpdesk", Action: event.ActionSessionEnd, Reason: "idle_timeout", User: "jdoe", UserRole: event.RoleAgent,
				SrcIP: addrOf("10.20.4.17"), SessionID: "hmac:5be0c1d2a9f04e77", Attrs: map[string]string{"duration_s": "9025"}},
		},
		{
			name: "unlisted event, unknown role, nested values, null",
			in:   `{"ts":"2025-03-03T09:00:00+01:00","event":"export","user":"x","role":"auditor","meta":{"rows":3,"file":"<users>.csv"},"tags":["a","b"],"gone":null}`,
			want: event.Event{Ts: utcTime("2025-03-03T08:00:00Z"), Action: "export", User: "x", UserRole: event.RoleUnknown,
				Attrs: map[string]string{"role": "auditor", "meta": `{"file":"<users>.csv","rows":3}`, "tags": `["a","b"]`}},
		},
		{
			name: "no event field, epoch millis, outcome field",
			in:   `{"ts":1741000000123,"user":"x","outcome":"failed","src_ip":"::ffff:192.0.2.1"}`,
			want: event.Event{Ts: time.UnixMilli(1741000000123).UTC(), Action: event.ActionOther, Outcome: event.OutcomeFailure, User: "x", SrcIP: addrOf("192.0.2.1")},
		},
		{
			name:    "config sketch mapping",
			mapping: sketch,
			in:      `{"time":"2025-03-03T09:21:45Z","event":"login_failure","agent":"JDoe","ip":"203.0.113.77","user":"ignored","src_ip":"1.1.1.1"}`,
			want: event.Event{Ts: utcTime("2025-03-03T09:21:45Z"), Action: event.ActionLogin, Outcome: event.OutcomeFailure, User: "jdoe", SrcIP: addrOf("203.0.113.77"),
				Attrs: map[string]string{"app_event": "login_failure", "user": "ignored", "src_ip": "1.1.1.1"}},
		},
		{
			name: "custom app, actions, nested keys, epoch seconds",
			mapping: AuditMapping{
				App:     "portal",
				Fields:  map[string]string{"ts": "when", "user": "actor.name", "user_role": "actor.role", "action": "type", "mfa": ""},
				Actions: map[string]AuditAction{"auth.ok": {Action: "login", Outcome: event.OutcomeSuccess}},
			},
			in: `{"when":"1741000000.5","type":"auth.ok","actor":{"name":"Ann","role":"Administrator"},"mfa":"totp"}`,
			want: event.Event{Ts: time.Unix(1741000000, 5e8).UTC(), Program: "portal", Action: "login", Outcome: event.OutcomeSuccess, User: "ann", UserRole: event.RoleAdmin,
				Attrs: map[string]string{"app_event": "auth.ok", "actor": `{"name":"Ann","role":"Administrator"}`, "mfa": "totp"}},
		},
		{name: "not JSON", in: `Mar  3 09:15:02 hd1 sshd[1]: x`, wantErr: "not a JSON object"},
		{name: "broken JSON", in: `{"ts":`, wantErr: "bad JSON"},
		{name: "array", in: `[1,2]`, wantErr: "not a JSON object"},
		{name: "trailing data", in: `{"ts":"2025-03-03T09:21:45Z"} x`, wantErr: "bad JSON"},
		{name: "no ts", in: `{"event":"login_success"}`, wantErr: `no timestamp (key "ts")`},
		{name: "bad ts", in: `{"ts":"03.03.2025"}`, wantErr: "bad timestamp"},
		{name: "bad src_ip", in: `{"ts":"2025-03-03T09:21:45Z","src_ip":"nowhere"}`, wantErr: `src_ip: "nowhere" is not an IP address`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewAudit(Options{Audit: tc.mapping, Location: time.UTC})
			if err != nil {
				t.Fatal(err)
			}
			want := wantEvent("audit", event.KindAudit, event.ActionOther, tc.in, tc.want)
			checkParse(t, p, tc.in, want, tc.wantErr)
		})
	}
}

func TestAuditMappingInvalid(t *testing.T) {
	tests := []struct {
		name    string
		mapping AuditMapping
		wantErr string
	}{
		{"unknown field", AuditMapping{Fields: map[string]string{"usr": "user"}}, `unknown field "usr"`},
		{"no ts", AuditMapping{Fields: map[string]string{"ts": ""}}, "no JSON key for ts"},
		{"empty action", AuditMapping{Actions: map[string]AuditAction{"x": {}}}, `action for event "x" is empty`},
		{"bad outcome", AuditMapping{Actions: map[string]AuditAction{"x": {Action: "login", Outcome: "maybe"}}}, `outcome "maybe"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewAudit(Options{Audit: tc.mapping})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewAudit error = %v, want %q", err, tc.wantErr)
			}
			if _, err := New("auto", Options{Audit: tc.mapping}); err == nil {
				t.Error(`New("auto") accepted an invalid audit mapping`)
			}
		})
	}
}

// TestAuditMappingJSON holds the shape of the mapping in a config file.
func TestAuditMappingJSON(t *testing.T) {
	var m AuditMapping
	in := `{"app":"portal","fields":{"ts":"time","user":"agent"},"actions":{"signin":{"action":"login","outcome":"success"}}}`
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	if m.App != "portal" || m.Fields["user"] != "agent" || m.Actions["signin"] != (AuditAction{Action: "login", Outcome: event.OutcomeSuccess}) {
		t.Fatalf("decoded %+v", m)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseTimeText(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC; "" for a refusal
	}{
		{"2025-03-03T09:21:45.120Z", "2025-03-03T09:21:45.12Z"},
		{"2025-03-03T09:21:45+01:00", "2025-03-03T08:21:45Z"},
		{"2025-03-03 09:21:45+01:00", "2025-03-03T08:21:45Z"},
		{"2025-03-03T09:21:45+0100", "2025-03-03T08:21:45Z"},
		{"2025-03-03 09:21:45.5 +0100", "2025-03-03T08:21:45.5Z"},
		{"2025-03-03T09:21:45", "2025-03-03T09:21:45Z"},
		{"2025-03-03 09:21:45.25", "2025-03-03T09:21:45.25Z"},
		{"03/Mar/2025:09:21:45 +0000", "2025-03-03T09:21:45Z"},
		{"1741000000", "2025-03-03T11:06:40Z"},
		{"1741000000.25", "2025-03-03T11:06:40.25Z"},
		{"1741000000123", "2025-03-03T11:06:40.123Z"},
		{"1741000000123.5", "2025-03-03T11:06:40.1235Z"},
		{"1741000000123456", "2025-03-03T11:06:40.123456Z"},
		{"1741000000123456789", "2025-03-03T11:06:40.123456789Z"},
		{"99999999999999999999", ""},
		{"0001-01-01T00:00:00Z", ""},
		{"2025-02-30T00:00:00Z", ""},
		{"yesterday", ""},
		{"-5", ""},
		{"1.2.3", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, ok := parseTimeText(tc.in, time.UTC)
		if tc.want == "" {
			if ok {
				t.Errorf("parseTimeText(%q) = %v, want a refusal", tc.in, got)
			}
			continue
		}
		if !ok || !got.Equal(utcTime(tc.want)) {
			t.Errorf("parseTimeText(%q) = %v, %v; want %s", tc.in, got, ok, tc.want)
		}
	}
}

func BenchmarkParseAudit(b *testing.B) {
	p, err := NewAudit(Options{})
	if err != nil {
		b.Fatal(err)
	}
	ln := ingest.Line{Source: "audit", Text: `{"ts":"2025-03-03T09:21:45.120Z","app":"helpdesk","event":"login_success","user":"jdoe","role":"agent","src_ip":"10.20.4.17","session":"hmac:5be0c1d2a9f04e77","ua":"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0","auth":"password","mfa":"totp","remember_me":false}`}
	dst := make([]event.Event, 0, 1)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		dst, err = p.Parse(ln, dst[:0])
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}

func FuzzAudit(f *testing.F) {
	seedLines(f, "audit.log")
	p, err := NewAudit(Options{Location: time.UTC, Audit: AuditMapping{Fields: map[string]string{"user": "actor.name"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkFuzzParse(t, p, text)
	})
}
