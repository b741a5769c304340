package dashboards

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"regexp"
	"strings"
	"time"
)

// This file reads the dashboards as Grafana and the ClickHouse plugin do
// and turns each panel's SQL into the text the server receives: Grafana
// first interpolates the template variables, then the plugin's backend
// expands its macros. The expansions follow grafana/clickhouse-datasource
// pkg/macros (v4).

// dashboard is the part of a Grafana dashboard model the tests read.
type dashboard struct {
	file       string
	UID        string     `json:"uid"`
	Title      string     `json:"title"`
	Tags       []string   `json:"tags"`
	Panels     []panel    `json:"panels"`
	Templating templating `json:"templating"`
	Time       struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
}

type templating struct {
	List []variable `json:"list"`
}

// variable is a template variable (custom, textbox or query).
type variable struct {
	Name       string      `json:"name"`
	Type       string      `json:"type"`
	Query      string      `json:"query"`
	Datasource *datasource `json:"datasource"`
	Multi      bool        `json:"multi"`
	IncludeAll bool        `json:"includeAll"`
	AllValue   string      `json:"allValue"`
	Current    struct {
		Value json.RawMessage `json:"value"`
	} `json:"current"`
	Options []struct {
		Value string `json:"value"`
	} `json:"options"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // a collapsed row's panels
}

type target struct {
	RefID      string      `json:"refId"`
	Datasource *datasource `json:"datasource"`
	EditorType string      `json:"editorType"`
	QueryType  string      `json:"queryType"`
	Format     *int        `json:"format"`
	RawSQL     string      `json:"rawSql"`
}

// Plugin formats (pluginVersion 4: Format in src/types).
const (
	formatTimeSeries = 0
	formatTable      = 1
)

// loadDashboards decodes every grafana/*.json of fsys.
func loadDashboards(fsys fs.FS) ([]dashboard, error) {
	files, err := fs.Glob(fsys, "grafana/*.json")
	if err != nil {
		return nil, err
	}
	var out []dashboard
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		var d dashboard
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		d.file = f
		out = append(out, d)
	}
	return out, nil
}

// allPanels returns the panels of d, rows' nested panels included.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// dialect names the SQL the macros expand to.
type dialect string

const (
	dialectModern   dialect = "modern"   // what the plugin sends, to a ClickHouse >= 23.8
	dialectBaseline dialect = "baseline" // the same, with $__timeInterval for ClickHouse 18.16
)

// queryContext is what Grafana knows when it runs a panel.
type queryContext struct {
	from, to time.Time
	interval time.Duration
	vars     map[string][]string // variable name: current values (nil: "All")
	dialect  dialect
}

// grafanaVar matches Grafana's variable syntaxes: $name, ${name},
// ${name:format} and [[name]].
var grafanaVar = regexp.MustCompile(`\$([A-Za-z_]\w*)|\$\{([A-Za-z_]\w*)(?::([a-z]+))?\}|\[\[([A-Za-z_]\w*)\]\]`)

// interpolate replaces the template variables in sql as Grafana does before
// the query reaches the plugin. Names starting with __ are left for the
// plugin (its macros) unless Grafana itself defines them.
func interpolate(sql string, qc queryContext) (string, error) {
	var errs []string
	out := grafanaVar.ReplaceAllStringFunc(sql, func(m string) string {
		sm := grafanaVar.FindStringSubmatch(m)
		name, format := sm[1]+sm[2]+sm[4], sm[3]
		switch name {
		case "__interval":
			return fmt.Sprintf("%ds", int(qc.interval.Seconds()))
		case "__interval_ms":
			return fmt.Sprint(qc.interval.Milliseconds())
		}
		if strings.HasPrefix(name, "__") {
			return m
		}
		vals, ok := qc.vars[name]
		if !ok {
			errs = append(errs, fmt.Sprintf("unknown variable %s", m))
			return m
		}
		switch format {
		case "singlequote":
			q := make([]string, len(vals))
			for i, v := range vals {
				q[i] = "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
			}
			return strings.Join(q, ",")
		case "sqlstring":
			q := make([]string, len(vals))
			for i, v := range vals {
				q[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			}
			return strings.Join(q, ",")
		case "", "raw", "csv":
			return strings.Join(vals, ",")
		default:
			errs = append(errs, fmt.Sprintf("%s: format %q is not handled by the test", m, format))
			return m
		}
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// pluginMacro matches the start of a plugin macro, $__name.
var pluginMacro = regexp.MustCompile(`\$__(\w+)`)

// expandMacros expands the plugin's macros in sql.
func expandMacros(sql string, qc queryContext) (string, error) {
	var b strings.Builder
	for {
		loc := pluginMacro.FindStringSubmatchIndex(sql)
		if loc == nil {
			b.WriteString(sql)
			return b.String(), nil
		}
		b.WriteString(sql[:loc[0]])
		name := sql[loc[2]:loc[3]]
		rest := sql[loc[1]:]
		var args []string
		if strings.HasPrefix(rest, "(") {
			depth, end := 0, -1
			for i, c := range rest {
				if c == '(' {
					depth++
				} else if c == ')' {
					if depth--; depth == 0 {
						end = i
						break
					}
				}
			}
			if end < 0 {
				return "", fmt.Errorf("$__%s: unbalanced parentheses", name)
			}
			for _, a := range strings.Split(rest[1:end], ",") {
				if a = strings.TrimSpace(a); a == "" {
					return "", fmt.Errorf("$__%s: empty argument", name)
				}
				args = append(args, a)
			}
			rest = rest[end+1:]
		}
		exp, err := macro(name, args, qc)
		if err != nil {
			return "", err
		}
		b.WriteString(exp)
		sql = rest
	}
}

func macro(name string, args []string, qc queryContext) (string, error) {
	from := fmt.Sprintf("toDateTime(%d)", qc.from.Unix())
	to := fmt.Sprintf("toDateTime(%d)", qc.to.Unix())
	seconds := int(math.Max(qc.interval.Seconds(), 1))
	want := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("$__%s: want %d argument(s), got %d", name, n, len(args))
		}
		return nil
	}
	switch name {
	case "fromTime":
		return from, want(0)
	case "toTime":
		return to, want(0)
	case "interval_s":
		return fmt.Sprint(seconds), want(0)
	case "timeFilter":
		if err := want(1); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s >= %s AND %s <= %s", args[0], from, args[0], to), nil
	case "timeInterval":
		if err := want(1); err != nil {
			return "", err
		}
		if qc.dialect == dialectBaseline {
			// 18.16 has no toStartOfInterval; the same bucket in Unix seconds.
			return fmt.Sprintf("toDateTime(intDiv(toUInt32(toDateTime(%s)), %d) * %d)", args[0], seconds, seconds), nil
		}
		return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", args[0], seconds), nil
	}
	return "", fmt.Errorf("macro $__%s is not one vigil's dashboards use (want timeFilter, timeInterval, fromTime, toTime, interval_s)", name)
}

// expand turns a panel's or variable's SQL into what the server receives.
func expand(sql string, qc queryContext) (string, error) {
	s, err := interpolate(sql, qc)
	if err != nil {
		return "", err
	}
	return expandMacros(s, qc)
}

// currentValues returns a variable's current values as stored in the
// dashboard: nil for "All".
func (v variable) currentValues() ([]string, error) {
	if len(v.Current.Value) == 0 {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(v.Current.Value, &one); err == nil {
		if one == "$__all" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(v.Current.Value, &many); err != nil {
		return nil, fmt.Errorf("variable %s: current value: %w", v.Name, err)
	}
	if len(many) == 1 && many[0] == "$__all" {
		return nil, nil
	}
	return many, nil
}
