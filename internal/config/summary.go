package config

import (
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// WriteSummary writes what c configures, a few lines for a person: the
// sources, the networks, the rules, where events and alerts go. It shows
// no secret, and of a webhook URL only its host.
func (c *Config) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(key, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", key, fmt.Sprintf(format, args...))
	}
	line("state_dir", "%s", c.StateDir)
	line("sources", "%d", len(c.Sources))
	for _, s := range c.Sources {
		line("", "%s\t%s\t%s", s.Name, s.Format, strings.Join(s.Paths, ", "))
	}
	n := c.Network
	line("network", "%s, %s, %s, %s",
		plural(len(n.Internal), "internal network"), plural(len(n.Trusted), "trusted network"),
		plural(len(n.TrustedProxies), "trusted proxy", "trusted proxies"), plural(len(n.InternalDomains), "internal domain"))
	var rules []string
	if c.Rules.Builtin {
		rules = append(rules, "builtin")
	}
	rules = append(rules, c.Rules.Paths...)
	if len(rules) == 0 {
		rules = append(rules, "none")
	}
	line("rules", "%s", strings.Join(rules, ", "))
	var enrich []string
	if g := c.Enrich.GeoIP; g.City != "" || g.ASN != "" {
		for _, p := range []string{g.City, g.ASN} {
			if p != "" {
				enrich = append(enrich, "geoip "+filepath.Base(p))
			}
		}
	} else {
		enrich = append(enrich, "geoip (searched)")
	}
	if c.Enrich.RDNS.Enabled {
		enrich = append(enrich, "rdns when "+c.Enrich.RDNS.When)
	} else {
		enrich = append(enrich, "rdns off")
	}
	line("enrich", "%s", strings.Join(enrich, ", "))
	if ch := c.ClickHouse; ch.Enabled() {
		line("clickhouse", "%s, database %s, dialect %s, retention %s", ch.Address(), ch.Database, ch.Dialect, fmtDuration(ch.Retention))
	} else {
		line("clickhouse", "off: events archived under %s (at most %v)", c.StateDir, c.Archive.MaxBytes)
	}
	var recv []string
	for _, s := range c.Alerts.Slack {
		how := "webhook"
		if !s.Token.IsZero() {
			how = s.Channel
		}
		recv = append(recv, fmt.Sprintf("slack %s (%s, >= %s)", s.Name, how, s.MinSeverity))
	}
	for _, wh := range c.Alerts.Webhook {
		host := "?"
		if u, err := url.Parse(wh.URL); err == nil {
			host = u.Host
		}
		recv = append(recv, fmt.Sprintf("webhook %s (%s, >= %s)", wh.Name, host, wh.MinSeverity))
	}
	if c.Alerts.Stdout {
		recv = append(recv, "stdout")
	}
	if len(recv) == 0 {
		recv = append(recv, "none")
	}
	line("receivers", "%s", strings.Join(recv, ", "))
	if len(c.Alerts.Silences) > 0 {
		line("silences", "%d", len(c.Alerts.Silences))
	}
	listen := c.Metrics.Listen
	if listen == "" {
		listen = "off"
	}
	line("metrics", "%s", listen)
	line("log", "%s, %s", c.Log.Level, c.Log.Format)
	return tw.Flush()
}

// plural formats n and a noun, with an s (or the given plural) unless n is 1.
func plural(n int, noun string, pl ...string) string {
	if n == 1 {
		return "1 " + noun
	}
	if len(pl) > 0 {
		return fmt.Sprintf("%d %s", n, pl[0])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
