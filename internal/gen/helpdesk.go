package gen

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// Audit records, field for field in the order of rule catalog section 5.4.

func (g *generator) auditHead(t int64, event, user, role string, ip netip.Addr) []byte {
	b := g.audit.begin(t)
	b = append(b, `{"ts":"`...)
	b = appendRFC3339Milli(b, t)
	b = append(b, `","app":"helpdesk","event":"`...)
	b = append(b, event...)
	b = append(b, `","user":`...)
	b = appendJSONString(b, user)
	b = append(b, `,"role":"`...)
	b = append(b, role...)
	b = append(b, `","src_ip":"`...)
	b = ip.AppendTo(b)
	return append(b, '"')
}

func jstr(b []byte, key, val string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, val)
}

func jint(b []byte, key string, val int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, val, 10)
}

func (g *generator) loginSuccess(t int64, user, role string, ip netip.Addr, session, ua, auth, mfa string) {
	b := g.auditHead(t, "login_success", user, role, ip)
	b = jstr(b, "session", session)
	b = jstr(b, "ua", ua)
	b = jstr(b, "auth", auth)
	b = jstr(b, "mfa", mfa)
	g.audit.commit(append(b, `,"remember_me":false}`...))
}

func (g *generator) loginFailure(t int64, user, role string, ip netip.Addr, ua, reason string, attempt int) {
	b := g.auditHead(t, "login_failure", user, role, ip)
	b = jstr(b, "ua", ua)
	b = jstr(b, "reason", reason)
	b = jint(b, "attempt", int64(attempt))
	g.audit.commit(append(b, '}'))
}

func (g *generator) ticketReply(t int64, user, role string, ip netip.Addr, session, ticket string) {
	b := g.auditHead(t, "ticket_reply", user, role, ip)
	b = jstr(b, "session", session)
	b = jstr(b, "ticket_id", ticket)
	b = jstr(b, "channel", "web")
	g.audit.commit(append(b, '}'))
}

func (g *generator) adminAction(t int64, user string, ip netip.Addr, session, op, target, oldVal, newVal string) {
	b := g.auditHead(t, "admin_action", user, "admin", ip)
	b = jstr(b, "session", session)
	b = jstr(b, "op", op)
	b = jstr(b, "target", target)
	b = jstr(b, "old", oldVal)
	b = jstr(b, "new", newVal)
	g.audit.commit(append(b, '}'))
}

func (g *generator) sessionStart(t int64, user, role string, ip netip.Addr, session string) {
	b := g.auditHead(t, "session_start", user, role, ip)
	b = jstr(b, "session", session)
	g.audit.commit(append(b, `,"remember_me":false,"idle_timeout_s":1800,"absolute_timeout_s":28800}`...))
}

func (g *generator) sessionEnd(t int64, user, role string, ip netip.Addr, session, reason string, dur int64) {
	b := g.auditHead(t, "session_end", user, role, ip)
	b = jstr(b, "session", session)
	b = jstr(b, "reason", reason)
	b = jint(b, "duration_s", dur/int64(time.Second))
	g.audit.commit(append(b, '}'))
}

func sessionID(r *rand.Rand) string { return "hmac:" + randHex(r, 16) }

func ticketID(r *rand.Rand) string { return "T-" + strconv.Itoa(4000+r.IntN(6000)) }

// businessStart returns t, or the next time inside business hours
// (Mon-Fri 09:00-17:00 UTC for a session start), or 0 if that is past end.
func businessStart(t, end int64) int64 {
	for t < end {
		tm := time.Unix(0, t).UTC()
		day := time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC)
		opens, closes := day.Add(9*time.Hour), day.Add(17*time.Hour)
		switch {
		case tm.Weekday() == time.Saturday || tm.Weekday() == time.Sunday || !tm.Before(closes):
			t = day.Add(33 * time.Hour).UnixNano() // next day 09:00
		case tm.Before(opens):
			t = opens.UnixNano()
		default:
			return t
		}
	}
	return 0
}

// businessEnd returns 17:30 UTC of t's day.
func businessEnd(t int64) int64 {
	tm := time.Unix(0, t).UTC()
	return time.Date(tm.Year(), tm.Month(), tm.Day(), 17, 30, 0, 0, time.UTC).UnixNano()
}

func (g *generator) helpdeskAttacks(r *rand.Rand) {
	n0, w0 := g.audit.lines(), 0
	if g.web != nil {
		w0 = g.web.lines()
	}
	var agents, admins []*agent
	for _, a := range g.agents {
		if a.role == "admin" {
			admins = append(admins, a)
		} else {
			agents = append(agents, a)
		}
	}
	for i := range g.mult {
		g.hdBurst(r, agents[2*i], agents[2*i+1])
		g.hdExternalReply(r, agents[len(agents)-1-i])
		g.hdAdminNoMFA(r, admins[i], agents[2*g.mult+i])
	}
	g.audit.attack += g.audit.lines() - n0
	if g.web != nil {
		g.web.attack += g.web.lines() - w0
	}
}

var toolUAs = []string{"python-requests/2.31.0", "python-requests/2.28.2", "Mozilla/5.0 (Hydra)", "Go-http-client/1.1"}

// hdBurst writes a burst of failed helpdesk logins from one address
// against two real agents and two generic names.
func (g *generator) hdBurst(r *rand.Rand, x, y *agent) {
	ip := g.addrs.attacker(r, 0.1)
	a := g.newAttacker(ip, AttackHelpdeskLoginBurst, FileAudit)
	ua := pick(r, toolUAs)
	perm := r.Perm(len(helpdeskAttackNames))
	names := []string{x.name, y.name, helpdeskAttackNames[perm[0]], helpdeskAttackNames[perm[1]]}
	attempts := make([]int, len(names))
	t0 := g.start + between(r, 30*time.Minute, Span-time.Hour)
	t := t0
	for range 20 + r.IntN(21) {
		j := r.IntN(len(names))
		attempts[j]++
		role, reason := "agent", "bad_password"
		if j >= 2 {
			role, reason = "unknown", "unknown_user"
		}
		g.loginFailure(t, names[j], role, ip, ua, reason, attempts[j])
		g.echo(t-between(r, 10*time.Millisecond, 80*time.Millisecond), ip, "POST", "/agent/login.php", 200, 4810+r.Int64N(40), "", ua)
		a.event(t, names[j], 1)
		t += between(r, time.Second, 7*time.Second)
	}
	// Keep the targeted agents' own logins away from the burst, so that a
	// "failures then success" rule keyed by user cannot pair the attack
	// with the agent's benign address.
	g.block(x.name, t0-int64(15*time.Minute), t+int64(20*time.Minute))
	g.block(y.name, t0-int64(15*time.Minute), t+int64(20*time.Minute))
}

// hdExternalReply writes a real agent's account logging in from outside and
// replying to tickets.
func (g *generator) hdExternalReply(r *rand.Rand, ag *agent) {
	ip := g.addrs.attacker(r, 0.1)
	a := g.newAttacker(ip, AttackHelpdeskExternalReply, FileAudit)
	ua := pick(r, browserUAs)
	sess := sessionID(r)
	t0 := g.start + between(r, time.Hour, Span-2*time.Hour)
	g.loginSuccess(t0, ag.name, "agent", ip, sess, ua, "password", ag.mfa)
	g.echoLogin(r, t0, ip, ua, false)
	a.event(t0, ag.name, 1)
	t := t0 + between(r, time.Millisecond, 4*time.Millisecond)
	g.sessionStart(t, ag.name, "agent", ip, sess)
	a.event(t, ag.name, 1)
	for range 2 + r.IntN(3) {
		t += between(r, 2*time.Minute, 8*time.Minute)
		ticket := ticketID(r)
		g.ticketReply(t, ag.name, "agent", ip, sess, ticket)
		g.echoReply(r, t, ip, ua, ticket)
		a.event(t, ag.name, 1)
	}
	t += between(r, time.Minute, 6*time.Minute)
	g.sessionEnd(t, ag.name, "agent", ip, sess, "logout", t-t0)
	g.echoLogout(r, t, ip, ua)
	a.event(t, ag.name, 1)
	g.compromise(a, ag.name)
	g.block(ag.name, t0-int64(30*time.Minute), t+int64(30*time.Minute))
}

// hdAdminNoMFA writes a real admin's account logging in from outside
// without a second factor and promoting an agent to admin.
func (g *generator) hdAdminNoMFA(r *rand.Rand, adm, target *agent) {
	ip := g.addrs.attacker(r, 0.1)
	a := g.newAttacker(ip, AttackHelpdeskAdminNoMFA, FileAudit)
	ua := pick(r, browserUAs)
	sess := sessionID(r)
	t0 := g.start + between(r, time.Hour, Span-2*time.Hour)
	g.loginSuccess(t0, adm.name, "admin", ip, sess, ua, "password", "none")
	g.echoLogin(r, t0, ip, ua, true)
	a.event(t0, adm.name, 1)
	t := t0 + between(r, time.Millisecond, 4*time.Millisecond)
	g.sessionStart(t, adm.name, "admin", ip, sess)
	a.event(t, adm.name, 1)
	t += between(r, time.Minute, 4*time.Minute)
	g.adminAction(t, adm.name, ip, sess, "role_change", target.name, "agent", "admin")
	g.echo(t, ip, "POST", "/admin/staff.php?id="+strconv.Itoa(2+r.IntN(60)), 302, 0, site+"/admin/staff.php", ua)
	a.event(t, adm.name, 1)
	if r.IntN(2) == 0 {
		t += between(r, 20*time.Second, 3*time.Minute)
		g.adminAction(t, adm.name, ip, sess, "mfa_disabled", adm.name, adm.mfa, "none")
		g.echo(t, ip, "POST", "/admin/profile.php", 302, 0, site+"/admin/profile.php", ua)
		a.event(t, adm.name, 1)
	}
	t += between(r, time.Minute, 5*time.Minute)
	g.sessionEnd(t, adm.name, "admin", ip, sess, "logout", t-t0)
	g.echoLogout(r, t, ip, ua)
	a.event(t, adm.name, 1)
	g.compromise(a, adm.name)
	g.block(adm.name, t0-int64(30*time.Minute), t+int64(30*time.Minute))
}

// benignHelpdesk writes benign staff sessions until helpdesk.json holds
// budget lines: first the core staff, then more.
func (g *generator) benignHelpdesk(r *rand.Rand, budget int) {
	for i := 0; g.audit.lines() < budget; i++ {
		var a *agent
		if i < len(g.agents) {
			a = g.agents[i]
		} else {
			role := "agent"
			if i%25 == 0 {
				role = "admin"
			}
			a = g.newAgent(r, role)
		}
		g.agentDay(r, a, budget)
	}
}

// agentDay writes one person's sessions over the span. Sessions never
// overlap, stay under the idle (30 min) and absolute (8 h) timeouts, and
// admins work only in business hours.
func (g *generator) agentDay(r *rand.Rand, a *agent, budget int) {
	lastTypo := int64(math.MinInt64 / 2)
	t := g.start + between(r, 2*time.Minute, 50*time.Minute)
	for g.audit.lines() < budget {
		if a.role == "admin" {
			if t = businessStart(t, g.end); t == 0 {
				return
			}
		}
		if t > g.end-int64(45*time.Minute) {
			return
		}
		stop := min(t+between(r, 30*time.Minute, 3*time.Hour), g.end-int64(10*time.Minute))
		if a.role == "admin" {
			stop = min(stop, businessEnd(t))
		}
		if until := g.blocked(a.name, t-int64(10*time.Minute), stop+int64(15*time.Minute)); until != 0 {
			t = until + between(r, 5*time.Minute, 20*time.Minute)
			continue
		}
		if r.IntN(20) == 0 && t-lastTypo >= int64(4*time.Hour) && !g.isQuiet(t) {
			lastTypo = t
			g.loginFailure(t, a.name, a.role, a.ip, a.ua, "bad_password", 1)
			g.echo(t-between(r, 10*time.Millisecond, 80*time.Millisecond), a.ip, "POST", "/agent/login.php", 200, 4810+r.Int64N(40), site+"/agent/login.php", a.ua)
			t += between(r, 8*time.Second, 30*time.Second)
		}
		sess := sessionID(r)
		login := t
		g.loginSuccess(t, a.name, a.role, a.ip, sess, a.ua, "password", a.mfa)
		g.echoLogin(r, t, a.ip, a.ua, a.role == "admin")
		t += between(r, time.Millisecond, 4*time.Millisecond)
		g.sessionStart(t, a.name, a.role, a.ip, sess)
		for {
			next := t + between(r, 2*time.Minute, 20*time.Minute)
			if next > stop {
				break
			}
			t = next
			ticket := ticketID(r)
			g.ticketReply(t, a.name, a.role, a.ip, sess, ticket)
			g.echoReply(r, t, a.ip, a.ua, ticket)
		}
		t += between(r, time.Minute, 10*time.Minute)
		g.sessionEnd(t, a.name, a.role, a.ip, sess, "logout", t-login)
		g.echoLogout(r, t, a.ip, a.ua)
		g.benign(a.ip, a.name)
		t += between(r, 10*time.Minute, 60*time.Minute)
	}
}
