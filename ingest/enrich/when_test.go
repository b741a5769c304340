package enrich

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
)

func whenEvents() map[string]*event.Event {
	return map[string]*event.Event{
		"audit": {Kind: event.KindAudit, Action: event.ActionReply, Outcome: event.OutcomeSuccess, UserRole: event.RoleAgent},
		"login_ok": {Kind: event.KindAuth, Action: event.ActionLogin, Outcome: event.OutcomeSuccess,
			SrcIP: netip.MustParseAddr("10.1.2.3"), SrcZone: event.ZoneInternal, User: "alice"},
		"login_fail": {Kind: event.KindAuth, Action: event.ActionLogin, Outcome: event.OutcomeFailure,
			SrcIP: netip.MustParseAddr("203.0.113.9"), SrcZone: event.ZoneExternal, User: "root"},
		"web": {Kind: event.KindWeb, Action: event.ActionHTTPRequest, Outcome: event.OutcomeUnknown,
			HTTPStatus: 404, SrcHostVerified: true, Attrs: map[string]string{"n": "12"}},
		"empty": {},
	}
}

func TestPredicateMatch(t *testing.T) {
	evs := whenEvents()
	tests := []struct {
		expr string
		want []string // names of the matching events in whenEvents
	}{
		{DefaultRDNSWhen, []string{"audit", "login_ok"}},
		{`kind == "audit"`, []string{"audit"}},
		{`"audit" == kind`, []string{"audit"}},
		{`kind != "audit"`, []string{"login_ok", "login_fail", "web", "empty"}},
		{`kind in ["audit", "web"]`, []string{"audit", "web"}},
		{`kind not in ["audit", "web"]`, []string{"login_ok", "login_fail", "empty"}},
		{`outcome == "failure" || user_role == "agent"`, []string{"audit", "login_fail"}},
		{`src_zone == "internal"`, []string{"login_ok"}},
		{`kind startsWith "au"`, []string{"audit", "login_ok", "login_fail"}},
		{`kind matches "^(web|audit)$"`, []string{"audit", "web"}},
		{`kind + "/" + outcome == "auth/failure"`, []string{"login_fail"}},
		{`src_ip.IsPrivate()`, []string{"login_ok"}},
		{`http_status >= 400`, []string{"web"}},
		{`src_host_verified`, []string{"web"}},
		{`!src_host_verified && action == "login"`, []string{"login_ok", "login_fail"}},
		{`not (kind == "auth")`, []string{"audit", "web", "empty"}},
		{`attrs.n == "12"`, []string{"web"}},
		{`user in ["root", "admin"] and outcome == "failure"`, []string{"login_fail"}},
		{`true`, []string{"audit", "login_ok", "login_fail", "web", "empty"}},
		{`false`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			p, err := CompilePredicate(tc.expr)
			if err != nil {
				t.Fatalf("CompilePredicate(%q): %v", tc.expr, err)
			}
			var got []string
			for _, name := range []string{"audit", "login_ok", "login_fail", "web", "empty"} {
				if p.Match(evs[name]) {
					got = append(got, name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("%q matches %v, want %v", tc.expr, got, tc.want)
			}
			if p.Errors() != 0 {
				t.Errorf("%q: %d run-time errors", tc.expr, p.Errors())
			}
		})
	}
}

// TestPredicateFastMatchesVM holds the direct evaluator to the VM's answers.
func TestPredicateFastMatchesVM(t *testing.T) {
	tests := []struct {
		expr string
		fast bool // whether the expression is in the fast subset
	}{
		{DefaultRDNSWhen, true},
		{`kind == "audit"`, true},
		{`kind != outcome`, true},
		{`kind in ["audit", "web"] && !(outcome == "success")`, true},
		{`kind not in ["audit", "web"] or src_host_verified`, true},
		{`user == "root" || user_role == "admin" || src_zone == "external"`, true},
		{`true && kind == "web"`, true},
		{`kind startsWith "a"`, false},
		{`http_status >= 400`, false},
		{`src_ip.IsPrivate()`, false},
	}
	evs := whenEvents()
	for _, tc := range tests {
		p, err := CompilePredicate(tc.expr)
		if err != nil {
			t.Fatalf("CompilePredicate(%q): %v", tc.expr, err)
		}
		if got := p.fast != nil; got != tc.fast {
			t.Errorf("CompilePredicate(%q): fast path %v, want %v", tc.expr, got, tc.fast)
		}
		slow := &Predicate{src: p.src, prog: p.prog}
		slow.vms.New = p.vms.New
		for name, ev := range evs {
			if got, want := p.Match(ev), slow.Match(ev); got != want {
				t.Errorf("%q on %s: fast %v, VM %v", tc.expr, name, got, want)
			}
		}
	}
}

func TestCompilePredicateErrors(t *testing.T) {
	tests := []struct {
		expr    string
		wantErr string
	}{
		{`kindd == "audit"`, "unknown name kindd"},
		{`kind ==`, "unexpected token EOF"},
		{`kind`, "expected bool, but got string"},
		{`http_status == "404"`, "mismatched types"},
		{`src_ip.NoSuchMethod()`, "NoSuchMethod"},
	}
	for _, tc := range tests {
		_, err := CompilePredicate(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("CompilePredicate(%q) = %v, want an error containing %q", tc.expr, err, tc.wantErr)
		}
	}
}

func TestPredicateRuntimeErrorIsFalse(t *testing.T) {
	p, err := CompilePredicate(`int(message) > 0`)
	if err != nil {
		t.Fatal(err)
	}
	if p.Match(&event.Event{Message: "not a number"}) {
		t.Error("Match = true on a run-time error, want false")
	}
	if !p.Match(&event.Event{Message: "7"}) {
		t.Error(`Match(message "7") = false, want true`)
	}
	if got := p.Errors(); got != 1 {
		t.Errorf("Errors() = %d, want 1", got)
	}
}

func BenchmarkPredicateMatch(b *testing.B) {
	ev := whenEvents()["login_fail"]
	for _, tc := range []struct{ name, expr string }{
		{"default", DefaultRDNSWhen},
		{"vm", `kind == "audit" || (action == "login" && outcome startsWith "succ")`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p, err := CompilePredicate(tc.expr)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Match(ev)
			}
		})
	}
	b.Run("default-vm", func(b *testing.B) {
		p, err := CompilePredicate(DefaultRDNSWhen)
		if err != nil {
			b.Fatal(err)
		}
		p.fast = nil
		b.ReportAllocs()
		for b.Loop() {
			p.Match(ev)
		}
	})
}
