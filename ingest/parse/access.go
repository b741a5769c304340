package parse

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// Access parses web server access logs:
//
//   - NCSA common and combined, as nginx and apache write them:
//     `ip ident user [03/Mar/2025:09:20:11 +0000] "GET /p?q HTTP/1.1" 403 153 "referer" "agent"`;
//   - the same behind a virtual host field (apache vhost_combined, `host:port ip - - [...] ...`);
//   - the recommended extended format: combined followed by key=value fields
//     (`host= scheme= tls= rt= xff="..."`); other trailing fields are kept in
//     Attrs["extra"];
//   - JSON access logs (nginx log_format escape=json), one object per line.
//
// Every line becomes one web event with action http_request and outcome
// unknown: whether a request is a failure is the rules' decision. The client
// is the peer address, or, when the peer is one of Options.TrustedProxies,
// the right-most X-Forwarded-For hop that is not a trusted proxy; the raw
// chain is kept in Attrs["xff"] and the peer in Attrs["proxy"].
//
// The text formats are scanned by hand without allocating: most fields are
// substrings of the line. JSON times without a zone are read in
// Options.Location. A line cut short (a quoted field without its
// closing quote) is refused with ingest.ErrNoMatch.
type Access struct {
	loc     *time.Location
	trusted []netip.Prefix
}

var _ ingest.Parser = (*Access)(nil)

// NewAccess returns an access log parser.
func NewAccess(opts Options) *Access {
	return &Access{loc: opts.location(), trusted: opts.TrustedProxies}
}

// Name returns "access".
func (p *Access) Name() string { return "access" }

// Parse appends the event of one access log line to dst.
func (p *Access) Parse(ln ingest.Line, dst []event.Event) ([]event.Event, error) {
	ev := event.Event{
		Kind:    event.KindWeb,
		Source:  ln.Source,
		Parser:  "access",
		Action:  event.ActionHTTPRequest,
		Outcome: event.OutcomeUnknown,
		Raw:     ln.Text,
		EventID: event.NewID(ln.Source, ln.File, ln.Offset, 0),
	}
	var err error
	if s := strings.TrimLeft(ln.Text, " \t"); s != "" && s[0] == '{' {
		err = p.parseJSON(s, &ev)
	} else {
		err = p.parseText(s, &ev)
	}
	if err != nil {
		return dst, err
	}
	return append(dst, ev), nil
}

// parseText fills ev from a common, combined, vhost or extended line.
func (p *Access) parseText(s string, ev *event.Event) error {
	s = strings.TrimRight(s, " \t\r")

	// The fields before the timestamp: [vhost] remote ident user.
	var toks [4]string
	n, i := 0, 0
	for {
		if i >= len(s) {
			return noMatch("access", "no [timestamp]")
		}
		if isCLFStamp(s, i) {
			break
		}
		if n == len(toks) {
			return noMatch("access", "no [timestamp] after the client fields")
		}
		if s[i] == '"' {
			v, j, ok := quotedField(s, i)
			if !ok {
				return noMatch("access", "unterminated quoted field")
			}
			toks[n], i = v, j
		} else {
			j := strings.IndexByte(s[i:], ' ')
			if j < 0 {
				return noMatch("access", "no [timestamp]")
			}
			toks[n], i = s[i:i+j], i+j
		}
		n++
		if i >= len(s) || s[i] != ' ' {
			return noMatch("access", "no [timestamp]")
		}
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	if n < 3 {
		return noMatch("access", "too few fields before the timestamp")
	}
	if n == 4 {
		ev.HTTPHost = stripPort(dash(toks[0]))
	}
	if err := p.setPeer(ev, toks[n-3]); err != nil {
		return err
	}
	if u := toks[n-1]; u != "-" {
		ev.User = strings.ToLower(strings.TrimSpace(u))
	}

	// [timestamp]
	end := strings.IndexByte(s[i:], ']')
	if end < 0 {
		return noMatch("access", "unterminated [timestamp]")
	}
	ts, ok := clfTime(s[i+1 : i+end])
	if !ok {
		return noMatch("access", "bad timestamp")
	}
	ev.Ts = ts
	i += end + 1

	// "request"
	if !strings.HasPrefix(s[i:], ` "`) {
		return noMatch("access", "no quoted request")
	}
	req, j, ok := quotedField(s, i+1)
	if !ok {
		return noMatch("access", "unterminated quoted field")
	}
	i = j
	setRequest(ev, req)

	// status bytes
	var tok string
	if tok, i = nextToken(s, i); tok == "" {
		return noMatch("access", "no status")
	}
	st, ok := atoiDigits(tok)
	if !ok || st > 999 {
		return noMatch("access", "bad status")
	}
	ev.HTTPStatus = uint16(st)
	if tok, i = nextToken(s, i); tok == "" {
		return noMatch("access", "no byte count")
	}
	if tok != "-" {
		b, ok := parseUint64(tok)
		if !ok {
			return noMatch("access", "bad byte count")
		}
		ev.HTTPBytes = b
	}

	// Optional "referer" "agent", then the extended tail.
	if strings.HasPrefix(s[i:], ` "`) {
		ref, j, ok := quotedField(s, i+1)
		if !ok {
			return noMatch("access", "unterminated quoted field")
		}
		ev.HTTPReferer, i = dash(ref), j
		if strings.HasPrefix(s[i:], ` "`) {
			ua, j, ok := quotedField(s, i+1)
			if !ok {
				return noMatch("access", "unterminated quoted field")
			}
			ev.UserAgent, i = dash(ua), j
		}
	}
	if i < len(s) {
		if s[i] != ' ' {
			return noMatch("access", "junk after a field")
		}
		if err := parseAccessTail(strings.TrimLeft(s[i:], " "), ev); err != nil {
			return err
		}
	}
	p.applyXFF(ev)
	return nil
}

// setPeer sets the client from the remote address field: an IP address, or
// the client's name when the server resolved it (apache HostnameLookups).
func (p *Access) setPeer(ev *event.Event, remote string) error {
	if a, ok := ParseAddr(remote); ok {
		ev.SrcIP = a
		return nil
	}
	if remote == "" || remote == "-" {
		return noMatch("access", "no client address")
	}
	for i := 0; i < len(remote); i++ {
		c := remote[i]
		if !(isAlnum(c) || c == '.' || c == '-' || c == '_' || c == ':') {
			return noMatch("access", "bad client address")
		}
	}
	ev.SetAttr("remote_host", remote)
	return nil
}

// applyXFF replaces the peer with the forwarded client when the peer is a
// trusted proxy.
func (p *Access) applyXFF(ev *event.Event) {
	xff := ev.Attrs["xff"]
	if xff == "" || !ev.SrcIP.IsValid() || !p.isTrusted(ev.SrcIP) {
		return
	}
	if c := p.forwardedClient(xff, ev.SrcIP); c != ev.SrcIP {
		ev.SetAttr("proxy", ev.SrcIP.String())
		ev.SrcIP = c
	}
}

// forwardedClient returns the client behind peer, a trusted proxy: walking
// the X-Forwarded-For chain from the right, the first hop that is not a
// trusted proxy. When every hop is trusted it is the left-most one; a hop
// that is not an address ("unknown", a forged value) ends the walk at the
// last trusted hop, since nothing left of it can be believed.
func (p *Access) forwardedClient(xff string, peer netip.Addr) netip.Addr {
	client := peer
	for xff != "" {
		var hop string
		if k := strings.LastIndexByte(xff, ','); k >= 0 {
			hop, xff = xff[k+1:], xff[:k]
		} else {
			hop, xff = xff, ""
		}
		a, ok := parseHop(strings.TrimSpace(hop))
		if !ok {
			break
		}
		client = a
		if !p.isTrusted(a) {
			break
		}
	}
	return client
}

func (p *Access) isTrusted(a netip.Addr) bool {
	for _, pfx := range p.trusted {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop parses one X-Forwarded-For hop: an address, possibly with a port
// (1.2.3.4:5678, [2001:db8::1]:443).
func parseHop(s string) (netip.Addr, bool) {
	if a, ok := ParseAddr(s); ok {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// parseAccessTail reads the key=value fields that follow the combined
// format (host= scheme= tls= rt= xff="..."). Anything else there is kept
// whole in Attrs["extra"].
func parseAccessTail(tail string, ev *event.Event) error {
	extra := false
	for i := 0; i < len(tail); {
		if tail[i] == ' ' {
			i++
			continue
		}
		start := i
		key := ""
		for i < len(tail) && isKeyByte(tail[i]) {
			i++
		}
		if i > start && i < len(tail) && tail[i] == '=' {
			key = tail[start:i]
			i++
		} else {
			i = start
		}
		var val string
		if i < len(tail) && tail[i] == '"' {
			v, j, ok := quotedField(tail, i)
			if !ok {
				return noMatch("access", "unterminated quoted field")
			}
			val, i = v, j
		} else {
			j := strings.IndexByte(tail[i:], ' ')
			if j < 0 {
				j = len(tail) - i
			}
			val, i = tail[i:i+j], i+j
		}
		if key == "" {
			extra = true
			continue
		}
		setAccessKey(ev, key, val)
	}
	if extra {
		ev.SetAttr("extra", tail)
	}
	return nil
}

// setAccessKey stores one field of the extended format or of a JSON access
// log under its canonical name; unknown keys go to Attrs as they are.
func setAccessKey(ev *event.Event, key, val string) {
	if val == "-" || val == "" {
		return
	}
	switch key {
	case "host", "http_host", "vhost", "server_name":
		ev.HTTPHost = stripPort(val)
	case "scheme":
		ev.SetAttr("http_scheme", val)
	case "tls", "ssl_protocol":
		ev.SetAttr("tls_version", val)
	case "rt", "request_time":
		ev.SetAttr("request_time", val)
	case "xff", "http_x_forwarded_for", "x_forwarded_for":
		ev.SetAttr("xff", val)
	default:
		ev.SetAttr(key, val)
	}
}

// setRequest fills method, path and query from a request line. A request
// line that is not METHOD TARGET [PROTOCOL] (a TLS handshake sent to the
// plain port, "-" for a connection closed early) is kept in Attrs["request"]
// and leaves the method empty.
func setRequest(ev *event.Event, req string) {
	method, target, ok := splitRequest(req)
	if !ok {
		ev.SetAttr("request", req)
		return
	}
	ev.HTTPMethod = method
	ev.HTTPPath, ev.HTTPQuery = target, ""
	if q := strings.IndexByte(target, '?'); q >= 0 {
		ev.HTTPPath, ev.HTTPQuery = target[:q], target[q+1:]
	}
}

// splitRequest splits "GET /p?q HTTP/1.1" into method and target; the
// protocol is dropped. The target may hold spaces when a client sent them
// unencoded; the protocol may be missing (HTTP/0.9).
func splitRequest(req string) (method, target string, ok bool) {
	sp := strings.IndexByte(req, ' ')
	if sp <= 0 || sp > 32 {
		return "", "", false
	}
	method = req[:sp]
	for i := 0; i < len(method); i++ {
		if c := method[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return "", "", false
		}
	}
	target = strings.TrimLeft(req[sp+1:], " ")
	if last := strings.LastIndexByte(target, ' '); last >= 0 && strings.HasPrefix(target[last+1:], "HTTP/") {
		target = strings.TrimRight(target[:last], " ")
	}
	if target == "" {
		return "", "", false
	}
	return method, target, true
}

// isCLFStamp reports whether s[i:] starts like "[03/Mar/2025:".
func isCLFStamp(s string, i int) bool {
	return len(s)-i >= 14 && s[i] == '[' && isDigit(s[i+1]) && isDigit(s[i+2]) &&
		s[i+3] == '/' && s[i+7] == '/' && s[i+12] == ':'
}

// clfTime parses the common log format time "02/Jan/2006:15:04:05 -0700",
// optionally with a fraction of a second after the seconds, without
// time.Parse (which is several times slower) and without allocating: the
// result is in UTC.
func clfTime(s string) (time.Time, bool) {
	if len(s) < 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' {
		return time.Time{}, false
	}
	day, ok1 := atoiDigits(s[0:2])
	mon, ok2 := monthAbbrev(s[3:6])
	year, ok3 := atoiDigits(s[7:11])
	hh, ok4 := atoiDigits(s[12:14])
	mm, ok5 := atoiDigits(s[15:17])
	ss, ok6 := atoiDigits(s[18:20])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	rest := s[20:]
	nsec := 0
	if rest[0] == '.' || rest[0] == ',' {
		j := 1
		for j < len(rest) && isDigit(rest[j]) {
			j++
		}
		nsec = fracNanos(rest[1:j])
		rest = rest[j:]
	}
	if len(rest) != 6 || rest[0] != ' ' {
		return time.Time{}, false
	}
	off, ok := zoneOffset(rest[1:])
	if !ok {
		return time.Time{}, false
	}
	t, ok := civilTime(year, mon, day, hh, mm, ss, nsec, time.UTC)
	if !ok {
		return time.Time{}, false
	}
	return t.Add(-time.Duration(off) * time.Second), true
}

// civilTime returns the instant of a wall-clock time in loc, in UTC. It
// refuses out-of-range fields, which time.Date would silently normalise (31
// Feb becomes 3 Mar), and the zero time.
func civilTime(year int, mon time.Month, day, hh, mm, ss, nsec int, loc *time.Location) (time.Time, bool) {
	if day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	if ss == 60 { // a leap second: keep it inside the minute it ends
		ss, nsec = 59, 999999999
	}
	t := time.Date(year, mon, day, hh, mm, ss, nsec, loc)
	if t.Day() != day || t.IsZero() {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// zoneOffset parses "+0100" or "-0530" into seconds east of UTC.
func zoneOffset(s string) (int, bool) {
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	h, ok1 := atoiDigits(s[1:3])
	m, ok2 := atoiDigits(s[3:5])
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return 0, false
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

// fracNanos turns the digits of a decimal fraction of a second into
// nanoseconds, ignoring digits beyond the ninth.
func fracNanos(digits string) int {
	n := 0
	for i := range 9 {
		n *= 10
		if i < len(digits) {
			n += int(digits[i] - '0')
		}
	}
	return n
}

// monthAbbrev parses an English three-letter month name.
func monthAbbrev(s string) (time.Month, bool) {
	switch s {
	case "Jan":
		return time.January, true
	case "Feb":
		return time.February, true
	case "Mar":
		return time.March, true
	case "Apr":
		return time.April, true
	case "May":
		return time.May, true
	case "Jun":
		return time.June, true
	case "Jul":
		return time.July, true
	case "Aug":
		return time.August, true
	case "Sep":
		return time.September, true
	case "Oct":
		return time.October, true
	case "Nov":
		return time.November, true
	case "Dec":
		return time.December, true
	}
	return 0, false
}

// quotedField returns the contents of the quoted field that starts with the
// quote at s[i], and the index just past its closing quote. A backslash
// escapes the next byte (apache writes \" and \\; the escapes are kept, not
// decoded). The closing quote must end the line or be followed by a space;
// a quote elsewhere is taken as part of the value, which copes with servers
// that do not escape quotes. ok is false when there is no closing quote: the
// line was cut short.
func quotedField(s string, i int) (v string, next int, ok bool) {
	j := i + 1
	for {
		k := strings.IndexByte(s[j:], '"')
		if k < 0 {
			return "", 0, false
		}
		j += k
		bs := 0
		for b := j - 1; b > i && s[b] == '\\'; b-- {
			bs++
		}
		if bs%2 == 0 && (j+1 == len(s) || s[j+1] == ' ') {
			return s[i+1 : j], j + 1, true
		}
		j++
	}
}

// nextToken skips the spaces at s[i:] and returns the word that follows and
// the index just past it. The word is empty when s[i] is not a space or
// nothing follows.
func nextToken(s string, i int) (string, int) {
	if i >= len(s) || s[i] != ' ' {
		return "", i
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	j := strings.IndexByte(s[i:], ' ')
	if j < 0 {
		j = len(s) - i
	}
	return s[i : i+j], i + j
}

// stripPort removes a trailing ":port" from a host name or address.
func stripPort(h string) string {
	k := strings.LastIndexByte(h, ':')
	if k < 0 || k == len(h)-1 {
		return h
	}
	for i := k + 1; i < len(h); i++ {
		if !isDigit(h[i]) {
			return h
		}
	}
	host := h[:k]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return host[1 : len(host)-1]
	}
	if strings.IndexByte(host, ':') >= 0 { // a bare IPv6 address: no port to strip
		return h
	}
	return host
}

// dash returns "" for the "-" that logs write for an empty field.
func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// atoiDigits parses a short, non-empty string of ASCII digits.
func atoiDigits(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseUint64 parses a string of ASCII digits, refusing overflow.
func parseUint64(s string) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isKeyByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' || c == '.' }

// The values a JSON access log line may carry, indexes into accessJSONKeys.
const (
	jTime = iota
	jRemote
	jUser
	jHost
	jRequest
	jMethod
	jURI
	jQuery
	jStatus
	jBytes
	jReferer
	jUA
	jXFF
	jScheme
	jTLS
	jRT
	jCount
)

// accessJSONKeys lists the keys each value goes by: the short names of
// rule-catalog.md's example first, then nginx's variable names as
// escape=json log formats spell them. The first key present wins.
var accessJSONKeys = [jCount][]string{
	jTime:    {"time", "time_iso8601", "timestamp", "@timestamp", "ts", "time_local", "msec"},
	jRemote:  {"remote_addr", "remote_ip", "client_ip", "client"},
	jUser:    {"remote_user", "user"},
	jHost:    {"host", "http_host", "server_name", "vhost"},
	jRequest: {"request"},
	jMethod:  {"method", "request_method"},
	jURI:     {"request_uri", "uri", "path"},
	jQuery:   {"args", "query_string", "query"},
	jStatus:  {"status"},
	jBytes:   {"body_bytes_sent", "bytes", "bytes_sent"},
	jReferer: {"referer", "http_referer", "referrer", "http_referrer"},
	jUA:      {"ua", "http_user_agent", "user_agent", "agent"},
	jXFF:     {"xff", "http_x_forwarded_for", "x_forwarded_for"},
	jScheme:  {"scheme"},
	jTLS:     {"tls", "ssl_protocol"},
	jRT:      {"rt", "request_time"},
}

// parseJSON fills ev from a JSON access log line. Keys it does not know go
// to Attrs.
func (p *Access) parseJSON(s string, ev *event.Event) error {
	m, err := decodeObject(s)
	if err != nil {
		return noMatch("access", "bad JSON: "+err.Error())
	}
	var v [jCount]string
	var have [jCount]bool
	used := make(map[string]bool, jCount)
	for i, keys := range accessJSONKeys {
		for _, k := range keys {
			if x, ok := m[k]; ok {
				v[i], have[i] = jsonText(x), true
				used[k] = true
				break
			}
		}
	}
	if !have[jTime] {
		return noMatch("access", "JSON without a time field")
	}
	ts, ok := parseTimeText(v[jTime], p.loc)
	if !ok {
		return noMatch("access", "bad time "+strconv.Quote(v[jTime]))
	}
	ev.Ts = ts
	switch {
	case have[jRequest]:
		setRequest(ev, v[jRequest])
	case have[jMethod] && have[jURI]:
		ev.HTTPMethod = v[jMethod]
		ev.HTTPPath = v[jURI]
		if q := strings.IndexByte(ev.HTTPPath, '?'); q >= 0 {
			ev.HTTPPath, ev.HTTPQuery = ev.HTTPPath[:q], ev.HTTPPath[q+1:]
		} else {
			ev.HTTPQuery = v[jQuery]
		}
	default:
		return noMatch("access", "JSON without a request or method and uri")
	}
	if r := dash(v[jRemote]); r != "" {
		if err := p.setPeer(ev, r); err != nil {
			return err
		}
	}
	if u := dash(v[jUser]); u != "" {
		ev.User = strings.ToLower(strings.TrimSpace(u))
	}
	if have[jStatus] {
		st, ok := atoiDigits(v[jStatus])
		if !ok || st > 999 {
			return noMatch("access", "bad status")
		}
		ev.HTTPStatus = uint16(st)
	}
	if b := dash(v[jBytes]); b != "" {
		n, ok := parseUint64(b)
		if !ok {
			return noMatch("access", "bad byte count")
		}
		ev.HTTPBytes = n
	}
	ev.HTTPReferer = dash(v[jReferer])
	ev.UserAgent = dash(v[jUA])
	setAccessKey(ev, "host", v[jHost])
	setAccessKey(ev, "xff", v[jXFF])
	setAccessKey(ev, "scheme", v[jScheme])
	setAccessKey(ev, "tls", v[jTLS])
	setAccessKey(ev, "rt", v[jRT])
	for k, x := range m {
		if !used[k] && x != nil {
			ev.SetAttr(k, jsonText(x))
		}
	}
	p.applyXFF(ev)
	return nil
}
