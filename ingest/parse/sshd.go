package parse

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// SSHD parses the auth log lines of OpenSSH's sshd (also sshd-session and
// sshd-auth, OpenSSH 9.8 and later), its PAM modules and Dropbear, in any
// envelope syslog.go reads, and lines that are a bare sshd message with no
// header at all (Ts is then the line's read time). A line of another program
// in the same log (sudo, cron, ...) becomes an event with action "other";
// only a line with no recognisable header is refused with ingest.ErrNoMatch.
//
// # Classification
//
// One login attempt is one login/failure event, so that "8 failed logins in
// 2 minutes" counts attempts, not log lines. sshd writes several lines per
// attempt; these are the failures:
//
//	Failed <method> for [invalid user ]X from A port N ssh2   reason bad_password, bad_key or bad_credential (invalid_user for invalid users)
//	message repeated N times: [ Failed ... ]                   N failures
//	Invalid user X from A port N                              invalid_user (enumeration often sends no password)
//	User X from A not allowed because ...                     not_allowed
//	ROOT LOGIN REFUSED FROM A port N                          root_refused (the password was right; PermitRootLogin said no)
//	Dropbear: Bad [PAM ]password attempt for 'X' from A:P     bad_password
//	Dropbear: Login attempt for nonexistent user from A:P     invalid_user
//
// "Invalid user", "not allowed" and "ROOT LOGIN REFUSED" are each followed by
// a "Failed ..." line for the same attempt in the same sshd process. The
// parser remembers the first per host and pid (a bounded memory) and turns
// that one following "Failed" line into login_probe; later "Failed" lines of
// the connection are new attempts. "Failed none" is login_probe (reason
// auth_none): the client only asks which methods it may use and sends no
// credential.
//
// Lines that repeat or summarise an attempt already counted are login_probe:
// PAM's "authentication failure" lines (reason pam_failure; sshd writes its
// own "Failed password" line for the same attempt, also after "error: PAM:
// ... for X from A") and "maximum authentication attempts exceeded"
// (max_attempts). Pre-authentication noise from an address is login_probe
// with a reason: kex_failed, no_ident, bad_banner, auth_timeout, penalty,
// preauth_close, preauth_disconnect (these mean the client misbehaved, see
// hostileProbe), and connect, client_disconnect, connection_closed,
// partial_auth, postponed, protocol_error, max_startups, auth_none (these do
// not). "Accepted" is login/success (mfa multi_step when a "Partial" line of
// the same pid preceded it); the address mismatch lines are dns_mismatch;
// PAM session lines are session_start and session_end; "Disconnected from
// user X" is logout. Everything else is "other", and so is a probe that
// names no address.
//
// User names are trimmed and lower-cased, as the event schema asks; Raw keeps
// the spelling. The client address is the last "from <addr>" (or the address
// in the shape of the line), IPv6 in any form, zone ids stripped, IPv4-mapped
// addresses unmapped.
type SSHD struct {
	loc  *time.Location
	pids sshPidMemo
}

var _ ingest.Parser = (*SSHD)(nil)

// NewSSHD returns an sshd parser. Stamps without a zone are read in
// opts.Location.
func NewSSHD(opts Options) *SSHD {
	return &SSHD{loc: opts.location()}
}

// Name returns "sshd".
func (p *SSHD) Name() string { return "sshd" }

// Reasons the sshd parser sets.
const (
	sshReasonBadPassword       = "bad_password"
	sshReasonBadKey            = "bad_key"
	sshReasonBadCredential     = "bad_credential"
	sshReasonInvalidUser       = "invalid_user"
	sshReasonNotAllowed        = "not_allowed"
	sshReasonRootRefused       = "root_refused"
	sshReasonMaxAttempts       = "max_attempts"
	sshReasonPAMFailure        = "pam_failure"
	sshReasonKexFailed         = "kex_failed"
	sshReasonNoIdent           = "no_ident"
	sshReasonBadBanner         = "bad_banner"
	sshReasonAuthTimeout       = "auth_timeout"
	sshReasonPenalty           = "penalty"
	sshReasonPreauthClose      = "preauth_close"
	sshReasonPreauthDisconnect = "preauth_disconnect"
	sshReasonAuthNone          = "auth_none"
	sshReasonPartialAuth       = "partial_auth"
	sshReasonPostponed         = "postponed"
	sshReasonConnect           = "connect"
	sshReasonClientDisconnect  = "client_disconnect"
	sshReasonConnectionClosed  = "connection_closed"
	sshReasonProtocolError     = "protocol_error"
	sshReasonMaxStartups       = "max_startups"
	sshReasonLocked            = "locked"
)

// hostileProbe reports whether a login_probe with this reason shows a client
// that misbehaved before authenticating: it failed (the reasons of failed
// attempts, kept on the lines that repeat them), hit the attempt limit,
// spoke no SSH, could not agree on algorithms, timed out or hung up in the
// middle of authenticating. sshguard blocks on the same lines (some with a
// lower weight); detection rules that look for scanners can use the same set.
func hostileProbe(reason string) bool {
	switch reason {
	case sshReasonBadPassword, sshReasonBadKey, sshReasonBadCredential, sshReasonInvalidUser,
		sshReasonNotAllowed, sshReasonRootRefused, sshReasonMaxAttempts, sshReasonPAMFailure,
		sshReasonKexFailed, sshReasonNoIdent, sshReasonBadBanner, sshReasonAuthTimeout,
		sshReasonPenalty, sshReasonPreauthClose, sshReasonPreauthDisconnect:
		return true
	}
	return false
}

// sshMaxRepeat caps the events one "message repeated N times" line expands
// to, so that a forged count cannot exhaust memory.
const sshMaxRepeat = 1000

// Parse implements ingest.Parser.
func (p *SSHD) Parse(ln ingest.Line, dst []event.Event) ([]event.Event, error) {
	text := ln.Text
	var (
		h  syslogHeader
		ok bool
	)
	if strings.HasPrefix(text, "{") {
		if h, ok = parseJournal(text); !ok {
			return dst, noMatch("sshd", "not a journal entry")
		}
	} else if h, ok = parseSyslog(text, ln.Time, p.loc); !ok {
		h = syslogHeader{msg: sysTrimMsg(text)}
	}
	if h.ts.IsZero() {
		h.ts = ln.Time
	}
	if h.program == "" {
		// No tag: accept the line if its message is one sshd or Dropbear writes.
		var scratch event.Event
		if h.program = sshClassify(&scratch, h.msg, nil, sshPidKey{}); h.program == "" {
			if !ok {
				return dst, noMatch("sshd", "no syslog header")
			}
			return dst, noMatch("sshd", "no program tag")
		}
	}
	if i := strings.LastIndexByte(h.program, '/'); i >= 0 && i < len(h.program)-1 {
		h.program = h.program[i+1:] // /usr/sbin/sshd
	}

	// Fill the event in place in dst: an Event is large, and a copy costs.
	dst = append(dst, event.Event{
		Ts:       h.ts,
		Host:     h.host,
		Kind:     event.KindAuth,
		Source:   ln.Source,
		Parser:   "sshd",
		Program:  h.program,
		Action:   event.ActionOther,
		Outcome:  event.OutcomeUnknown,
		Severity: h.severity,
		Message:  h.msg,
		Raw:      text,
		EventID:  event.NewID(ln.Source, ln.File, ln.Offset, 0),
	})
	ev := &dst[len(dst)-1]
	ev.PID = parsePID(h.pid)
	if !sshProgram(h.program) {
		return dst, nil
	}
	key := sshPidKey{host: h.host, pid: h.pid}
	if n, inner, ok := sshCutRepeated(h.msg); ok {
		base := *ev
		dst = dst[:len(dst)-1]
		for i := range n {
			e := base
			e.Attrs = make(map[string]string, 2)
			for k, v := range base.Attrs {
				e.Attrs[k] = v
			}
			e.Attrs["repeated"] = strconv.Itoa(n)
			e.Message = inner
			e.EventID = event.NewID(ln.Source, ln.File, ln.Offset, i)
			p.classify(&e, inner, key)
			dst = append(dst, e)
		}
		return dst, nil
	}
	p.classify(ev, h.msg, key)
	return dst, nil
}

// classify fills ev from an sshd message and applies the catch-alls: an
// unknown message keeps action other (with the address it names, if any)
// and a probe must name an address.
func (p *SSHD) classify(ev *event.Event, msg string, key sshPidKey) {
	if sshClassify(ev, msg, &p.pids, key) == "" {
		// Unknown message: keep the address it names, if any; pre-auth
		// noise from an address is a probe.
		if _, a, port, _, ok := sshFindFrom(msg); ok {
			ev.SrcIP, ev.SrcPort = a, port
			if strings.HasSuffix(msg, "[preauth]") {
				ev.Action = event.ActionLoginProbe
			}
		}
	}
	if ev.Action == event.ActionLoginProbe && !ev.SrcIP.IsValid() {
		ev.Action = event.ActionOther
	}
}

// sshProgram reports whether prog is a program whose messages sshd parses.
func sshProgram(prog string) bool {
	switch prog {
	case "sshd", "sshd-session", "sshd-auth", "dropbear":
		return true
	}
	return false
}

// sshCutRepeated parses rsyslog's "message repeated N times: [ msg]".
func sshCutRepeated(msg string) (n int, inner string, ok bool) {
	r, ok := strings.CutPrefix(msg, "message repeated ")
	if !ok {
		return 0, "", false
	}
	num, r, ok := strings.Cut(r, " times: [")
	if !ok || !strings.HasSuffix(r, "]") {
		return 0, "", false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 {
		return 0, "", false
	}
	return min(n, sshMaxRepeat), strings.TrimSpace(r[:len(r)-1]), true
}

// sshClassify sets action, outcome, reason, user, address and the attributes
// of ev from one sshd, PAM or Dropbear message. It returns the program that
// writes such a message ("sshd" or "dropbear"), or "" for a message it does
// not know. mem is the per-pid memory; nil (or an empty pid) disables it.
func sshClassify(ev *event.Event, msg string, mem *sshPidMemo, key sshPidKey) string {
	m := msg
	if r, ok := strings.CutPrefix(m, "error: "); ok {
		m = r
		if ev.Severity == "" {
			ev.Severity = "error"
		}
	} else if r, ok := strings.CutPrefix(m, "fatal: "); ok {
		m = r
		if ev.Severity == "" {
			ev.Severity = "critical"
		}
	}
	if key.pid == "" {
		mem = nil
	}
	if m == "" {
		return ""
	}
	switch m[0] {
	case 'A':
		if r, ok := strings.CutPrefix(m, "Accepted "); ok {
			return sshAccepted(ev, r, mem, key)
		}
		if r, ok := strings.CutPrefix(m, "Address "); ok {
			// Address A maps to N, but this does not map back to the address.
			a, r, ok := strings.Cut(r, " maps to ")
			name, _, ok2 := strings.Cut(r, ", but this does not map back")
			if ip, ok3 := ParseAddr(a); ok && ok2 && ok3 {
				sshDNSMismatch(ev, ip, name)
				return "sshd"
			}
		}
	case 'B':
		if r, ok := strings.CutPrefix(m, "Bad password attempt for "); ok {
			return dropbearFailure(ev, r, sshReasonBadPassword)
		}
		if r, ok := strings.CutPrefix(m, "Bad PAM password attempt for "); ok {
			return dropbearFailure(ev, r, sshReasonBadPassword)
		}
		if strings.HasPrefix(m, "Bad protocol version identification ") {
			return sshProbeFrom(ev, m, sshReasonBadBanner)
		}
	case 'C':
		if r, ok := strings.CutPrefix(m, "Connection closed by "); ok {
			return sshClosed(ev, r, mem, key)
		}
		if r, ok := strings.CutPrefix(m, "Connection reset by "); ok {
			return sshClosed(ev, r, mem, key)
		}
		if r, ok := strings.CutPrefix(m, "Connection from "); ok {
			// Connection from A port N on B port M (LogLevel VERBOSE).
			sshSetAddrPort(ev, r)
			ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonConnect
			return "sshd"
		}
		if r, ok := strings.CutPrefix(m, "Close session: user "); ok {
			if u, a, port, _, ok := sshFindFrom(r); ok {
				ev.User, ev.SrcIP, ev.SrcPort = sshUser(u), a, port
				ev.Action, ev.Outcome = event.ActionSessionEnd, event.OutcomeSuccess
				return "sshd"
			}
		}
		if r, ok := strings.CutPrefix(m, "Child connection from "); ok {
			dropbearAddr(ev, r)
			ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonConnect
			return "dropbear"
		}
	case 'D':
		if r, ok := strings.CutPrefix(m, "Disconnected from "); ok {
			return sshDisconnected(ev, r, mem, key)
		}
		if strings.HasPrefix(m, "Did not receive identification string from ") {
			return sshProbeFrom(ev, m, sshReasonNoIdent)
		}
		if r, ok := strings.CutPrefix(m, "Disconnecting"); ok {
			return sshDisconnecting(ev, r)
		}
	case 'E':
		if r, ok := strings.CutPrefix(m, "Exit before auth"); ok {
			return dropbearExitBeforeAuth(ev, r)
		}
		if r, ok := strings.CutPrefix(m, "Exit ("); ok {
			// Dropbear: Exit (user) from <A:P>: Disconnect received
			u, r, ok := strings.Cut(r, ") from ")
			if ok {
				ev.User = sshUser(u)
				dropbearAddr(ev, r)
				ev.Action, ev.Outcome = event.ActionLogout, event.OutcomeSuccess
				return "dropbear"
			}
		}
	case 'F':
		if r, ok := strings.CutPrefix(m, "Failed "); ok {
			return sshFailed(ev, r, mem, key)
		}
	case 'I':
		if r, ok := strings.CutPrefix(m, "Invalid user "); ok {
			if u, a, port, _, ok := sshFindFrom(r); ok {
				ev.User, ev.SrcIP, ev.SrcPort = sshUser(u), a, port
				ev.Action, ev.Outcome, ev.Reason = event.ActionLogin, event.OutcomeFailure, sshReasonInvalidUser
				mem.set(key, ev.Ts, sshPendInvalid)
				return "sshd"
			}
		}
	case 'L':
		if r, ok := strings.CutPrefix(m, "Login attempt for nonexistent user"); ok {
			// Dropbear: Login attempt for nonexistent user[ 'X'] from A:P
			r = strings.TrimPrefix(r, " ")
			if u, ok := strings.CutPrefix(r, "'"); ok {
				if i := strings.LastIndex(u, "' from "); i >= 0 {
					ev.User = sshUser(u[:i])
					r = u[i+2:]
				}
			}
			if r, ok := strings.CutPrefix(r, "from "); ok {
				dropbearAddr(ev, r)
				ev.Action, ev.Outcome, ev.Reason = event.ActionLogin, event.OutcomeFailure, sshReasonInvalidUser
				return "dropbear"
			}
		}
	case 'M':
		if r, ok := strings.CutPrefix(m, "Max auth tries reached - user "); ok {
			// Dropbear: Max auth tries reached - user 'X' from A:P
			dropbearUserFrom(ev, r)
			ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonMaxAttempts
			return "dropbear"
		}
	case 'N':
		if r, ok := strings.CutPrefix(m, "Nasty PTR record \""); ok {
			// Nasty PTR record "N" is set up for A, ignoring
			name, r, ok := strings.Cut(r, "\" is set up for ")
			a, _, ok2 := strings.Cut(r, ", ignoring")
			if ip, ok3 := ParseAddr(a); ok && ok2 && ok3 {
				sshDNSMismatch(ev, ip, name)
				return "sshd"
			}
		}
	case 'P':
		if r, ok := strings.CutPrefix(m, "Partial "); ok {
			if prog := sshAuthLine(ev, r); prog != "" {
				ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonPartialAuth
				mem.setPartial(key, ev.Ts)
				return prog
			}
		}
		if r, ok := strings.CutPrefix(m, "Postponed "); ok {
			if prog := sshAuthLine(ev, r); prog != "" {
				ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonPostponed
				return prog
			}
		}
		if r, ok := strings.CutPrefix(m, "PAM: "); ok {
			return sshPAMError(ev, r)
		}
		if r, ok := strings.CutPrefix(m, "PAM "); ok && strings.Contains(r, " more authentication failure") {
			// PAM 2 more authentication failures; logname= ... rhost=A  user=X
			sshPAMKeys(ev, r)
			ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonPAMFailure
			return "sshd"
		}
		if r, ok := strings.CutPrefix(m, "Password auth succeeded for "); ok {
			if dropbearUserFrom(ev, r) {
				ev.Action, ev.Outcome, ev.AuthMethod = event.ActionLogin, event.OutcomeSuccess, "password"
				return "dropbear"
			}
		}
		if r, ok := strings.CutPrefix(m, "Pubkey auth succeeded for "); ok {
			if dropbearUserFrom(ev, r) {
				ev.Action, ev.Outcome, ev.AuthMethod = event.ActionLogin, event.OutcomeSuccess, "publickey"
				if _, fp, ok := strings.Cut(r, " key "); ok {
					if fp, _, ok = strings.Cut(fp, " from "); ok {
						ev.SetAttr("key_fp", fp)
					}
				}
				return "dropbear"
			}
		}
		if r, ok := strings.CutPrefix(m, "Protocol major versions differ for "); ok {
			sshSetAddrPort(ev, r)
			ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonBadBanner
			return "sshd"
		}
	case 'R':
		if r, ok := strings.CutPrefix(m, "ROOT LOGIN REFUSED FROM "); ok {
			sshSetAddrPort(ev, r)
			ev.User = "root"
			ev.Action, ev.Outcome, ev.Reason = event.ActionLogin, event.OutcomeFailure, sshReasonRootRefused
			mem.set(key, ev.Ts, sshPendRoot)
			return "sshd"
		}
		if r, ok := strings.CutPrefix(m, "Received disconnect from "); ok {
			// Received disconnect from A[ port N]:C: text [preauth]
			sshSetAddrPort(ev, r)
			if strings.HasSuffix(r, "[preauth]") {
				ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonClientDisconnect
			}
			return "sshd"
		}
		if strings.HasPrefix(m, "Received signal ") {
			return "sshd"
		}
	case 'S':
		if r, ok := strings.CutPrefix(m, "Starting session: "); ok {
			// Starting session: shell on pts/0 for X from A port N id 0
			if _, r, ok := strings.Cut(r, " for "); ok {
				if u, a, port, _, ok := sshFindFrom(r); ok {
					ev.User, ev.SrcIP, ev.SrcPort = sshUser(u), a, port
					ev.Action, ev.Outcome = event.ActionSessionStart, event.OutcomeSuccess
					return "sshd"
				}
			}
		}
		if strings.HasPrefix(m, "Server listening on ") {
			return "sshd"
		}
	case 'T':
		if r, ok := strings.CutPrefix(m, "Timeout before authentication for "); ok {
			// OpenSSH: "for A port N"; FreeBSD: "for connection from A to B, pid = N".
			if _, a, port, _, ok := sshFindFrom(r); ok {
				ev.SrcIP, ev.SrcPort = a, port
			} else {
				sshSetAddrPort(ev, r)
			}
			ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonAuthTimeout
			return "sshd"
		}
	case 'U':
		if r, ok := strings.CutPrefix(m, "User "); ok {
			return sshNotAllowed(ev, r, mem, key)
		}
		if r, ok := strings.CutPrefix(m, "Unable to negotiate with "); ok {
			sshSetAddrPort(ev, r)
			ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonKexFailed
			return "sshd"
		}
	case 'b':
		if r, ok := strings.CutPrefix(m, "banner exchange: Connection from "); ok {
			sshSetAddrPort(ev, r)
			ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonBadBanner
			return "sshd"
		}
	case 'd':
		if r, ok := strings.CutPrefix(m, "drop connection #"); ok {
			return sshDropConnection(ev, r)
		}
	case 'k':
		if strings.HasPrefix(m, "kex_exchange_identification: ") {
			ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonBadBanner
			return "sshd"
		}
	case 'm':
		if r, ok := strings.CutPrefix(m, "maximum authentication attempts exceeded for "); ok {
			r = strings.TrimPrefix(r, "invalid user ")
			if u, a, port, _, ok := sshFindFrom(r); ok {
				ev.User, ev.SrcIP, ev.SrcPort = sshUser(u), a, port
				ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonMaxAttempts
				return "sshd"
			}
		}
	case 'p':
		if strings.HasPrefix(m, "pam_") {
			return sshPAMModule(ev, m)
		}
	case 'r':
		if r, ok := strings.CutPrefix(m, "reverse mapping checking getaddrinfo for "); ok {
			// reverse mapping checking getaddrinfo for N [A] failed - POSSIBLE BREAK-IN ATTEMPT!
			name, r, ok := strings.Cut(r, " [")
			a, _, ok2 := strings.Cut(r, "] failed")
			if ip, ok3 := ParseAddr(a); ok && ok2 && ok3 {
				sshDNSMismatch(ev, ip, name)
				return "sshd"
			}
		}
	case 's':
		if r, ok := strings.CutPrefix(m, "ssh_dispatch_run_fatal: Connection from "); ok {
			sshSetAddrPort(ev, r)
			ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonProtocolError
			return "sshd"
		}
	}
	return ""
}

// sshAuthLine parses "<method> for [invalid user ]X from A port N ssh2[: KEYTYPE FP ...]",
// the tail of Accepted, Failed, Partial and Postponed lines. It sets the auth
// method, user, address and key attributes and returns "sshd", or "" when r
// has another shape. The invalid user prefix is left in ev.Reason.
func sshAuthLine(ev *event.Event, r string) string {
	method, r, ok := strings.Cut(r, " for ")
	if !ok || method == "" || strings.IndexByte(method, ' ') >= 0 {
		return ""
	}
	r, invalid := strings.CutPrefix(r, "invalid user ")
	user, a, port, tail, ok := sshFindFrom(r)
	if !ok {
		return ""
	}
	if invalid {
		ev.Reason = sshReasonInvalidUser
	}
	ev.User, ev.SrcIP, ev.SrcPort = sshUser(user), a, port
	ev.AuthMethod = method
	if m, sub, ok := strings.Cut(method, "/"); ok {
		ev.AuthMethod = m
		ev.SetAttr("auth_submethod", sub)
	}
	// " ssh2: ED25519 SHA256:..." (certificates add "ID ... CA ...").
	if _, info, ok := strings.Cut(tail, ": "); ok {
		typ, rest, _ := strings.Cut(info, " ")
		fp, _, _ := strings.Cut(rest, " ")
		if typ != "" && fp != "" {
			ev.SetAttr("key_type", typ)
			ev.SetAttr("key_fp", fp)
		}
	}
	return "sshd"
}

func sshAccepted(ev *event.Event, r string, mem *sshPidMemo, key sshPidKey) string {
	if sshAuthLine(ev, r) == "" {
		return ""
	}
	ev.Action, ev.Outcome, ev.Reason = event.ActionLogin, event.OutcomeSuccess, ""
	if st, ok := mem.get(key, ev.Ts); ok && st.partial {
		ev.MFA = "multi_step"
	}
	mem.forget(key)
	return "sshd"
}

func sshFailed(ev *event.Event, r string, mem *sshPidMemo, key sshPidKey) string {
	if sshAuthLine(ev, r) == "" {
		return ""
	}
	invalid := ev.Reason == sshReasonInvalidUser
	ev.Action, ev.Outcome = event.ActionLogin, event.OutcomeFailure
	switch {
	case invalid:
	case ev.AuthMethod == "password" || ev.AuthMethod == "keyboard-interactive":
		ev.Reason = sshReasonBadPassword
	case ev.AuthMethod == "publickey" || ev.AuthMethod == "hostbased":
		ev.Reason = sshReasonBadKey
	default:
		ev.Reason = sshReasonBadCredential
	}
	if ev.AuthMethod == "none" {
		ev.Action, ev.Outcome, ev.Reason = event.ActionLoginProbe, event.OutcomeUnknown, sshReasonAuthNone
		return "sshd"
	}
	// The first Failed line after "Invalid user" / "not allowed" (for an
	// invalid user) or after "ROOT LOGIN REFUSED" (for a valid one) is the
	// attempt that line already counted.
	if st, ok := mem.get(key, ev.Ts); ok {
		if (st.pending == sshPendInvalid && invalid) || (st.pending == sshPendRoot && !invalid) {
			ev.Action, ev.Outcome = event.ActionLoginProbe, event.OutcomeUnknown
			if st.pending == sshPendRoot {
				ev.Reason = sshReasonRootRefused
			}
			mem.clearPending(key)
		}
	}
	return "sshd"
}

// sshNotAllowed parses "User X from A not allowed because ...".
func sshNotAllowed(ev *event.Event, r string, mem *sshPidMemo, key sshPidKey) string {
	i := strings.LastIndex(r, " not allowed because")
	if i < 0 {
		return ""
	}
	u, a, port, _, ok := sshFindFrom(r[:i])
	if !ok {
		return ""
	}
	ev.User, ev.SrcIP, ev.SrcPort = sshUser(u), a, port
	ev.Action, ev.Outcome, ev.Reason = event.ActionLogin, event.OutcomeFailure, sshReasonNotAllowed
	mem.set(key, ev.Ts, sshPendInvalid)
	return "sshd"
}

// sshClosed parses the tail of "Connection closed by" and "Connection reset
// by": "[authenticating user X |invalid user X |user X ]A[ port N][ [preauth]]".
func sshClosed(ev *event.Event, r string, mem *sshPidMemo, key sshPidKey) string {
	q, ok := sshPeer(ev, r)
	if !ok {
		return ""
	}
	mem.forget(key)
	preauth := strings.HasSuffix(r, "[preauth]")
	switch {
	case q == "user":
		ev.Action, ev.Outcome = event.ActionLogout, event.OutcomeSuccess
	case preauth || q != "":
		ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonPreauthClose
	default:
		ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonConnectionClosed
	}
	return "sshd"
}

// sshDisconnected parses the tail of "Disconnected from": the same shape as
// sshClosed. Without [preauth] or a qualifier it is the end of a session.
func sshDisconnected(ev *event.Event, r string, mem *sshPidMemo, key sshPidKey) string {
	q, ok := sshPeer(ev, r)
	if !ok {
		return ""
	}
	mem.forget(key)
	if q == "user" || (q == "" && !strings.HasSuffix(r, "[preauth]")) {
		ev.Action, ev.Outcome = event.ActionLogout, event.OutcomeSuccess
	} else {
		ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonPreauthDisconnect
	}
	return "sshd"
}

// sshDisconnecting parses what follows "Disconnecting": ": Too many
// authentication failures [for X] [preauth]" (old) or " [authenticating
// user X |invalid user X ]A port N: reason [preauth]".
func sshDisconnecting(ev *event.Event, r string) string {
	var why string
	if rest, ok := strings.CutPrefix(r, ": "); ok {
		why = rest
	} else if rest, ok := strings.CutPrefix(r, " "); ok {
		i, a, port, ok := sshAddrBeforePort(rest)
		if !ok {
			return ""
		}
		sshQualifiedUser(ev, rest[:i])
		ev.SrcIP, ev.SrcPort = a, port
		why = rest[i:]
	} else {
		return ""
	}
	ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonPreauthDisconnect
	if strings.Contains(why, "Too many authentication failures") {
		ev.Reason = sshReasonMaxAttempts
	} else if !strings.HasSuffix(why, "[preauth]") && ev.User == "" {
		ev.Action, ev.Reason = event.ActionOther, ""
	}
	return "sshd"
}

// sshPeer parses "[authenticating user X |invalid user X |user X ]A[ port N]..."
// and returns the qualifier ("authenticating", "invalid", "user" or "").
func sshPeer(ev *event.Event, r string) (qualifier string, ok bool) {
	r = strings.TrimSuffix(r, " [preauth]")
	if i, a, port, ok := sshAddrBeforePort(r); ok {
		ev.SrcIP, ev.SrcPort = a, port
		return sshQualifiedUser(ev, r[:i]), true
	}
	// No port (old OpenSSH): the address is the last word.
	i := strings.LastIndexByte(r, ' ')
	a, ok := sshAddrToken(r[i+1:])
	if !ok {
		return "", false
	}
	ev.SrcIP = a
	if i < 0 {
		return "", true
	}
	return sshQualifiedUser(ev, r[:i]), true
}

// sshQualifiedUser sets the user from "authenticating user X", "invalid user
// X" or "user X" (trailing space allowed) and returns the qualifier.
func sshQualifiedUser(ev *event.Event, s string) string {
	for _, q := range [...]string{"authenticating", "invalid", "user"} {
		prefix := q + " user "
		if q == "user" {
			prefix = "user "
		}
		if u, ok := strings.CutPrefix(s, prefix); ok {
			ev.User = sshUser(u)
			return q
		}
	}
	return ""
}

// sshProbeFrom sets a probe whose address is the last "from A[ port N]" of m.
func sshProbeFrom(ev *event.Event, m, reason string) string {
	_, a, port, _, ok := sshFindFrom(m)
	if !ok {
		return ""
	}
	ev.SrcIP, ev.SrcPort = a, port
	ev.Action, ev.Reason = event.ActionLoginProbe, reason
	return "sshd"
}

// sshPAMError parses sshd's "error: PAM: <pam error> for [illegal user ]X from A".
// sshd writes its own "Failed password" line for the same attempt.
func sshPAMError(ev *event.Event, r string) string {
	_, r, ok := strings.Cut(r, " for ")
	if !ok {
		return ""
	}
	r = strings.TrimPrefix(r, "illegal user ")
	u, a, port, _, ok := sshFindFrom(r)
	if !ok {
		return ""
	}
	ev.User, ev.SrcIP, ev.SrcPort = sshUser(u), a, port
	ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonPAMFailure
	return "sshd"
}

// sshPAMModule parses lines of PAM modules running in sshd:
// "pam_unix(sshd:auth): authentication failure; ... rhost=A  user=X",
// "pam_unix(sshd:session): session opened for user X(uid=N) by (uid=0)",
// "... session closed for user X", and faillock's "account temporarily locked".
func sshPAMModule(ev *event.Event, m string) string {
	_, r, ok := strings.Cut(m, "): ")
	if !ok {
		return ""
	}
	switch {
	case strings.HasPrefix(r, "authentication failure;"):
		sshPAMKeys(ev, r)
		ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonPAMFailure
	case strings.HasPrefix(r, "session opened for user "):
		ev.User = sshUser(sshPAMUser(r[len("session opened for user "):]))
		ev.Action, ev.Outcome = event.ActionSessionStart, event.OutcomeSuccess
	case strings.HasPrefix(r, "session closed for user "):
		ev.User = sshUser(sshPAMUser(r[len("session closed for user "):]))
		ev.Action, ev.Outcome = event.ActionSessionEnd, event.OutcomeSuccess
	case strings.Contains(r, "account temporarily locked") || strings.Contains(r, "account locked"):
		if _, u, ok := strings.Cut(r, "for user "); ok {
			ev.User = sshUser(sshPAMUser(u))
		}
		ev.Reason = sshReasonLocked
	}
	return "sshd"
}

// sshPAMUser returns the user name at the start of s, which ends at a space
// or at "(uid=".
func sshPAMUser(s string) string {
	if i := strings.IndexAny(s, " ("); i >= 0 {
		return s[:i]
	}
	return s
}

// sshPAMKeys reads rhost= and user= from a PAM failure line. rhost may be a
// host name (UseDNS yes), which is kept in Attrs["rhost"].
func sshPAMKeys(ev *event.Event, r string) {
	if _, v, ok := strings.Cut(r, " rhost="); ok {
		v, _, _ = strings.Cut(v, " ")
		if a, ok := ParseAddr(v); ok {
			ev.SrcIP = a
		} else if v != "" {
			ev.SetAttr("rhost", v)
		}
	}
	if _, v, ok := strings.Cut(r, " user="); ok {
		ev.User = sshUser(v)
	}
}

// sshDropConnection parses OpenSSH 9.8's PerSourcePenalties and MaxStartups
// lines: "drop connection #N from [A]:P on [B]:Q penalty: <why>" and
// "... past MaxStartups".
func sshDropConnection(ev *event.Event, r string) string {
	_, r, ok := strings.Cut(r, " from ")
	if !ok {
		return ""
	}
	tok, rest := sysToken(r)
	if !sshSetHostPort(ev, tok) {
		return ""
	}
	ev.Action = event.ActionLoginProbe
	switch {
	case strings.Contains(rest, "LoginGraceTime"):
		ev.Reason = sshReasonAuthTimeout
	case strings.Contains(rest, "penalty:"):
		ev.Reason = sshReasonPenalty
	default:
		ev.Reason = sshReasonMaxStartups
	}
	return "sshd"
}

// sshDNSMismatch sets a dns_mismatch event: the PTR name of ip does not
// resolve back to it.
func sshDNSMismatch(ev *event.Event, ip netip.Addr, name string) {
	ev.SrcIP = ip
	ev.Action = event.ActionDNSMismatch
	ev.SetAttr("ptr_name", name)
}

// dropbearFailure parses "'X' from A:P" after a Dropbear failure prefix.
func dropbearFailure(ev *event.Event, r, reason string) string {
	if !dropbearUserFrom(ev, r) {
		return ""
	}
	ev.Action, ev.Outcome, ev.Reason = event.ActionLogin, event.OutcomeFailure, reason
	ev.AuthMethod = "password"
	return "dropbear"
}

// dropbearUserFrom parses "'X'... from A:P", setting user and address.
func dropbearUserFrom(ev *event.Event, r string) bool {
	u, ok := strings.CutPrefix(r, "'")
	if !ok {
		return false
	}
	end := strings.IndexByte(u, '\'')
	i := strings.LastIndex(u, " from ")
	if end < 0 || i < end {
		return false
	}
	if !dropbearAddr(ev, u[i+len(" from "):]) {
		return false
	}
	ev.User = sshUser(u[:end])
	return true
}

// dropbearExitBeforeAuth parses what follows Dropbear's "Exit before auth":
// " from <A:P>: (user 'X', N fails): why" or " (user 'X', N fails): why".
func dropbearExitBeforeAuth(ev *event.Event, r string) string {
	if rest, ok := strings.CutPrefix(r, " from "); ok {
		tok, _ := sysToken(rest)
		dropbearAddr(ev, tok)
	} else if _, rest, ok := strings.Cut(r, " from "); ok {
		tok, _ := sysToken(rest)
		dropbearAddr(ev, tok)
	}
	if _, u, ok := strings.Cut(r, "(user '"); ok {
		if u, _, ok = strings.Cut(u, "'"); ok {
			ev.User = sshUser(u)
		}
	}
	ev.Action, ev.Reason = event.ActionLoginProbe, sshReasonPreauthClose
	if strings.Contains(r, "Max auth tries reached") {
		ev.Reason = sshReasonMaxAttempts
	}
	return "dropbear"
}

// dropbearAddr sets the address of a Dropbear "A:P" or "<A:P>" token (the
// port is always there, so an IPv6 address is cut at its last colon).
func dropbearAddr(ev *event.Event, s string) bool {
	tok, _ := sysToken(s)
	tok = strings.TrimSuffix(tok, ":")
	if len(tok) > 2 && tok[0] == '<' && tok[len(tok)-1] == '>' {
		tok = tok[1 : len(tok)-1]
	}
	if i := strings.LastIndexByte(tok, ':'); i > 0 {
		if port, ok := sshPort(tok[i+1:]); ok {
			if a, ok := ParseAddr(tok[:i]); ok {
				ev.SrcIP, ev.SrcPort = a, port
				return true
			}
		}
	}
	if a, ok := ParseAddr(tok); ok {
		ev.SrcIP = a
		return true
	}
	return false
}

// sshFindFrom finds the last " from A" in s (or s starting with "from A")
// whose A is an address, with an optional " port N" after it. It returns
// the text before it, the address, the port and the text after.
func sshFindFrom(s string) (before string, a netip.Addr, port uint16, tail string, ok bool) {
	// Most lines have one " from ": two forward searches find it faster
	// than a backward one.
	if i := strings.Index(s, " from "); i >= 0 && !strings.Contains(s[i+len(" from "):], " from ") {
		tok, rest := sysToken(s[i+len(" from "):])
		if a, ok := sshAddrToken(tok); ok {
			port, rest = sshCutPort(rest)
			return s[:i], a, port, rest, true
		}
	}
	end := len(s)
	for end > 0 {
		i := strings.LastIndex(s[:end], " from ")
		start := i + len(" from ")
		if i < 0 {
			if !strings.HasPrefix(s, "from ") {
				return "", netip.Addr{}, 0, "", false
			}
			i, start = 0, len("from ")
		}
		tok, rest := sysToken(s[start:])
		if a, ok := sshAddrToken(tok); ok {
			port, rest = sshCutPort(rest)
			return s[:i], a, port, rest, true
		}
		end = i
	}
	return "", netip.Addr{}, 0, "", false
}

// sshAddrBeforePort finds the last " port N" in s that follows an address
// and returns the index where the address starts, the address and N.
func sshAddrBeforePort(s string) (int, netip.Addr, uint16, bool) {
	end := len(s)
	for end > 0 {
		i := strings.LastIndex(s[:end], " port ")
		if i < 0 {
			break
		}
		if port, ok := sshPortPrefix(s[i+len(" port "):]); ok {
			j := strings.LastIndexByte(s[:i], ' ') + 1
			if a, ok := sshAddrToken(s[j:i]); ok {
				return j, a, port, true
			}
		}
		end = i
	}
	return 0, netip.Addr{}, 0, false
}

// sshSetAddrPort sets the address and port from s starting with "A[ port N]",
// "A:" (before a disconnect code) or "A,".
func sshSetAddrPort(ev *event.Event, s string) bool {
	tok, rest := sysToken(s)
	if sshSetHostPort(ev, tok) {
		if ev.SrcPort == 0 {
			ev.SrcPort, _ = sshCutPort(rest)
		}
		return true
	}
	return false
}

// sshSetHostPort sets the address (and the port, for the "[A]:P" form) of a
// single token.
func sshSetHostPort(ev *event.Event, tok string) bool {
	if a, ok := sshAddrToken(tok); ok {
		ev.SrcIP = a
		return true
	}
	if strings.HasPrefix(tok, "[") {
		if h, p, ok := strings.Cut(tok[1:], "]:"); ok {
			if a, ok := ParseAddr(h); ok {
				ev.SrcIP = a
				ev.SrcPort, _ = sshPortPrefix(p)
				return true
			}
		}
	}
	return false
}

// sshAddrToken parses an address token, allowing one trailing ':', ',' or
// '.' (as in "from 95.9.156.208: 3: ..." or "from 2001:db8::1:").
func sshAddrToken(tok string) (netip.Addr, bool) {
	if a, ok := ParseAddr(tok); ok {
		return a, true
	}
	if n := len(tok); n > 1 && (tok[n-1] == ':' || tok[n-1] == ',' || tok[n-1] == '.') {
		return ParseAddr(tok[:n-1])
	}
	return netip.Addr{}, false
}

// sshCutPort reads " port N" at the start of s.
func sshCutPort(s string) (uint16, string) {
	r, ok := strings.CutPrefix(s, " port ")
	if !ok {
		return 0, s
	}
	port, ok := sshPortPrefix(r)
	if !ok {
		return 0, s
	}
	i := 0
	for i < len(r) && r[i] >= '0' && r[i] <= '9' {
		i++
	}
	return port, r[i:]
}

// sshPortPrefix parses the decimal port at the start of s.
func sshPortPrefix(s string) (uint16, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return sshPort(s[:i])
}

func sshPort(s string) (uint16, bool) {
	if len(s) == 0 || len(s) > 5 {
		return 0, false
	}
	n, ok := sysNum(s)
	if !ok || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// sshUser normalises a user name: trimmed and lower-cased.
func sshUser(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// sshPidKey names one sshd process: the per-pid memory is per host, since
// one file may hold the logs of several machines.
type sshPidKey struct{ host, pid string }

// Pending marks: the next Failed line of the pid is an attempt already counted.
const (
	sshPendInvalid = 1 // after "Invalid user" or "not allowed": the next "Failed ... for invalid user"
	sshPendRoot    = 2 // after "ROOT LOGIN REFUSED": the next "Failed ... for" a valid user
)

type sshPidState struct {
	pending uint8
	partial bool      // a "Partial" line was seen: the next Accepted is multi-step
	at      time.Time // event time of the line that set the state
	slot    int       // index in the ring
}

// sshPidMaxAge is how long a pid's state is believed: longer than sshd's
// LoginGraceTime (2 minutes by default), short enough that a reused pid
// starts clean.
const sshPidMaxAge = 10 * time.Minute

// sshPidCap bounds the memory: the oldest entry is evicted first.
const sshPidCap = 4096

// sshPidMemo is the sshd parser's memory of recent processes: a map from pid
// to state and a ring of keys in insertion order for eviction. Only lines
// that start a multi-line attempt insert, so it stays small.
type sshPidMemo struct {
	m    map[sshPidKey]sshPidState
	ring []sshPidKey
	next int
}

func (m *sshPidMemo) get(k sshPidKey, now time.Time) (sshPidState, bool) {
	if m == nil || len(m.m) == 0 {
		return sshPidState{}, false
	}
	st, ok := m.m[k]
	if !ok {
		return st, false
	}
	if d := now.Sub(st.at); d > sshPidMaxAge || d < -sshPidMaxAge {
		return sshPidState{}, false
	}
	return st, true
}

func (m *sshPidMemo) set(k sshPidKey, now time.Time, pending uint8) {
	if m == nil {
		return
	}
	st := m.load(k, now)
	st.pending = pending
	m.store(k, st)
}

func (m *sshPidMemo) setPartial(k sshPidKey, now time.Time) {
	if m == nil {
		return
	}
	st := m.load(k, now)
	st.partial = true
	m.store(k, st)
}

func (m *sshPidMemo) clearPending(k sshPidKey) {
	if m == nil {
		return
	}
	if st, ok := m.m[k]; ok {
		st.pending = 0
		m.m[k] = st
	}
}

func (m *sshPidMemo) forget(k sshPidKey) {
	if m == nil || len(m.m) == 0 {
		return
	}
	delete(m.m, k)
}

// load returns the state of k to change, or a fresh one (slot -1) when k
// is unknown or its state is stale (a new process with a reused pid).
func (m *sshPidMemo) load(k sshPidKey, now time.Time) sshPidState {
	st, ok := m.m[k]
	if !ok {
		return sshPidState{at: now, slot: -1}
	}
	if d := now.Sub(st.at); d > sshPidMaxAge || d < -sshPidMaxAge {
		st = sshPidState{slot: st.slot}
	}
	st.at = now
	return st
}

// store saves st for k, taking a ring slot (and evicting its oldest
// holder) when k is new.
func (m *sshPidMemo) store(k sshPidKey, st sshPidState) {
	if st.slot >= 0 {
		m.m[k] = st
		return
	}
	if m.m == nil {
		m.m = make(map[sshPidKey]sshPidState)
		m.ring = make([]sshPidKey, sshPidCap)
	}
	if old := m.ring[m.next]; old.pid != "" {
		if st, ok := m.m[old]; ok && st.slot == m.next {
			delete(m.m, old)
		}
	}
	// Copy the strings (in one allocation): they point into the line, which
	// must not be retained.
	both := k.host + k.pid
	k = sshPidKey{host: both[:len(k.host)], pid: both[len(k.host):]}
	st.slot = m.next
	m.m[k] = st
	m.ring[m.next] = k
	m.next = (m.next + 1) % sshPidCap
}
