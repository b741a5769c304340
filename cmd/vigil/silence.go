package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/internal/config"
)

const silenceUsage = `Usage:
  vigil silence add    [--state-dir DIR | --config FILE] (--for D | --until T) [--rule R]... [--match K=V]... [--comment C]
  vigil silence list   [--state-dir DIR | --config FILE] [--all]
  vigil silence expire [--state-dir DIR | --config FILE] ID...

A silence mutes the alerts it matches (rule ids or patterns such as "auth-*", and
fields: src_ip=ADDR|CIDR, user=, host=, severity=, or a group key) until it expires.
The running daemon re-reads them from STATE_DIR/silences.json within a second.
`

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func cmdSilence(args []string, stdout, stderr io.Writer) error {
	return cmdSilenceAt(args, stdout, stderr, time.Now())
}

func cmdSilenceAt(args []string, stdout, stderr io.Writer, now time.Time) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, silenceUsage)
		return usageError{"silence: name add, list or expire"}
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("silence "+sub, stderr)
	fs.Usage = func() { fmt.Fprint(stderr, silenceUsage); fs.PrintDefaults() }
	stateDir := fs.String("state-dir", "", "state directory (default: state_dir of --config, else "+config.DefaultStateDir+")")
	cfgPath := fs.String("config", "", "config file whose state_dir to use")
	var rules, matches multiFlag
	var dur time.Duration
	var until, comment string
	var all bool
	switch sub {
	case "add":
		fs.Var(&rules, "rule", "rule id or pattern to silence (repeatable)")
		fs.Var(&matches, "match", "KEY=VALUE the alert must have (repeatable)")
		fs.DurationVar(&dur, "for", 0, "how long the silence lasts, e.g. 2h")
		fs.StringVar(&until, "until", "", "when the silence ends (RFC 3339)")
		fs.StringVar(&comment, "comment", "", "why")
	case "list":
		fs.BoolVar(&all, "all", false, "include expired silences")
	case "expire":
	default:
		fmt.Fprint(stderr, silenceUsage)
		return usageError{fmt.Sprintf("silence: unknown command %q", sub)}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := silenceStateDir(*stateDir, *cfgPath)
	if err != nil {
		return err
	}
	path := alert.SilencesPath(dir)
	list, err := alert.LoadSilences(path)
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		s, err := newSilence(rules, matches, dur, until, comment, now)
		if err != nil {
			return err
		}
		list = append(prune(list, now), s)
		if err := alert.SaveSilences(path, list); err != nil {
			return fmt.Errorf("save silences: %w", err)
		}
		fmt.Fprintf(stdout, "%s\n", s.ID)
		return nil
	case "list":
		return printSilences(stdout, list, all, now)
	default: // expire
		if fs.NArg() == 0 {
			return usageError{"silence expire: name at least one silence ID"}
		}
		var missing []string
		for _, id := range fs.Args() {
			i := slices.IndexFunc(list, func(s alert.Silence) bool { return s.ID == id })
			if i < 0 {
				missing = append(missing, id)
				continue
			}
			if list[i].Until.IsZero() || list[i].Until.After(now) {
				list[i].Until = now
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("silence expire: no silence %s in %s", strings.Join(missing, ", "), path)
		}
		if err := alert.SaveSilences(path, list); err != nil {
			return fmt.Errorf("save silences: %w", err)
		}
		return nil
	}
}

func silenceStateDir(dir, cfgPath string) (string, error) {
	switch {
	case dir != "" && cfgPath != "":
		return "", usageError{"silence: give --state-dir or --config, not both"}
	case dir != "":
		return dir, nil
	case cfgPath != "":
		c, err := config.Load(cfgPath)
		if err != nil {
			return "", err
		}
		return c.StateDir, nil
	}
	return config.DefaultStateDir, nil
}

func newSilence(rules, matches []string, dur time.Duration, until, comment string, now time.Time) (alert.Silence, error) {
	s := alert.Silence{ID: alert.NewSilenceID(), Rules: rules, Created: now.UTC(), Comment: comment}
	switch {
	case dur > 0 && until != "":
		return s, usageError{"silence add: give --for or --until, not both"}
	case dur > 0:
		s.Until = now.Add(dur).UTC()
	case until != "":
		t, err := time.Parse(time.RFC3339, until)
		if err != nil {
			return s, usageError{fmt.Sprintf("silence add: --until: %v", err)}
		}
		if !t.After(now) {
			return s, usageError{"silence add: --until is in the past"}
		}
		s.Until = t.UTC()
	default:
		return s, usageError{"silence add: --for or --until is required; a silence must expire"}
	}
	for _, m := range matches {
		k, v, ok := strings.Cut(m, "=")
		if !ok || k == "" {
			return s, usageError{fmt.Sprintf("silence add: --match %q: want KEY=VALUE", m)}
		}
		if s.Match == nil {
			s.Match = map[string]string{}
		}
		s.Match[k] = v
	}
	if err := s.Validate(); err != nil {
		return s, usageError{"silence add: " + err.Error()}
	}
	return s, nil
}

// prune drops silences that expired more than a week ago.
func prune(list []alert.Silence, now time.Time) []alert.Silence {
	return slices.DeleteFunc(list, func(s alert.Silence) bool {
		return !s.Until.IsZero() && now.Sub(s.Until) > 7*24*time.Hour
	})
}

func printSilences(w io.Writer, list []alert.Silence, all bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUNTIL\tRULES\tMATCH\tCOMMENT")
	for _, s := range list {
		if !all && !s.Active(now) {
			continue
		}
		var m []string
		for k, v := range s.Match {
			m = append(m, k+"="+v)
		}
		slices.Sort(m)
		until := "never"
		if !s.Until.IsZero() {
			until = s.Until.UTC().Format(time.RFC3339)
			if !s.Active(now) {
				until += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, until, dash(strings.Join(s.Rules, ",")), dash(strings.Join(m, ",")), s.Comment)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
