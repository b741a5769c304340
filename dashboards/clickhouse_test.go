package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/chtest"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/gen"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/rules"
)

// scenario is the data the integration tests query: `vigil gen`'s mixed
// scenario replayed through the parsers with geo-IP from a test database,
// the alerts the engine raises on it with testdata/rules.yml, both written
// to a fresh database with internal/store.
type scenario struct {
	db      *chtest.DB
	dialect store.Dialect
	truth   gen.Truth
	events  []event.Event // in time order
	alerts  []event.Alert // every version, in the order the engine returned them
}

// scenarioLines is the size of the generated data set: big enough for one
// instance of every attack, small enough to load in a second or two.
const scenarioLines = 4000

// loadScenario builds the scenario in a fresh database.
func loadScenario(t *testing.T) *scenario {
	t.Helper()
	db := chtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mig, err := store.Migrate(ctx, db.Conn, "", 0)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s := &scenario{db: db, dialect: mig.Dialect}
	t.Logf("ClickHouse %s, dialect %s, database %s", mig.Server, mig.Dialect, db.Name)

	dir := t.TempDir()
	s.truth, err = gen.Generate(gen.Options{Scenario: "mixed", Lines: scenarioLines, Out: filepath.Join(dir, "logs"), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	city, asn := writeGeoDBs(t, filepath.Join(dir, "geo"), s.truth)
	for _, f := range []struct{ file, format string }{
		{gen.FileAuth, "sshd"}, {gen.FileAccess, "access"}, {gen.FileAudit, "audit"},
	} {
		s.events = append(s.events, replay(t, filepath.Join(dir, "logs", f.file), f.format, city, asn)...)
	}
	slices.SortStableFunc(s.events, func(a, b event.Event) int { return a.Ts.Compare(b.Ts) })
	s.alerts = raiseAlerts(t, s.events)

	writeEvents(t, ctx, db.DSN, s.events)
	writeAlerts(t, ctx, db.DSN, s.alerts)
	return s
}

// writeEvents stores evs with store.Writer, as vigil run does: Write puts
// them in the spool, Run sends them, Flush waits until all are inserted.
func writeEvents(t *testing.T, ctx context.Context, dsn string, evs []event.Event) {
	t.Helper()
	w, err := store.NewWriter(store.Config{DSN: dsn, SpoolDir: t.TempDir(), BatchRows: 5000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("writer: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("close writer: %v", err)
		}
	}()
	if err := w.Write(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Inserted != uint64(len(evs)) {
		t.Fatalf("writer inserted %d of %d events", st.Inserted, len(evs))
	}
}

// replay parses one generated log as `vigil replay --format format --tz UTC`
// does, with the test's geo-IP databases, and returns the events.
func replay(t *testing.T, path, format, city, asn string) []event.Event {
	t.Helper()
	var out bytes.Buffer
	opts := app.ReplayOptions{
		Format: format,
		Parse:  parse.Options{Location: time.UTC},
		Output: app.OutputEvents,
		Paths:  []string{path},
		Stdout: &out,
		Enrich: app.EnrichOptions{
			Network: enrich.DefaultNetworkConfig(),
			Geo:     &enrich.GeoConfig{City: city, ASN: asn, CheckInterval: -1},
		},
	}
	sum, err := app.Replay(context.Background(), opts)
	if err != nil {
		t.Fatalf("replay %s: %v", path, err)
	}
	if sum.Total.Unparsed != 0 {
		t.Fatalf("replay %s: %d of %d lines unparsed", path, sum.Total.Unparsed, sum.Total.Lines)
	}
	var evs []event.Event
	dec := json.NewDecoder(&out)
	for dec.More() {
		var ev event.Event
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("decode replayed event: %v", err)
		}
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		t.Fatalf("replay %s: no events", path)
	}
	return evs
}

// Geo data the test database gives the attackers: a country and an origin
// network each, two addresses per network, so that the ASN panels have
// something to add up.
var (
	testCountries = []string{"CN", "RU", "NL", "US", "BR", "VN"}
	visitorNet    = "198.51.100.0/24" // benign web visitors in internal/gen
)

// writeGeoDBs writes a City and an ASN database placing every attacking
// address of truth and the benign visitor network.
func writeGeoDBs(t *testing.T, dir string, truth gen.Truth) (city, asn string) {
	t.Helper()
	newTree := func(dbType string) *mmdbwriter.Tree {
		tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 28, IncludeReservedNetworks: true})
		if err != nil {
			t.Fatal(err)
		}
		return tree
	}
	cityTree, asnTree := newTree("GeoLite2-City"), newTree("GeoLite2-ASN")
	insert := func(cidr, country string, number uint32, org string) {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String(country), "names": mmdbtype.Map{"en": mmdbtype.String(country)}},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(10), "longitude": mmdbtype.Float64(20), "accuracy_radius": mmdbtype.Uint16(50)},
		}
		if err := cityTree.Insert(n, rec); err != nil {
			t.Fatalf("insert %s: %v", cidr, err)
		}
		if err := asnTree.Insert(n, mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(number),
			"autonomous_system_organization": mmdbtype.String(org),
		}); err != nil {
			t.Fatalf("insert %s: %v", cidr, err)
		}
	}
	insert(visitorNet, "DE", 64600, "Residential Broadband")
	for i, a := range truth.Attackers {
		bits := 32
		if a.IP.Is6() {
			bits = 128
		}
		n := uint32(64512 + i/2)
		insert(fmt.Sprintf("%s/%d", a.IP, bits), testCountries[i%len(testCountries)], n, fmt.Sprintf("Test Hosting %d", n))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(tree *mmdbwriter.Tree, name string) string {
		var buf bytes.Buffer
		if _, err := tree.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write(cityTree, "city.mmdb"), write(asnTree, "asn.mmdb")
}

// raiseAlerts runs testdata/rules.yml over evs on event time and returns
// every alert version the engine emits, the open ones last (Flush).
func raiseAlerts(t *testing.T, evs []event.Event) []event.Alert {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Parse(filepath.Join("testdata", "rules.yml"), data)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := enrich.NewLists(nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(rs, rules.EngineConfig{Lists: lists})
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Alert
	for i := range evs {
		out = append(out, eng.Process(&evs[i])...)
	}
	out = append(out, eng.Flush()...)
	for _, id := range []string{"test-auth-fail-burst-ip", "test-sensitive-path-served", "test-agent-external-reply"} {
		if !slices.ContainsFunc(out, func(a event.Alert) bool { return a.Rule == id }) {
			t.Fatalf("rule %s raised no alert on the mixed scenario", id)
		}
	}
	return out
}

// column is one result column: its name and ClickHouse type.
type column struct{ name, typ string }

// result is what a query returned.
type result struct {
	cols []column
	rows [][]any // dereferenced values
}

// runQuery runs sql and reads all rows.
func runQuery(ctx context.Context, conn driver.Conn, sql string) (result, error) {
	var res result
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return res, err
	}
	defer rows.Close()
	cts := rows.ColumnTypes()
	for _, ct := range cts {
		res.cols = append(res.cols, column{ct.Name(), ct.DatabaseTypeName()})
	}
	for rows.Next() {
		ptrs := make([]any, len(cts))
		for i, ct := range cts {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return res, err
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			row[i] = reflect.ValueOf(p).Elem().Interface()
		}
		res.rows = append(res.rows, row)
	}
	return res, rows.Err()
}

// col returns the values of the named column.
func (r result) col(name string) []string {
	i := slices.IndexFunc(r.cols, func(c column) bool { return c.name == name })
	if i < 0 {
		return nil
	}
	out := make([]string, len(r.rows))
	for j, row := range r.rows {
		out[j] = fmt.Sprint(row[i])
	}
	return out
}

// typeClass reduces a ClickHouse type to what a panel cares about.
func typeClass(typ string) string {
	for _, w := range []string{"LowCardinality(", "Nullable("} {
		for strings.HasPrefix(typ, w) {
			typ = strings.TrimSuffix(strings.TrimPrefix(typ, w), ")")
		}
	}
	switch {
	case strings.HasPrefix(typ, "DateTime"):
		return "time"
	case regexp.MustCompile(`^U?Int\d+$`).MatchString(typ):
		return "int"
	case typ == "Bool":
		return "int" // UInt8 in baseline
	case strings.HasPrefix(typ, "Float"):
		return "float"
	case typ == "String", strings.HasPrefix(typ, "FixedString"), strings.HasPrefix(typ, "Enum"):
		return "string"
	case strings.HasPrefix(typ, "Array("):
		return "array"
	}
	return typ
}

// shape is what a query must return: columns as "name:class ..." in order,
// and at least min rows.
type shape struct {
	cols string
	min  int
}

func checkShape(t *testing.T, what string, res result, want shape) {
	t.Helper()
	var got []string
	for _, c := range res.cols {
		got = append(got, c.name+":"+typeClass(c.typ))
	}
	if strings.Join(got, " ") != want.cols {
		var raw []string
		for _, c := range res.cols {
			raw = append(raw, c.name+" "+c.typ)
		}
		t.Errorf("%s: columns\n  %s\nwant\n  %s\n(types: %s)", what, strings.Join(got, " "), want.cols, strings.Join(raw, ", "))
	}
	if len(res.rows) < want.min {
		t.Errorf("%s: %d rows, want at least %d", what, len(res.rows), want.min)
	}
}

// TestOnClickHouse loads the scenario once and runs the dashboards and the
// query library against it.
func TestOnClickHouse(t *testing.T) {
	chtest.ServerDSN(t)
	if testing.Short() {
		t.Skip("loads a generated scenario into ClickHouse")
	}
	start := time.Now()
	s := loadScenario(t)
	t.Logf("loaded %d events and %d alert versions in %s", len(s.events), len(s.alerts), time.Since(start).Round(time.Millisecond))
	t.Run("stored", func(t *testing.T) { testStored(t, s) })
	start = time.Now()
	t.Run("panels", func(t *testing.T) { testPanels(t, s) })
	t.Logf("ran every panel in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	t.Run("queries", func(t *testing.T) { testQueries(t, s) })
	t.Logf("ran every library query in %s", time.Since(start).Round(time.Millisecond))
}

// rangeCtx is a query context over the whole scenario.
func (s *scenario) rangeCtx() queryContext {
	dia := dialectModern
	if s.dialect == store.Baseline {
		dia = dialectBaseline
	}
	return queryContext{
		from:     s.truth.Start,
		to:       s.truth.End,
		interval: 5 * time.Minute,
		vars:     map[string][]string{},
		dialect:  dia,
	}
}

// attacker returns the first attacker of truth with the given attack.
func (s *scenario) attacker(t *testing.T, attack string) gen.Attacker {
	t.Helper()
	for _, a := range s.truth.Attackers {
		if a.Attack == attack {
			return a
		}
	}
	t.Fatalf("the scenario has no %s attacker", attack)
	return gen.Attacker{}
}

// countEvents counts the scenario's events that match.
func (s *scenario) countEvents(match func(*event.Event) bool) int {
	n := 0
	for i := range s.events {
		if match(&s.events[i]) {
			n++
		}
	}
	return n
}

func isFailedLogin(e *event.Event) bool {
	return e.Action == event.ActionLogin && e.Outcome == event.OutcomeFailure
}

// latestAlerts returns the newest version of each alert, by id.
func (s *scenario) latestAlerts() map[string]event.Alert {
	out := map[string]event.Alert{}
	for _, a := range s.alerts {
		out[a.ID] = a
	}
	return out
}

// onlyAttackers checks that addresses holds want's address and no address
// of benign traffic (internal/gen keeps benign users off sensitive paths).
func (s *scenario) onlyAttackers(t *testing.T, what string, addresses []string, want gen.Attacker) {
	t.Helper()
	if !slices.Contains(addresses, addr(want.IP)) {
		t.Errorf("%s: the %s attacker %s is missing from %v", what, want.Attack, want.IP, addresses)
	}
	for _, a := range addresses {
		if !slices.ContainsFunc(s.truth.Attackers, func(at gen.Attacker) bool { return addr(at.IP) == a }) {
			t.Errorf("%s: %s is no attacker", what, a)
		}
	}
}

// addr shows an address as the SQL does: IPv4 without the ::ffff: prefix.
func addr(a netip.Addr) string { return a.Unmap().String() }

func testStored(t *testing.T, s *scenario) {
	ctx := context.Background()
	if n := chtest.Count(t, s.db.Conn, "SELECT count() FROM events"); n != uint64(len(s.events)) {
		t.Fatalf("events table holds %d rows, replay gave %d events", n, len(s.events))
	}
	if n := chtest.Count(t, s.db.Conn, "SELECT uniqExact(id) FROM alerts"); n != uint64(len(s.latestAlerts())) {
		t.Fatalf("alerts table holds %d alerts, the engine raised %d", n, len(s.latestAlerts()))
	}
	res, err := runQuery(ctx, s.db.Conn, "SELECT count() FROM events WHERE geo_country != '' AND asn != 0")
	if err != nil || len(res.rows) != 1 || fmt.Sprint(res.rows[0][0]) == "0" {
		t.Fatalf("no event has geo-IP data (%v): the test databases were not used", err)
	}
}

// panelShapes is what every panel must return on the scenario, by
// dashboard uid and panel title. Every panel must have an entry.
var panelShapes = map[string]shape{
	"vigil-overview/Events":                                {"events:int", 1},
	"vigil-overview/Failed logins":                         {"failed_logins:int", 1},
	"vigil-overview/Source addresses":                      {"addresses:int", 1},
	"vigil-overview/Alerts":                                {"alerts:int", 1},
	"vigil-overview/Events by kind":                        {"time:time event_kind:string events:int", 100},
	"vigil-overview/Events by outcome":                     {"time:time event_outcome:string events:int", 100},
	"vigil-overview/Alerts by severity":                    {"time:time alert_severity:string alerts:int", 3},
	"vigil-overview/Failed logins by program":              {"time:time program:string failures:int", 5},
	"vigil-overview/Busiest addresses":                     {"address:string country:string network:string events:int failures:int kinds:array last_seen:time", 20},
	"vigil-overview/Alerts by rule":                        {"rule:string level:string alerts:int last_fired:time", 3},
	"vigil-authentication/Logins by outcome":               {"time:time login_outcome:string logins:int", 10},
	"vigil-authentication/Failed logins by country":        {"country:string failures:int", 3},
	"vigil-authentication/Failed logins by address":        {"address:string country:string as_number:int network:string failures:int users:int first_seen:time last_seen:time", 10},
	"vigil-authentication/Failed logins by user":           {"user:string failures:int addresses:int countries:int last_seen:time", 10},
	"vigil-authentication/Successful login after failures": {"address:string country:string failures:int first_failure:time first_success:time success_user:string", 1},
	"vigil-authentication/Top networks (ASN)":              {"asn:int network:string failures:int addresses:int users:int", 3},
	"vigil-authentication/Countries per user":              {"user:string countries:int country_list:array logins:int last_login:time", 0},
	"vigil-web/Responses by status class":                  {"time:time status:string responses:int", 50},
	"vigil-web/Top status codes":                           {"status:string responses:int", 3},
	"vigil-web/Sensitive paths answered 2xx":               {"ts:time address:string geo_country:string http_method:string http_path:string http_status:int http_bytes:int user_agent:string", 1},
	"vigil-web/Scanners":                                   {"address:string country:string network:string requests:int not_found:int paths:int agent:string last_seen:time", 1},
	"vigil-web/Top error paths":                            {"http_path:string errors:int addresses:int statuses:array", 5},
	"vigil-alerts/Open":                                    {"open_alerts:int", 1},
	"vigil-alerts/Alerts":                                  {"alerts:int", 1},
	"vigil-alerts/High and critical":                       {"high_or_critical:int", 1},
	"vigil-alerts/Events in alerts":                        {"events:int", 1},
	"vigil-alerts/Alerts over time by rule":                {"time:time rule:string alerts:int", 3},
	"vigil-alerts/Open alerts":                             {"id:string rule_id:string level:string alert_title:string address:string account:string events:int first_event:time last_event:time alert_summary:string", 1},
	"vigil-alerts/Alerts by rule":                          {"rule_id:string level:string alerts:int open:int events:int last_fired:time", 3},
	"vigil-alerts/Alert $alert":                            {"id:string rule_id:string alert_title:string level:string alert_state:string address:string account:string country:string events:int first_event:time last_event:time alert_summary:string", 1},
	"vigil-alerts/Evidence of $alert":                      {"line:string", 1},
}

// resolveVars sets the variables of d the way Grafana does on load:
// custom variables to their stored current value ("All" is every option),
// textboxes to their default, query variables by running their query
// (in order, so that one may use the ones before it) and taking "All" or
// the first value.
func resolveVars(t *testing.T, ctx context.Context, s *scenario, d dashboard, qc queryContext) {
	t.Helper()
	for _, v := range d.Templating.List {
		cur, err := v.currentValues()
		if err != nil {
			t.Fatal(err)
		}
		switch v.Type {
		case "custom":
			if cur == nil {
				for _, o := range v.Options {
					cur = append(cur, o.Value)
				}
			}
		case "textbox":
			cur = []string{v.Query}
		case "query":
			sql, err := expand(v.Query, qc)
			if err != nil {
				t.Fatalf("variable %s: %v", v.Name, err)
			}
			res, err := runQuery(ctx, s.db.Conn, sql)
			if err != nil {
				t.Fatalf("variable %s: %v\n%s", v.Name, err, sql)
			}
			if len(res.cols) != 1 || len(res.rows) == 0 {
				t.Fatalf("variable %s: %d columns, %d rows; want one column and values\n%s", v.Name, len(res.cols), len(res.rows), sql)
			}
			vals := res.col(res.cols[0].name)
			if v.IncludeAll {
				cur = vals
			} else {
				cur = vals[:1]
			}
		}
		qc.vars[v.Name] = cur
	}
}

func testPanels(t *testing.T, s *scenario) {
	ctx := context.Background()
	seen := map[string]bool{}
	for _, d := range mustDashboards(t) {
		qc := s.rangeCtx()
		resolveVars(t, ctx, s, d, qc)
		for _, p := range d.allPanels() {
			key := d.UID + "/" + p.Title
			seen[key] = true
			want, ok := panelShapes[key]
			if !ok {
				t.Errorf("%s: no expected shape in panelShapes", key)
				continue
			}
			for _, tg := range p.Targets {
				sql, err := expand(tg.RawSQL, qc)
				if err != nil {
					t.Errorf("%s: %v", key, err)
					continue
				}
				res, err := runQuery(ctx, s.db.Conn, sql)
				if err != nil {
					t.Errorf("%s: %v\n%s", key, err, sql)
					continue
				}
				checkShape(t, key, res, want)
				checkPanel(t, s, key, res)
			}
		}
	}
	for key := range panelShapes {
		if !seen[key] {
			t.Errorf("panelShapes has %s, which no dashboard has", key)
		}
	}
}

// checkPanel holds some panels' numbers to what the test knows from the
// replayed events and raised alerts.
func checkPanel(t *testing.T, s *scenario, key string, res result) {
	t.Helper()
	one := func() string {
		if len(res.rows) != 1 || len(res.rows[0]) != 1 {
			t.Errorf("%s: want one value, got %v", key, res.rows)
			return ""
		}
		return fmt.Sprint(res.rows[0][0])
	}
	switch key {
	case "vigil-overview/Events":
		if got, want := one(), fmt.Sprint(len(s.events)); got != want {
			t.Errorf("%s = %s, want %s (all kinds selected)", key, got, want)
		}
	case "vigil-overview/Failed logins":
		if got, want := one(), fmt.Sprint(s.countEvents(isFailedLogin)); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	case "vigil-overview/Alerts", "vigil-alerts/Alerts":
		if got, want := one(), fmt.Sprint(len(s.latestAlerts())); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	case "vigil-web/Sensitive paths answered 2xx":
		s.onlyAttackers(t, key, res.col("address"), s.attacker(t, gen.AttackWebSensitiveServed))
	case "vigil-authentication/Successful login after failures":
		a := s.attacker(t, gen.AttackSSHSuccessAfterFailures)
		i := slices.Index(res.col("address"), addr(a.IP))
		if i < 0 {
			t.Errorf("%s: %s (ssh_success_after_failures) is missing from %v", key, a.IP, res.col("address"))
		} else if u := res.col("success_user")[i]; !slices.Contains(a.Compromised, u) {
			t.Errorf("%s: success_user %s, want one of %v", key, u, a.Compromised)
		}
	case "vigil-alerts/Evidence of $alert":
		raw := map[string]bool{}
		for _, e := range s.events {
			raw[e.Raw] = true
		}
		for _, l := range res.col("line") {
			if !raw[l] {
				t.Errorf("%s: evidence line %q is no replayed log line", key, l)
			}
		}
	}
}

// queryCase is how the test runs one library query: its arguments, its
// shape, and what it must contain given the scenario.
type queryCase struct {
	args  map[string]string
	shape shape
	check func(t *testing.T, res result)
}

func testQueries(t *testing.T, s *scenario) {
	ctx := context.Background()
	from := s.truth.Start.Format(time.RFC3339)
	to := s.truth.End.Format(time.RFC3339)
	span := func(extra ...string) map[string]string {
		m := map[string]string{"from": from, "to": to}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	fast := s.attacker(t, gen.AttackSSHBruteforceFast)
	sensitive := s.attacker(t, gen.AttackWebSensitiveServed)
	reply := s.attacker(t, gen.AttackHelpdeskExternalReply)
	success := s.attacker(t, gen.AttackSSHSuccessAfterFailures)
	scan := s.attacker(t, gen.AttackWebScan)
	victim := fast.Users[0]
	var servedAlert event.Alert
	for _, a := range s.latestAlerts() {
		if a.Rule == "test-sensitive-path-served" {
			servedAlert = a
		}
	}
	contains := func(col, want string) func(*testing.T, result) {
		return func(t *testing.T, res result) {
			if !slices.Contains(res.col(col), want) {
				t.Errorf("column %s lacks %q: %v", col, want, res.col(col))
			}
		}
	}
	rowsEqual := func(want int) func(*testing.T, result) {
		return func(t *testing.T, res result) {
			if len(res.rows) != want {
				t.Errorf("%d rows, want %d", len(res.rows), want)
			}
		}
	}
	failed := s.countEvents(isFailedLogin)

	cases := map[string]queryCase{
		"agent_replies_external": {span(), shape{"user:string address:string hostname:string verified:int country:string replies:int first_seen:time last_seen:time", 1},
			contains("user", reply.Compromised[0])},
		"alert_evidence": {map[string]string{"id": servedAlert.ID}, shape{"line:string", 1},
			func(t *testing.T, res result) {
				if got := res.col("line"); !slices.Equal(got, servedAlert.Evidence) {
					t.Errorf("evidence %q, want the alert's %q", got, servedAlert.Evidence)
				}
			}},
		"alerts_by_rule": {span(), shape{"rule_id:string level:string alerts:int open:int events:int last_fired:time", 3},
			func(t *testing.T, res result) {
				got := res.col("rule_id")
				slices.Sort(got)
				want := []string{"test-agent-external-reply", "test-auth-fail-burst-ip", "test-sensitive-path-served"}
				if !slices.Equal(got, want) {
					t.Errorf("rules %v, want %v", got, want)
				}
			}},
		"countries_per_user": {span(), shape{"user:string countries:int country_list:array logins:int addresses:int last_login:time", 1},
			contains("user", success.Compromised[0])},
		"events_by_address": {span("ip", addr(fast.IP)), shape{"ts:time kind:string action:string outcome:string user:string host:string http_method:string http_path:string http_status:int geo_country:string raw:string", fast.Events},
			rowsEqual(s.countEvents(func(e *event.Event) bool { return e.SrcIP == fast.IP }))},
		"failed_logins_by_address": {span(), shape{"address:string country:string as_number:int network:string failures:int users:int first_seen:time last_seen:time", 10},
			contains("address", addr(fast.IP))},
		"failed_logins_for_user": {span("user", victim), shape{"ts:time address:string src_host:string geo_country:string asn:int program:string reason:string auth_method:string raw:string", 1},
			rowsEqual(s.countEvents(func(e *event.Event) bool { return isFailedLogin(e) && e.User == victim }))},
		"open_alerts": {span(), shape{"id:string rule_id:string level:string alert_title:string address:string account:string events:int first_event:time last_event:time alert_summary:string", 1},
			contains("id", servedAlert.ID)},
		"sensitive_paths_2xx": {span(), shape{"ts:time address:string geo_country:string http_host:string http_method:string http_path:string http_status:int http_bytes:int user_agent:string", 1},
			func(t *testing.T, res result) {
				s.onlyAttackers(t, "sensitive_paths_2xx", res.col("address"), sensitive)
			}},
		"success_after_failures": {span("min_failures", "5"), shape{"address:string country:string as_number:int failures:int users_tried:int first_failure:time first_success:time success_user:string", 1},
			func(t *testing.T, res result) {
				i := slices.Index(res.col("address"), addr(success.IP))
				if i < 0 {
					t.Fatalf("%s (ssh_success_after_failures) is missing: %v", success.IP, res.col("address"))
				}
				if u := res.col("success_user")[i]; !slices.Contains(success.Compromised, u) {
					t.Errorf("success_user %s, want one of %v", u, success.Compromised)
				}
			}},
		"top_asns_failed_logins": {span(), shape{"asn:int network:string failures:int addresses:int users:int", 3}, nil},
		"top_countries_failed_logins": {span(), shape{"geo_country:string failures:int addresses:int users:int", 3},
			func(t *testing.T, res result) {
				sum := 0
				for _, f := range res.col("failures") {
					var n int
					fmt.Sscan(f, &n)
					sum += n
				}
				if sum != failed {
					t.Errorf("failures add up to %d, want every failed login: %d", sum, failed)
				}
			}},
		"web_scanners": {span("min_not_found", "20"), shape{"address:string country:string as_number:int requests:int not_found:int paths:int agent:string first_seen:time last_seen:time", 1},
			contains("address", addr(scan.IP))},
	}
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		t.Run(q.Name, func(t *testing.T) {
			c, ok := cases[q.Name]
			if !ok {
				t.Fatalf("no test case for %s", q.Name)
			}
			sql, err := q.Bind(c.args)
			if err != nil {
				t.Fatal(err)
			}
			res, err := runQuery(ctx, s.db.Conn, sql)
			if err != nil {
				t.Fatalf("%v\n%s", err, sql)
			}
			checkShape(t, q.Name, res, c.shape)
			if c.check != nil {
				c.check(t, res)
			}
		})
	}
	for name := range cases {
		if !slices.ContainsFunc(qs, func(q Query) bool { return q.Name == name }) {
			t.Errorf("test case %s has no query", name)
		}
	}
}

// writeAlerts stores every alert version with store.AlertWriter, in the
// order the engine returned them, as the alert pipeline does.
func writeAlerts(t *testing.T, ctx context.Context, dsn string, as []event.Alert) {
	t.Helper()
	w, err := store.NewAlertWriter(store.Config{DSN: dsn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := w.Close(); err != nil {
			t.Errorf("close alert writer: %v", err)
		}
	}()
	for _, a := range as {
		if err := w.WriteAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
}
