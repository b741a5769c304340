package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/ingest/source"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/secret"
)

// Defaults that are not a component's own.
const (
	DefaultStateDir       = "/var/lib/vigil"
	DefaultMetricsListen  = "127.0.0.1:9464"
	DefaultFormat         = "auto"
	DefaultDatabase       = "vigil"
	DefaultBatchRows      = 10_000
	DefaultBatchInterval  = time.Second
	DefaultSpoolMaxBytes  = ByteSize(1 << 30)
	DefaultRetention      = 90 * 24 * time.Hour
	DefaultArchiveBytes   = ByteSize(1 << 30)
	DefaultMaxKeys        = 100_000
	DefaultLateness       = time.Minute
	DefaultWarm           = 30 * 24 * time.Hour
	DefaultGroupWait      = 10 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
	DefaultGeoReload      = time.Minute
	DefaultWebhookTimeout = 10 * time.Second
	DefaultSlackAPIURL    = "https://slack.com/api/"
)

// Values of the enumerated keys.
const (
	PIIRetain = "retain"
	PIIMask   = "mask"
	PIIRemove = "remove"

	DialectAuto     = "auto"
	DialectBaseline = "baseline"
	DialectModern   = "modern"

	LogText = "text"
	LogJSON = "json"
)

// Config is the whole configuration file. Load, Parse and Default return
// it complete: every key has its value, defaulted or given, relative paths
// are absolute, secrets are read. The YAML key of each field is in its
// tag; DESIGN.md "Config file" is the contract for the names.
//
// A Config is a plain value: nothing in it runs, and it is safe to read
// from several goroutines. Printing, marshalling or logging it never shows
// a secret (see package secret).
type Config struct {
	// File is the file the configuration was loaded from, absolute; empty
	// for Default.
	File string `yaml:"-"`
	// StateDir holds offsets, rule state, the alert outbox, the spool and
	// the local event archive.
	StateDir string               `yaml:"state_dir"`
	Sources  []Source             `yaml:"sources"`
	Network  enrich.NetworkConfig `yaml:"network"`
	// Lists are named value lists for rules (in_list), by name; a list
	// named here replaces the shipped list of that name.
	Lists map[string][]string `yaml:"lists"`
	// ListFiles names files that hold lists, one entry per line, by list
	// name. A list in both Lists and ListFiles is the union.
	ListFiles  map[string]string `yaml:"list_files"`
	Enrich     Enrich            `yaml:"enrich"`
	ClickHouse ClickHouse        `yaml:"clickhouse"`
	Archive    Archive           `yaml:"archive"`
	Rules      Rules             `yaml:"rules"`
	Alerts     Alerts            `yaml:"alerts"`
	Metrics    Metrics           `yaml:"metrics"`
	Log        Log               `yaml:"log"`
}

// Source is one entry of sources: a set of files in one format.
type Source struct {
	// Name is unique among sources; events carry it as source. Letters,
	// digits, '-', '_' and '.'.
	Name string `yaml:"name"`
	// Paths are glob patterns of the files to tail.
	Paths []string `yaml:"paths"`
	// Exclude are base-name patterns left out of Paths; nil means
	// source.DefaultExclude (rotated and compressed files).
	Exclude []string `yaml:"exclude"`
	// Format is sshd, access, errorlog, audit, regex or auto (the default).
	Format string `yaml:"format"`
	// App, Fields and Actions are the audit mapping (format audit or auto),
	// laid over the helpdesk mapping: see parse.AuditMapping.
	App     string                       `yaml:"app"`
	Fields  map[string]string            `yaml:"fields"`
	Actions map[string]parse.AuditAction `yaml:"actions"`
	// Pattern is the regular expression of format regex, with named groups
	// named after event fields; TimeLayout the Go layout of its ts group
	// (default RFC 3339) and Kind the event kind it yields (default auth).
	Pattern    string `yaml:"pattern"`
	TimeLayout string `yaml:"time_layout"`
	Kind       string `yaml:"kind"`
	// TZ is the IANA zone of timestamps that carry none; empty means the
	// machine's local zone.
	TZ string `yaml:"tz"`
	// TrustedProxies are added to network.trusted_proxies for this source.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Start is where a file without a saved offset is first read from:
	// beginning (the default) or end.
	Start string `yaml:"start"`
	// MaxLineBytes cuts longer lines; 0 means source.DefaultMaxLineBytes.
	MaxLineBytes ByteSize `yaml:"max_line_bytes"`
}

// Enrich is the enrich block.
type Enrich struct {
	GeoIP GeoIP `yaml:"geoip"`
	RDNS  RDNS  `yaml:"rdns"`
}

// GeoIP is the enrich.geoip block: MaxMind database files. With neither
// City nor ASN set, the usual places are searched (enrich.DefaultGeoPaths).
type GeoIP struct {
	City string `yaml:"city"`
	ASN  string `yaml:"asn"`
	// ReloadInterval is how often replaced database files are looked for,
	// besides file-change notification; a negative value turns it off.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// InMemory reads the databases into memory instead of mapping them.
	InMemory bool `yaml:"in_memory"`
}

// RDNS is the enrich.rdns block: enrich.RDNSConfig and a switch.
type RDNS struct {
	Enabled           bool `yaml:"enabled"`
	enrich.RDNSConfig `yaml:",inline"`
}

// ClickHouse is the clickhouse block. An empty DSN means no ClickHouse:
// events go to the local archive under the state directory.
type ClickHouse struct {
	// DSN is a native-protocol address,
	// clickhouse://user@host:9000/database. It must not hold the password.
	DSN string `yaml:"dsn"`
	// Password, or PasswordFile (read at load, trimmed), but not both.
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	// Database defaults to the DSN's path, else "vigil".
	Database string `yaml:"database"`
	// Dialect is auto (from SELECT version()), baseline or modern.
	Dialect string `yaml:"dialect"`
	// BatchRows and BatchInterval bound a batch: whichever comes first.
	BatchRows     int           `yaml:"batch_rows"`
	BatchInterval time.Duration `yaml:"batch_interval"`
	// SpoolMaxBytes caps the local spool used while ClickHouse is down.
	SpoolMaxBytes ByteSize `yaml:"spool_max_bytes"`
	// Retention is how long events are kept; daily partitions older than
	// it are dropped. 0 keeps everything.
	Retention time.Duration `yaml:"retention"`
}

// Enabled reports whether events go to ClickHouse.
func (c ClickHouse) Enabled() bool { return c.DSN != "" }

// Address returns host:port of the DSN, for showing (it never holds a
// secret: the DSN may not carry a password).
func (c ClickHouse) Address() string {
	u, err := url.Parse(c.DSN)
	if err != nil {
		return ""
	}
	return u.Host
}

// Archive is the archive block: the local NDJSON event archive used when
// there is no ClickHouse.
type Archive struct {
	// MaxBytes caps the archive; the oldest files go first. 0 turns the
	// archive off.
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// Rules is the rules block; package rules owns what it means.
type Rules struct {
	// Builtin loads the shipped rule catalog.
	Builtin bool `yaml:"builtin"`
	// Paths are rule files or directories of *.yml rule files.
	Paths []string `yaml:"paths"`
	// MaxKeys caps the groups of state a rule keeps.
	MaxKeys int `yaml:"max_keys"`
	// Lateness is how far behind the newest event time an event may come
	// and still be counted in its window.
	Lateness time.Duration `yaml:"lateness"`
	// Watch reloads the rules, as SIGHUP does, when a file under Paths or
	// a list file changes.
	Watch bool `yaml:"watch"`
	// Warm is how much stored history warms the first_seen rules that
	// start without state, when ClickHouse is configured; 0 turns it off.
	Warm time.Duration `yaml:"warm"`
}

// Alerts is the alerts block; package alert owns what it means.
type Alerts struct {
	// PII is retain, mask or remove: what receivers see of user names and
	// addresses. A receiver may override it.
	PII            string        `yaml:"pii"`
	GroupWait      time.Duration `yaml:"group_wait"`
	GroupInterval  time.Duration `yaml:"group_interval"`
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	Silences       []Silence     `yaml:"silences"`
	Slack          []Slack       `yaml:"slack"`
	Webhook        []Webhook     `yaml:"webhook"`
	// Stdout writes alerts as NDJSON to standard output. It defaults to
	// true when no Slack or webhook receiver is configured.
	Stdout bool `yaml:"stdout"`
}

// Silence mutes the alerts it matches until Until.
type Silence struct {
	// Rules are rule ids or path.Match patterns ("auth-*"); empty matches
	// every rule.
	Rules []string `yaml:"rules"`
	// Match are alert fields (src_ip, user, host, or a group key) and the
	// value each must have; a src_ip value may be a CIDR.
	Match map[string]string `yaml:"match"`
	// Until ends the silence; the zero time never ends it.
	Until   time.Time `yaml:"until"`
	Comment string    `yaml:"comment"`
}

// Route is what a receiver is sent: alerts of at least MinSeverity, of
// the Rules (ids or patterns; empty is all) and carrying one of Tags
// (empty is any).
type Route struct {
	MinSeverity event.Severity `yaml:"min_severity"`
	Rules       []string       `yaml:"rules"`
	Tags        []string       `yaml:"tags"`
	// PII overrides alerts.pii for this receiver; empty inherits it.
	PII string `yaml:"pii"`
}

// Slack is one Slack receiver: an incoming webhook (WebhookURL or
// WebhookURLFile), or a bot token (Token or TokenFile) and a Channel.
// The *File fields hold the absolute path the secret was read from, so
// that a notifier can read it again after rotation.
type Slack struct {
	// Name identifies the receiver in logs and metrics; default slack-N
	// (N from 0).
	Name           string        `yaml:"name"`
	WebhookURL     secret.Secret `yaml:"webhook_url"`
	WebhookURLFile string        `yaml:"webhook_url_file"`
	Token          secret.Secret `yaml:"token"`
	TokenFile      string        `yaml:"token_file"`
	// Channel is "#name" or a channel id; required with a token.
	Channel string `yaml:"channel"`
	// APIURL is the Slack Web API base URL, for tests and proxies.
	APIURL string `yaml:"api_url"`
	Route  `yaml:",inline"`
}

// Webhook is one generic JSON webhook receiver. With a Secret, each
// request is signed with it (HMAC-SHA256).
type Webhook struct {
	// Name identifies the receiver; default webhook-N.
	Name       string        `yaml:"name"`
	URL        string        `yaml:"url"`
	Secret     secret.Secret `yaml:"secret"`
	SecretFile string        `yaml:"secret_file"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
	Route   `yaml:",inline"`
}

// Metrics is the metrics block.
type Metrics struct {
	// Listen is the host:port of the Prometheus /metrics, /healthz and
	// /readyz endpoint; loopback by default. Empty turns it off.
	Listen string `yaml:"listen"`
}

// Log is the log block.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Default returns the configuration vigil runs with when it has no file:
// no sources, the builtin rules, RFC 1918 / loopback / ULA as internal
// networks, reverse DNS for audit events and successful logins, geo-IP
// from the usual places if found, no ClickHouse (events to the local
// archive), alerts to stdout, metrics on 127.0.0.1:9464, state in
// /var/lib/vigil.
func Default() *Config {
	c := defaults()
	c.fillDefaults(func(string) bool { return false })
	return c
}

// defaults returns the values Parse starts from: Default without what
// fillDefaults derives from other keys.
func defaults() *Config {
	return &Config{
		StateDir: DefaultStateDir,
		Network:  enrich.DefaultNetworkConfig(),
		Enrich: Enrich{
			GeoIP: GeoIP{ReloadInterval: DefaultGeoReload},
			RDNS:  RDNS{Enabled: true, RDNSConfig: enrich.DefaultRDNSConfig()},
		},
		ClickHouse: ClickHouse{
			Dialect:       DialectAuto,
			BatchRows:     DefaultBatchRows,
			BatchInterval: DefaultBatchInterval,
			SpoolMaxBytes: DefaultSpoolMaxBytes,
			Retention:     DefaultRetention,
		},
		Archive: Archive{MaxBytes: DefaultArchiveBytes},
		Rules:   Rules{Builtin: true, MaxKeys: DefaultMaxKeys, Lateness: DefaultLateness, Watch: true, Warm: DefaultWarm},
		Alerts: Alerts{
			PII:            PIIRetain,
			GroupWait:      DefaultGroupWait,
			GroupInterval:  DefaultGroupInterval,
			RepeatInterval: DefaultRepeatInterval,
			Stdout:         true,
		},
		Metrics: Metrics{Listen: DefaultMetricsListen},
		Log:     Log{Level: "info", Format: LogText},
	}
}

// fillDefaults sets what depends on other keys or sits in list entries,
// once the file is decoded; explicit reports whether a key path was given.
func (c *Config) fillDefaults(explicit func(key string) bool) {
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Format == "" {
			s.Format = DefaultFormat
		}
		if s.Start == "" {
			s.Start = source.StartBeginning
		}
		if s.MaxLineBytes == 0 {
			s.MaxLineBytes = ByteSize(source.DefaultMaxLineBytes)
		}
	}
	if c.ClickHouse.Database == "" {
		c.ClickHouse.Database = DefaultDatabase
		if u, err := url.Parse(c.ClickHouse.DSN); err == nil && c.ClickHouse.DSN != "" {
			if db := strings.Trim(u.Path, "/"); db != "" {
				c.ClickHouse.Database = db
			}
		}
	}
	a := &c.Alerts
	for i := range a.Slack {
		if a.Slack[i].Name == "" {
			a.Slack[i].Name = fmt.Sprintf("slack-%d", i)
		}
		if a.Slack[i].APIURL == "" {
			a.Slack[i].APIURL = DefaultSlackAPIURL
		}
		if a.Slack[i].MinSeverity == "" {
			a.Slack[i].MinSeverity = event.SeverityInfo
		}
	}
	for i := range a.Webhook {
		if a.Webhook[i].Name == "" {
			a.Webhook[i].Name = fmt.Sprintf("webhook-%d", i)
		}
		if a.Webhook[i].Timeout == 0 {
			a.Webhook[i].Timeout = DefaultWebhookTimeout
		}
		if a.Webhook[i].MinSeverity == "" {
			a.Webhook[i].MinSeverity = event.SeverityInfo
		}
	}
	if !explicit("alerts.stdout") {
		a.Stdout = len(a.Slack) == 0 && len(a.Webhook) == 0
	}
}

// resolvePaths makes the file paths of c absolute against dir.
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.StateDir)
	for i := range c.Sources {
		for j := range c.Sources[i].Paths {
			abs(&c.Sources[i].Paths[j])
		}
	}
	for name, p := range c.ListFiles {
		abs(&p)
		c.ListFiles[name] = p
	}
	abs(&c.Enrich.GeoIP.City)
	abs(&c.Enrich.GeoIP.ASN)
	abs(&c.ClickHouse.PasswordFile)
	for i := range c.Rules.Paths {
		abs(&c.Rules.Paths[i])
	}
	for i := range c.Alerts.Slack {
		abs(&c.Alerts.Slack[i].WebhookURLFile)
		abs(&c.Alerts.Slack[i].TokenFile)
	}
	for i := range c.Alerts.Webhook {
		abs(&c.Alerts.Webhook[i].SecretFile)
	}
}

// NetworkConfig returns the network block for enrich.NewZones.
func (c *Config) NetworkConfig() enrich.NetworkConfig {
	n := c.Network
	n.Internal = slices.Clone(n.Internal)
	n.InternalDomains = slices.Clone(n.InternalDomains)
	n.Trusted = slices.Clone(n.Trusted)
	n.TrustedProxies = slices.Clone(n.TrustedProxies)
	return n
}

// RDNSConfig returns the enrich.rdns block for enrich.NewReverseDNS; when
// rdns is disabled its When is "false", which resolves nothing.
func (c *Config) RDNSConfig() enrich.RDNSConfig {
	r := c.Enrich.RDNS.RDNSConfig
	if !c.Enrich.RDNS.Enabled {
		r.When = "false"
	}
	return r
}

// GeoConfig returns the enrich.geoip block for enrich.NewGeo.
func (c *Config) GeoConfig() enrich.GeoConfig {
	g := c.Enrich.GeoIP
	return enrich.GeoConfig{City: g.City, ASN: g.ASN, CheckInterval: g.ReloadInterval, InMemory: g.InMemory}
}

// BuildLists builds the named lists: the shipped defaults, replaced by lists
// and list_files. It reads the list files.
func (c *Config) BuildLists() (*enrich.Lists, error) {
	return enrich.NewLists(c.Lists, c.ListFiles, filepath.Dir(c.File))
}

// OffsetsDir is where file sources save their offsets.
func (c *Config) OffsetsDir() string { return filepath.Join(c.StateDir, "offsets") }

// FileConfig returns the source.File settings of s.
func (c *Config) FileConfig(s Source) source.FileConfig {
	return source.FileConfig{
		Name:         s.Name,
		Paths:        slices.Clone(s.Paths),
		Exclude:      slices.Clone(s.Exclude),
		StateDir:     c.OffsetsDir(),
		StartAt:      s.Start,
		MaxLineBytes: int(s.MaxLineBytes),
	}
}

// ParseOptions returns the parser settings of s: its zone, its audit
// mapping or pattern, and the trusted proxies of the network block plus
// its own. The error is only possible for a Source that did not come from
// Load or Parse (a zone that does not exist, a bad proxy).
func (c *Config) ParseOptions(s Source) (parse.Options, error) {
	opts := parse.Options{
		Audit:      parse.AuditMapping{App: s.App, Fields: s.Fields, Actions: s.Actions},
		Pattern:    s.Pattern,
		TimeLayout: s.TimeLayout,
		Kind:       event.Kind(s.Kind),
	}
	if s.TZ != "" {
		loc, err := time.LoadLocation(s.TZ)
		if err != nil {
			return opts, fmt.Errorf("source %s: tz: %w", s.Name, err)
		}
		opts.Location = loc
	}
	for _, p := range slices.Concat(c.Network.TrustedProxies, s.TrustedProxies) {
		prefix, err := parsePrefix(p)
		if err != nil {
			return opts, fmt.Errorf("source %s: trusted proxy %q %v", s.Name, p, err)
		}
		opts.TrustedProxies = append(opts.TrustedProxies, prefix)
	}
	return opts, nil
}

// Receivers returns the names of the alert receivers, stdout included.
func (c *Config) Receivers() []string {
	var names []string
	for _, s := range c.Alerts.Slack {
		names = append(names, s.Name)
	}
	for _, w := range c.Alerts.Webhook {
		names = append(names, w.Name)
	}
	if c.Alerts.Stdout {
		names = append(names, "stdout")
	}
	return names
}
