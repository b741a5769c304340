// Command vigil is a log and login anomaly analyzer: it reads web, auth,
// error and application audit logs, normalizes each line into an event and
// detects attacks. See README.md and `vigil help`.
//
// This package only parses flags, handles signals and calls into
// internal/app.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/gen"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `vigil: log and login anomaly analyzer

Usage:
  vigil run     [--config FILE]                           the daemon: tail, store, detect, alert (SIGHUP reloads)
  vigil demo    [--scenario S] [--lines N] [--dir DIR]    run the whole pipeline on a generated attack, print the alerts
  vigil explain [--format F] [LINE...]                    show how each line (or stdin) is parsed, as JSON
  vigil replay  [--format F] [--output events|none] [--clickhouse DSN] [--config FILE] FILE...|-
                                                          parse files from the start and detect; NDJSON alerts on
                                                          stdout, also sent to the config's Slack and webhooks
  vigil gen     --scenario NAME --lines N --out DIR [--seed S] [--start T]
                                                          write synthetic logs with attacks and truth.json
  vigil check-config FILE... | --example                  validate config files; print the annotated example
  vigil silence add|list|expire [--state-dir DIR]        mute alerts until a silence expires
  vigil schema  print|migrate [--dialect baseline|modern] [--dsn DSN]
                                                          show or apply the ClickHouse schema
  vigil store   load --dsn DSN FILE|DIR...                import an event archive or spool into ClickHouse
  vigil version                                           print the version

Formats: %s.
Run 'vigil COMMAND -h' for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "vigil:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks a command line that cannot run; it exits with 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, strings.Join(parse.Formats(), ", "))
		return usageError{"no command given"}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, args, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, args, stdout, stderr)
	case "explain":
		return cmdExplain(args, stdin, stdout, stderr)
	case "replay":
		return cmdReplay(ctx, args, stdin, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(args, stdout, stderr)
	case "gen":
		return cmdGen(args, stdout, stderr)
	case "rules":
		return cmdRules(args, stdout, stderr)
	case "silence":
		return cmdSilence(args, stdout, stderr)
	case "schema":
		return cmdSchema(ctx, args, stdout, stderr)
	case "store":
		return cmdStore(ctx, args, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, strings.Join(parse.Formats(), ", "))
		return nil
	default:
		fmt.Fprintf(stderr, usage, strings.Join(parse.Formats(), ", "))
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// parseFlags declares the parser flags shared by explain and replay.
type parseFlags struct {
	format     string
	tz         string
	proxies    string
	pattern    string
	timeLayout string
}

func (pf *parseFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&pf.format, "format", "auto", "log format: "+strings.Join(parse.Formats(), ", "))
	fs.StringVar(&pf.tz, "tz", "Local", "time zone of timestamps that carry none (RFC 3164 syslog, apache error)")
	fs.StringVar(&pf.proxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is believed")
	fs.StringVar(&pf.pattern, "pattern", "", "regular expression with named groups, for --format regex")
	fs.StringVar(&pf.timeLayout, "time-layout", "", "Go time layout of the ts group, for --format regex (default RFC 3339)")
}

func (pf *parseFlags) options() (parse.Options, error) {
	var opts parse.Options
	loc, err := time.LoadLocation(pf.tz)
	if err != nil {
		return opts, usageError{fmt.Sprintf("--tz: %v", err)}
	}
	opts.Location = loc
	for _, s := range strings.Split(pf.proxies, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return opts, usageError{fmt.Sprintf("--trusted-proxies: %q is neither a CIDR nor an address", s)}
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		opts.TrustedProxies = append(opts.TrustedProxies, p.Masked())
	}
	opts.Pattern = pf.pattern
	opts.TimeLayout = pf.timeLayout
	return opts, nil
}

// enrichFlags declares the enrichment flags shared by explain and replay.
// Without a config file they are the only way to name databases and
// networks.
type enrichFlags struct {
	internal, internalDomains, trusted string
	geoCity, geoASN                    string
	noGeo, rdns                        bool
	dnsServer, rdnsWhen                string
}

func (ef *enrichFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&ef.internal, "internal", "", "comma-separated internal networks (default RFC 1918, loopback, link-local, ULA)")
	fs.StringVar(&ef.internalDomains, "internal-domains", "", "comma-separated DNS suffixes whose verified hosts count as internal")
	fs.StringVar(&ef.trusted, "trusted", "", "comma-separated networks allowed to log in (the allowlist)")
	fs.StringVar(&ef.geoCity, "geoip-city", "", "MaxMind City database (default: the usual install paths, when present)")
	fs.StringVar(&ef.geoASN, "geoip-asn", "", "MaxMind ASN database")
	fs.BoolVar(&ef.noGeo, "no-geoip", false, "do not look up geo-IP")
	fs.BoolVar(&ef.rdns, "rdns", false, "resolve hostnames (forward-confirmed reverse DNS) for the events --rdns-when selects")
	fs.StringVar(&ef.dnsServer, "dns-server", "", "DNS server for --rdns, host[:port] (default: /etc/resolv.conf); implies --rdns")
	fs.StringVar(&ef.rdnsWhen, "rdns-when", "", "expression selecting the events to resolve (default: "+enrich.DefaultRDNSWhen+")")
}

// options returns the enrichment: base (the defaults, or what the config
// file says) with the flags given on the command line (set) over it.
func (ef *enrichFlags) options(base app.EnrichOptions, set map[string]bool) app.EnrichOptions {
	opts := base
	if set["internal"] {
		opts.Network.Internal = splitList(ef.internal)
	}
	if set["internal-domains"] {
		opts.Network.InternalDomains = splitList(ef.internalDomains)
	}
	if set["trusted"] {
		opts.Network.Trusted = splitList(ef.trusted)
	}
	switch {
	case ef.noGeo:
		opts.Geo = nil
	case set["geoip-city"] || set["geoip-asn"]:
		opts.Geo = &enrich.GeoConfig{City: ef.geoCity, ASN: ef.geoASN}
	}
	if ef.rdns || ef.dnsServer != "" || set["rdns-when"] {
		r := enrich.RDNSConfig{}
		if opts.RDNS != nil {
			r = *opts.RDNS
		}
		if ef.dnsServer != "" {
			r.Server = ef.dnsServer
		}
		if ef.rdnsWhen != "" {
			r.When = ef.rdnsWhen
		}
		opts.RDNS = &r
	}
	return opts
}

// detectFlags declares the config and rule flags shared by explain and
// replay.
type detectFlags struct {
	config    string
	rules     []string
	noBuiltin bool
}

func (df *detectFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&df.config, "config", "", "config file: networks, lists, enrichment, rule directories (default: embedded defaults)")
	fs.Func("rules", "directory of custom rules (repeatable)", func(s string) error {
		df.rules = append(df.rules, s)
		return nil
	})
	fs.BoolVar(&df.noBuiltin, "no-builtin", false, "leave the builtin rules out")
}

// load reads the config file, when named, and the rules and lists.
func (df *detectFlags) load() (*config.Config, app.Detection, error) {
	cfg := config.Default()
	if df.config != "" {
		var err error
		if cfg, err = config.Load(df.config); err != nil {
			return nil, app.Detection{}, err
		}
	}
	det, err := app.LoadDetection(cfg, builtinRules(), df.rules, df.noBuiltin)
	return cfg, det, err
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// baseEnrich is the enrichment before flags: the config file's when one
// was named, else the defaults of a run without one.
func baseEnrich(df *detectFlags, cfg *config.Config) app.EnrichOptions {
	if df.config != "" {
		return app.EnrichOptionsOf(cfg)
	}
	return app.DefaultEnrichOptions()
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// progressPrinter returns a func that keeps one status line (lines/s,
// percent, ETA) on w when w is a terminal, and nil otherwise: piped or
// redirected output gets no control characters.
func progressPrinter(w io.Writer) func(app.Progress) {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return func(p app.Progress) {
		line := fmt.Sprintf("%d lines  %.0f lines/s", p.Lines, p.LinesPerSecond())
		if pct := p.Percent(); pct >= 0 {
			line += fmt.Sprintf("  %.1f%%", pct)
		}
		if eta := p.ETA(); eta >= 0 && !p.Done {
			line += fmt.Sprintf("  ETA %s", eta.Round(time.Second))
		}
		fmt.Fprintf(f, "\r\033[K%s", line)
		if p.Done {
			fmt.Fprintln(f)
		}
	}
}

// newLogger is the logger of the one-shot commands: warnings and errors,
// as text on stderr.
func newLogger(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vigil "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func cmdExplain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("explain", stderr)
	var pf parseFlags
	pf.register(fs)
	var ef enrichFlags
	ef.register(fs)
	var df detectFlags
	df.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	popts, err := pf.options()
	if err != nil {
		return err
	}
	cfg, det, err := df.load()
	if err != nil {
		return err
	}
	lines := fs.Args()
	if len(lines) == 0 {
		if lines, err = app.ReadLines(stdin); err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
	}
	return app.Explain(stdout, lines, app.ExplainOptions{
		Format: pf.format, Parse: popts,
		Enrich: ef.options(baseEnrich(&df, cfg), setFlags(fs)),
		Rules:  det.Rules, Lists: det.Lists,
		Logger: newLogger(stderr),
	})
}

func cmdReplay(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", stderr)
	var pf parseFlags
	pf.register(fs)
	var ef enrichFlags
	ef.register(fs)
	var df detectFlags
	df.register(fs)
	output := fs.String("output", app.OutputAlerts, "what to write on stdout: alerts (NDJSON), events (NDJSON) or none (only the summary on stderr)")
	var sf storeFlags
	fs.StringVar(&sf.dsn, "clickhouse", "", "also store every event in ClickHouse at this DSN, clickhouse://user@host:9000/database")
	fs.StringVar(&sf.passwordFile, "password-file", "", "file holding the ClickHouse password")
	deliver := fs.Bool("deliver", true, "send the alerts to the Slack and webhook receivers of --config, through the daemon's dispatcher")
	drain := fs.Duration("drain-timeout", app.DefaultReplayDrain, "how long to wait after the last line for alerts to be delivered")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sc, err := sf.config()
	if err != nil {
		return err
	}
	popts, err := pf.options()
	if err != nil {
		return err
	}
	cfg, det, err := df.load()
	if err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{"replay: name at least one file, or - for stdin"}
	}
	var dcfg *config.Config
	if *deliver && df.config != "" && len(cfg.Alerts.Slack)+len(cfg.Alerts.Webhook) > 0 {
		dcfg = cfg
	}
	sum, err := app.Replay(ctx, app.ReplayOptions{
		Format: pf.format, Parse: popts, Output: *output,
		Paths: fs.Args(), Stdin: stdin, Stdout: stdout,
		Enrich: ef.options(baseEnrich(&df, cfg), setFlags(fs)),
		Rules:  det.Rules, Lists: det.Lists,
		Store:   sc,
		Deliver: dcfg, DrainTimeout: *drain,
		Progress: progressPrinter(stderr),
		Logger:   newLogger(stderr),
	})
	if err != nil {
		return err
	}
	if *output != app.OutputEvents {
		app.WriteSummary(stderr, sum)
	}
	return nil
}

func cmdGen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gen", stderr)
	scenario := fs.String("scenario", "mixed", "scenario: "+strings.Join(gen.Scenarios(), ", "))
	lines := fs.Int("lines", 10000, "approximate number of lines to write in all")
	out := fs.String("out", "", "directory to write the logs and truth.json to (created)")
	seed := fs.Int64("seed", 1, "random seed; the same seed gives the same files")
	start := fs.String("start", "", "start of the ten hours of activity, RFC 3339 (default "+gen.DefaultStart.Format(time.RFC3339)+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"gen: --out is required"}
	}
	var startTime time.Time
	if *start != "" {
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			return usageError{fmt.Sprintf("gen: --start: %v", err)}
		}
		startTime = t
	}
	truth, err := gen.Generate(gen.Options{Scenario: *scenario, Lines: *lines, Out: *out, Seed: *seed, Start: startTime})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote scenario %s to %s: %d attacking addresses, %d compromised users\n",
		*scenario, *out, len(truth.Attackers), len(truth.CompromisedUsers))
	return nil
}

func versionString() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("vigil %s%s %s %s/%s", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
