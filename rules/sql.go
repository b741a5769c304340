package rules

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// SQLRunner runs the query of an sql rule against the event store and
// returns its rows, each a map from column name to value. The app provides
// one only when ClickHouse is configured; without it sql rules are loaded
// and checked but never run.
type SQLRunner func(ctx context.Context, query string) ([]map[string]any, error)

// checkSQL is the lint check of an sql rule's query: one SELECT (or WITH
// ... SELECT) statement, with balanced quotes and parentheses. ClickHouse
// itself checks the rest when the query runs.
func checkSQL(q string) error {
	s := strings.TrimSpace(q)
	s = strings.TrimSuffix(s, ";")
	if s == "" {
		return errors.New("empty query")
	}
	first := strings.ToUpper(strings.Fields(s)[0])
	if first != "SELECT" && first != "WITH" {
		return fmt.Errorf("want a SELECT statement, got %s", first)
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"', '`':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return fmt.Errorf("unterminated %c quote", c)
			}
			i = j
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return errors.New("unbalanced ')'")
			}
		case ';':
			return errors.New("one statement only (';' inside the query)")
		case '-':
			if i+1 < len(s) && s[i+1] == '-' {
				for i < len(s) && s[i] != '\n' {
					i++
				}
			}
		}
	}
	if depth != 0 {
		return errors.New("unbalanced '('")
	}
	return nil
}

// RunSQL runs the sql rules that are due at now and returns their alerts.
// sql rules are scheduled on the clock the caller passes (the daemon passes
// the wall clock from a ticker; a replay does not call RunSQL): a rule runs
// at the first call at or after each multiple of its every. Without an
// SQLRunner it does nothing. Each row is one firing, grouped by its columns
// that are not alert fields, and cooldown applies as for other kinds. A
// failing query is reported in the joined error; the other rules still run.
func (e *Engine) RunSQL(ctx context.Context, now time.Time) ([]event.Alert, error) {
	if e.cfg.SQL == nil {
		return nil, nil
	}
	var errs []error
	nowNs := now.UnixNano()
	for _, c := range e.rules {
		if c.r.Kind != KindSQL || nowNs < c.nextSQL {
			continue
		}
		c.nextSQL = now.Truncate(c.r.Every).Add(c.r.Every).UnixNano()
		c.stats.Evaluations++
		rows, err := e.cfg.SQL(ctx, c.r.Query)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", c.r.ID, err))
			continue
		}
		for _, row := range rows {
			c.stats.Matches++
			e.fireRow(c, row, now)
		}
	}
	return e.take(), errors.Join(errs...)
}

func (e *Engine) fireRow(c *compiled, row map[string]any, now time.Time) {
	ev := event.Event{Ts: now}
	group := map[string]string{}
	count := uint64(1)
	first := now
	var summary string
	for k, v := range row {
		switch k {
		case "ts":
			if t, ok := v.(time.Time); ok {
				ev.Ts = t
			}
		case "first_ts":
			if t, ok := v.(time.Time); ok {
				first = t
			}
		case "count":
			if n, err := strconv.ParseUint(fmt.Sprint(v), 10, 64); err == nil {
				count = n
			}
		case "src_ip":
			switch a := v.(type) {
			case netip.Addr:
				ev.SrcIP = a
			default:
				ev.SrcIP, _ = netip.ParseAddr(fmt.Sprint(v))
			}
		case "user":
			ev.User = fmt.Sprint(v)
		case "host":
			ev.Host = fmt.Sprint(v)
		case "geo_country":
			ev.GeoCountry = fmt.Sprint(v)
		case "summary":
			summary = fmt.Sprint(v)
		default:
			group[k] = fmt.Sprint(v)
		}
	}
	extra := map[string]string{}
	for k, v := range group {
		extra[k] = v
	}
	if summary != "" {
		extra["summary"] = summary
	}
	if first.After(ev.Ts) {
		first = ev.Ts
	}
	e.fire(c, firing{key: []byte(event.GroupKeyOf(group)), ev: &ev, ts: ev.Ts.UnixNano(), first: first.UnixNano(),
		count: count, group: group, extra: extra})
}
