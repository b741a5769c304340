package rules

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// webRules are match, threshold and distinct rules over access logs, the
// bulk of a real catalog.
const webRules = `
id: sensitive-served
title: Sensitive path served
severity: critical
kind: match
where: action == "http_request" && http_status >= 200 && http_status < 300 && in_list("sensitive_paths", http_path)
group_by: [src_ip]
---
id: restricted-external
title: Restricted area from outside
severity: high
kind: match
where: action == "http_request" && src_zone != "internal" && (has_prefix(http_path, "/admin/") || has_prefix(http_path, "/agent/"))
group_by: [src_ip]
---
id: scanner-ua
title: Scanner user agent
severity: low
kind: match
where: action == "http_request" && in_list("scanner_user_agents", user_agent)
group_by: [src_ip]
---
id: scan-404
title: 404 scanner
severity: low
kind: distinct
where: action == "http_request" && http_status in [400, 403, 404] && !has_suffix(http_path, ".css")
group_by: [src_ip]
field: http_path
window: 2m
threshold: 11
---
id: errors-5xx
title: 5xx burst
severity: medium
kind: threshold
where: action == "http_request" && http_status >= 500
group_by: [src_ip]
window: 10m
threshold: 10
---
id: admin-offhours
title: Admin off hours
severity: medium
kind: match
where: action == "login" && outcome == "success" && user_role == "admin" && (hour_of_day(ts, "Europe/Paris") < 8 || hour_of_day(ts, "Europe/Paris") >= 18)
group_by: [user]
---
id: admin-no-mfa
title: Admin without MFA
severity: high
kind: match
where: action == "login" && outcome == "success" && user_role == "admin" && mfa == "none"
group_by: [user]
---
id: default-admin
title: Default admin
severity: critical
kind: match
where: action == "login" && outcome == "success" && user in ["admin", "root", "administrator"]
group_by: [user]
---
id: rdns-mismatch
title: rDNS mismatch
severity: low
kind: match
where: src_host != "" && !src_host_verified
group_by: [src_ip]
---
id: slow-burst
title: Slow burst
severity: low
kind: threshold
where: action == "login" && outcome == "failure"
group_by: [src_ip]
window: 4h
threshold: 16
---
id: account-burst
title: Account burst
severity: medium
kind: threshold
where: action == "login" && outcome == "failure" && user != ""
group_by: [user]
window: 30m
threshold: 10
---
id: error-sig
title: New error signature
severity: low
kind: first_seen
where: kind == "error"
group_by: [host]
field: message
learn: 1h
`

// benchEvents is an attack-dense stream: 40% failed logins from 40
// addresses, so that most rules fire and fold all the time.
func benchEvents(n int) []event.Event {
	evs := synth(n, 3)
	for i := range evs {
		ev := &evs[i]
		if ev.Kind == event.KindWeb {
			ev.UserAgent = []string{"Mozilla/5.0", "curl/8.0", "sqlmap/1.7"}[i%3]
			ev.SrcZone = event.ZoneExternal
		}
	}
	return evs
}

// realisticEvents is a production-like stream: mostly web requests from
// 5,000 clients, some logins, a few failures and error lines.
func realisticEvents(n int) []event.Event {
	rng := rand.New(rand.NewPCG(4, 4))
	paths := []string{"/", "/index.php", "/tickets/view.php", "/css/main.css", "/js/app.js", "/login.php", "/.env", "/admin/"}
	evs := make([]event.Event, n)
	ts := t0
	for i := range evs {
		ts = ts.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
		ip := netip.AddrFrom4([4]byte{198, 51, byte(rng.IntN(20)), byte(rng.IntN(250))})
		ev := event.Event{Ts: ts, SrcIP: ip, Host: "web1", SrcZone: event.ZoneExternal, Raw: "line"}
		switch r := rng.IntN(100); {
		case r < 90:
			ev.Kind, ev.Action = event.KindWeb, "http_request"
			// /.env and /admin/ are rare: one request in 200 each.
			if k := rng.IntN(200); k < len(paths) {
				ev.HTTPPath = paths[k]
			} else {
				ev.HTTPPath = paths[k%6]
			}
			ev.HTTPStatus = []uint16{200, 200, 200, 304, 404, 302}[rng.IntN(6)]
			ev.UserAgent = "Mozilla/5.0"
		case r < 95:
			ev.Kind, ev.Action, ev.Outcome, ev.User, ev.UserRole = event.KindAudit, "login", event.OutcomeSuccess, fmt.Sprintf("u%d", rng.IntN(300)), event.RoleAgent
			ev.GeoCountry, ev.GeoLat, ev.GeoLon = "FR", 48.85, 2.35
		case r < 98:
			ev.Kind, ev.Action, ev.Outcome, ev.User = event.KindAuth, "login", event.OutcomeFailure, fmt.Sprintf("u%d", rng.IntN(300))
		default:
			ev.Kind, ev.Action, ev.Message = event.KindError, "error", fmt.Sprintf("PHP Warning %d", rng.IntN(20))
		}
		evs[i] = ev
	}
	return evs
}

func benchEngine(b *testing.B, rs []*Rule, evs []event.Event) {
	lists := fakeLists{"sensitive_paths": {"/.env", "/.git/config"}, "scanner_user_agents": {"sqlmap/1.7"}}
	e, err := NewEngine(rs, EngineConfig{Lists: lists})
	if err != nil {
		b.Fatal(err)
	}
	// Event times keep moving forward across passes over the slice.
	span := evs[len(evs)-1].Ts.Sub(evs[0].Ts) + time.Second
	b.ReportAllocs()
	b.ResetTimer()
	n, pass := 0, 0
	start := time.Now()
	for b.Loop() {
		i := n % len(evs)
		if i == 0 && n > 0 {
			pass++
			for j := range evs {
				evs[j].Ts = evs[j].Ts.Add(span)
			}
		}
		e.Process(&evs[i])
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(len(e.rules)), "rules")
}

// BenchmarkEngineMix runs a catalog-like mix of 19 rules of every streaming
// kind over mixed auth and web events.
func BenchmarkEngineMix(b *testing.B) {
	rs := append(mustParse(b, mixRules), mustParse(b, webRules)...)
	b.Run("realistic", func(b *testing.B) { benchEngine(b, rs, realisticEvents(1<<17)) })
	b.Run("attack-dense", func(b *testing.B) { benchEngine(b, rs, benchEvents(1<<16)) })
}

// BenchmarkEngineBuiltin runs the shipped catalog (rules/builtin/*.yml).
func BenchmarkEngineBuiltin(b *testing.B) {
	rs, err := LoadDir("builtin")
	if err != nil {
		b.Fatal(err)
	}
	if len(rs) == 0 {
		b.Skip("rules/builtin has no rules yet")
	}
	b.Run("realistic", func(b *testing.B) { benchEngine(b, rs, realisticEvents(1<<17)) })
	b.Run("attack-dense", func(b *testing.B) { benchEngine(b, rs, benchEvents(1<<16)) })
}

// BenchmarkThreshold1MKeys feeds one failed login from each of 1M source
// addresses through a threshold rule and reports the heap in use after.
func BenchmarkThreshold1MKeys(b *testing.B) {
	if testing.Short() {
		b.Skip("1M keys")
	}
	rs := mustParse(b, `
id: burst
title: Burst
severity: medium
kind: threshold
where: action == "login" && outcome == "failure"
group_by: [src_ip]
window: 2m
threshold: 8
`)
	const keys = 1_000_000
	var inuse uint64
	b.ReportAllocs()
	for b.Loop() {
		e, err := NewEngine(rs, EngineConfig{MaxKeys: keys})
		if err != nil {
			b.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		ev := event.Event{Action: "login", Outcome: event.OutcomeFailure, Kind: event.KindAuth}
		for i := range keys {
			ev.Ts = t0.Add(time.Duration(i) * time.Millisecond)
			ev.SrcIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			ev.Raw = fmt.Sprintf("2026-11-20T10:00:00Z web1 sshd[4242]: Failed password for invalid user admin from %s port 52514 ssh2", ev.SrcIP)
			e.Process(&ev)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		inuse = ms.HeapInuse - base
		if k := e.Stats().Rules[0].Keys; k != keys {
			b.Fatalf("%d keys", k)
		}
		runtime.KeepAlive(e)
	}
	b.ReportMetric(float64(inuse)/(1<<20), "MB-heap-inuse")
	fmt.Fprintf(os.Stderr, "threshold rule, %d source addresses: HeapInuse %.0f MB\n", keys, float64(inuse)/(1<<20))
}
