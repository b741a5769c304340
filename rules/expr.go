package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/vigil-sec/vigil/internal/event"
)

// ListLookup answers in_list in rule expressions. enrich.Lists implements
// it. A nil ListLookup has no lists: in_list is always false.
type ListLookup interface {
	Has(name, value string) bool
}

// ZoneLookup answers is_internal in rule expressions. enrich.Zones
// implements it. Without one, the engine takes the loopback, link-local,
// RFC 1918 and unique-local networks as internal.
type ZoneLookup interface {
	Zone(addr netip.Addr, host string, hostVerified bool) event.Zone
}

// binding is what the helpers of one engine consult.
type binding struct {
	lists ListLookup
	zones ZoneLookup
	cache *patternCache
}

func (b *binding) inList(name, value string) bool {
	return b.lists != nil && b.lists.Has(name, value)
}

func (b *binding) isInternal(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	if b.zones != nil {
		return b.zones.Zone(a, "", false) == event.ZoneInternal
	}
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()
}

// patternCache holds the regular expressions, CIDRs and time zones that
// expressions name with a non-constant argument, so that each is parsed
// once. It is bounded; past the bound it parses every time.
type patternCache struct {
	mu    sync.Mutex
	res   map[string]*regexp.Regexp
	cidrs map[string]netip.Prefix
	zones map[string]*time.Location
}

const patternCacheMax = 1024

func newPatternCache() *patternCache {
	return &patternCache{res: map[string]*regexp.Regexp{}, cidrs: map[string]netip.Prefix{}, zones: map[string]*time.Location{}}
}

func (c *patternCache) regexp(p string) (*regexp.Regexp, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if re, ok := c.res[p]; ok {
		return re, nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	if len(c.res) < patternCacheMax {
		c.res[p] = re
	}
	return re, nil
}

func (c *patternCache) prefix(s string) (netip.Prefix, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.cidrs[s]; ok {
		return p, nil
	}
	p, err := parseCIDR(s)
	if err != nil {
		return p, err
	}
	if len(c.cidrs) < patternCacheMax {
		c.cidrs[s] = p
	}
	return p, nil
}

func (c *patternCache) location(s string) (*time.Location, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.zones[s]; ok {
		return l, nil
	}
	l, err := loadLocation(s)
	if err != nil {
		return nil, err
	}
	if len(c.zones) < patternCacheMax {
		c.zones[s] = l
	}
	return l, nil
}

// parseCIDR accepts a CIDR or a single address (a /32 or /128).
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not a CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func loadLocation(s string) (*time.Location, error) {
	if s == "" || s == "UTC" {
		return time.UTC, nil
	}
	l, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", s)
	}
	return l, nil
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// predicate is a compiled boolean expression over an event. It is not safe
// for concurrent use (it owns a VM); an engine runs single-threaded.
type predicate struct {
	src  string
	prog *vm.Program
	fast func(*event.Event) bool // nil when the VM must run it
	vm   vm.VM
	errs uint64
}

func (p *predicate) match(ev *event.Event) bool {
	if p == nil {
		return true
	}
	if p.fast != nil {
		return p.fast(ev)
	}
	out, err := p.vm.Run(p.prog, ev)
	if err != nil {
		p.errs++
		return false
	}
	b, _ := out.(bool)
	return b
}

// renamed maps the helper names that expr's parser reads as operators to
// the names they are registered under.
var renamed = map[string]string{"contains": "_contains", "matches": "_matches"}

// compileExpr compiles src against event.Event with the helpers bound to b.
// Errors are reported against src as written: message (line:column).
func compileExpr(src string, b *binding) (*predicate, error) {
	rewritten, shifts := rewriteCalls(src)
	opts := []expr.Option{
		expr.Env(event.Event{}),
		expr.AsBool(),
		namedStringsAsString(),
	}
	opts = append(opts, helpers(b)...)
	prog, err := expr.Compile(rewritten, opts...)
	if err != nil {
		return nil, exprError(src, err, shifts)
	}
	if err := checkConstants(prog.Node()); err != nil {
		return nil, err
	}
	p := &predicate{src: src, prog: prog}
	p.fast = compileFast(prog.Node(), b)
	return p, nil
}

// rewriteCalls turns the call forms contains( and matches( into calls of
// their registered names, leaving the operator forms (a contains b) alone.
// shifts holds the rune offsets, in the rewritten text, after which one
// rune was inserted.
func rewriteCalls(src string) (string, []int) {
	var b strings.Builder
	var shifts []int
	prevWord := ""
	prevTok := byte(0) // last significant byte outside identifiers
	runes := 0
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j < len(src) {
				j++
			}
			b.WriteString(src[i:j])
			runes += utf8.RuneCountInString(src[i:j])
			i = j
			prevTok, prevWord = '"', ""
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			word := src[i:j]
			if name, ok := renamed[word]; ok && nextNonSpace(src, j) == '(' && !operandEnd(prevTok, prevWord) {
				b.WriteString(name)
				shifts = append(shifts, runes)
				runes += len(name)
			} else {
				b.WriteString(word)
				runes += len(word)
			}
			prevTok, prevWord = 'a', word
			i = j
		default:
			r, n := utf8.DecodeRuneInString(src[i:])
			b.WriteRune(r)
			runes++
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				prevTok, prevWord = c, ""
			}
			i += n
		}
	}
	return b.String(), shifts
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

func nextNonSpace(s string, i int) byte {
	for ; i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
	return 0
}

// operandEnd reports whether the token before a word ends an operand, so
// that the word is a binary operator (x contains ("a")).
func operandEnd(tok byte, word string) bool {
	switch tok {
	case ')', ']', '"':
		return true
	case 'a':
		switch word {
		case "and", "or", "not", "in", "contains", "matches", "startsWith", "endsWith", "let":
			return false
		}
		return true
	}
	return false
}

// exprError restates an expr compile error against the original source.
func exprError(src string, err error, shifts []int) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err
	}
	from := fe.From
	orig := from
	for _, s := range shifts {
		if s < from {
			orig--
		}
	}
	line, col := 1, 0
	n := 0
	for _, r := range src {
		if n == orig {
			break
		}
		if r == '\n' {
			line++
			col = 0
		} else {
			col++
		}
		n++
	}
	msg := fe.Message
	for name, reg := range renamed {
		msg = strings.ReplaceAll(msg, reg, name)
	}
	return fmt.Errorf("%s (%d:%d)", msg, line, col+1)
}

// checkConstants validates the constant arguments of helpers at load time:
// CIDRs, regular expressions and time zones.
func checkConstants(root ast.Node) error {
	var errs []error
	ast.Find(root, func(n ast.Node) bool {
		call, ok := n.(*ast.CallNode)
		if !ok {
			return false
		}
		id, ok := call.Callee.(*ast.IdentifierNode)
		if !ok {
			return false
		}
		for i, a := range call.Arguments {
			s, ok := a.(*ast.StringNode)
			if !ok {
				continue
			}
			switch {
			case id.Value == "in_cidr" && i > 0:
				if _, err := parseCIDR(s.Value); err != nil {
					errs = append(errs, fmt.Errorf("in_cidr: %w", err))
				}
			case id.Value == "_matches" && i == 1:
				if _, err := regexp.Compile(s.Value); err != nil {
					errs = append(errs, fmt.Errorf("matches: %w", err))
				}
			case (id.Value == "hour_of_day" || id.Value == "weekday") && i == 1:
				if _, err := loadLocation(s.Value); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", id.Value, err))
				}
			}
		}
		return false
	})
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// helpers returns the expr functions of the rule language bound to b.
func helpers(b *binding) []expr.Option {
	str := func(v any) string {
		s, _ := v.(string)
		return s
	}
	return []expr.Option{
		expr.Function("in_cidr", func(p ...any) (any, error) {
			a, _ := p[0].(netip.Addr)
			for _, c := range p[1:] {
				pf, err := b.cache.prefix(str(c))
				if err != nil {
					return nil, err
				}
				if inPrefixes(a, []netip.Prefix{pf}) {
					return true, nil
				}
			}
			return false, nil
		}, new(func(netip.Addr, ...string) bool)),
		expr.Function("in_list", func(p ...any) (any, error) {
			return b.inList(str(p[0]), str(p[1])), nil
		}, new(func(string, string) bool)),
		expr.Function("has_prefix", func(p ...any) (any, error) {
			return strings.HasPrefix(str(p[0]), str(p[1])), nil
		}, new(func(string, string) bool)),
		expr.Function("has_suffix", func(p ...any) (any, error) {
			return strings.HasSuffix(str(p[0]), str(p[1])), nil
		}, new(func(string, string) bool)),
		expr.Function("_contains", func(p ...any) (any, error) {
			return strings.Contains(str(p[0]), str(p[1])), nil
		}, new(func(string, string) bool)),
		expr.Function("_matches", func(p ...any) (any, error) {
			re, err := b.cache.regexp(str(p[1]))
			if err != nil {
				return nil, err
			}
			return re.MatchString(str(p[0])), nil
		}, new(func(string, string) bool)),
		expr.Function("is_internal", func(p ...any) (any, error) {
			a, _ := p[0].(netip.Addr)
			return b.isInternal(a), nil
		}, new(func(netip.Addr) bool)),
		expr.Function("hour_of_day", func(p ...any) (any, error) {
			t, loc, err := timeIn(b, p)
			if err != nil {
				return nil, err
			}
			return t.In(loc).Hour(), nil
		}, new(func(time.Time) int), new(func(time.Time, string) int)),
		expr.Function("weekday", func(p ...any) (any, error) {
			t, loc, err := timeIn(b, p)
			if err != nil {
				return nil, err
			}
			return int(t.In(loc).Weekday()), nil
		}, new(func(time.Time) int), new(func(time.Time, string) int)),
	}
}

func timeIn(b *binding, p []any) (time.Time, *time.Location, error) {
	t, _ := p[0].(time.Time)
	if len(p) < 2 {
		return t, time.UTC, nil
	}
	s, _ := p[1].(string)
	loc, err := b.cache.location(s)
	return t, loc, err
}

// namedStringsAsString makes fields of a named string type (kind, outcome,
// user_role, src_zone) behave as plain strings: expr would otherwise reject
// kind == "auth" as a comparison of mismatched types. Every identifier or
// member of such a type is wrapped in a conversion call.
func namedStringsAsString() expr.Option {
	const fn = "$named_string"
	conv := expr.Function(fn, func(p ...any) (any, error) {
		rv := reflect.ValueOf(p[0])
		if rv.Kind() != reflect.String {
			return nil, fmt.Errorf("%T is not a string", p[0])
		}
		return rv.String(), nil
	}, new(func(any) string))
	return func(c *conf.Config) {
		conv(c)
		c.Visitors = append(c.Visitors, namedStringPatcher{})
	}
}

type namedStringPatcher struct{}

var stringType = reflect.TypeFor[string]()

func (namedStringPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode, *ast.MemberNode:
		t := n.Type()
		if t == nil || t.Kind() != reflect.String || t == stringType {
			return
		}
		ast.Patch(node, &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: "$named_string"},
			Arguments: []ast.Node{n},
		})
	}
}
