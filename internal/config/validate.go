package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/secret"
)

// validator checks a decoded Config. Every check needs no I/O except
// reading time zones; files named by the config (rules, lists, GeoIP
// databases) are opened by the components at start-up.
type validator struct {
	errs *errorList
	pos  map[string]position
	// failed holds the keys the decoder already reported, so that a value
	// that could not be decoded does not also show up as "missing".
	failed map[string]bool
}

// parentKey strips the last element of a key path: "a.b[1].c" -> "a.b[1]"
// -> "a.b" -> "a" -> "".
func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

// at returns the place of key, or of its nearest ancestor that has one.
func (v *validator) at(key string) position {
	for k := key; k != ""; k = parentKey(k) {
		if p, ok := v.pos[k]; ok {
			return p
		}
	}
	return position{}
}

func (v *validator) bad(key, format string, args ...any) {
	for k := key; k != ""; k = parentKey(k) {
		if v.failed[k] {
			return
		}
	}
	for f := range v.failed {
		if strings.HasPrefix(f, key+".") || strings.HasPrefix(f, key+"[") {
			return
		}
	}
	p := v.at(key)
	v.errs.add(p.line, p.col, key, format, args...)
}

// component reports the errors a component's own Validate returned. Those
// that start with a key path under from ("rdns.timeout: ...") are moved to
// the same path under to ("enrich.rdns.timeout"); others go to fallback.
func (v *validator) component(err error, from, to, fallback string) {
	for _, e := range flatten(err) {
		// One line per problem: expr's errors add a source excerpt with a
		// caret below the message.
		msg, _, _ := strings.Cut(e.Error(), "\n")
		if key, rest, ok := strings.Cut(msg, ": "); ok && isKeyPath(key) && strings.HasPrefix(key, from) {
			v.bad(to+strings.TrimPrefix(key, from), "%s", rest)
			continue
		}
		v.bad(fallback, "%s", msg)
	}
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

var keyPathRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[^ :.\[]+|\[[0-9]+\])*$`)

func isKeyPath(s string) bool { return keyPathRE.MatchString(s) }

func oneOf(vals ...string) string {
	if len(vals) == 2 {
		return vals[0] + " or " + vals[1]
	}
	return strings.Join(vals[:len(vals)-1], ", ") + " or " + vals[len(vals)-1]
}

func (v *validator) enum(key, val string, vals ...string) {
	if !slices.Contains(vals, val) {
		v.bad(key, "unknown value %q (want %s)", val, oneOf(vals...))
	}
}

func (v *validator) between(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.bad(key, "must be between %v and %v, got %v", fmtDuration(lo), fmtDuration(hi), fmtDuration(d))
	}
}

func fmtDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (v *validator) validate(c *Config) {
	if c.StateDir == "" {
		v.bad("state_dir", "must not be empty")
	}
	v.sources(c)
	v.component(c.Network.Validate(), "network.", "network.", "network")
	v.lists(c)
	v.component(c.Enrich.RDNS.RDNSConfig.Validate(), "rdns.", "enrich.rdns.", "enrich.rdns")
	v.clickhouse(&c.ClickHouse)
	if c.Archive.MaxBytes < 0 {
		v.bad("archive.max_bytes", "must not be negative")
	}
	v.rules(&c.Rules)
	v.alerts(&c.Alerts)
	if l := c.Metrics.Listen; l != "" {
		if err := checkListen(l); err != nil {
			v.bad("metrics.listen", "%v", err)
		}
	}
	v.enum("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.enum("log.format", c.Log.Format, LogText, LogJSON)
}

var sourceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func (v *validator) sources(c *Config) {
	first := make(map[string]string)
	formats := parse.Formats()
	for i, s := range c.Sources {
		k := fmt.Sprintf("sources[%d]", i)
		switch {
		case s.Name == "":
			v.bad(k+".name", "is required")
		case !sourceNameRE.MatchString(s.Name):
			v.bad(k+".name", "%q: use up to 64 letters, digits, '-', '_' and '.'", s.Name)
		case first[s.Name] != "":
			v.bad(k+".name", "duplicate source name %q (first at line %d)", s.Name, v.at(first[s.Name]).line)
		default:
			first[s.Name] = k + ".name"
		}
		if len(s.Paths) == 0 {
			v.bad(k+".paths", "is required: the files to read")
		}
		for j, p := range s.Paths {
			if _, err := filepath.Match(p, ""); err != nil || strings.TrimSpace(p) == "" {
				v.bad(fmt.Sprintf("%s.paths[%d]", k, j), "%q is not a valid glob pattern", p)
			}
		}
		for j, p := range s.Exclude {
			if _, err := filepath.Match(p, ""); err != nil || p == "" || strings.Contains(p, "/") {
				v.bad(fmt.Sprintf("%s.exclude[%d]", k, j), "%q is not a valid base-name pattern (no /)", p)
			}
		}
		if !slices.Contains(formats, s.Format) {
			v.bad(k+".format", "unknown format %q (want %s)", s.Format, strings.Join(formats, ", "))
		}
		v.sourceFormat(k, s)
		if s.TZ != "" {
			if _, err := time.LoadLocation(s.TZ); err != nil {
				v.bad(k+".tz", "unknown time zone %q (want an IANA name such as Europe/Berlin, or UTC)", s.TZ)
			}
		}
		for j, p := range s.TrustedProxies {
			if _, err := parsePrefix(p); err != nil {
				v.bad(fmt.Sprintf("%s.trusted_proxies[%d]", k, j), "%q %v", p, err)
			}
		}
		v.enum(k+".start", s.Start, "beginning", "end")
		if s.MaxLineBytes < 256 || s.MaxLineBytes > 64<<20 {
			v.bad(k+".max_line_bytes", "must be between 256B and 64MiB, got %v", s.MaxLineBytes)
		}
	}
}

// sourceFormat checks the keys that belong to one format.
func (v *validator) sourceFormat(k string, s Source) {
	if s.Format == "regex" {
		if s.Pattern == "" {
			v.bad(k+".pattern", "is required with format regex")
		} else if _, err := parse.NewRegex(parse.Options{Pattern: s.Pattern, TimeLayout: s.TimeLayout, Kind: event.Kind(s.Kind)}); err != nil {
			msg := strings.TrimPrefix(err.Error(), "regex: ")
			key := k + ".pattern"
			if strings.Contains(msg, "kind") {
				key = k + ".kind"
			}
			v.bad(key, "%s", msg)
		}
	} else {
		for _, f := range []struct {
			key string
			set bool
		}{{"pattern", s.Pattern != ""}, {"time_layout", s.TimeLayout != ""}, {"kind", s.Kind != ""}} {
			if f.set {
				v.bad(k+"."+f.key, "is only used with format regex, not %s", s.Format)
			}
		}
	}
	audit := s.Format == "audit" || s.Format == "auto"
	if !audit {
		for _, f := range []struct {
			key string
			set bool
		}{{"app", s.App != ""}, {"fields", s.Fields != nil}, {"actions", s.Actions != nil}} {
			if f.set {
				v.bad(k+"."+f.key, "is only used with format audit or auto, not %s", s.Format)
			}
		}
		return
	}
	// Check the mapping one entry at a time, so that each problem names
	// its own key.
	for _, name := range sortedKeys(s.Fields) {
		m := parse.AuditMapping{Fields: map[string]string{name: s.Fields[name]}}
		if err := m.Validate(); err != nil {
			v.bad(k+".fields."+name, "%s", strings.TrimPrefix(err.Error(), "audit mapping: "))
		}
	}
	for _, name := range sortedKeys(s.Actions) {
		m := parse.AuditMapping{Actions: map[string]parse.AuditAction{name: s.Actions[name]}}
		if err := m.Validate(); err != nil {
			v.bad(k+".actions."+name, "%s", strings.TrimPrefix(err.Error(), "audit mapping: "))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var listNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func (v *validator) lists(c *Config) {
	if _, err := enrich.NewLists(c.Lists, nil, ""); err != nil {
		v.component(err, "lists.", "lists.", "lists")
	}
	for _, name := range sortedKeys(c.ListFiles) {
		k := "list_files." + name
		if !listNameRE.MatchString(name) {
			v.bad(k, "list names are lower-case letters, digits and '_', starting with a letter")
		}
		if c.ListFiles[name] == "" {
			v.bad(k, "is empty: want the path of a list file")
		}
	}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (v *validator) clickhouse(ch *ClickHouse) {
	if ch.DSN != "" {
		// The DSN is never quoted: a misplaced password may sit in it.
		u, err := url.Parse(ch.DSN)
		switch {
		case err != nil:
			v.bad("clickhouse.dsn", "not a URL (want clickhouse://user@host:9000/database)")
		case u.Scheme != "clickhouse" && u.Scheme != "tcp":
			v.bad("clickhouse.dsn", "scheme %q is not the native protocol (want clickhouse://user@host:9000/database)", u.Scheme)
		case u.Host == "":
			v.bad("clickhouse.dsn", "has no host (want clickhouse://user@host:9000/database)")
		default:
			if _, hasPassword := u.User.Password(); hasPassword {
				v.bad("clickhouse.dsn", "must not hold the password: use clickhouse.password_file, or clickhouse.password with ${ENV}")
			}
			if q := u.Query(); q.Has("password") {
				v.bad("clickhouse.dsn", "must not hold the password: use clickhouse.password_file, or clickhouse.password with ${ENV}")
			}
			if _, port, err := net.SplitHostPort(u.Host); err == nil {
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
					v.bad("clickhouse.dsn", "port %q is not a port number", port)
				}
			}
		}
	}
	if !identRE.MatchString(ch.Database) {
		v.bad("clickhouse.database", "%q is not a database name (letters, digits and _)", ch.Database)
	}
	v.enum("clickhouse.dialect", ch.Dialect, DialectAuto, DialectBaseline, DialectModern)
	if ch.BatchRows < 1 || ch.BatchRows > 1_000_000 {
		v.bad("clickhouse.batch_rows", "must be between 1 and 1000000, got %d", ch.BatchRows)
	}
	v.between("clickhouse.batch_interval", ch.BatchInterval, 10*time.Millisecond, time.Minute)
	if ch.SpoolMaxBytes < 0 {
		v.bad("clickhouse.spool_max_bytes", "must not be negative")
	}
	if ch.Retention != 0 && ch.Retention < 24*time.Hour || ch.Retention < 0 {
		v.bad("clickhouse.retention", "must be 0 (keep everything) or at least 1d, got %v", fmtDuration(ch.Retention))
	}
}

func (v *validator) rules(r *Rules) {
	for i, p := range r.Paths {
		if strings.TrimSpace(p) == "" {
			v.bad(fmt.Sprintf("rules.paths[%d]", i), "is empty: want a rule file or directory")
		}
	}
	if r.MaxKeys < 1 || r.MaxKeys > 100_000_000 {
		v.bad("rules.max_keys", "must be between 1 and 100000000, got %d", r.MaxKeys)
	}
	v.between("rules.lateness", r.Lateness, 0, 24*time.Hour)
	v.between("rules.warm", r.Warm, 0, 400*24*time.Hour)
}

func (v *validator) alerts(a *Alerts) {
	v.enum("alerts.pii", a.PII, PIIRetain, PIIMask, PIIRemove)
	v.between("alerts.group_wait", a.GroupWait, 0, time.Hour)
	v.between("alerts.group_interval", a.GroupInterval, time.Second, 24*time.Hour)
	if a.RepeatInterval < a.GroupInterval {
		v.bad("alerts.repeat_interval", "must be at least group_interval (%v), got %v", a.GroupInterval, a.RepeatInterval)
	}
	for i, s := range a.Silences {
		k := fmt.Sprintf("alerts.silences[%d]", i)
		if len(s.Rules) == 0 && len(s.Match) == 0 {
			v.bad(k, "would mute every alert: give rules or match")
		}
		v.patterns(k+".rules", s.Rules)
		for _, field := range sortedKeys(s.Match) {
			val := s.Match[field]
			fk := k + ".match." + field
			switch {
			case val == "":
				v.bad(fk, "is empty")
			case field == "src_ip":
				if _, err := parsePrefix(val); err != nil {
					v.bad(fk, "%q %v", val, err)
				}
			}
		}
	}
	names := map[string]string{"stdout": "alerts.stdout"}
	name := func(k, n string) {
		if first, dup := names[n]; dup {
			v.bad(k+".name", "duplicate receiver name %q (first at line %d)", n, v.at(first).line)
			return
		}
		names[n] = k
	}
	for i := range a.Slack {
		k := fmt.Sprintf("alerts.slack[%d]", i)
		name(k, a.Slack[i].Name)
		v.slack(k, &a.Slack[i])
	}
	for i := range a.Webhook {
		k := fmt.Sprintf("alerts.webhook[%d]", i)
		w := &a.Webhook[i]
		name(k, w.Name)
		if w.URL == "" {
			v.bad(k+".url", "is required")
		} else if err := checkHTTPURL(w.URL); err != nil {
			v.bad(k+".url", "%q %v", w.URL, err)
		}
		v.between(k+".timeout", w.Timeout, 100*time.Millisecond, 5*time.Minute)
		v.route(k, w.Route)
	}
}

var channelIDRE = regexp.MustCompile(`^[CGD][A-Z0-9]{8,}$`)

func (v *validator) slack(k string, s *Slack) {
	webhook := !s.WebhookURL.IsZero()
	token := !s.Token.IsZero()
	switch {
	case webhook && token:
		v.bad(k, "set a webhook (webhook_url or webhook_url_file) or a bot token (token or token_file), not both")
	case !webhook && !token:
		v.bad(k, "needs webhook_url or webhook_url_file, or token or token_file with channel")
	case token && s.Channel == "":
		v.bad(k+".channel", "is required with a bot token")
	case webhook && s.Channel != "":
		v.bad(k+".channel", "is only used with a bot token: an incoming webhook posts to its own channel")
	}
	if webhook {
		key := k + ".webhook_url"
		if s.WebhookURLFile != "" {
			key += "_file"
		}
		// Never quote it: the webhook URL is the credential.
		if err := checkHTTPURL(s.WebhookURL.Reveal()); err != nil {
			v.bad(key, "the webhook URL %v", err)
		}
	}
	if token && strings.ContainsAny(s.Token.Reveal(), " \t\r\n") {
		key := k + ".token"
		if s.TokenFile != "" {
			key += "_file"
		}
		v.bad(key, "the token contains white space")
	}
	if c := s.Channel; c != "" && !channelIDRE.MatchString(c) && (len(c) < 2 || c[0] != '#' || strings.ContainsAny(c, " ,")) {
		v.bad(k+".channel", `must be "#name" or a channel id (C0123456789), got %q`, c)
	}
	if err := checkHTTPURL(s.APIURL); err != nil {
		v.bad(k+".api_url", "%q %v", s.APIURL, err)
	}
	v.route(k, s.Route)
}

func (v *validator) route(k string, r Route) {
	if _, err := event.ParseSeverity(string(r.MinSeverity)); err != nil {
		v.bad(k+".min_severity", "%v", err)
	}
	v.patterns(k+".rules", r.Rules)
	for i, t := range r.Tags {
		if strings.TrimSpace(t) == "" {
			v.bad(fmt.Sprintf("%s.tags[%d]", k, i), "is empty")
		}
	}
	if r.PII != "" {
		v.enum(k+".pii", r.PII, PIIRetain, PIIMask, PIIRemove)
	}
}

// patterns checks rule id patterns (path.Match syntax).
func (v *validator) patterns(k string, pats []string) {
	for i, p := range pats {
		if _, err := path.Match(p, ""); err != nil || strings.TrimSpace(p) == "" {
			v.bad(fmt.Sprintf("%s[%d]", k, i), "%q is not a rule id or pattern (auth-*)", p)
		}
	}
}

// checkHTTPURL reports why s is not an absolute http or https URL. Its
// messages do not quote s.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must start with https:// (or http://)")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	return nil
}

// checkListen checks a host:port listen address.
func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port (127.0.0.1:9464, [::1]:9464, :9464)", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a port number", s, port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: %q is not a host name or address", s, host)
	}
	return nil
}

// readSecrets fills each secret given as a *_file from its file.
func (l Loader) readSecrets(c *Config, v *validator) {
	read := func(key string, s *secret.Secret, file string) {
		if file == "" {
			return
		}
		if !s.IsZero() {
			base := strings.TrimSuffix(key[strings.LastIndexByte(key, '.')+1:], "_file")
			v.bad(key, "set %s or %s_file, not both", base, base)
			return
		}
		// A secret that could not be read is reported once, not again as
		// missing.
		data, err := l.readFile(file)
		if err != nil {
			v.bad(key, "%v", err)
			v.failed[key] = true
			return
		}
		val := strings.TrimSpace(string(data))
		if val == "" {
			v.bad(key, "file %s is empty", file)
			v.failed[key] = true
			return
		}
		*s = secret.New(val)
	}
	read("clickhouse.password_file", &c.ClickHouse.Password, c.ClickHouse.PasswordFile)
	for i := range c.Alerts.Slack {
		s := &c.Alerts.Slack[i]
		k := fmt.Sprintf("alerts.slack[%d]", i)
		read(k+".webhook_url_file", &s.WebhookURL, s.WebhookURLFile)
		read(k+".token_file", &s.Token, s.TokenFile)
	}
	for i := range c.Alerts.Webhook {
		w := &c.Alerts.Webhook[i]
		read(fmt.Sprintf("alerts.webhook[%d].secret_file", i), &w.Secret, w.SecretFile)
	}
}
