package parse

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// This file reads the envelope of an auth log line, everything before the
// program's own message, in the shapes sshd's lines reach us in:
//
//	Mar  3 09:15:02 host sshd[20412]: msg                  RFC 3164 (year and zone inferred)
//	<38>Mar  3 09:15:02 host sshd[20412]: msg              the same with a priority
//	2025-03-03T09:15:02.114523+00:00 host sshd[20412]: msg RFC 3339 stamp (rsyslog)
//	2018-12-20 10:09:05.180218+0000 localhost sshd[67566]: msg   macOS
//	<34>1 2025-03-03T09:15:02.003Z host sshd 1234 - [sd] msg     RFC 5424
//	2022-02-24T21:00:42.021457+00:00 host dropbear 6052 - - msg  RFC 5424 without <PRI> (sysklogd)
//	Jun 20 02:18:39 vps auth.info sshd[13482]: msg         Busybox: facility.level before the tag
//	May 9 11:11:17 sshd[30876]: msg                        Busybox syslog -S: no host
//	Jan  1 00:00:00 <10.5> foxtrot sshd[1234]: msg         FreeBSD syslogd -v
//	2020-05-29T11:28:56.058908+02:00 bastion sshd[20974] msg     rsyslog 8: no colon after the tag
//	2015-05-27T04:31:28.10040 auth.info: May 27 04:31:28 sshd[30993]: msg   socklog
//	2018-06-26 13:22:02.108781500 msg                      a stamp and the bare message
//	{"MESSAGE":"msg","SYSLOG_IDENTIFIER":"sshd",...}       journalctl -o json
//
// Everything here is byte scanning without allocation; only journal lines go
// through encoding/json.

// syslogHeader is the envelope of one syslog or journal line.
type syslogHeader struct {
	ts       time.Time // zero when the line had no stamp of its own
	host     string
	program  string // the tag, without [pid] and colon; empty when the line has none
	pid      string
	severity string
	msg      string
}

// stampSlack is how far past the reference time an RFC 3164 stamp (which has
// no year) may lie before it is taken to be from the previous year: a clock
// skewed by a few days still gets the current year, a December line read
// from a file modified in January gets the year before.
const stampSlack = 7 * 24 * time.Hour

// LooksLikeSyslog reports whether s has an envelope the sshd parser reads: a
// syslog header with a program tag (in any of the shapes it accepts) or a
// journalctl -o json object. It does not look at the message and allocates
// nothing; the auto-detector uses it to pick the sshd parser.
func LooksLikeSyslog(s string) bool {
	if strings.HasPrefix(s, "{") {
		return strings.Contains(s, `"MESSAGE"`)
	}
	h, ok := parseSyslog(s, time.Time{}, time.UTC)
	return ok && h.program != ""
}

// parseSyslog reads the syslog header of s. ref is the reference time for
// stamps without a year and loc the zone of stamps without an offset. ok
// reports a recognised stamp; h.program is empty when no tag follows it, and
// h.msg is then everything after the stamp.
func parseSyslog(s string, ref time.Time, loc *time.Location) (h syslogHeader, ok bool) {
	rest := s
	if strings.HasPrefix(rest, "<") {
		pri, r, ok := sysCutPRI(rest)
		if !ok {
			return h, false
		}
		h.severity = sysSeverity(pri & 7)
		rest = r
		if strings.HasPrefix(rest, "1 ") {
			return sysParse5424(rest[2:], h, ref, loc)
		}
	}
	ts, r, ok := sysStamp3339(rest, loc)
	if !ok {
		if ts, r, ok = sysStamp3164(rest, ref, loc); !ok {
			return h, false
		}
	}
	h.ts = ts
	sysAfterStamp(sysTrimSpace(r), &h, ref, loc)
	return h, true
}

// sysAfterStamp reads what follows the stamp: host, facility, tag, message.
func sysAfterStamp(rest string, h *syslogHeader, ref time.Time, loc *time.Location) {
	// FreeBSD syslogd -v: "<facility.severity>" before the host.
	if strings.HasPrefix(rest, "<") {
		tok, r := sysToken(rest)
		if len(tok) > 2 && tok[len(tok)-1] == '>' {
			if _, sev, found := strings.Cut(tok[1:len(tok)-1], "."); found {
				if n, err := strconv.Atoi(sev); err == nil && n >= 0 && n <= 7 {
					h.severity = sysSeverity(n)
				}
			}
			rest = sysTrimSpace(r)
		}
	}
	tok1, r1 := sysToken(rest)

	// socklog: "auth.info: " then perhaps a second, RFC 3164 stamp (the
	// first one is kept: it has the year and the fraction), a tag, the message.
	if len(tok1) > 1 && tok1[len(tok1)-1] == ':' {
		if sev, ok := sysFacilityLevel(tok1[:len(tok1)-1]); ok {
			h.severity = sev
			rest = sysTrimSpace(r1)
			if _, r, ok := sysStamp3164(rest, ref, loc); ok {
				rest = sysTrimSpace(r)
			}
			tok, r := sysToken(rest)
			if prog, pid, _, ok := sysTag(tok); ok {
				h.program, h.pid, h.msg = prog, pid, sysTrimMsg(r)
				return
			}
			h.msg = sysTrimMsg(rest)
			return
		}
	}

	// No host, a tag with a pid (Busybox syslog -S).
	if prog, pid, hasPid, ok := sysTag(tok1); ok && hasPid {
		h.program, h.pid, h.msg = prog, pid, sysTrimMsg(r1)
		return
	}

	// Host, an optional facility.level (Busybox), the tag.
	if tok1 != "" && tok1[len(tok1)-1] != ':' {
		rest2 := sysTrimSpace(r1)
		tok2, r2 := sysToken(rest2)
		if sev, ok := sysFacilityLevel(tok2); ok {
			h.severity = sev
			rest2 = sysTrimSpace(r2)
			tok2, r2 = sysToken(rest2)
		}
		if prog, pid, _, ok := sysTag(tok2); ok {
			h.host, h.program, h.pid, h.msg = tok1, prog, pid, sysTrimMsg(r2)
			return
		}
		// RFC 5424 fields after the host, without the "<PRI>1" (sysklogd).
		if app, pid, msg, ok := sys5424Tail(rest2); ok {
			h.host, h.program, h.pid, h.msg = tok1, app, pid, msg
			return
		}
	}

	// A stamp and then the bare message.
	h.msg = sysTrimMsg(rest)
}

// sysParse5424 reads an RFC 5424 header after "<PRI>1 ": stamp, host, app,
// procid, msgid, structured data, message. "-" is the nil value of a field.
func sysParse5424(s string, h syslogHeader, ref time.Time, loc *time.Location) (syslogHeader, bool) {
	tok, r := sysToken(s)
	if tok != "-" {
		ts, rest, ok := sysStamp3339(s, loc)
		if !ok {
			return h, false
		}
		h.ts, r = ts, rest
	}
	host, r := sysToken(sysTrimSpace(r))
	if host == "" {
		return h, false
	}
	app, pid, msg, ok := sys5424Tail(sysTrimSpace(r))
	if !ok {
		return h, false
	}
	if host != "-" {
		h.host = host
	}
	h.program, h.pid, h.msg = app, pid, msg
	return h, true
}

// sys5424Tail reads "APP PROCID MSGID SD [MSG]" and returns the app (empty
// for "-"), the procid when it is a number, and the message.
func sys5424Tail(s string) (app, pid, msg string, ok bool) {
	app, r := sysToken(s)
	procid, r := sysToken(sysTrimSpace(r))
	msgid, r := sysToken(sysTrimSpace(r))
	r = sysTrimSpace(r)
	if app == "" || msgid == "" || procid == "" || (procid != "-" && !sysDigits(procid)) {
		return "", "", "", false
	}
	if strings.ContainsAny(app, ":[]") {
		return "", "", "", false
	}
	switch {
	case strings.HasPrefix(r, "- "), r == "-":
		r = r[1:]
	case strings.HasPrefix(r, "["):
		r, ok = sysSkipSD(r)
		if !ok {
			return "", "", "", false
		}
	default:
		return "", "", "", false
	}
	r = strings.TrimPrefix(sysTrimSpace(r), "\ufeff") // a BOM marks a UTF-8 message
	if app == "-" {
		app = ""
	}
	if procid == "-" {
		procid = ""
	}
	return app, procid, sysTrimMsg(r), true
}

// sysSkipSD skips RFC 5424 structured data: one or more [id k="v" ...]
// elements, where a value may hold \" \] and \\.
func sysSkipSD(s string) (string, bool) {
	for strings.HasPrefix(s, "[") {
		i, quoted := 1, false
		for ; i < len(s); i++ {
			c := s[i]
			if quoted && c == '\\' {
				i++
				continue
			}
			if c == '"' {
				quoted = !quoted
			} else if c == ']' && !quoted {
				break
			}
		}
		if i >= len(s) {
			return "", false
		}
		s = s[i+1:]
	}
	return s, true
}

// sysTag parses a program tag: "prog[pid]:", "prog:" or "prog[pid]".
func sysTag(tok string) (prog, pid string, hasPid, ok bool) {
	t, colon := strings.CutSuffix(tok, ":")
	if i := strings.IndexByte(t, '['); i >= 0 {
		if i == 0 || t[len(t)-1] != ']' || !sysDigits(t[i+1:len(t)-1]) {
			return "", "", false, false
		}
		return t[:i], t[i+1 : len(t)-1], true, true
	}
	if !colon || t == "" || strings.ContainsAny(t, "]:") {
		return "", "", false, false
	}
	return t, "", false, true
}

// sysCutPRI cuts a "<N>" priority, N at most 191.
func sysCutPRI(s string) (pri int, rest string, ok bool) {
	i := 1
	for ; i < len(s) && i <= 4 && s[i] >= '0' && s[i] <= '9'; i++ {
		pri = pri*10 + int(s[i]-'0')
	}
	if i == 1 || i >= len(s) || s[i] != '>' || pri > 191 {
		return 0, "", false
	}
	return pri, s[i+1:], true
}

// sysStamp3339 parses "YYYY-MM-DD[T ]hh:mm:ss[.frac][Z|±hh:mm|±hhmm|±hh]"
// followed by a space or the end. Without an offset the stamp is in loc.
func sysStamp3339(s string, loc *time.Location) (time.Time, string, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, "", false
	}
	year, ok1 := sysNum(s[0:4])
	mon, ok2 := sysNum(s[5:7])
	day, ok3 := sysNum(s[8:10])
	hh, ok4 := sysNum(s[11:13])
	mm, ok5 := sysNum(s[14:16])
	ss, ok6 := sysNum(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !sysValidClock(mon, day, hh, mm, ss) {
		return time.Time{}, "", false
	}
	i, nsec := 19, 0
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		j, scale := i+1, 100000000
		for ; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
			nsec += int(s[j]-'0') * scale
			scale /= 10
		}
		if j == i+1 {
			return time.Time{}, "", false
		}
		i = j
	}
	zone, offset := loc, 0
	if i < len(s) {
		switch c := s[i]; {
		case c == 'Z':
			zone, i = time.UTC, i+1
		case c == '+' || c == '-':
			off, n, ok := sysOffset(s[i:])
			if !ok {
				return time.Time{}, "", false
			}
			zone, offset, i = time.UTC, off, i+n
		}
	}
	if i < len(s) && s[i] != ' ' {
		return time.Time{}, "", false
	}
	t := time.Date(year, time.Month(mon), day, hh, mm, ss, nsec, zone)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, s[i:], true
}

// sysOffset parses "+hh:mm", "+hhmm" or "+hh" and returns seconds east of UTC.
func sysOffset(s string) (off, n int, ok bool) {
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	if len(s) < 3 {
		return 0, 0, false
	}
	hh, ok := sysNum(s[1:3])
	if !ok || hh > 23 {
		return 0, 0, false
	}
	mm, n := 0, 3
	switch {
	case len(s) >= 6 && s[3] == ':':
		mm, ok = sysNum(s[4:6])
		n = 6
	case len(s) >= 5 && s[3] >= '0' && s[3] <= '9':
		mm, ok = sysNum(s[3:5])
		n = 5
	}
	if !ok || mm > 59 {
		return 0, 0, false
	}
	return sign * (hh*3600 + mm*60), n, true
}

// sysStamp3164 parses "Mmm dd hh:mm:ss" (day padded with a space, a zero or
// not at all) followed by a space or the end, in loc. The year is inferred
// from ref by sysInferYear.
func sysStamp3164(s string, ref time.Time, loc *time.Location) (time.Time, string, bool) {
	if len(s) < 14 || s[3] != ' ' {
		return time.Time{}, "", false
	}
	mon := sysMonth(s[:3])
	if mon == 0 {
		return time.Time{}, "", false
	}
	i := 4
	if s[i] == ' ' {
		i++
	}
	day := 0
	for n := 0; n < 2 && i < len(s) && s[i] >= '0' && s[i] <= '9'; n++ {
		day = day*10 + int(s[i]-'0')
		i++
	}
	if i+9 > len(s) || s[i] != ' ' || s[i+3] != ':' || s[i+6] != ':' {
		return time.Time{}, "", false
	}
	hh, ok1 := sysNum(s[i+1 : i+3])
	mm, ok2 := sysNum(s[i+4 : i+6])
	ss, ok3 := sysNum(s[i+7 : i+9])
	if !ok1 || !ok2 || !ok3 || !sysValidClock(int(mon), day, hh, mm, ss) {
		return time.Time{}, "", false
	}
	i += 9
	if i < len(s) && s[i] != ' ' {
		return time.Time{}, "", false
	}
	return sysInferYear(mon, day, hh, mm, ss, ref, loc), s[i:], true
}

// sysInferYear returns the latest time with this month, day and clock that
// is no later than ref + stampSlack: normally in ref's year, in the previous
// year for a December line read in January, in the next year for a January
// line read (by a slightly slow clock) on the last days of December. It uses
// nothing but ref, so a replay gives the same years every time.
func sysInferYear(mon time.Month, day, hh, mm, ss int, ref time.Time, loc *time.Location) time.Time {
	r := ref.In(loc)
	year := r.Year()
	limit := ref.Add(stampSlack)
	if mon == time.January && r.Month() == time.December {
		if t := time.Date(year+1, mon, day, hh, mm, ss, 0, loc); !t.After(limit) {
			return t
		}
	}
	t := time.Date(year, mon, day, hh, mm, ss, 0, loc)
	if t.After(limit) {
		t = time.Date(year-1, mon, day, hh, mm, ss, 0, loc)
	}
	return t
}

func sysValidClock(mon, day, hh, mm, ss int) bool {
	return mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hh <= 23 && mm <= 59 && ss <= 60
}

// sysMonth returns the month of an English three-letter abbreviation, or 0.
func sysMonth(s string) time.Month {
	switch s {
	case "Jan":
		return time.January
	case "Feb":
		return time.February
	case "Mar":
		return time.March
	case "Apr":
		return time.April
	case "May":
		return time.May
	case "Jun":
		return time.June
	case "Jul":
		return time.July
	case "Aug":
		return time.August
	case "Sep":
		return time.September
	case "Oct":
		return time.October
	case "Nov":
		return time.November
	case "Dec":
		return time.December
	}
	return 0
}

// sysNum parses a short run of decimal digits.
func sysNum(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, len(s) > 0
}

func sysDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// sysToken returns the text up to the first space, and the rest from it.
func sysToken(s string) (tok, rest string) {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

func sysTrimSpace(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}

// sysTrimMsg trims the spaces before a message and a carriage return after it.
func sysTrimMsg(s string) string {
	return strings.TrimSuffix(sysTrimSpace(s), "\r")
}

// sysSeverity names a syslog severity number in the event vocabulary.
func sysSeverity(n int) string {
	switch n {
	case 0:
		return "emergency"
	case 1:
		return "alert"
	case 2:
		return "critical"
	case 3:
		return "error"
	case 4:
		return "warning"
	case 5:
		return "notice"
	case 6:
		return "info"
	}
	return "debug"
}

// sysFacilityLevel recognises "auth.info" (facility.level, as Busybox and
// socklog write them) and returns the level in the event vocabulary.
func sysFacilityLevel(tok string) (string, bool) {
	fac, level, ok := strings.Cut(tok, ".")
	if !ok || fac == "" {
		return "", false
	}
	for i := 0; i < len(fac); i++ {
		if c := fac[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", false
		}
	}
	switch level {
	case "emerg", "panic":
		return "emergency", true
	case "alert":
		return "alert", true
	case "crit":
		return "critical", true
	case "err", "error":
		return "error", true
	case "warn", "warning":
		return "warning", true
	case "notice":
		return "notice", true
	case "info":
		return "info", true
	case "debug":
		return "debug", true
	}
	return "", false
}

// journalEntry holds the fields vigil reads from a journalctl -o json line.
// Values are kept raw: journalctl writes a field that is not valid UTF-8 as
// an array of byte values and a repeated field as an array of values.
type journalEntry struct {
	Message    json.RawMessage `json:"MESSAGE"`
	Identifier json.RawMessage `json:"SYSLOG_IDENTIFIER"`
	Comm       json.RawMessage `json:"_COMM"`
	Hostname   json.RawMessage `json:"_HOSTNAME"`
	Realtime   json.RawMessage `json:"__REALTIME_TIMESTAMP"`
	PID        json.RawMessage `json:"_PID"`
	SyslogPID  json.RawMessage `json:"SYSLOG_PID"`
	Priority   json.RawMessage `json:"PRIORITY"`
}

// parseJournal reads one journalctl -o json object. It needs MESSAGE; the
// time is __REALTIME_TIMESTAMP (microseconds since the epoch) when present.
func parseJournal(s string) (h syslogHeader, ok bool) {
	var j journalEntry
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return h, false
	}
	msg, ok := journalString(j.Message)
	if !ok {
		return h, false
	}
	h.msg = sysTrimMsg(msg)
	h.program, _ = journalString(j.Identifier)
	if h.program == "" {
		h.program, _ = journalString(j.Comm)
	}
	h.host, _ = journalString(j.Hostname)
	if h.pid, _ = journalString(j.PID); !sysDigits(h.pid) {
		if h.pid, _ = journalString(j.SyslogPID); !sysDigits(h.pid) {
			h.pid = ""
		}
	}
	if us, _ := journalString(j.Realtime); us != "" {
		if n, err := strconv.ParseInt(us, 10, 64); err == nil && n > 0 && n < 1<<53 {
			h.ts = time.UnixMicro(n).UTC()
		}
	}
	if p, _ := journalString(j.Priority); len(p) == 1 && p[0] >= '0' && p[0] <= '7' {
		h.severity = sysSeverity(int(p[0] - '0'))
	}
	return h, true
}

// journalString decodes one journal field value: a string, a number, an
// array of byte values, or an array of values (the first is used).
func journalString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case '[':
		var vals []json.RawMessage
		if json.Unmarshal(raw, &vals) != nil || len(vals) == 0 {
			return "", false
		}
		if c := vals[0][0]; c == '"' || c == '[' {
			return journalString(vals[0])
		}
		b := make([]byte, 0, len(vals))
		for _, v := range vals {
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 0 || n > 255 {
				return "", false
			}
			b = append(b, byte(n))
		}
		return string(b), true
	}
	if raw[0] >= '0' && raw[0] <= '9' {
		return string(raw), true
	}
	return "", false
}
