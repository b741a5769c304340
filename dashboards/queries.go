package dashboards

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Query is one query of the analyst library (queries/NAME.sql).
type Query struct {
	Name        string  // file name without .sql: "failed_logins_for_user"
	Title       string  // first header line, without its final period
	Description string  // the rest of the header before "Parameters:", lines joined
	Params      []Param // in the order the header declares them
	SQL         string  // the whole file, header included

	header, body string // SQL split where the header comment ends
}

// Param is one parameter a query declares in its header.
type Param struct {
	Name string // as in {name:Type}
	Type string // String, DateTime, Date, UInt8 ... UInt64, Int8 ... Int64
	Doc  string // what to pass
}

// placeholder matches a server-side query parameter, {name:Type}.
var placeholder = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*):([A-Za-z][A-Za-z0-9]*)\}`)

// paramLine matches a header line declaring a parameter.
var paramLine = regexp.MustCompile(`^\{([A-Za-z_][A-Za-z0-9_]*):([A-Za-z][A-Za-z0-9]*)\}\s+(\S.*)$`)

// paramTypes are the types Bind knows how to write as literals.
var paramTypes = map[string]int{
	"String": 0, "DateTime": 0, "Date": 0,
	"UInt8": 8, "UInt16": 16, "UInt32": 32, "UInt64": 64,
	"Int8": 8, "Int16": 16, "Int32": 32, "Int64": 64,
}

// Queries returns the analyst query library, sorted by name. It fails if a
// file's header is malformed or its placeholders and declared parameters
// disagree.
func Queries() ([]Query, error) {
	return loadQueries(Files, "queries")
}

// QueryByName returns the library query called name.
func QueryByName(name string) (Query, error) {
	qs, err := Queries()
	if err != nil {
		return Query{}, err
	}
	for _, q := range qs {
		if q.Name == name {
			return q, nil
		}
	}
	names := make([]string, len(qs))
	for i, q := range qs {
		names[i] = q.Name
	}
	return Query{}, fmt.Errorf("no query %q (have %s)", name, strings.Join(names, ", "))
}

func loadQueries(fsys fs.FS, dir string) ([]Query, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var qs []Query
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		q, err := ParseQuery(strings.TrimSuffix(path.Base(f), ".sql"), string(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		qs = append(qs, q)
	}
	return qs, nil
}

// ParseQuery reads a query file: a header of "--" comment lines, then the
// SQL. The header's first line is the title; the lines after it, up to a
// line "Parameters:", describe the query; after that line each parameter is
// declared as "{name:Type} what to pass". Every parameter the SQL uses must
// be declared with the same type, and every declared one must be used.
func ParseQuery(name, text string) (Query, error) {
	q := Query{Name: name, SQL: text}
	var desc []string
	inParams := false
	lines := strings.Split(text, "\n")
	n := 0
	for ; n < len(lines); n++ {
		ln := strings.TrimSpace(lines[n])
		if !strings.HasPrefix(ln, "--") {
			break
		}
		c := strings.TrimSpace(strings.TrimPrefix(ln, "--"))
		switch {
		case q.Title == "":
			if c == "" {
				return q, fmt.Errorf("line %d: the header must start with a title", n+1)
			}
			q.Title = strings.TrimSuffix(c, ".")
		case strings.EqualFold(c, "Parameters:"):
			inParams = true
		case inParams && c != "":
			m := paramLine.FindStringSubmatch(c)
			if m == nil {
				return q, fmt.Errorf("line %d: want a parameter as {name:Type} and what to pass, got %q", n+1, c)
			}
			if _, ok := paramTypes[m[2]]; !ok {
				return q, fmt.Errorf("line %d: parameter %s: unsupported type %s", n+1, m[1], m[2])
			}
			if slices.ContainsFunc(q.Params, func(p Param) bool { return p.Name == m[1] }) {
				return q, fmt.Errorf("line %d: parameter %s declared twice", n+1, m[1])
			}
			q.Params = append(q.Params, Param{Name: m[1], Type: m[2], Doc: m[3]})
		case !inParams && c != "":
			desc = append(desc, c)
		}
	}
	if q.Title == "" {
		return q, fmt.Errorf("no header comment (want -- Title. on the first line)")
	}
	q.Description = strings.Join(desc, " ")
	q.header = strings.Join(lines[:n], "\n") + "\n"
	body := strings.Join(lines[n:], "\n")
	q.body = body
	if strings.TrimSpace(body) == "" {
		return q, fmt.Errorf("no SQL after the header")
	}
	used := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(body, -1) {
		i := slices.IndexFunc(q.Params, func(p Param) bool { return p.Name == m[1] })
		if i < 0 {
			return q, fmt.Errorf("{%s:%s} is not declared in the header's parameters", m[1], m[2])
		}
		if q.Params[i].Type != m[2] {
			return q, fmt.Errorf("{%s:%s}: declared as %s", m[1], m[2], q.Params[i].Type)
		}
		used[m[1]] = true
	}
	for _, p := range q.Params {
		if !used[p.Name] {
			return q, fmt.Errorf("parameter %s is declared but not used", p.Name)
		}
	}
	return q, nil
}

// Bind returns the query's SQL with every {name:Type} after the header
// replaced by a literal of args[name], for servers and clients without query parameters
// (ClickHouse before 19.x, or a driver's plain Query). Values are checked
// against the type: numbers must parse, DateTime takes RFC 3339 or
// "2006-01-02 15:04:05" (read as UTC) and Date "2006-01-02"; strings are
// quoted and escaped. A missing or unknown argument is an error. The
// trailing semicolon, if any, is dropped.
func (q Query) Bind(args map[string]string) (string, error) {
	lits := make(map[string]string, len(q.Params))
	for _, p := range q.Params {
		v, ok := args[p.Name]
		if !ok {
			return "", fmt.Errorf("query %s: missing parameter %s (%s)", q.Name, p.Name, p.Doc)
		}
		lit, err := literal(p.Type, v)
		if err != nil {
			return "", fmt.Errorf("query %s: parameter %s: %w", q.Name, p.Name, err)
		}
		lits[p.Name] = lit
	}
	for name := range args {
		if _, ok := lits[name]; !ok {
			return "", fmt.Errorf("query %s: unknown parameter %s", q.Name, name)
		}
	}
	body := placeholder.ReplaceAllStringFunc(q.body, func(s string) string {
		return lits[placeholder.FindStringSubmatch(s)[1]]
	})
	body = strings.TrimSuffix(strings.TrimSpace(body), ";")
	return q.header + strings.TrimSpace(body), nil
}

// literal writes v as a ClickHouse literal of type typ.
func literal(typ, v string) (string, error) {
	switch typ {
	case "String":
		return Quote(v), nil
	case "DateTime":
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			t, err = time.Parse(time.DateTime, v)
		}
		if err != nil {
			return "", fmt.Errorf("%q is not a time (want RFC 3339 or %q)", v, time.DateTime)
		}
		return fmt.Sprintf("toDateTime(%d)", t.Unix()), nil
	case "Date":
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return "", fmt.Errorf("%q is not a date (want %q)", v, time.DateOnly)
		}
		return fmt.Sprintf("toDate('%s')", t.Format(time.DateOnly)), nil
	}
	bits, ok := paramTypes[typ]
	if !ok {
		return "", fmt.Errorf("unsupported type %s", typ)
	}
	if strings.HasPrefix(typ, "UInt") {
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil {
			return "", fmt.Errorf("%q is not a %s", v, typ)
		}
		return strconv.FormatUint(n, 10), nil
	}
	n, err := strconv.ParseInt(v, 10, bits)
	if err != nil {
		return "", fmt.Errorf("%q is not a %s", v, typ)
	}
	return strconv.FormatInt(n, 10), nil
}

// Quote returns s as a ClickHouse string literal: in single quotes, with
// backslash and single quote escaped by a backslash.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
