package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// No Go ClickHouse SQL parser could be fetched through the module proxy,
// so this file holds a small one for the statement shapes the migrations
// use: CREATE TABLE (columns, skip indexes, ENGINE, PARTITION BY, ORDER BY,
// TTL, SETTINGS) and CREATE MATERIALIZED VIEW ... TO ... AS SELECT. It
// checks the syntax, that every type, codec, index type and function is one
// the dialect's server knows, that expressions name existing columns, and
// that each view's SELECT yields exactly its target table's columns. The
// baseline DDL also runs on the real 18.16 server in TestMigrateIdempotent,
// which keeps this checker honest.

type token struct {
	kind byte // 'i' identifier, 'n' number, 's' string, 'p' punctuation
	text string
}

func tokenize(sql string) ([]token, error) {
	var toks []token
	r := []rune(sql)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '-' && i+1 < len(r) && r[i+1] == '-':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case unicode.IsLetter(c) || c == '_':
			j := i
			for j < len(r) && (unicode.IsLetter(r[j]) || unicode.IsDigit(r[j]) || r[j] == '_') {
				j++
			}
			toks = append(toks, token{'i', string(r[i:j])})
			i = j
		case c == '`':
			j := i + 1
			for j < len(r) && r[j] != '`' {
				j++
			}
			if j == len(r) {
				return nil, fmt.Errorf("unterminated identifier at %d", i)
			}
			toks = append(toks, token{'i', string(r[i+1 : j])})
			i = j + 1
		case unicode.IsDigit(c):
			j := i
			for j < len(r) && (unicode.IsDigit(r[j]) || r[j] == '.') {
				j++
			}
			toks = append(toks, token{'n', string(r[i:j])})
			i = j
		case c == '\'':
			j := i + 1
			for j < len(r) && r[j] != '\'' {
				if r[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(r) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			toks = append(toks, token{'s', string(r[i+1 : j])})
			i = j + 1
		case strings.ContainsRune("(),=.;+-*/<>", c):
			toks = append(toks, token{'p', string(c)})
			i++
		default:
			return nil, fmt.Errorf("unexpected character %q at %d", c, i)
		}
	}
	return toks, nil
}

// grammar lists what a dialect's server accepts.
type grammar struct {
	types, codecs, indexTypes, functions, settings []string
}

var (
	baselineGrammar = grammar{
		types:     []string{"DateTime", "String", "UInt8", "UInt16", "UInt32", "UInt64", "Float64", "FixedString", "Enum8", "Nested", "Array", "AggregateFunction"},
		functions: []string{"toYYYYMMDD", "toYYYYMM", "toStartOfHour", "toStartOfMinute", "countState", "uniqState"},
		settings:  []string{"index_granularity"},
	}
	modernGrammar = grammar{
		types: []string{"DateTime", "DateTime64", "String", "UInt8", "UInt16", "UInt32", "UInt64", "Float64", "FixedString",
			"Enum8", "Array", "AggregateFunction", "SimpleAggregateFunction", "LowCardinality", "IPv6", "Bool", "Map"},
		codecs:     []string{"Delta", "ZSTD", "T64", "LZ4", "DoubleDelta", "Gorilla"},
		indexTypes: []string{"bloom_filter", "tokenbf_v1", "ngrambf_v1", "minmax", "set"},
		functions:  []string{"toYYYYMMDD", "toYYYYMM", "toStartOfHour", "toStartOfMinute", "toDateTime", "lower", "count", "uniqState", "CAST"},
		settings:   []string{"index_granularity", "ttl_only_drop_parts"},
	}
	clauseWords = []string{"ENGINE", "PARTITION", "ORDER", "TTL", "SETTINGS", "PRIMARY", "FROM", "WHERE", "GROUP", "AS"}
	exprWords   = []string{"INTERVAL", "DAY", "DELETE", "AND", "OR", "NOT", "String", "UInt64"}
)

type parser struct {
	toks   []token
	pos    int
	g      grammar
	tables map[string][]string // table -> columns, filled as statements are parsed
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{}
}

func (p *parser) next() token { t := p.peek(); p.pos++; return t }

func (p *parser) expect(texts ...string) error {
	for _, s := range texts {
		if t := p.next(); !strings.EqualFold(t.text, s) {
			return fmt.Errorf("want %q, got %q at token %d", s, t.text, p.pos-1)
		}
	}
	return nil
}

func (p *parser) ident() (string, error) {
	t := p.next()
	if t.kind != 'i' {
		return "", fmt.Errorf("want an identifier, got %q at token %d", t.text, p.pos-1)
	}
	return t.text, nil
}

// typ parses a column type.
func (p *parser) typ() error {
	name, err := p.ident()
	if err != nil {
		return err
	}
	if !slices.Contains(p.g.types, name) {
		return fmt.Errorf("type %s is not in this dialect", name)
	}
	if p.peek().text != "(" {
		return nil
	}
	p.next()
	for {
		t := p.peek()
		switch {
		case t.kind == 'n':
			p.next()
		case t.kind == 's':
			p.next()
			if p.peek().text == "=" {
				p.next()
				if n := p.next(); n.kind != 'n' {
					return fmt.Errorf("enum value %q", n.text)
				}
			}
		case t.kind == 'i' && (name == "AggregateFunction" || name == "SimpleAggregateFunction") && p.peek().text != "" &&
			!slices.Contains(p.g.types, t.text):
			p.next() // the aggregate function's name
		case t.kind == 'i' && name == "Nested":
			p.next()
			if err := p.typ(); err != nil {
				return err
			}
		case t.kind == 'i':
			if err := p.typ(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("bad type argument %q", t.text)
		}
		switch t := p.next(); t.text {
		case ",":
		case ")":
			return nil
		default:
			return fmt.Errorf("want , or ) in type %s, got %q", name, t.text)
		}
	}
}

// expr consumes tokens up to a clause keyword, ',' or ')' at depth 0 and
// checks functions and column names.
func (p *parser) expr(cols []string, stop ...string) error {
	depth := 0
	start := p.pos
	for {
		t := p.peek()
		if t.text == "" || (depth == 0 && (t.text == "," || t.text == ")" || t.text == ";" ||
			(t.kind == 'i' && (slices.Contains(clauseWords, strings.ToUpper(t.text)) && !slices.Contains(exprWords, t.text) || slices.Contains(stop, t.text))))) {
			if p.pos == start {
				return fmt.Errorf("empty expression at token %d", p.pos)
			}
			return nil
		}
		p.next()
		switch {
		case t.text == "(":
			depth++
		case t.text == ")":
			depth--
		case t.kind == 'i' && p.peek().text == "(":
			if !slices.Contains(p.g.functions, t.text) {
				return fmt.Errorf("function %s is not in this dialect's list", t.text)
			}
		case t.kind == 'i' && !slices.Contains(exprWords, t.text) && !strings.EqualFold(t.text, "AS"):
			if cols != nil && !slices.Contains(cols, t.text) {
				return fmt.Errorf("unknown column %s", t.text)
			}
		}
	}
}

func (p *parser) createTable() error {
	name, err := p.ident()
	if err != nil {
		return err
	}
	if err := p.expect("("); err != nil {
		return err
	}
	var cols []string
	var indexes [][2]int // token ranges of index expressions, checked once all columns are known
	for {
		if strings.EqualFold(p.peek().text, "INDEX") {
			p.next()
			if _, err := p.ident(); err != nil {
				return err
			}
			from := p.pos
			if err := p.expr(nil, "TYPE"); err != nil {
				return err
			}
			indexes = append(indexes, [2]int{from, p.pos})
			if err := p.expect("TYPE"); err != nil {
				return err
			}
			it, err := p.ident()
			if err != nil {
				return err
			}
			if !slices.Contains(p.g.indexTypes, it) {
				return fmt.Errorf("index type %s is not in this dialect", it)
			}
			if p.peek().text == "(" {
				if err := p.skipParens(); err != nil {
					return err
				}
			}
			if err := p.expect("GRANULARITY"); err != nil {
				return err
			}
			if t := p.next(); t.kind != 'n' {
				return fmt.Errorf("granularity %q", t.text)
			}
		} else {
			col, err := p.ident()
			if err != nil {
				return err
			}
			if slices.Contains(cols, col) {
				return fmt.Errorf("column %s twice", col)
			}
			cols = append(cols, col)
			if err := p.typ(); err != nil {
				return fmt.Errorf("column %s: %w", col, err)
			}
			if strings.EqualFold(p.peek().text, "CODEC") {
				p.next()
				if err := p.codecs(); err != nil {
					return fmt.Errorf("column %s: %w", col, err)
				}
			}
		}
		if t := p.next(); t.text == ")" {
			break
		} else if t.text != "," {
			return fmt.Errorf("want , or ) after a column, got %q", t.text)
		}
	}
	end := p.pos
	for _, r := range indexes {
		sub := &parser{toks: p.toks[r[0]:r[1]], g: p.g}
		if err := sub.expr(cols); err != nil {
			return fmt.Errorf("index: %w", err)
		}
	}
	p.pos = end
	if err := p.expect("ENGINE", "="); err != nil {
		return err
	}
	if _, err := p.ident(); err != nil {
		return err
	}
	if p.peek().text == "(" {
		if err := p.skipParens(); err != nil {
			return err
		}
	}
	for p.peek().text != "" && p.peek().text != ";" {
		switch kw := strings.ToUpper(p.next().text); kw {
		case "PARTITION", "ORDER":
			if err := p.expect("BY"); err != nil {
				return err
			}
			if err := p.expr(cols); err != nil {
				return fmt.Errorf("%s BY: %w", kw, err)
			}
		case "TTL":
			if err := p.expr(cols); err != nil {
				return fmt.Errorf("TTL: %w", err)
			}
		case "SETTINGS":
			for {
				k, err := p.ident()
				if err != nil {
					return err
				}
				if !slices.Contains(p.g.settings, k) {
					return fmt.Errorf("setting %s is not in this dialect", k)
				}
				if err := p.expect("="); err != nil {
					return err
				}
				p.next()
				if p.peek().text != "," {
					break
				}
				p.next()
			}
		default:
			return fmt.Errorf("unexpected %q after the columns", kw)
		}
	}
	p.tables[name] = cols
	return nil
}

func (p *parser) codecs() error {
	if err := p.expect("("); err != nil {
		return err
	}
	for {
		c, err := p.ident()
		if err != nil {
			return err
		}
		if !slices.Contains(p.g.codecs, c) {
			return fmt.Errorf("codec %s is not in this dialect", c)
		}
		if p.peek().text == "(" {
			if err := p.skipParens(); err != nil {
				return err
			}
		}
		if t := p.next(); t.text == ")" {
			return nil
		} else if t.text != "," {
			return fmt.Errorf("codec list: got %q", t.text)
		}
	}
}

func (p *parser) skipParens() error {
	depth := 0
	for {
		t := p.next()
		switch t.text {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return nil
			}
		case "":
			return fmt.Errorf("unbalanced parentheses")
		}
	}
}

func (p *parser) createView() error {
	if _, err := p.ident(); err != nil {
		return err
	}
	if err := p.expect("TO"); err != nil {
		return err
	}
	target, err := p.ident()
	if err != nil {
		return err
	}
	want, ok := p.tables[target]
	if !ok {
		return fmt.Errorf("view target %s is not created before it", target)
	}
	if err := p.expect("AS", "SELECT"); err != nil {
		return err
	}
	// Read the SELECT list first as token ranges: the source table comes after it.
	type item struct {
		from, to int
		alias    string
	}
	var items []item
	for {
		from := p.pos
		if err := p.expr(nil, "FROM"); err != nil {
			return err
		}
		it := item{from: from, to: p.pos}
		if strings.EqualFold(p.peek().text, "AS") {
			p.next()
			if it.alias, err = p.ident(); err != nil {
				return err
			}
		} else if it.to-it.from == 1 {
			it.alias = p.toks[from].text
		}
		items = append(items, it)
		if p.peek().text != "," {
			break
		}
		p.next()
	}
	if err := p.expect("FROM"); err != nil {
		return err
	}
	src, err := p.ident()
	if err != nil {
		return err
	}
	cols, ok := p.tables[src]
	if !ok {
		return fmt.Errorf("view source %s is unknown", src)
	}
	var got []string
	for _, it := range items {
		sub := &parser{toks: p.toks[it.from:it.to], g: p.g}
		if err := sub.expr(cols); err != nil {
			return fmt.Errorf("select item %q: %w", it.alias, err)
		}
		got = append(got, it.alias)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("view selects %v, target %s has %v", got, target, want)
	}
	aliases := append(slices.Clone(cols), got...)
	if err := p.expect("WHERE"); err != nil {
		return err
	}
	if err := p.expr(aliases); err != nil {
		return fmt.Errorf("WHERE: %w", err)
	}
	if err := p.expect("GROUP", "BY"); err != nil {
		return err
	}
	for {
		if err := p.expr(aliases); err != nil {
			return fmt.Errorf("GROUP BY: %w", err)
		}
		if p.peek().text != "," {
			break
		}
		p.next()
	}
	return nil
}

// checkDDL parses every statement of a dialect's migrations.
func checkDDL(stmts []string, g grammar) error {
	p := &parser{g: g, tables: map[string][]string{}}
	for i, s := range stmts {
		toks, err := tokenize(s)
		if err != nil {
			return fmt.Errorf("statement %d: %w", i+1, err)
		}
		p.toks, p.pos = toks, 0
		if err := p.expect("CREATE"); err != nil {
			return fmt.Errorf("statement %d: %w", i+1, err)
		}
		switch strings.ToUpper(p.next().text) {
		case "TABLE":
			err = p.expect("IF", "NOT", "EXISTS")
			if err == nil {
				err = p.createTable()
			}
		case "MATERIALIZED":
			err = p.expect("VIEW", "IF", "NOT", "EXISTS")
			if err == nil {
				err = p.createView()
			}
		default:
			err = fmt.Errorf("only CREATE TABLE and CREATE MATERIALIZED VIEW are expected")
		}
		if err == nil && p.pos < len(p.toks) {
			err = fmt.Errorf("trailing %q", p.toks[p.pos].text)
		}
		if err != nil {
			return fmt.Errorf("statement %d: %w\n%s", i+1, err, s)
		}
	}
	return nil
}

func dialectStatements(t *testing.T, d Dialect) []string {
	ms, err := Migrations(d, 90)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{migrationsTableDDL}
	for _, m := range ms {
		stmts = append(stmts, m.Statements...)
	}
	return stmts
}

func TestModernDDLParses(t *testing.T) {
	if err := checkDDL(dialectStatements(t, Modern), modernGrammar); err != nil {
		t.Fatal(err)
	}
}

func TestBaselineDDLParses(t *testing.T) {
	if err := checkDDL(dialectStatements(t, Baseline), baselineGrammar); err != nil {
		t.Fatal(err)
	}
	// The modern DDL must not pass as baseline: the checker knows the difference.
	if err := checkDDL(dialectStatements(t, Modern), baselineGrammar); err == nil {
		t.Fatal("modern DDL accepted under the baseline grammar")
	}
}

func TestDDLCheckerRejects(t *testing.T) {
	good := dialectStatements(t, Modern)
	events := good[1]
	for name, bad := range map[string][]string{
		"unbalanced":     {strings.Replace(events, "CODEC(ZSTD(1))", "CODEC(ZSTD(1)", 1)},
		"unknown type":   {strings.Replace(events, "IPv6", "IPv7", 1)},
		"unknown column": {strings.Replace(events, "toStartOfHour(ts)", "toStartOfHour(tss)", 1)},
		"unknown codec":  {strings.Replace(events, "T64", "T65", 1)},
		"bad setting":    {strings.Replace(events, "ttl_only_drop_parts", "ttl_only_drop_part", 1)},
		"view mismatch":  {events, good[2], strings.Replace(good[3], "AS users", "AS userz", 1)},
		"view column":    {events, good[2], strings.Replace(good[3], "geo_country,", "geo_countri,", 1)},
		"missing comma":  {strings.Replace(events, "UInt32                              CODEC(ZSTD(1)),", "UInt32", 1)},
	} {
		if err := checkDDL(bad, modernGrammar); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
