package dashboards

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/internal/store"
)

// The data source every panel and variable must use: the provisioned one.
const (
	pluginType     = "grafana-clickhouse-datasource"
	datasourceUID  = "vigil-clickhouse"
	dashboardsPath = "/etc/grafana/dashboards/vigil" // where docker-compose.yml mounts grafana/
)

// wantDashboards are the dashboards issue 8 asks for, by uid.
var wantDashboards = []string{"vigil-alerts", "vigil-authentication", "vigil-overview", "vigil-web"}

func mustDashboards(t *testing.T) []dashboard {
	t.Helper()
	ds, err := loadDashboards(Files)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// testContext is a query context for expanding SQL without a server.
func testContext(d dashboard, dia dialect) queryContext {
	qc := queryContext{
		from:     time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
		to:       time.Date(2026, 3, 2, 18, 0, 0, 0, time.UTC),
		interval: 5 * time.Minute,
		vars:     map[string][]string{},
		dialect:  dia,
	}
	for _, v := range d.Templating.List {
		qc.vars[v.Name] = []string{"x"}
	}
	return qc
}

func TestDashboardStructure(t *testing.T) {
	ds := mustDashboards(t)
	var uids []string
	for _, d := range ds {
		t.Run(d.file, func(t *testing.T) {
			if d.UID == "" || d.Title == "" {
				t.Fatalf("uid %q, title %q: both are required", d.UID, d.Title)
			}
			if len(d.UID) > 40 {
				t.Errorf("uid %q is longer than Grafana's 40 characters", d.UID)
			}
			if !slices.Contains(d.Tags, "vigil") {
				t.Errorf("tags %v lack vigil (the dashboards' links list by that tag)", d.Tags)
			}
			if d.Time.From == "" || d.Time.To == "" {
				t.Errorf("no default time range")
			}
			panels := d.allPanels()
			if len(panels) == 0 {
				t.Fatal("no panels")
			}
			ids, titles := map[int]bool{}, map[string]bool{}
			var boxes [][4]int
			usedVars := map[string]bool{}
			for _, p := range panels {
				name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
				if p.Title == "" || p.ID == 0 || ids[p.ID] {
					t.Errorf("%s: needs a title and a unique id", name)
				}
				ids[p.ID] = true
				if titles[p.Title] {
					t.Errorf("%s: two panels have this title", name)
				}
				titles[p.Title] = true
				g := p.GridPos
				if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
					t.Errorf("%s: gridPos %+v outside the 24-column grid", name, g)
				}
				for _, o := range boxes {
					if g.X < o[0]+o[2] && o[0] < g.X+g.W && g.Y < o[1]+o[3] && o[1] < g.Y+g.H {
						t.Errorf("%s: overlaps another panel", name)
					}
				}
				boxes = append(boxes, [4]int{g.X, g.Y, g.W, g.H})
				if p.Datasource == nil || p.Datasource.Type != pluginType || p.Datasource.UID != datasourceUID {
					t.Errorf("%s: datasource %+v, want %s uid %s", name, p.Datasource, pluginType, datasourceUID)
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: no targets", name)
				}
				for _, tg := range p.Targets {
					if tg.Datasource == nil || tg.Datasource.UID != datasourceUID || tg.Datasource.Type != pluginType {
						t.Errorf("%s target %s: datasource %+v", name, tg.RefID, tg.Datasource)
					}
					if tg.RefID == "" || tg.EditorType != "sql" || strings.TrimSpace(tg.RawSQL) == "" {
						t.Errorf("%s target %q: want a refId, editorType sql and rawSql", name, tg.RefID)
					}
					wantFormat, wantType := formatTable, "table"
					if p.Type == "timeseries" {
						wantFormat, wantType = formatTimeSeries, "timeseries"
					}
					if tg.Format == nil || *tg.Format != wantFormat || tg.QueryType != wantType {
						t.Errorf("%s target %s: format %v queryType %q, want %d %q for a %s panel", name, tg.RefID, tg.Format, tg.QueryType, wantFormat, wantType, p.Type)
					}
					if p.Type == "timeseries" && !regexp.MustCompile(`\$__timeInterval\(ts\) AS time\b`).MatchString(tg.RawSQL) {
						t.Errorf("%s: a time series must select $__timeInterval(ts) AS time", name)
					}
					if !strings.Contains(tg.RawSQL, "$__timeFilter(") {
						t.Errorf("%s: no $__timeFilter: the panel would read the whole table", name)
					}
					if strings.Contains(tg.RawSQL, "FROM events") && !strings.Contains(tg.RawSQL, "toStartOfHour(ts) >= toStartOfHour($__fromTime)") {
						t.Errorf("%s: events queries name the hour bucket of the sort key so that 18.16 prunes on it", name)
					}
					for _, m := range grafanaVar.FindAllStringSubmatch(tg.RawSQL, -1) {
						usedVars[m[1]+m[2]+m[4]] = true
					}
					for _, dia := range []dialect{dialectModern, dialectBaseline} {
						sql, err := expand(tg.RawSQL, testContext(d, dia))
						if err != nil {
							t.Errorf("%s (%s): %v", name, dia, err)
							continue
						}
						if leftover := regexp.MustCompile(`\$[\w{]|\[\[`).FindString(sql); leftover != "" {
							t.Errorf("%s (%s): unexpanded %s left in\n%s", name, dia, leftover, sql)
						}
					}
				}
			}
			for _, v := range d.Templating.List {
				if v.Name == "" || !slices.Contains([]string{"custom", "textbox", "query"}, v.Type) {
					t.Errorf("variable %+v: want a name and type custom, textbox or query", v)
				}
				if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != datasourceUID) {
					t.Errorf("variable %s: datasource %+v", v.Name, v.Datasource)
				}
				if !usedVars[v.Name] {
					t.Errorf("variable %s is not used by any panel", v.Name)
				}
				if _, err := v.currentValues(); err != nil {
					t.Error(err)
				}
			}
		})
		uids = append(uids, d.UID)
	}
	slices.Sort(uids)
	if !slices.Equal(uids, wantDashboards) {
		t.Errorf("dashboards %v, want %v", uids, wantDashboards)
	}
}

// TestExpandMacros pins the expansions to the plugin's text.
func TestExpandMacros(t *testing.T) {
	qc := queryContext{
		from:     time.Unix(1772438400, 0),
		to:       time.Unix(1772474400, 0),
		interval: 90 * time.Second,
		vars:     map[string][]string{"kind": {"auth", "web"}, "user": {"o'brien"}},
		dialect:  dialectModern,
	}
	cases := []struct{ in, want string }{
		{"WHERE $__timeFilter(ts)", "WHERE ts >= toDateTime(1772438400) AND ts <= toDateTime(1772474400)"},
		{"SELECT $__timeInterval(ts) AS time", "SELECT toStartOfInterval(toDateTime(ts), INTERVAL 90 second) AS time"},
		{"$__fromTime, $__toTime, $__interval_s", "toDateTime(1772438400), toDateTime(1772474400), 90"},
		{"kind IN (${kind:singlequote})", "kind IN ('auth','web')"},
		{"user = ${user:sqlstring}", "user = 'o''brien'"},
		{"user = '$user'", "user = 'o'brien'"},
	}
	for _, c := range cases {
		got, err := expand(c.in, qc)
		if err != nil || got != c.want {
			t.Errorf("expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	qc.dialect = dialectBaseline
	got, err := expand("$__timeInterval(ts)", qc)
	if want := "toDateTime(intDiv(toUInt32(toDateTime(ts)), 90) * 90)"; err != nil || got != want {
		t.Errorf("baseline $__timeInterval = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"$__timeFilter_ms(ts)", "$__timeFilter(ts", "$__timeFilter()", "$nosuchvar", "${kind:json}"} {
		if got, err := expand(bad, qc); err == nil {
			t.Errorf("expand(%q) = %q, want an error", bad, got)
		}
	}
}

func TestProvisioning(t *testing.T) {
	var dsFile struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name      string         `yaml:"name"`
			UID       string         `yaml:"uid"`
			IsDefault bool           `yaml:"isDefault"`
			Editable  bool           `yaml:"editable"`
			Type      string         `yaml:"type"`
			JSONData  map[string]any `yaml:"jsonData"`
			Secure    map[string]any `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, "provisioning/datasources/clickhouse.yml", &dsFile)
	if dsFile.APIVersion != 1 || len(dsFile.Datasources) != 1 {
		t.Fatalf("datasources file: apiVersion %d, %d data sources; want 1 and 1", dsFile.APIVersion, len(dsFile.Datasources))
	}
	ds := dsFile.Datasources[0]
	if ds.UID != datasourceUID || ds.Type != pluginType {
		t.Errorf("data source uid %q type %q, want %q %q", ds.UID, ds.Type, datasourceUID, pluginType)
	}
	for _, k := range []string{"host", "port", "protocol", "username", "defaultDatabase"} {
		if ds.JSONData[k] == nil {
			t.Errorf("jsonData.%s is missing", k)
		}
	}
	if ds.JSONData["protocol"] != "native" {
		t.Errorf("protocol %v: vigil's schema is tested over the native protocol", ds.JSONData["protocol"])
	}
	if pw, _ := ds.Secure["password"].(string); !strings.HasPrefix(pw, "$") {
		t.Errorf("secureJsonData.password must come from the environment, got %q", pw)
	}

	var dbFile struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string         `yaml:"name"`
			Folder                string         `yaml:"folder"`
			Type                  string         `yaml:"type"`
			DisableDeletion       bool           `yaml:"disableDeletion"`
			AllowUIUpdates        bool           `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int            `yaml:"updateIntervalSeconds"`
			Options               map[string]any `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "provisioning/dashboards/vigil.yml", &dbFile)
	if dbFile.APIVersion != 1 || len(dbFile.Providers) != 1 {
		t.Fatalf("dashboards file: apiVersion %d, %d providers", dbFile.APIVersion, len(dbFile.Providers))
	}
	if p := dbFile.Providers[0]; p.Type != "file" || p.Options["path"] != dashboardsPath || p.Folder == "" {
		t.Errorf("provider %+v: want type file, a folder, and path %s", p, dashboardsPath)
	}
}

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	data, err := fs.ReadFile(Files, name)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// wantQueries are the library queries issue 8 names, at least.
var wantQueries = []string{
	"agent_replies_external", "alerts_by_rule", "countries_per_user", "events_by_address",
	"failed_logins_for_user", "open_alerts", "sensitive_paths_2xx", "success_after_failures",
	"top_asns_failed_logins", "top_countries_failed_logins",
}

func TestQueryLibrary(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
		if q.Title == "" || q.Description == "" {
			t.Errorf("%s: title %q, description %q: both are required", q.Name, q.Title, q.Description)
		}
		for _, p := range q.Params {
			if p.Doc == "" {
				t.Errorf("%s: parameter %s is not described", q.Name, p.Name)
			}
		}
		if strings.Count(regexp.MustCompile(`(?m)^\s*--.*$`).ReplaceAllString(q.SQL, ""), ";") > 1 {
			t.Errorf("%s: one statement per file", q.Name)
		}
		if strings.Contains(q.SQL, "FROM events") && !strings.Contains(q.SQL, "toStartOfHour(ts) >= toStartOfHour({from:DateTime})") {
			t.Errorf("%s: events queries name the hour bucket of the sort key so that 18.16 prunes on it", q.Name)
		}
	}
	for _, w := range wantQueries {
		if !slices.Contains(names, w) {
			t.Errorf("query %s is missing (have %v)", w, names)
		}
	}
	if _, err := QueryByName("no_such_query"); err == nil || !strings.Contains(err.Error(), "events_by_address") {
		t.Errorf("QueryByName of an unknown name: %v, want an error listing the queries", err)
	}
}

func TestParseQueryErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"no header", "SELECT 1", "no header"},
		{"empty title", "--\n-- x\nSELECT 1", "must start with a title"},
		{"no sql", "-- T.\n-- d\n", "no SQL"},
		{"undeclared", "-- T.\n-- d\nSELECT {x:String}", "{x:String} is not declared"},
		{"unused", "-- T.\n-- Parameters:\n--   {x:String} an x\nSELECT 1", "declared but not used"},
		{"type mismatch", "-- T.\n-- Parameters:\n--   {x:String} an x\nSELECT {x:UInt8}", "declared as String"},
		{"bad type", "-- T.\n-- Parameters:\n--   {x:Float32} an x\nSELECT {x:Float32}", "unsupported type Float32"},
		{"bad param line", "-- T.\n-- Parameters:\n--   x String\nSELECT 1", "want a parameter"},
		{"twice", "-- T.\n-- Parameters:\n--   {x:String} a\n--   {x:String} b\nSELECT {x:String}", "declared twice"},
	}
	for _, c := range cases {
		_, err := ParseQuery("q", c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestBind(t *testing.T) {
	q, err := ParseQuery("q", `-- Title.
-- What it does.
--
-- Parameters:
--   {user:String}  the account
--   {from:DateTime} start
--   {n:UInt32}      how many
--   {d:Date}        a day
--   {delta:Int16}   signed
SELECT * FROM events WHERE user = {user:String} AND ts >= {from:DateTime}
  AND toDate(ts) = {d:Date} LIMIT {n:UInt32} OFFSET {delta:Int16};
`)
	if err != nil {
		t.Fatal(err)
	}
	if q.Title != "Title" || q.Description != "What it does." || len(q.Params) != 5 {
		t.Fatalf("parsed %+v", q)
	}
	got, err := q.Bind(map[string]string{"user": `o'b\r`, "from": "2026-03-02T09:00:00+01:00", "n": "10", "d": "2026-03-02", "delta": "-3"})
	if err != nil {
		t.Fatal(err)
	}
	want := `user = 'o\'b\\r' AND ts >= toDateTime(1772438400)`
	if !strings.Contains(got, want) || !strings.Contains(got, "toDate(ts) = toDate('2026-03-02') LIMIT 10 OFFSET -3") || strings.HasSuffix(got, ";") {
		t.Errorf("Bind = %s\nwant it to contain %s, the date, the numbers and no trailing semicolon", got, want)
	}
	got, err = q.Bind(map[string]string{"user": "u", "from": "2026-03-02 08:00:00", "n": "1", "d": "2026-03-02", "delta": "0"})
	if err != nil || !strings.Contains(got, "toDateTime(1772438400)") {
		t.Errorf("DateTime without a zone is UTC: %v\n%s", err, got)
	}
	bad := []map[string]string{
		{"user": "u", "from": "yesterday", "n": "1", "d": "2026-03-02", "delta": "0"},
		{"user": "u", "from": "2026-03-02 08:00:00", "n": "-1", "d": "2026-03-02", "delta": "0"},
		{"user": "u", "from": "2026-03-02 08:00:00", "n": "1; DROP TABLE events", "d": "2026-03-02", "delta": "0"},
		{"user": "u", "from": "2026-03-02 08:00:00", "n": "1", "d": "02/03/2026", "delta": "0"},
		{"user": "u", "from": "2026-03-02 08:00:00", "n": "1", "d": "2026-03-02", "delta": "40000"},
		{"user": "u", "from": "2026-03-02 08:00:00", "n": "1", "d": "2026-03-02"},
		{"user": "u", "from": "2026-03-02 08:00:00", "n": "1", "d": "2026-03-02", "delta": "0", "extra": "x"},
	}
	for _, args := range bad {
		if got, err := q.Bind(args); err == nil {
			t.Errorf("Bind(%v) = %s, want an error", args, got)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":       `'plain'`,
		"it's":        `'it\'s'`,
		`back\slash`:  `'back\\slash'`,
		"nul\x00\n\t": `'nul\0\n\t'`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// matchLiteral finds match(column, '...') calls in SQL.
var matchLiteral = regexp.MustCompile(`match\((http_path|user_agent), '((?:[^'\\]|\\.)*)'\)`)

// unquoteSQL undoes the backslash escapes of a ClickHouse string literal.
func unquoteSQL(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestPatternsAgreeWithLists checks that the path and user-agent regular
// expressions in the SQL (ClickHouse's match uses RE2, as Go's regexp does)
// classify the same values as vigil's shipped sensitive_paths and
// scanner_user_agents lists, so that the dashboards show what the rules
// alert on.
func TestPatternsAgreeWithLists(t *testing.T) {
	lists, err := enrich.NewLists(nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	listFor := map[string]string{"http_path": "sensitive_paths", "user_agent": "scanner_user_agents"}
	samples := map[string][]string{
		"http_path": {"/", "/index.html", "/database.html", "/data-policy", "/api/data", "/assets/app.js",
			"/.well-known/security.txt", "/agent/tickets", "/gitlab", "/environment", "/sqlite-guide"},
		"user_agent": {"Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "Googlebot/2.1"},
	}
	for _, e := range enrich.DefaultLists()["sensitive_paths"] {
		samples["http_path"] = append(samples["http_path"],
			strings.ReplaceAll(e, "*", ""), strings.ReplaceAll(e, "*", "/srv/x"), strings.ToUpper(strings.ReplaceAll(e, "*", "/a")))
	}
	for _, e := range enrich.DefaultLists()["scanner_user_agents"] {
		samples["user_agent"] = append(samples["user_agent"], strings.ReplaceAll(e, "*", " tool/1.0 "))
	}
	var sources []string
	for _, d := range mustDashboards(t) {
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				sources = append(sources, d.file+": "+p.Title+"\n"+tg.RawSQL)
			}
		}
	}
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		sources = append(sources, q.Name+"\n"+q.SQL)
	}
	found := 0
	for _, src := range sources {
		where, _, _ := strings.Cut(src, "\n")
		for _, m := range matchLiteral.FindAllStringSubmatch(src, -1) {
			found++
			re, err := regexp.Compile(unquoteSQL(m[2]))
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			for _, v := range samples[m[1]] {
				if got, want := re.MatchString(v), lists.Has(listFor[m[1]], v); got != want {
					t.Errorf("%s: match(%s, ...) on %q = %v, but list %s says %v", where, m[1], v, got, listFor[m[1]], want)
				}
			}
		}
	}
	if found < 4 {
		t.Errorf("found %d match() patterns, want the sensitive-path and scanner patterns of the web dashboard and the library", found)
	}
}

// storedColumns returns the column names of the events and alerts tables
// in both dialects of internal/store's migrations.
func storedColumns(t *testing.T) map[string]bool {
	t.Helper()
	cols := map[string]bool{}
	colLine := regexp.MustCompile(`(?m)^\s+(\w+)\s+[A-Z]\w*[(,\s]`)
	for _, d := range []store.Dialect{store.Baseline, store.Modern} {
		ms, err := store.Migrations(d, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			for _, st := range m.Statements {
				if !strings.HasPrefix(st, "CREATE TABLE IF NOT EXISTS events") && !strings.HasPrefix(st, "CREATE TABLE IF NOT EXISTS alerts") {
					continue
				}
				for _, c := range colLine.FindAllStringSubmatch(st, -1) {
					if c[1] != "INDEX" {
						cols[c[1]] = true
					}
				}
			}
		}
	}
	for _, want := range []string{"ts", "src_ip", "user", "geo_country", "rule", "evidence", "version"} {
		if !cols[want] {
			t.Fatalf("column %s not found in the store's migrations (found %v)", want, cols)
		}
	}
	return cols
}

// TestNoAliasShadowsAColumn keeps computed columns from taking a stored
// column's name: ClickHouse resolves such an alias in WHERE too, so that
// any(geo_country) AS geo_country turns "WHERE geo_country != ”" into an
// aggregate in WHERE (an error on 18.16, and a different one on newer
// servers).
func TestNoAliasShadowsAColumn(t *testing.T) {
	cols := storedColumns(t)
	alias := regexp.MustCompile(`\)\s+AS\s+(\w+)`)
	check := func(where, sql string) {
		for _, m := range alias.FindAllStringSubmatch(sql, -1) {
			if cols[m[1]] {
				t.Errorf("%s: an expression is named %s, a column of the store", where, m[1])
			}
		}
	}
	for _, d := range mustDashboards(t) {
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				check(d.file+": "+p.Title, tg.RawSQL)
			}
		}
		for _, v := range d.Templating.List {
			check(d.file+": variable "+v.Name, v.Query)
		}
	}
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		check(q.Name, q.SQL)
	}
}

// BenchmarkBind measures binding a library query for 18.16, which a
// command line tool would do per call.
func BenchmarkBind(b *testing.B) {
	q, err := QueryByName("success_after_failures")
	if err != nil {
		b.Fatal(err)
	}
	args := map[string]string{"min_failures": "5", "from": "2026-03-02T08:00:00Z", "to": "2026-03-02T18:00:00Z"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := q.Bind(args); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueries measures loading and checking the whole library from
// the embedded files.
func BenchmarkQueries(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Queries(); err != nil {
			b.Fatal(err)
		}
	}
}
