package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/rules"
)

// The lists and zones are what rule expressions consult.
var (
	_ rules.ListLookup = (*enrich.Lists)(nil)
	_ rules.ZoneLookup = (*enrich.Zones)(nil)
)

// RuleSources name where rules come from: the embedded catalog (nil for
// none) and custom rules: rule files and directories of them.
type RuleSources struct {
	Builtin fs.FS
	Dirs    []string
}

// LoadRules loads the builtin rules and every file or directory, and returns the
// rules that are valid with an error listing every problem, one per line
// (file:line: rule id: reason), duplicate ids across sources included.
func LoadRules(src RuleSources) ([]*rules.Rule, error) {
	var sets [][]*rules.Rule
	var errs []error
	if src.Builtin != nil {
		rs, err := rules.LoadFS(src.Builtin, ".")
		if err != nil {
			errs = append(errs, fmt.Errorf("builtin rules: %w", err))
		}
		sets = append(sets, rs)
	}
	for _, dir := range src.Dirs {
		rs, err := rules.LoadPath(dir)
		if err != nil {
			errs = append(errs, err)
		}
		sets = append(sets, rs)
	}
	all, err := rules.Merge(sets...)
	if err != nil {
		errs = append(errs, err)
	}
	return all, errors.Join(errs...)
}

// LintRules loads the rules and writes every problem to w, one per line.
// It returns an error counting them when there is any.
func LintRules(w io.Writer, src RuleSources) error {
	rs, err := LoadRules(src)
	if err != nil {
		lines := errorLines(err)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		return fmt.Errorf("rules: %d problem(s)", len(lines))
	}
	fmt.Fprintf(w, "%d rules ok\n", len(rs))
	return nil
}

// errorLines flattens joined errors into their lines.
func errorLines(err error) []string {
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// ListRules writes one rule a line: id, kind, severity, title, and
// "disabled" for a disabled rule.
func ListRules(w io.Writer, rs []*rules.Rule) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSEVERITY\tTITLE")
	for _, r := range rs {
		title := r.Title
		if !r.Enabled {
			title += " (disabled)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Severity, title)
	}
	return tw.Flush()
}

// testReference is the reference time given to parsers for timestamps
// without a year in inline tests, so that tests do not depend on today.
var testReference = time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)

// RuleTestEnv returns the environment inline tests run in: the real
// parsers (timestamps without a zone read as UTC), the default network
// zones, and the default lists.
func RuleTestEnv() (rules.TestEnv, error) {
	zones, err := enrich.NewZones(enrich.DefaultNetworkConfig())
	if err != nil {
		return rules.TestEnv{}, err
	}
	lists, err := enrich.NewLists(nil, nil, "")
	if err != nil {
		return rules.TestEnv{}, err
	}
	ctx := context.Background()
	return rules.TestEnv{
		NewParser: func(format string) (rules.LineParser, error) {
			p, err := parse.New(format, parse.Options{Location: time.UTC})
			if err != nil {
				return nil, err
			}
			var offset int64
			return func(line string) ([]event.Event, error) {
				ln := ingest.Line{Source: "test", Path: "test", Offset: offset, End: offset + int64(len(line)) + 1, Text: line, Time: testReference}
				offset = ln.End
				evs, err := p.Parse(ln, nil)
				if errors.Is(err, ingest.ErrNoMatch) {
					return nil, fmt.Errorf("%s parser does not recognise %q", p.Name(), line)
				}
				return evs, err
			}, nil
		},
		Enrich: func(ev *event.Event) { _ = zones.Enrich(ctx, ev) },
		Lists:  lists,
		Zones:  zones,
	}, nil
}

// TestRules runs the inline tests of rs and writes a line per rule (ok or
// FAIL with the differences) and a total. It returns an error when a test
// failed.
func TestRules(w io.Writer, rs []*rules.Rule) error {
	env, err := RuleTestEnv()
	if err != nil {
		return err
	}
	tests, failed := 0, 0
	for _, r := range rs {
		fails := rules.RunTests(r, env)
		tests += len(r.Tests)
		failed += len(fails)
		switch {
		case r.Kind == rules.KindSQL:
			fmt.Fprintf(w, "skip  %s (sql rules run only against ClickHouse)\n", r.ID)
		case len(fails) == 0:
			fmt.Fprintf(w, "ok    %s (%d tests)\n", r.ID, len(r.Tests))
		default:
			fmt.Fprintf(w, "FAIL  %s\n", r.ID)
			for _, f := range fails {
				fmt.Fprintf(w, "      %s\n", strings.ReplaceAll(f.Error(), "\n", "\n      "))
			}
		}
	}
	fmt.Fprintf(w, "%d rules, %d tests, %d failed\n", len(rs), tests, failed)
	if failed > 0 {
		return fmt.Errorf("rules: %d test(s) failed", failed)
	}
	return nil
}
