package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/rules"
)

// ExplainOptions configure Explain.
type ExplainOptions struct {
	Format string        // a parse format; "auto" picks per line
	Parse  parse.Options // parser settings
	// Now is the reference time for timestamps without a year; zero means
	// the current time.
	Now time.Time
	// Enrich is the enrichment applied to each event; its zero value
	// classifies the network zone with the default internal networks only.
	Enrich EnrichOptions
	// Rules are the rules whose matches each line lists; Lists answer their
	// in_list.
	Rules  []*rules.Rule
	Lists  rules.ListLookup
	Logger *slog.Logger
}

// Explanation is what vigil made of one input line.
type Explanation struct {
	Line   int           `json:"line"`   // 1-based number of the input line
	Input  string        `json:"input"`  // the line as given
	Parser string        `json:"parser"` // the parser that produced the events, or that refused the line
	Events []event.Event `json:"events"` // under canonical field names; empty when the line was refused
	// Enriched holds, for each event of Events in order, the fields
	// enrichment set (hostname, zone, geo-IP) under their canonical names.
	Enriched     []map[string]any `json:"enriched,omitempty"`
	EnrichErrors []string         `json:"enrich_errors,omitempty"`
	// Rules lists the ids of the rules whose where clause (or a sequence
	// step) one of the line's events matches: the events a rule counts,
	// whether or not it fires on them.
	Rules []string `json:"rules,omitempty"`
	Error string   `json:"error,omitempty"`
}

// Explain parses each line of lines with one parser (so that state such as
// sshd's per-pid memory carries from line to line, as it would in a file)
// and writes one JSON object per line to w.
func Explain(w io.Writer, lines []string, opts ExplainOptions) error {
	p, err := parse.New(opts.Format, opts.Parse)
	if err != nil {
		return err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	en, err := newEnrichers(opts.Enrich, opts.Logger)
	if err != nil {
		return err
	}
	defer en.Close()
	var engine *rules.Engine
	if len(opts.Rules) > 0 {
		engine, err = rules.NewEngine(opts.Rules, rules.EngineConfig{Lists: opts.Lists, Zones: en.zones, Logger: opts.Logger})
		if err != nil {
			return err
		}
	}
	ctx := context.Background()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var offset int64
	for i, text := range lines {
		ln := ingest.Line{Source: "explain", Path: "-", Offset: offset, End: offset + int64(len(text)) + 1, Text: text, Time: now}
		offset = ln.End
		x := Explanation{Line: i + 1, Input: text, Parser: p.Name(), Events: []event.Event{}}
		x.Events, err = p.Parse(ln, x.Events)
		if err != nil {
			x.Error = err.Error()
		} else if len(x.Events) > 0 {
			x.Parser = x.Events[0].Parser
		}
		for i := range x.Events {
			before := x.Events[i]
			for _, err := range en.enrich(ctx, &x.Events[i]) {
				x.EnrichErrors = append(x.EnrichErrors, err.Error())
			}
			x.Enriched = append(x.Enriched, enrichedFields(&before, &x.Events[i]))
			if engine != nil {
				for _, id := range engine.Matching(&x.Events[i]) {
					if !slices.Contains(x.Rules, id) {
						x.Rules = append(x.Rules, id)
					}
				}
			}
		}
		if err := enc.Encode(x); err != nil {
			return fmt.Errorf("encode explanation: %w", err)
		}
	}
	return bw.Flush()
}

// ReadLines returns the lines of r without their newlines, for Explain.
func ReadLines(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}
