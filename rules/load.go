package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/event"
)

// Error is one problem in a rule file. Loading reports every problem at
// once, joined with errors.Join.
type Error struct {
	File string
	Line int
	Rule string // the rule's id, when known
	Msg  string
}

func (e *Error) Error() string {
	if e.Rule == "" {
		return pos(e.File, e.Line) + ": " + e.Msg
	}
	return pos(e.File, e.Line) + ": rule " + e.Rule + ": " + e.Msg
}

func pos(file string, line int) string {
	if line <= 0 {
		return file
	}
	return file + ":" + strconv.Itoa(line)
}

// LoadDir loads every *.yml and *.yaml file of the directory path (not its
// subdirectories), in name order. Errors name the files under path.
func LoadDir(dir string) ([]*Rule, error) {
	return loadFS(os.DirFS(dir), ".", dir)
}

// LoadPath loads the rule file at path, or every rule file of the
// directory at path as LoadDir does.
func LoadPath(path string) ([]*Rule, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	if fi.IsDir() {
		return LoadDir(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rule file: %w", err)
	}
	return Parse(path, data)
}

// LoadFS loads every *.yml and *.yaml file of dir in fsys, in name order.
// It returns the rules that are valid and an error listing every problem
// (each an *Error: file:line: rule id: reason); callers that must refuse a
// broken set check the error.
func LoadFS(fsys fs.FS, dir string) ([]*Rule, error) {
	return loadFS(fsys, dir, dir)
}

func loadFS(fsys fs.FS, dir, display string) ([]*Rule, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read rules directory %s: %w", display, err)
	}
	var sets [][]*Rule
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".yaml")) {
			continue
		}
		data, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("read rule file: %w", err))
			continue
		}
		display := filepath.Join(display, name)
		if display == name || strings.HasPrefix(display, "./") {
			display = strings.TrimPrefix(display, "./")
		}
		rs, err := Parse(display, data)
		if err != nil {
			errs = append(errs, err)
		}
		sets = append(sets, rs)
	}
	rs, err := Merge(sets...)
	if err != nil {
		errs = append(errs, err)
	}
	return rs, errors.Join(errs...)
}

// Merge concatenates rule sets and reports every id defined twice; the
// second definition is dropped.
func Merge(sets ...[]*Rule) ([]*Rule, error) {
	seen := map[string]*Rule{}
	var out []*Rule
	var errs []error
	for _, set := range sets {
		for _, r := range set {
			if first, dup := seen[r.ID]; dup {
				errs = append(errs, &Error{File: r.File, Line: r.Line, Rule: r.ID, Msg: "duplicate id, first defined at " + first.Position()})
				continue
			}
			seen[r.ID] = r
			out = append(out, r)
		}
	}
	return out, errors.Join(errs...)
}

// Parse decodes the rules of one file (one YAML document per rule) named
// file in errors. Rules with problems are left out of the result.
func Parse(file string, data []byte) ([]*Rule, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Rule
	var errs []error
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			msg := yamlLineRe.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "")
			errs = append(errs, &Error{File: file, Line: yamlErrorLine(err), Msg: msg})
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		d := &decoder{file: file}
		r := d.rule(doc.Content[0])
		slices.SortStableFunc(d.errs, func(a, b error) int {
			return cmpLine(a) - cmpLine(b)
		})
		errs = append(errs, d.errs...)
		if len(d.errs) == 0 && r != nil {
			out = append(out, r)
		}
	}
	out, err := Merge(out)
	if err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

var yamlLineRe = regexp.MustCompile(`line (\d+): `)

func cmpLine(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Line
	}
	return 0
}

func yamlErrorLine(err error) int {
	m := yamlLineRe.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

type decoder struct {
	file string
	id   string
	errs []error
}

func (d *decoder) fail(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Rule: d.id, Msg: fmt.Sprintf(format, args...)})
}

var idRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// keysOf lists the keys each kind takes besides the common ones.
var keysOf = map[Kind][]string{
	KindMatch:     {},
	KindThreshold: {"window", "threshold"},
	KindDistinct:  {"window", "field", "threshold"},
	KindSequence:  {"window", "steps"},
	KindFirstSeen: {"field", "learn"},
	KindVelocity:  {"max_kmh", "min_km"},
	KindAbsence:   {"window"},
	KindSQL:       {"query", "every"},
}

var commonKeys = []string{"id", "title", "severity", "description", "tags", "kind", "where", "group_by",
	"cooldown", "summary", "enabled", "tests", "ipv6_prefix"}

var kindKeys = func() map[string]bool {
	m := map[string]bool{}
	for _, ks := range keysOf {
		for _, k := range ks {
			m[k] = true
		}
	}
	return m
}()

func mapping(n *yaml.Node) ([]*yaml.Node, bool) {
	if n.Kind != yaml.MappingNode {
		return nil, false
	}
	return n.Content, true
}

func (d *decoder) rule(n *yaml.Node) *Rule {
	kv, ok := mapping(n)
	if !ok {
		d.fail(n, "a rule is a mapping of keys, got %s", nodeKind(n))
		return nil
	}
	r := &Rule{File: d.file, Line: n.Line, Enabled: true, Cooldown: DefaultCooldown, MaxKmh: DefaultMaxKmh, MinKm: DefaultMinKm}
	vals := map[string]*yaml.Node{}
	keyNodes := map[string]*yaml.Node{}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].Value
		if _, dup := vals[k]; dup {
			d.fail(kv[i], "key %s given twice", k)
		}
		vals[k], keyNodes[k] = kv[i+1], kv[i]
	}
	if v, ok := vals["id"]; ok {
		r.ID = d.str(v, "id")
		d.id = r.ID
		if !idRe.MatchString(r.ID) {
			d.fail(v, "id: %q is not lower-case letters, digits and '-'", r.ID)
		}
	} else {
		d.fail(n, "missing key id")
	}
	if v, ok := vals["kind"]; ok {
		r.Kind = Kind(d.str(v, "kind"))
		if _, ok := keysOf[r.Kind]; !ok {
			d.fail(v, "kind: unknown kind %q (want %s)", r.Kind, kindList())
		}
	} else {
		d.fail(n, "missing key kind")
	}
	allowed := map[string]bool{}
	for _, k := range commonKeys {
		allowed[k] = true
	}
	for _, k := range keysOf[r.Kind] {
		allowed[k] = true
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].Value
		switch {
		case allowed[k]:
		case kindKeys[k] && r.Kind != "":
			d.fail(kv[i], "key %s is not used by kind %s", k, r.Kind)
		default:
			d.fail(kv[i], "unknown key %s", k)
		}
	}
	get := func(k string) *yaml.Node {
		if !allowed[k] {
			return nil
		}
		return vals[k]
	}
	if v := get("title"); v != nil {
		r.Title = d.str(v, "title")
	} else {
		d.fail(n, "missing key title")
	}
	if v := get("severity"); v != nil {
		s, err := event.ParseSeverity(d.str(v, "severity"))
		if err != nil {
			d.fail(v, "severity: %v", err)
		}
		r.Severity = s
	} else {
		d.fail(n, "missing key severity")
	}
	if v := get("description"); v != nil {
		r.Description = d.str(v, "description")
	}
	if v := get("tags"); v != nil {
		r.Tags = d.strs(v, "tags")
	}
	if v := get("where"); v != nil {
		r.Where = d.str(v, "where")
	}
	if v := get("group_by"); v != nil {
		r.GroupBy = d.strs(v, "group_by")
		for _, f := range r.GroupBy {
			if err := checkGroupField(f); err != nil {
				d.fail(v, "group_by: %v", err)
			}
		}
	}
	if v := get("cooldown"); v != nil {
		r.Cooldown = d.duration(v, "cooldown")
	}
	if v := get("summary"); v != nil {
		r.Summary = d.str(v, "summary")
	}
	if v := get("enabled"); v != nil {
		if err := v.Decode(&r.Enabled); err != nil {
			d.fail(v, "enabled: want true or false")
		}
	}
	if v := get("ipv6_prefix"); v != nil {
		r.IPv6Prefix = d.int(v, "ipv6_prefix")
		if r.IPv6Prefix < 1 || r.IPv6Prefix > 128 {
			d.fail(v, "ipv6_prefix: want 1 to 128, got %d", r.IPv6Prefix)
		}
	}
	if v := get("window"); v != nil {
		r.Window = d.duration(v, "window")
		if r.Window <= 0 && len(d.errs) == 0 {
			d.fail(v, "window: must be positive")
		}
	}
	if v := get("threshold"); v != nil {
		r.Threshold = d.int(v, "threshold")
		if r.Threshold < 1 || r.Threshold > 100000 {
			d.fail(v, "threshold: want 1 to 100000, got %d", r.Threshold)
		}
	}
	if v := get("field"); v != nil {
		r.Field = d.strs(v, "field")
		for _, f := range r.Field {
			if err := checkGroupField(f); err != nil {
				d.fail(v, "field: %v", err)
			}
		}
		if r.Kind == KindDistinct && len(r.Field) != 1 {
			d.fail(v, "field: a distinct rule counts one field, got %d", len(r.Field))
		}
	}
	if v := get("learn"); v != nil {
		r.Learn = d.duration(v, "learn")
	}
	if v := get("max_kmh"); v != nil {
		r.MaxKmh = d.float(v, "max_kmh")
	}
	if v := get("min_km"); v != nil {
		r.MinKm = d.float(v, "min_km")
	}
	if v := get("query"); v != nil {
		r.Query = d.str(v, "query")
		if err := checkSQL(r.Query); err != nil {
			d.fail(v, "query: %v", err)
		}
	}
	if v := get("every"); v != nil {
		r.Every = d.duration(v, "every")
		if r.Every < time.Minute {
			d.fail(v, "every: at least 1m, got %s", r.Every)
		}
	}
	if v := get("steps"); v != nil {
		r.Steps = d.steps(v)
	}
	d.required(r, n, vals, allowed)

	// Expressions: compiled once here to check them.
	b := &binding{cache: newPatternCache()}
	if r.Where != "" {
		if _, err := compileExpr(r.Where, b); err != nil {
			d.fail(vals["where"], "where: %v", err)
		}
	}
	for i, s := range r.Steps {
		if _, err := compileExpr(s.Where, b); err != nil {
			d.failLine(s.Line, "steps[%d].where: %v", i, err)
		}
	}
	summary := r.Summary
	if summary == "" {
		summary = "{{.title}}"
	}
	t, err := template.New(r.ID).Option("missingkey=zero").Parse(summary)
	if err != nil {
		d.fail(vals["summary"], "summary: %v", strings.TrimPrefix(err.Error(), "template: "))
	}
	r.summary = t
	for name := range eventFieldMap {
		if strings.Contains(summary, "."+name) {
			r.summaryFields = append(r.summaryFields, name)
		}
	}
	slices.Sort(r.summaryFields)
	if v := get("tests"); v != nil {
		r.Tests = d.tests(v)
	}
	return r
}

func (d *decoder) failLine(line int, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Rule: d.id, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) required(r *Rule, n *yaml.Node, vals map[string]*yaml.Node, allowed map[string]bool) {
	need := func(k string) {
		if allowed[k] && vals[k] == nil {
			d.fail(n, "missing key %s (kind %s)", k, r.Kind)
		}
	}
	switch r.Kind {
	case KindMatch, KindFirstSeen, KindVelocity, KindAbsence, KindThreshold, KindDistinct:
		if vals["where"] == nil {
			d.fail(n, "missing key where (kind %s)", r.Kind)
		}
	}
	switch r.Kind {
	case KindThreshold:
		need("window")
		need("threshold")
	case KindDistinct:
		need("window")
		need("field")
		need("threshold")
	case KindSequence:
		need("window")
		need("steps")
	case KindFirstSeen:
		need("field")
	case KindAbsence:
		need("window")
	case KindSQL:
		need("query")
		need("every")
	case KindVelocity:
		if len(r.GroupBy) == 0 {
			d.fail(n, "missing key group_by (kind velocity groups by the traveller, such as [user])")
		}
		if r.MaxKmh <= 0 || r.MinKm < 0 {
			d.fail(n, "max_kmh must be positive and min_km not negative")
		}
	}
}

func (d *decoder) steps(n *yaml.Node) []Step {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.fail(n, "steps: want a list of {where, count}")
		return nil
	}
	var out []Step
	for i, s := range n.Content {
		kv, ok := mapping(s)
		if !ok {
			d.fail(s, "steps[%d]: want a mapping with where and count", i)
			continue
		}
		st := Step{Count: 1, Line: s.Line}
		for j := 0; j+1 < len(kv); j += 2 {
			switch kv[j].Value {
			case "where":
				st.Where = d.str(kv[j+1], "where")
			case "count":
				st.Count = d.int(kv[j+1], "count")
				if st.Count < 1 || st.Count > 10000 {
					d.fail(kv[j+1], "steps[%d].count: want 1 to 10000, got %d", i, st.Count)
				}
			default:
				d.fail(kv[j], "steps[%d]: unknown key %s", i, kv[j].Value)
			}
		}
		if st.Where == "" {
			d.fail(s, "steps[%d]: missing key where", i)
			continue
		}
		out = append(out, st)
	}
	return out
}

func (d *decoder) tests(n *yaml.Node) []Test {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, "tests: want a list")
		return nil
	}
	var out []Test
	for i, tn := range n.Content {
		kv, ok := mapping(tn)
		if !ok {
			d.fail(tn, "tests[%d]: want a mapping", i)
			continue
		}
		t := Test{Format: "auto", Line: tn.Line}
		hasAlerts, hasEvents := false, false
		for j := 0; j+1 < len(kv); j += 2 {
			v := kv[j+1]
			switch k := kv[j].Value; k {
			case "name":
				t.Name = d.str(v, "name")
			case "format":
				t.Format = d.str(v, "format")
			case "lines":
				t.Lines = d.str(v, "lines")
			case "events":
				hasEvents = true
				if v.Kind != yaml.SequenceNode {
					d.fail(v, "tests[%d].events: want a list of events", i)
					continue
				}
				for k, en := range v.Content {
					ev, err := eventFromYAML(en)
					if err != nil {
						d.fail(en, "tests[%d].events[%d]: %v", i, k, err)
						continue
					}
					t.Events = append(t.Events, ev)
				}
			case "set":
				set, err := setFromYAML(v)
				if err != nil {
					d.fail(v, "tests[%d].set: %v", i, err)
				}
				t.Set = set
			case "alerts":
				hasAlerts = true
				t.Alerts = d.expected(v, i)
			default:
				d.fail(kv[j], "tests[%d]: unknown key %s", i, k)
			}
		}
		if t.Name == "" {
			t.Name = fmt.Sprintf("test %d", i+1)
		}
		if !hasAlerts {
			d.fail(tn, "tests[%d]: missing key alerts ([] when none are expected)", i)
		}
		if t.Lines == "" && len(t.Events) == 0 && !hasEvents {
			d.fail(tn, "tests[%d]: give lines or events", i)
		}
		out = append(out, t)
	}
	return out
}

func (d *decoder) expected(n *yaml.Node, ti int) []ExpectedAlert {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, "tests[%d].alerts: want a list", ti)
		return nil
	}
	out := []ExpectedAlert{}
	for i, an := range n.Content {
		kv, ok := mapping(an)
		if !ok {
			d.fail(an, "tests[%d].alerts[%d]: want a mapping", ti, i)
			continue
		}
		a := ExpectedAlert{Line: an.Line}
		for j := 0; j+1 < len(kv); j += 2 {
			v := kv[j+1]
			switch k := kv[j].Value; k {
			case "group":
				if err := v.Decode(&a.Group); err != nil {
					d.fail(v, "tests[%d].alerts[%d].group: want a mapping of strings", ti, i)
				}
			case "count":
				var c uint64
				if err := v.Decode(&c); err != nil {
					d.fail(v, "tests[%d].alerts[%d].count: want a number", ti, i)
				}
				a.Count = &c
			case "severity":
				a.Severity = d.str(v, k)
			case "user":
				s := d.str(v, k)
				a.User = &s
			case "src_ip":
				s := d.str(v, k)
				a.SrcIP = &s
			case "summary":
				s := d.str(v, k)
				a.Summary = &s
			default:
				d.fail(kv[j], "tests[%d].alerts[%d]: unknown key %s (want group, count, severity, user, src_ip, summary)", ti, i, k)
			}
		}
		out = append(out, a)
	}
	return out
}

// eventFromYAML decodes an event given field by field, strictly, through
// its JSON form (the canonical names are the JSON keys).
func eventFromYAML(n *yaml.Node) (event.Event, error) {
	var ev event.Event
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return ev, errors.New("want a mapping of event fields")
	}
	b, err := json.Marshal(jsonable(m))
	if err != nil {
		return ev, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return ev, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return ev, nil
}

func setFromYAML(n *yaml.Node) ([]byte, error) {
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return nil, errors.New("want a mapping of event fields")
	}
	b, err := json.Marshal(jsonable(m))
	if err != nil {
		return nil, err
	}
	var ev event.Event
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return b, nil
}

// jsonable converts YAML-decoded values so that encoding/json takes them:
// nested maps with interface keys and timestamps.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = jsonable(x)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case []any:
		for i, x := range v {
			v[i] = jsonable(x)
		}
		return v
	case time.Time:
		return v.Format(time.RFC3339Nano)
	}
	return v
}

func (d *decoder) str(n *yaml.Node, key string) string {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, "%s: want a string, got %s", key, nodeKind(n))
		return ""
	}
	return n.Value
}

func (d *decoder) strs(n *yaml.Node, key string) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			out = append(out, d.str(c, key))
		}
		return out
	}
	d.fail(n, "%s: want a list of strings, got %s", key, nodeKind(n))
	return nil
}

func (d *decoder) int(n *yaml.Node, key string) int {
	var v int
	if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil {
		d.fail(n, "%s: want a whole number, got %q", key, n.Value)
	}
	return v
}

func (d *decoder) float(n *yaml.Node, key string) float64 {
	var v float64
	if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil {
		d.fail(n, "%s: want a number, got %q", key, n.Value)
	}
	return v
}

func (d *decoder) duration(n *yaml.Node, key string) time.Duration {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, "%s: want a duration such as 90s, 15m, 4h or 14d, got %s", key, nodeKind(n))
		return 0
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		d.fail(n, "%s: %v", key, err)
	}
	return v
}

// ParseDuration parses a Go duration with one extension: a leading number
// of days, d (14d, 1d12h).
func ParseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("bad duration %q (want such as 90s, 15m, 4h or 14d)", s)
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return 0, bad
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, bad
	}
	return days + v, nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

func kindList() string {
	var s []string
	for _, k := range Kinds() {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// notGroupable are the event fields that make no group.
var notGroupable = []string{"ts", "raw", "attrs"}

func checkGroupField(f string) error {
	if name, ok := strings.CutPrefix(f, "attrs."); ok && name != "" {
		return nil
	}
	if _, ok := eventFieldMap[f]; !ok {
		return fmt.Errorf("unknown field %q", f)
	}
	if slices.Contains(notGroupable, f) {
		return fmt.Errorf("field %q cannot be grouped on", f)
	}
	return nil
}
