package parse

import (
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// ErrorLog parses web server error logs:
//
//   - nginx: `2025/03/03 09:20:11 [error] 1187#1187: *5521 message, client:
//     203.0.113.50, server: x, request: "GET /data/ HTTP/1.1", host: "x"`;
//   - apache 2.4: `[Mon Mar 03 09:20:11.482913 2025] [authz_core:error] [pid
//     3121:tid 140215334782528] [client 203.0.113.50:51544] AH01630: message,
//     referer: https://...`, with or without the client (server-level lines);
//   - apache 2.2: `[Mon Mar 03 09:20:11 2025] [error] [client 203.0.113.50]
//     message`.
//
// Neither server writes a zone: times are read in Options.Location. Every
// line becomes one error event with action error; Severity is the level
// under the syslog names (warn becomes warning, crit critical, emerg
// emergency, apache's trace1..8 debug). The apache module, AH code, pid and
// tid, and nginx's pid, tid, connection number and server name go to Attrs.
type ErrorLog struct {
	loc *time.Location
}

var _ ingest.Parser = (*ErrorLog)(nil)

// NewErrorLog returns an nginx and apache error log parser.
func NewErrorLog(opts Options) *ErrorLog {
	return &ErrorLog{loc: opts.location()}
}

// Name returns "errorlog".
func (p *ErrorLog) Name() string { return "errorlog" }

// Parse appends the event of one error log line to dst.
func (p *ErrorLog) Parse(ln ingest.Line, dst []event.Event) ([]event.Event, error) {
	ev := event.Event{
		Kind:    event.KindError,
		Source:  ln.Source,
		Parser:  "errorlog",
		Action:  event.ActionError,
		Outcome: event.OutcomeUnknown,
		Raw:     ln.Text,
		EventID: event.NewID(ln.Source, ln.File, ln.Offset, 0),
	}
	s := strings.TrimRight(ln.Text, " \t\r")
	var err error
	switch {
	case strings.HasPrefix(s, "["):
		err = p.parseApache(s, &ev)
	case isNginxStamp(s):
		err = p.parseNginx(s, &ev)
	default:
		err = noMatch("errorlog", "neither an nginx nor an apache error line")
	}
	if err != nil {
		return dst, err
	}
	return append(dst, ev), nil
}

// isNginxStamp reports whether s starts like "2025/03/03 09:20:11 ".
func isNginxStamp(s string) bool {
	return len(s) >= 20 && isDigit(s[0]) && s[4] == '/' && s[7] == '/' && s[10] == ' ' && s[13] == ':' && s[16] == ':' && s[19] == ' '
}

// parseNginx reads `2025/03/03 09:20:11 [error] 1187#1187: *5521 message,
// client: ..., server: ..., request: "...", host: "..."`.
func (p *ErrorLog) parseNginx(s string, ev *event.Event) error {
	year, ok1 := atoiDigits(s[0:4])
	mon, ok2 := atoiDigits(s[5:7])
	day, ok3 := atoiDigits(s[8:10])
	hh, ok4 := atoiDigits(s[11:13])
	mm, ok5 := atoiDigits(s[14:16])
	ss, ok6 := atoiDigits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mon < 1 || mon > 12 {
		return noMatch("errorlog", "bad nginx timestamp")
	}
	ts, ok := civilTime(year, time.Month(mon), day, hh, mm, ss, 0, p.loc)
	if !ok {
		return noMatch("errorlog", "bad nginx timestamp")
	}
	ev.Ts = ts

	rest := s[20:]
	if len(rest) < 3 || rest[0] != '[' {
		return noMatch("errorlog", "no [level]")
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return noMatch("errorlog", "no [level]")
	}
	sev, ok := normSeverity(rest[1:end])
	if !ok {
		return noMatch("errorlog", "unknown level "+rest[1:end])
	}
	ev.Severity = sev
	rest = strings.TrimLeft(rest[end+1:], " ")

	// pid#tid:
	hash := strings.IndexByte(rest, '#')
	colon := strings.IndexByte(rest, ':')
	if hash <= 0 || colon < hash {
		return noMatch("errorlog", "no pid#tid")
	}
	pid, tid := rest[:hash], rest[hash+1:colon]
	if _, ok := atoiDigits(pid); !ok {
		return noMatch("errorlog", "no pid#tid")
	}
	if _, ok := atoiDigits(tid); !ok {
		return noMatch("errorlog", "no pid#tid")
	}
	ev.PID = parsePID(pid)
	ev.SetAttr("tid", tid)
	rest = strings.TrimLeft(rest[colon+1:], " ")

	// *connection
	if strings.HasPrefix(rest, "*") {
		j := 1
		for j < len(rest) && isDigit(rest[j]) {
			j++
		}
		if j > 1 && (j == len(rest) || rest[j] == ' ') {
			ev.SetAttr("connection", rest[1:j])
			rest = strings.TrimLeft(rest[j:], " ")
		}
	}

	// The context nginx appends starts at ", client: ". The message before
	// it may quote client-controlled text (a path), and nginx escapes no
	// quotes, so the context is the first candidate that reads as a
	// well-formed context to the end of the line with no key twice: a
	// forged ", client: ..." inside the message is then followed by the
	// real one and repeats the key. A crafted line can still be ambiguous;
	// the access log is the better witness of the client. At most
	// maxNginxCandidates are tried, which keeps the work linear in the line.
	ev.Message = rest
	for off, tries := 0, 0; tries < maxNginxCandidates; tries++ {
		k := strings.Index(rest[off:], ", client: ")
		if k < 0 {
			break
		}
		k += off
		if nginxContext(rest[k:], nil) {
			ev.Message = rest[:k]
			nginxContext(rest[k:], ev)
			break
		}
		off = k + 1
	}
	return nil
}

// maxNginxCandidates bounds the ", client: " positions tried per line, and
// maxNginxPairs the pairs one context may have (nginx writes at most seven).
const (
	maxNginxCandidates = 16
	maxNginxPairs      = 16
)

// nginxContext reads `, key: value` pairs to the end of s, values either
// quoted or a single word, and reports whether all of s is such pairs with
// no key repeated. With a non-nil ev it also stores the values.
func nginxContext(s string, ev *event.Event) bool {
	var seen [maxNginxPairs]string
	n := 0
	for s != "" {
		if !strings.HasPrefix(s, ", ") || n == len(seen) {
			return false
		}
		key, rest, ok := nginxKey(s[2:])
		if !ok {
			return false
		}
		for _, k := range seen[:n] {
			if k == key {
				return false
			}
		}
		seen[n] = key
		n++
		var val string
		if strings.HasPrefix(rest, `"`) {
			// The closing quote is the one that ends the line or starts the
			// next pair: nginx does not escape quotes inside these values.
			end := -1
			for j := 1; j < len(rest); j++ {
				if rest[j] != '"' {
					continue
				}
				if j+1 == len(rest) {
					end = j
					break
				}
				if strings.HasPrefix(rest[j+1:], ", ") {
					if _, _, ok := nginxKey(rest[j+3:]); ok {
						end = j
						break
					}
				}
			}
			if end < 0 {
				return false
			}
			val, s = rest[1:end], rest[end+1:]
		} else {
			j := strings.Index(rest, ", ")
			if j < 0 {
				j = len(rest)
			}
			val, s = rest[:j], rest[j:]
			if strings.ContainsAny(val, ` "`) {
				return false
			}
		}
		if ev != nil {
			setNginxKey(ev, key, val)
		}
	}
	return n > 0
}

// nginxKey reads "key: " at the start of s.
func nginxKey(s string) (key, rest string, ok bool) {
	j := 0
	for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] == '_') {
		j++
	}
	if j == 0 || !strings.HasPrefix(s[j:], ": ") {
		return "", "", false
	}
	return s[:j], s[j+2:], true
}

func setNginxKey(ev *event.Event, key, val string) {
	switch key {
	case "client":
		if a, ok := ParseAddr(val); ok {
			ev.SrcIP = a
		} else if val != "" {
			ev.SetAttr("client", val)
		}
	case "request":
		setRequest(ev, val)
	case "host":
		ev.HTTPHost = stripPort(val)
	case "referrer":
		ev.HTTPReferer = dash(val)
	default: // server, upstream, subrequest, ...
		if val != "" {
			ev.SetAttr(key, val)
		}
	}
}

// parseApache reads apache 2.4 and 2.2 lines:
// `[date] [module:level] [pid N:tid M] (errno)text: [client ip:port] AHnnnnn: message, referer: url`,
// every part after the level optional.
func (p *ErrorLog) parseApache(s string, ev *event.Event) error {
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return noMatch("errorlog", "unterminated [date]")
	}
	ts, ok := apacheTime(s[1:end], p.loc)
	if !ok {
		return noMatch("errorlog", "bad apache date")
	}
	ev.Ts = ts
	rest := strings.TrimLeft(s[end+1:], " ")

	// [module:level] (2.4) or [level] (2.2)
	if !strings.HasPrefix(rest, "[") {
		return noMatch("errorlog", "no [level]")
	}
	end = strings.IndexByte(rest, ']')
	if end < 0 {
		return noMatch("errorlog", "no [level]")
	}
	level := rest[1:end]
	v24 := false
	if k := strings.LastIndexByte(level, ':'); k >= 0 {
		if mod := level[:k]; mod != "" {
			ev.SetAttr("module", mod)
		}
		level, v24 = level[k+1:], true
	}
	sev, ok := normSeverity(level)
	if !ok {
		return noMatch("errorlog", "unknown level "+level)
	}
	ev.Severity = sev
	rest = strings.TrimLeft(rest[end+1:], " ")

	for {
		switch {
		case strings.HasPrefix(rest, "[pid "):
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return noMatch("errorlog", "unterminated [pid]")
			}
			pid, tid, _ := strings.Cut(rest[5:end], ":tid ")
			ev.PID = parsePID(pid)
			if tid != "" {
				ev.SetAttr("tid", tid)
			}
			rest = strings.TrimLeft(rest[end+1:], " ")
			continue
		case strings.HasPrefix(rest, "[client ") || strings.HasPrefix(rest, "[remote "):
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return noMatch("errorlog", "unterminated [client]")
			}
			setApacheClient(ev, rest[8:end], v24)
			rest = strings.TrimLeft(rest[end+1:], " ")
			continue
		case strings.HasPrefix(rest, "("):
			// "(13)Permission denied: " is the OS error apache writes
			// before the client; anywhere else it belongs to the message.
			if k := strings.Index(rest, ": [client "); k > 0 && osErrorPrefix(rest[:k]) {
				ev.SetAttr("os_error", rest[:k])
				rest = rest[k+2:]
				continue
			}
		}
		break
	}

	if len(rest) >= 9 && rest[0] == 'A' && rest[1] == 'H' && rest[7] == ':' && rest[8] == ' ' {
		if _, ok := atoiDigits(rest[2:7]); ok {
			ev.SetAttr("error_code", rest[:7])
			rest = rest[9:]
		}
	}
	if k := strings.LastIndex(rest, ", referer: "); k >= 0 {
		ev.HTTPReferer = rest[k+len(", referer: "):]
		rest = rest[:k]
	}
	ev.Message = rest
	return nil
}

// osErrorPrefix reports whether s looks like "(13)Permission denied".
func osErrorPrefix(s string) bool {
	end := strings.IndexByte(s, ')')
	if end < 2 || strings.ContainsAny(s, "[]") {
		return false
	}
	num := strings.TrimPrefix(s[1:end], "-")
	_, ok := atoiDigits(num)
	return ok
}

// setApacheClient reads "ip:port" (apache 2.4, where an IPv6 address is
// written without brackets) or "ip" (2.2).
func setApacheClient(ev *event.Event, s string, withPort bool) {
	if withPort {
		if k := strings.LastIndexByte(s, ':'); k > 0 {
			port, ok := atoiDigits(s[k+1:])
			if a, aok := ParseAddr(s[:k]); ok && aok && port <= 65535 {
				ev.SrcIP, ev.SrcPort = a, uint16(port)
				return
			}
		}
	}
	if a, ok := ParseAddr(s); ok {
		ev.SrcIP = a
		return
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		ev.SrcIP, ev.SrcPort = ap.Addr().Unmap(), ap.Port()
		return
	}
	if s != "" {
		ev.SetAttr("client", s)
	}
}

// apacheTime parses "Mon Mar 03 09:20:11.482913 2025" (the fraction only in
// 2.4, the day possibly space-padded) in loc.
func apacheTime(s string, loc *time.Location) (time.Time, bool) {
	if len(s) < 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	mon, ok := monthAbbrev(s[4:7])
	if !ok {
		return time.Time{}, false
	}
	day, ok1 := atoiDigits(strings.TrimLeft(s[8:10], " "))
	hh, ok2 := atoiDigits(s[11:13])
	mm, ok3 := atoiDigits(s[14:16])
	ss, ok4 := atoiDigits(s[17:19])
	rest := s[19:]
	nsec := 0
	if rest[0] == '.' {
		j := 1
		for j < len(rest) && isDigit(rest[j]) {
			j++
		}
		nsec = fracNanos(rest[1:j])
		rest = rest[j:]
	}
	if len(rest) != 5 || rest[0] != ' ' {
		return time.Time{}, false
	}
	year, ok5 := atoiDigits(rest[1:])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return time.Time{}, false
	}
	return civilTime(year, mon, day, hh, mm, ss, nsec, loc)
}

// normSeverity returns the level of a web server log under the syslog
// severity names the events use.
func normSeverity(level string) (string, bool) {
	switch level {
	case "debug", "info", "notice", "error", "alert":
		return level, true
	case "warn", "warning":
		return "warning", true
	case "crit", "critical":
		return "critical", true
	case "emerg", "emergency":
		return "emergency", true
	case "trace1", "trace2", "trace3", "trace4", "trace5", "trace6", "trace7", "trace8":
		return "debug", true
	}
	return "", false
}
