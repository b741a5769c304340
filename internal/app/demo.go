package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/gen"
)

// DemoOptions configure Demo.
type DemoOptions struct {
	// Dir receives the generated logs (Dir/logs), the daemon's state
	// (Dir/state, the event archive in it) and the truth of the scenario.
	Dir      string
	Scenario string // a gen scenario; "" is "mixed"
	Lines    int    // lines over all files; 0 is 6000
	Seed     int64
	Builtin  fs.FS // the shipped rules
	Stdout   io.Writer
	Logger   *slog.Logger
	// Timeout bounds the whole run; zero is two minutes.
	Timeout time.Duration
}

// DemoResult is what a demo saw.
type DemoResult struct {
	Truth  gen.Truth
	Lines  uint64        // lines the daemon read
	Events uint64        // events parsed
	Alerts []event.Alert // the last version of each alert, most severe first
	// Attackers and Detected count the scenario's attacking addresses and
	// those of them an alert names.
	Attackers, Detected int
}

// Demo generates a short attack scenario and runs the daemon on it with
// embedded defaults and no external service: the logs are tailed from
// their start, events go to the local archive, the builtin rules run and
// the alerts are collected. It stops once every line is read and every
// alert delivered, and prints the alerts as a table.
func Demo(ctx context.Context, opts DemoOptions) (DemoResult, error) {
	if opts.Scenario == "" {
		opts.Scenario = "mixed"
	}
	if opts.Lines <= 0 {
		opts.Lines = 6000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	var res DemoResult
	logs := filepath.Join(opts.Dir, "logs")
	truth, err := gen.Generate(gen.Options{
		Scenario: opts.Scenario, Lines: opts.Lines, Out: logs, Seed: opts.Seed,
		// Recent activity, so that what the engine's wall clock does
		// matches a live run.
		Start: time.Now().Add(-gen.Span - time.Minute),
	})
	if err != nil {
		return res, err
	}
	res.Truth = truth
	// The scenario's three logs, merged in time order into the one file the
	// daemon tails: what a single syslog/journal feed looks like, and the
	// order in which the rules must see the events (the engine runs on
	// event time; three backlogs read at once would race ahead of each
	// other).
	merged := filepath.Join(logs, "all.log")
	want, err := mergeByTime(merged, []demoFile{
		{filepath.Join(logs, gen.FileAuth), "sshd"},
		{filepath.Join(logs, gen.FileAccess), "access"},
		{filepath.Join(logs, gen.FileAudit), "audit"},
	})
	if err != nil {
		return res, err
	}

	cfg := config.Default()
	cfg.StateDir = filepath.Join(opts.Dir, "state")
	cfg.Metrics.Listen = ""
	cfg.Alerts.Stdout = false
	cfg.Alerts.GroupWait, cfg.Alerts.GroupInterval = 0, 0
	cfg.Enrich.RDNS.Enabled = false // no DNS server to ask
	cfg.Sources = []config.Source{{Name: "demo", Paths: []string{merged}, Format: "auto", TZ: "UTC"}}

	col := &collector{byID: make(map[string]event.Alert)}
	d, err := NewDaemon(RunOptions{
		Config: cfg, Builtin: opts.Builtin, Logger: opts.Logger,
		Receivers:   []alert.Receiver{{Notifier: col}},
		flushOnExit: true,
	})
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()

	// Wait until every line is read and parsed.
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
wait:
	for {
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("the daemon stopped before reading the logs")
			}
			return res, err
		case <-ctx.Done():
			stop()
			<-done
			return res, fmt.Errorf("demo: %w", ctx.Err())
		case <-t.C:
			_, parsers, _ := d.ingestStats()
			var lines uint64
			for _, p := range parsers {
				lines += p.Lines
			}
			if lines >= want {
				break wait
			}
		}
	}
	stop()
	if err := <-done; err != nil {
		return res, err
	}
	_, parsers, _ := d.ingestStats()
	for _, p := range parsers {
		res.Lines += p.Lines
		res.Events += p.Events
	}
	res.Alerts = col.sorted()

	res.Attackers = len(truth.Attackers)
	for _, at := range truth.Attackers {
		if len(alertedBy(res.Alerts, at.IP)) > 0 {
			res.Detected++
		}
	}
	WriteDemo(opts.Stdout, res, opts.Dir)
	return res, nil
}

// WriteDemo prints the alerts of a demo as a table, and what it read.
func WriteDemo(w io.Writer, res DemoResult, dir string) {
	fmt.Fprintf(w, "vigil demo: scenario %q, %d lines read, %d events, %d alerts\n\n",
		res.Truth.Scenario, res.Lines, res.Events, len(res.Alerts))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tRULE\tSOURCE\tUSER\tCOUNT\tFIRST SEEN\tSUMMARY")
	for _, a := range res.Alerts {
		src := "-"
		if a.SrcIP.IsValid() {
			src = a.SrcIP.String()
		}
		user := a.User
		if user == "" {
			user = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.Severity, a.Rule, src, user, a.Count,
			a.FirstTs.UTC().Format("15:04:05"), oneLine(a.Summary, 90))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d of the scenario's %d attacking addresses are named by an alert (as source, group or evidence).\n",
		res.Detected, res.Attackers)
	fmt.Fprintf(w, "Logs, truth.json and the event archive are in %s\n", dir)
}

// alertedBy reports whether an alert names addr: as its src_ip, in its
// group, or (for alerts over many addresses, such as credential stuffing)
// in its evidence.
func alertedBy(alerts []event.Alert, addr netip.Addr) []string {
	var rules []string
	s := addr.String()
	for _, a := range alerts {
		hit := a.SrcIP == addr
		for _, v := range a.Group {
			hit = hit || v == s
		}
		for _, l := range a.Evidence {
			hit = hit || strings.Contains(l, s)
		}
		if hit && !slices.Contains(rules, a.Rule) {
			rules = append(rules, a.Rule)
		}
	}
	return rules
}

type demoFile struct{ path, format string }

// mergeByTime writes the lines of files to out ordered by their event time
// (a line that gives no event keeps the time of the line before it) and
// returns how many lines it wrote.
func mergeByTime(out string, files []demoFile) (uint64, error) {
	type line struct {
		ts   time.Time
		text string
	}
	var all []line
	for _, f := range files {
		p, err := parse.New(f.format, parse.Options{Location: time.UTC})
		if err != nil {
			return 0, err
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return 0, err
		}
		var (
			prev time.Time
			evs  []event.Event
		)
		for text := range strings.Lines(string(b)) {
			text = strings.TrimSuffix(text, "\n")
			evs, err = p.Parse(ingest.Line{Text: text, Time: time.Now()}, evs[:0])
			if err == nil && len(evs) > 0 {
				prev = evs[0].Ts
			}
			all = append(all, line{prev, text})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].ts.Before(all[j].ts) })
	var buf bytes.Buffer
	for _, l := range all {
		buf.WriteString(l.text)
		buf.WriteByte('\n')
	}
	return uint64(len(all)), os.WriteFile(out, buf.Bytes(), 0o644)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// collector is the demo's receiver: it keeps the last version of each
// alert.
type collector struct {
	mu   sync.Mutex
	byID map[string]event.Alert
}

func (c *collector) Name() string { return "demo" }

func (c *collector) Notify(_ context.Context, alerts []event.Alert) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range alerts {
		c.byID[a.ID] = a
	}
	return nil
}

func (c *collector) sorted() []event.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Collect(maps.Values(c.byID))
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ra, rb := a.Severity.Rank(), b.Severity.Rank(); ra != rb {
			return ra > rb
		}
		if !a.FirstTs.Equal(b.FirstTs) {
			return a.FirstTs.Before(b.FirstTs)
		}
		return a.ID < b.ID
	})
	return out
}
