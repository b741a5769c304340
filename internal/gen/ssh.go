package gen

import (
	"encoding/base64"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// sshUser is an account with benign ssh logins, each from its own address.
type sshUser struct {
	name     string
	uid      int
	ip       netip.Addr
	key      string // "ED25519 SHA256:...", as sshd prints it after Accepted publickey
	password bool   // logs in with a password now and then (and mistypes it)
	machine  bool   // automation: short, frequent publickey sessions
}

func (g *generator) newSSHUser(r *rand.Rand, password, machine bool) *sshUser {
	g.uids++
	u := &sshUser{uid: 1000 + g.uids, password: password && !machine, machine: machine}
	if machine {
		u.name = g.names.machine(r)
		u.ip = g.addrs.internal(r)
	} else {
		u.name = g.names.person(r)
		if r.IntN(5) == 0 {
			u.ip = g.addrs.internal6(r)
		} else {
			u.ip = g.addrs.internal(r)
		}
	}
	fp := make([]byte, 32)
	for i := range fp {
		fp[i] = byte(r.IntN(256))
	}
	kt := "ED25519"
	if r.IntN(4) == 0 {
		kt = "RSA"
	}
	u.key = kt + " SHA256:" + base64.RawStdEncoding.EncodeToString(fp)
	return u
}

// agent is a helpdesk staff account, working from its own internal address.
type agent struct {
	name, role string // role: agent or admin
	ip         netip.Addr
	ua         string
	mfa        string // second factor it always uses
}

// population creates the core accounts attacks can target. Benign traffic
// starts with them and adds more as its budget needs.
func (g *generator) population() {
	r := g.rng("population")
	if g.auth != nil {
		for i := range 12 {
			g.sshUsers = append(g.sshUsers, g.newSSHUser(r, i < 6, false))
		}
	}
	if g.audit != nil {
		admins := max(2, g.mult+1)
		for i := range 10 + 2*g.mult + admins {
			role := "agent"
			if i < admins {
				role = "admin"
			}
			g.agents = append(g.agents, g.newAgent(r, role))
		}
	}
}

func (g *generator) newAgent(r *rand.Rand, role string) *agent {
	a := &agent{name: g.names.person(r), role: role, ip: g.addrs.internal(r), ua: pick(r, deskUAs), mfa: "totp"}
	if r.IntN(4) == 0 {
		a.mfa = "webauthn"
	}
	return a
}

// pid returns an unused sshd pid that grows with t, as pids of a busy host do.
func (g *generator) pid(r *rand.Rand, t int64) int {
	p := 2000 + int(max(t-g.start, 0)/int64(300*time.Millisecond))*4 + r.IntN(4)
	for {
		if _, used := g.pids[p]; !used {
			g.pids[p] = struct{}{}
			return p
		}
		p++
	}
}

func (g *generator) sshHead(t int64, pid int) []byte {
	b := g.auth.begin(t)
	b = appendSyslogStamp(b, t)
	b = append(b, " "+Host+" sshd["...)
	b = strconv.AppendInt(b, int64(pid), 10)
	return append(b, "]: "...)
}

func appendFromPort(b []byte, ip netip.Addr, port int) []byte {
	b = append(b, " from "...)
	b = ip.AppendTo(b)
	b = append(b, " port "...)
	return strconv.AppendInt(b, int64(port), 10)
}

func appendIPPort(b []byte, ip netip.Addr, port int) []byte {
	b = append(b, ' ')
	b = ip.AppendTo(b)
	b = append(b, " port "...)
	return strconv.AppendInt(b, int64(port), 10)
}

func (g *generator) pamAuthFailure(t int64, pid int, ip netip.Addr, user string) {
	b := g.sshHead(t, pid)
	b = append(b, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost="...)
	b = ip.AppendTo(b)
	if user != "" {
		b = append(b, "  user="...)
		b = append(b, user...)
	}
	g.auth.commit(b)
}

func (g *generator) failedPassword(t int64, pid int, ip netip.Addr, port int, user string, invalid bool) {
	b := g.sshHead(t, pid)
	b = append(b, "Failed password for "...)
	if invalid {
		b = append(b, "invalid user "...)
	}
	b = append(b, user...)
	b = appendFromPort(b, ip, port)
	b = append(b, " ssh2"...)
	g.auth.commit(b)
}

// preauthEnd writes how a connection that never authenticated ends; who is
// "invalid user X" or "authenticating user X".
func (g *generator) preauthEnd(r *rand.Rand, t int64, pid int, ip netip.Addr, port int, who string) {
	if r.IntN(2) == 0 {
		b := g.sshHead(t, pid)
		b = append(b, "Connection closed by "...)
		b = append(b, who...)
		b = appendIPPort(b, ip, port)
		g.auth.commit(append(b, " [preauth]"...))
		return
	}
	b := g.sshHead(t, pid)
	b = append(b, "Received disconnect from "...)
	b = ip.AppendTo(b)
	b = append(b, " port "...)
	b = strconv.AppendInt(b, int64(port), 10)
	g.auth.commit(append(b, ":11: Bye Bye [preauth]"...))
	b = g.sshHead(t, pid)
	b = append(b, "Disconnected from "...)
	b = append(b, who...)
	b = appendIPPort(b, ip, port)
	g.auth.commit(append(b, " [preauth]"...))
}

// sshFailure writes one connection that fails to log in and records its
// attempts on a. An unknown account (valid false) gets "Invalid user" and, if
// tries > 0, one password attempt; tries == 0 is enumeration without a
// password. A known account gets tries password failures, the repeats folded
// by rsyslog into "message repeated N times". It returns the connection's
// end time and the number of failed attempts.
func (g *generator) sshFailure(r *rand.Rand, t int64, ip netip.Addr, user string, valid bool, tries int, a *Attacker) (int64, int) {
	pid := g.pid(r, t)
	port := 1024 + r.IntN(64511)
	if !valid {
		b := g.sshHead(t, pid)
		b = append(b, "Invalid user "...)
		b = append(b, user...)
		g.auth.commit(appendFromPort(b, ip, port))
		a.event(t, user, 1)
		if tries > 0 {
			t += between(r, 80*time.Millisecond, 400*time.Millisecond)
			b = g.sshHead(t, pid)
			g.auth.commit(append(b, "pam_unix(sshd:auth): check pass; user unknown"...))
			g.pamAuthFailure(t, pid, ip, "")
			t += between(r, 1500*time.Millisecond, 3*time.Second)
			g.failedPassword(t, pid, ip, port, user, true)
		}
		t += between(r, 30*time.Millisecond, 900*time.Millisecond)
		g.preauthEnd(r, t, pid, ip, port, "invalid user "+user)
		return t, 1
	}
	tries = min(max(tries, 1), 6)
	t += between(r, 200*time.Millisecond, 1500*time.Millisecond)
	g.pamAuthFailure(t, pid, ip, user)
	t += between(r, 1500*time.Millisecond, 3*time.Second)
	g.failedPassword(t, pid, ip, port, user, false)
	a.event(t, user, 1)
	switch {
	case tries == 2:
		// rsyslog folds only two or more repeats; one is written as is.
		t += between(r, 1500*time.Millisecond, 3*time.Second)
		g.failedPassword(t, pid, ip, port, user, false)
		a.event(t, user, 1)
	case tries > 2:
		t += int64(tries-1) * between(r, 1500*time.Millisecond, 3*time.Second)
		b := g.sshHead(t, pid)
		b = append(b, "message repeated "...)
		b = strconv.AppendInt(b, int64(tries-1), 10)
		b = append(b, " times: [ Failed password for "...)
		b = append(b, user...)
		b = appendFromPort(b, ip, port)
		g.auth.commit(append(b, " ssh2]"...))
		a.event(t, user, tries-1)
	}
	t += between(r, 50*time.Millisecond, 500*time.Millisecond)
	if tries == 6 {
		b := g.sshHead(t, pid)
		b = append(b, "error: maximum authentication attempts exceeded for "...)
		b = append(b, user...)
		b = appendFromPort(b, ip, port)
		g.auth.commit(append(b, " ssh2 [preauth]"...))
		b = g.sshHead(t, pid)
		b = append(b, "Disconnecting authenticating user "...)
		b = append(b, user...)
		b = appendIPPort(b, ip, port)
		g.auth.commit(append(b, ": Too many authentication failures [preauth]"...))
	} else {
		g.preauthEnd(r, t, pid, ip, port, "authenticating user "+user)
	}
	if tries > 1 {
		b := g.sshHead(t, pid)
		b = append(b, "PAM "...)
		b = strconv.AppendInt(b, int64(tries-1), 10)
		b = append(b, " more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost="...)
		b = ip.AppendTo(b)
		b = append(b, "  user="...)
		g.auth.commit(append(b, user...))
		if tries > 3 {
			b = g.sshHead(t, pid)
			b = append(b, "PAM service(sshd) ignoring max retries; "...)
			b = strconv.AppendInt(b, int64(tries), 10)
			g.auth.commit(append(b, " > 3"...))
		}
	}
	return t, tries
}

// sshSession writes a successful login (after one mistyped password if
// typo), the session, and its end. It returns the time of the Accepted line
// and of the session's last line.
func (g *generator) sshSession(r *rand.Rand, t int64, ip netip.Addr, user string, uid int, method, key string, typo bool, dur int64) (accepted, end int64) {
	pid := g.pid(r, t)
	port := 32768 + r.IntN(28232)
	if typo {
		t += between(r, 2*time.Second, 6*time.Second)
		g.pamAuthFailure(t, pid, ip, user)
		t += between(r, 1500*time.Millisecond, 3*time.Second)
		g.failedPassword(t, pid, ip, port, user, false)
		t += between(r, 3*time.Second, 9*time.Second)
	} else {
		t += between(r, 100*time.Millisecond, 1200*time.Millisecond)
	}
	accepted = t
	b := g.sshHead(t, pid)
	b = append(b, "Accepted "...)
	b = append(b, method...)
	b = append(b, " for "...)
	b = append(b, user...)
	b = appendFromPort(b, ip, port)
	b = append(b, " ssh2"...)
	if method == "publickey" {
		b = append(b, ": "...)
		b = append(b, key...)
	}
	g.auth.commit(b)
	t += between(r, 5*time.Millisecond, 40*time.Millisecond)
	b = g.sshHead(t, pid)
	b = append(b, "pam_unix(sshd:session): session opened for user "...)
	b = append(b, user...)
	b = append(b, "(uid="...)
	b = strconv.AppendInt(b, int64(uid), 10)
	g.auth.commit(append(b, ") by (uid=0)"...))

	t += dur
	b = g.sshHead(t, pid)
	b = append(b, "Received disconnect from "...)
	b = ip.AppendTo(b)
	b = append(b, " port "...)
	b = strconv.AppendInt(b, int64(port), 10)
	g.auth.commit(append(b, ":11: disconnected by user"...))
	b = g.sshHead(t, pid)
	b = append(b, "Disconnected from user "...)
	b = append(b, user...)
	g.auth.commit(appendIPPort(b, ip, port))
	t += between(r, 1*time.Millisecond, 30*time.Millisecond)
	b = g.sshHead(t, pid)
	b = append(b, "pam_unix(sshd:session): session closed for user "...)
	g.auth.commit(append(b, user...))
	return accepted, t
}

func (g *generator) sshAttacks(r *rand.Rand) {
	n0 := g.auth.lines()
	for i := range g.mult {
		g.sshFast(r)
		g.sshSlow(r)
		g.sshSpray(r)
		g.sshStuffing(r)
		g.sshCompromise(r, g.sshUsers[i]) // the first six use passwords
	}
	g.auth.attack += g.auth.lines() - n0
}

func (g *generator) sshFast(r *rand.Rand) {
	ip := g.addrs.attacker(r, 0.25)
	a := g.newAttacker(ip, AttackSSHBruteforceFast, FileAuth)
	t := g.start + between(r, 20*time.Minute, Span-40*time.Minute)
	target := 30 + r.IntN(21)
	for n := 0; n < target; {
		user, valid, tries := "root", true, 1+r.IntN(3)
		switch x := r.Float64(); {
		case x < 0.30:
			user, valid, tries = pick(r, sshAttackNames), false, 1
		case x < 0.35:
			user, valid, tries = pick(r, sshAttackNames), false, 0
		case x < 0.42:
			tries = 6
		}
		if valid {
			tries = min(tries, target-n)
		}
		_, k := g.sshFailure(r, t, ip, user, valid, tries, a)
		n += k
		// Bots open connections in parallel: the next starts before this
		// one ends.
		t += between(r, 700*time.Millisecond, 3500*time.Millisecond)
	}
}

func (g *generator) sshSlow(r *rand.Rand) {
	ip := g.addrs.attacker(r, 0.2)
	a := g.newAttacker(ip, AttackSSHBruteforceSlow, FileAuth)
	t := g.start + between(r, 10*time.Minute, time.Hour)
	stop := min(t+between(r, 210*time.Minute, 270*time.Minute), g.end-5*time.Minute.Nanoseconds())
	for t < stop {
		if r.IntN(10) < 7 {
			g.sshFailure(r, t, ip, "root", true, 1, a)
		} else {
			g.sshFailure(r, t, ip, pick(r, sshAttackNames), false, 1, a)
		}
		t += between(r, 3*time.Minute, 5*time.Minute)
	}
}

func (g *generator) sshSpray(r *rand.Rand) {
	ip := g.addrs.attacker(r, 0.2)
	a := g.newAttacker(ip, AttackSSHPasswordSpray, FileAuth)
	t := g.start + between(r, 15*time.Minute, Span-45*time.Minute)
	perm := r.Perm(len(sshAttackNames))
	n := 15 + r.IntN(11)
	for _, i := range perm[:n] {
		tries := 1 + r.IntN(2)
		for range tries {
			g.sshFailure(r, t, ip, sshAttackNames[i], false, 1, a)
			t += between(r, 12*time.Second, 35*time.Second)
		}
	}
}

// sshStuffing writes one credential-stuffing wave: many addresses, each
// trying 2-3 names once, 36+ attempts on 36+ names inside 8 minutes.
func (g *generator) sshStuffing(r *rand.Rand) {
	t0 := g.start + between(r, 20*time.Minute, Span-40*time.Minute)
	const wave = 8 * time.Minute
	g.quiet = append(g.quiet, window{t0 - int64(15*time.Minute), t0 + int64(wave+15*time.Minute)})
	perm := r.Perm(len(sshAttackNames))
	next, total := 0, 0
	for ips := 0; (ips < 12 || total < 36) && ips < 20; ips++ {
		ip := g.addrs.attacker(r, 0.15)
		a := g.newAttacker(ip, AttackSSHCredentialStuffing, FileAuth)
		a.Distributed = true
		for range 2 + r.IntN(2) {
			user := sshAttackNames[perm[next%len(perm)]]
			next++
			g.sshFailure(r, t0+between(r, 0, wave), ip, user, false, 1, a)
			total++
		}
	}
}

// sshCompromise writes failures against a real account followed by a
// successful password login from the same address.
func (g *generator) sshCompromise(r *rand.Rand, u *sshUser) {
	ip := g.addrs.attacker(r, 0.2)
	a := g.newAttacker(ip, AttackSSHSuccessAfterFailures, FileAuth)
	t0 := g.start + between(r, time.Hour, Span-2*time.Hour)
	t := t0
	for range r.IntN(3) {
		end, _ := g.sshFailure(r, t, ip, pick(r, sshAttackNames), false, 1, a)
		t = end + between(r, 2*time.Second, 10*time.Second)
	}
	for n := 6 + r.IntN(7); n > 0; {
		end, k := g.sshFailure(r, t, ip, u.name, true, min(1+r.IntN(3), n), a)
		n -= k
		t = end + between(r, 3*time.Second, 20*time.Second)
	}
	t += between(r, 20*time.Second, 90*time.Second)
	acc, end := g.sshSession(r, t, ip, u.name, u.uid, "password", "", false, between(r, 3*time.Minute, 25*time.Minute))
	a.event(acc, u.name, 1)
	g.compromise(a, u.name)
	g.block(u.name, t0-int64(20*time.Minute), end+int64(20*time.Minute))
}

// benignSSH writes benign ssh sessions until auth.log holds budget lines:
// first the core users, then more people and automation accounts.
func (g *generator) benignSSH(r *rand.Rand, budget int) {
	for i := 0; g.auth.lines() < budget; i++ {
		var u *sshUser
		if i < len(g.sshUsers) {
			u = g.sshUsers[i]
		} else {
			u = g.newSSHUser(r, r.IntN(3) == 0, i%2 == 1)
		}
		if u.machine {
			g.machineDay(r, u, budget)
		} else {
			g.personDay(r, u, budget)
		}
	}
}

// personDay: a few sessions a day, mostly publickey; a password user may
// mistype once, never twice in four hours.
func (g *generator) personDay(r *rand.Rand, u *sshUser, budget int) {
	lastTypo := int64(math.MinInt64 / 2)
	t := g.start + between(r, time.Minute, time.Hour)
	for t < g.end-int64(15*time.Minute) && g.auth.lines() < budget {
		dur := min(between(r, 2*time.Minute, 90*time.Minute), g.end-t-int64(time.Minute))
		if until := g.blocked(u.name, t-int64(5*time.Minute), t+dur+int64(5*time.Minute)); until != 0 {
			t = until + between(r, time.Minute, 10*time.Minute)
			continue
		}
		method := "publickey"
		if u.password && r.IntN(2) == 0 {
			method = "password"
		}
		typo := method == "password" && r.IntN(7) == 0 && t-lastTypo >= int64(4*time.Hour) && !g.isQuiet(t)
		if typo {
			lastTypo = t
		}
		_, end := g.sshSession(r, t, u.ip, u.name, u.uid, method, u.key, typo, dur)
		g.benign(u.ip, u.name)
		t = end + between(r, 10*time.Minute, 100*time.Minute)
	}
}

// machineDay: automation logging in every few minutes for a few seconds.
func (g *generator) machineDay(r *rand.Rand, u *sshUser, budget int) {
	t := g.start + between(r, 0, 5*time.Minute)
	for t < g.end-int64(2*time.Minute) && g.auth.lines() < budget {
		_, end := g.sshSession(r, t, u.ip, u.name, u.uid, "publickey", u.key, false, between(r, 2*time.Second, 50*time.Second))
		g.benign(u.ip, u.name)
		t = end + between(r, 2*time.Minute, 10*time.Minute)
	}
}
