package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/secret"
)

// The decoder walks the yaml.Node tree itself instead of calling
// Node.Decode: that way every value keeps its line, an unknown key or a
// wrong type is reported with its key path and decoding goes on, so that
// one pass finds every problem.

// position is where a value sits in the file.
type position struct{ line, col int }

// maxNodes bounds the values one file may expand to: aliases make a small
// file expand to a huge tree ("billion laughs").
const maxNodes = 1_000_000

// maxDepth bounds nesting; the schema is far shallower.
const maxDepth = 32

type decoder struct {
	errs      *errorList
	pos       map[string]position // key path -> place of its value
	set       map[string]bool     // key paths given a non-null value
	lookupEnv func(string) (string, bool)
	nodes     int
	depth     int
	tooBig    bool
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
	secretType   = reflect.TypeFor[secret.Secret]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	d.errs.add(n.Line, n.Column, key, format, args...)
}

// joinKey appends a mapping key to a key path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a node's kind for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// decode sets v from n. Where n is null, v keeps its default.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if d.tooBig {
		return
	}
	if d.nodes++; d.nodes > maxNodes {
		d.tooBig = true
		d.fail(n, path, "the file expands to more than %d values (aliases?)", maxNodes)
		return
	}
	if d.depth >= maxDepth {
		d.tooBig = true
		d.fail(n, path, "nested too deeply")
		return
	}
	d.depth++
	defer func() { d.depth-- }()
	// An aliased value is placed where the alias is used.
	if _, ok := d.pos[path]; !ok {
		d.pos[path] = position{n.Line, n.Column}
	}
	if use := n; n.Kind == yaml.AliasNode {
		for n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				d.fail(n, path, "unknown alias")
				return
			}
			n = n.Alias
		}
		if n.Kind == yaml.ScalarNode {
			// A problem with an aliased scalar is reported where it is used.
			at := *n
			at.Line, at.Column = use.Line, use.Column
			n = &at
		}
	}
	if isNull(n) {
		return
	}
	d.set[path] = true

	switch v.Type() {
	case secretType:
		if s, ok := d.scalar(n, path, "a string"); ok {
			if val, ok := d.expand(n, path, s); ok {
				v.Set(reflect.ValueOf(secret.New(val)))
			}
		}
		return
	case durationType:
		if s, ok := d.scalar(n, path, "a duration (300ms, 30s, 5m, 2h, 14d)"); ok {
			dur, err := ParseDuration(s)
			if err != nil {
				d.fail(n, path, "%v", err)
				return
			}
			v.SetInt(int64(dur))
		}
		return
	case byteSizeType:
		if s, ok := d.scalar(n, path, "a size (64KiB, 10MiB, 1GiB)"); ok {
			b, err := ParseByteSize(s)
			if err != nil {
				d.fail(n, path, "%v", err)
				return
			}
			v.SetInt(int64(b))
		}
		return
	case timeType:
		if s, ok := d.scalar(n, path, "a time (2026-12-31T18:00:00Z)"); ok {
			t, err := parseTime(s)
			if err != nil {
				d.fail(n, path, "%v", err)
				return
			}
			v.Set(reflect.ValueOf(t))
		}
		return
	}

	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping, got %s", describe(n))
			return
		}
		d.fillStruct(n, path, v)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping, got %s", describe(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		d.fillMap(n, path, m)
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "true or false"); ok {
			switch s {
			case "true", "True", "TRUE":
				v.SetBool(true)
			case "false", "False", "FALSE":
				v.SetBool(false)
			default:
				d.fail(n, path, "want true or false, got %s", describe(n))
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if s, ok := d.scalar(n, path, "an integer"); ok {
			i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
			if err != nil || v.OverflowInt(i) {
				d.fail(n, path, "want an integer, got %s", describe(n))
				return
			}
			v.SetInt(i)
		}
	default:
		// Only reachable if a Config field has a type this decoder does not
		// know; a test decodes every field.
		d.fail(n, path, "cannot decode into %s", v.Type())
	}
}

// scalar returns the text of a scalar node, or reports that it wanted one.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want %s, got %s", want, describe(n))
		return "", false
	}
	return n.Value, true
}

// pairs calls fn for each key and value of mapping n, after the mappings
// merged in with "<<" (whose keys the mapping's own keys override). It
// reports keys that are not strings and keys given twice.
func (d *decoder) pairs(n *yaml.Node, path string, merge func(*yaml.Node), fn func(key *yaml.Node, val *yaml.Node)) {
	// Merges of merges visit mappings without decoding a value, so they
	// are counted here too: nested "<<: [*a, *a]" doubles at every level.
	if d.tooBig {
		return
	}
	if d.depth >= maxDepth {
		d.tooBig = true
		d.fail(n, path, "nested too deeply")
		return
	}
	if d.nodes += 1 + len(n.Content)/2; d.nodes > maxNodes {
		d.tooBig = true
		d.fail(n, path, "the file expands to more than %d values (aliases?)", maxNodes)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.merge(val, path, merge)
		}
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.fail(k, path, "a key must be a string, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, joinKey(path, k.Value), "key given twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		fn(k, val)
	}
}

// merge applies a "<<" value: a mapping, an alias of one, or a list of them.
func (d *decoder) merge(n *yaml.Node, path string, apply func(*yaml.Node)) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		apply(n)
	case yaml.SequenceNode:
		// Earlier mappings win over later ones, so apply in reverse.
		for i := len(n.Content) - 1; i >= 0; i-- {
			m := n.Content[i]
			for m.Kind == yaml.AliasNode && m.Alias != nil {
				m = m.Alias
			}
			if m.Kind != yaml.MappingNode {
				d.fail(m, path, "<< merges mappings, got %s", describe(m))
				continue
			}
			apply(m)
		}
	default:
		d.fail(n, path, "<< merges mappings, got %s", describe(n))
	}
}

func (d *decoder) fillStruct(n *yaml.Node, path string, v reflect.Value) {
	if d.depth >= maxDepth {
		d.tooBig = true
		d.fail(n, path, "nested too deeply")
		return
	}
	d.depth++
	defer func() { d.depth-- }()
	fields := fieldsOf(v.Type())
	d.pairs(n, path, func(m *yaml.Node) { d.fillStruct(m, path, v) }, func(k, val *yaml.Node) {
		key := joinKey(path, k.Value)
		if path == "" && strings.HasPrefix(k.Value, "x-") {
			// Top-level x- keys hold anchors for the rest of the file, as in
			// docker-compose files.
			return
		}
		f, ok := fields.index[k.Value]
		if !ok {
			d.fail(k, key, "unknown key%s", suggest(k.Value, fields.names))
			return
		}
		d.decode(val, key, v.FieldByIndex(f))
	})
}

func (d *decoder) fillMap(n *yaml.Node, path string, m reflect.Value) {
	if d.depth >= maxDepth {
		d.tooBig = true
		d.fail(n, path, "nested too deeply")
		return
	}
	d.depth++
	defer func() { d.depth-- }()
	kt, vt := m.Type().Key(), m.Type().Elem()
	d.pairs(n, path, func(mm *yaml.Node) { d.fillMap(mm, path, m) }, func(k, val *yaml.Node) {
		key := joinKey(path, k.Value)
		elem := reflect.New(vt).Elem()
		d.decode(val, key, elem)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(kt), elem)
	})
}

// expand replaces ${NAME} in a secret's text with the environment variable
// NAME; $$ is a literal $, and any other $ stays as it is. Messages never
// quote the text: it is a secret.
func (d *decoder) expand(n *yaml.Node, path, s string) (string, bool) {
	if !strings.Contains(s, "$") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				d.fail(n, path, "unterminated ${ (write $$ for a literal $)")
				return "", false
			}
			name := s[i+2 : i+2+end]
			if !validEnvName(name) {
				d.fail(n, path, "${...} must hold an environment variable name (letters, digits, _)")
				return "", false
			}
			val, ok := d.lookupEnv(name)
			if !ok {
				d.fail(n, path, "environment variable %s is not set", name)
				return "", false
			}
			b.WriteString(val)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q (want RFC 3339, 2026-12-31T18:00:00Z, or a date, 2026-12-31, both UTC unless an offset is given)", s)
}

// structFields is the YAML view of a struct type.
type structFields struct {
	index map[string][]int // YAML key -> field index path
	names []string         // YAML keys in field order
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	sf := &structFields{index: make(map[string][]int)}
	collectFields(t, nil, sf)
	fieldCache.Store(t, sf)
	return sf
}

func collectFields(t reflect.Type, prefix []int, sf *structFields) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		idx := append(append([]int(nil), prefix...), i)
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			collectFields(f.Type, idx, sf)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		sf.index[name] = idx
		sf.names = append(sf.names, name)
	}
}

// suggest returns ` (did you mean "x"?)` for the known key closest to key,
// or "" when none is close.
func suggest(key string, known []string) string {
	best, bestDist := "", 1<<30
	for _, k := range known {
		if dist := editDistance(strings.ToLower(key), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best == "" || bestDist > 2 || bestDist > len(best)/3+1 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
