package enrich

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/vm"

	"github.com/vigil-sec/vigil/internal/event"
)

// Predicate is a compiled boolean expr-lang expression over an event, such
// as `kind == "audit" || (action == "login" && outcome == "success")`. The
// names are the event's snake_case field names (kind, action, outcome,
// src_ip, src_host_verified, attrs, ...), the `expr` struct tags of
// event.Event.
//
// A Predicate is safe for concurrent use.
type Predicate struct {
	src  string
	prog *vm.Program
	// fast, when not nil, evaluates the expression directly on the event
	// without the expr VM. It exists for the common shape of an enricher
	// selector (string fields compared with literals, joined by && and ||)
	// and gives the same answers as prog; see compileFast.
	fast   func(*event.Event) bool
	vms    sync.Pool // *vm.VM: a VM is not safe for concurrent use
	errors atomic.Uint64
}

// CompilePredicate compiles src once, type-checked against event.Event; the
// expression must yield a bool. Fields whose Go type is a named string type
// (kind, outcome, user_role, src_zone) compare with string literals and
// work with the string operators as plain strings do.
//
// The error text is expr's, with the line:column and a caret under the
// offending token; callers prefix it with the configuration key.
func CompilePredicate(src string) (*Predicate, error) {
	prog, err := expr.Compile(src,
		expr.Env(event.Event{}),
		expr.AsBool(),
		namedStringsAsString(),
	)
	if err != nil {
		return nil, err
	}
	p := &Predicate{src: src, prog: prog}
	p.vms.New = func() any { return new(vm.VM) }
	p.fast = compileFast(prog.Node())
	return p, nil
}

// String returns the source of the expression.
func (p *Predicate) String() string { return p.src }

// Match reports whether ev satisfies the expression. An expression that
// fails at run time (an out-of-range index, say) does not match; such
// failures are counted in Errors.
func (p *Predicate) Match(ev *event.Event) bool {
	if p.fast != nil {
		return p.fast(ev)
	}
	m := p.vms.Get().(*vm.VM)
	out, err := m.Run(p.prog, ev)
	p.vms.Put(m)
	if err != nil {
		p.errors.Add(1)
		return false
	}
	b, ok := out.(bool)
	return ok && b
}

// Errors returns how many Match calls failed at run time.
func (p *Predicate) Errors() uint64 { return p.errors.Load() }

// namedStringsAsString makes fields of a named string type (event.Kind and
// its siblings) behave as string in expressions.
//
// expr type-checks `kind == "audit"` as event.Kind against string and
// rejects it ("mismatched types"); at run time its string operators
// (startsWith, matches, +) assert a plain string and fail on event.Kind too.
// The patch wraps every identifier or member access of such a type in a
// call that converts the value to string, so the checker sees string
// everywhere and nothing else in expr changes. The alternative, giving the
// event types expr's value.StringValuer method, would tie the
// standard-library-only event package to expr.
func namedStringsAsString() expr.Option {
	const fn = "$named_string"
	stringType := reflect.TypeFor[string]()
	toString := expr.Function(fn, func(params ...any) (any, error) {
		switch v := params[0].(type) {
		case string:
			return v, nil
		case event.Kind:
			return string(v), nil
		case event.Outcome:
			return string(v), nil
		case event.Role:
			return string(v), nil
		case event.Zone:
			return string(v), nil
		}
		rv := reflect.ValueOf(params[0])
		if rv.Kind() != reflect.String {
			return nil, fmt.Errorf("%s: %T is not a string", fn, params[0])
		}
		return rv.String(), nil
	}, new(func(any) string))
	return func(c *conf.Config) {
		toString(c)
		c.Visitors = append(c.Visitors, namedStringPatcher{fn: fn, stringType: stringType})
	}
}

type namedStringPatcher struct {
	fn         string
	stringType reflect.Type
}

func (p namedStringPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode, *ast.MemberNode:
		t := n.Type()
		if t == nil || t.Kind() != reflect.String || t == p.stringType {
			return
		}
		ast.Patch(node, &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: p.fn},
			Arguments: []ast.Node{n},
		})
	}
}

// compileFast translates the checked expression tree into a Go closure when
// every node is one it knows: the literals true and false, !, &&, ||,
// string fields compared (==, !=) with string literals or each other, `in`
// a list of string literals, and bool fields. It returns nil for anything
// else, and the VM runs the expression. The closure allocates nothing,
// which matters on an enricher's cache-hit path; the VM's reflection boxes
// every string field it reads. TestPredicateFastMatchesVM holds the two
// evaluators to the same answers.
func compileFast(root ast.Node) func(*event.Event) bool {
	f, err := fastBool(root, eventFields())
	if err != nil {
		return nil
	}
	return f
}

var errNotFast = errors.New("not in the fast subset")

// eventFields maps an expression name to its field of event.Event. The
// fast evaluator reads a field at its offset: a field whose kind is
// reflect.String (reflect.Bool) has the memory layout of string (bool)
// whatever its named type, and the offset comes from reflect, so the
// unsafe read is exact. It is a tenth of the cost of reflect.Value.Field
// and matters on the cache-hit path.
func eventFields() map[string]reflect.StructField {
	t := reflect.TypeFor[event.Event]()
	m := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if name := f.Tag.Get("expr"); name != "" && f.IsExported() {
			m[name] = f
		}
	}
	return m
}

func fastBool(n ast.Node, fields map[string]reflect.StructField) (func(*event.Event) bool, error) {
	switch n := n.(type) {
	case *ast.BoolNode:
		v := n.Value
		return func(*event.Event) bool { return v }, nil
	case *ast.IdentifierNode:
		f, ok := fields[n.Value]
		if !ok || f.Type.Kind() != reflect.Bool {
			return nil, errNotFast
		}
		off := f.Offset
		return func(ev *event.Event) bool { return *(*bool)(unsafe.Add(unsafe.Pointer(ev), off)) }, nil
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			return nil, errNotFast
		}
		x, err := fastBool(n.Node, fields)
		if err != nil {
			return nil, err
		}
		return func(ev *event.Event) bool { return !x(ev) }, nil
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and", "||", "or":
			l, err := fastBool(n.Left, fields)
			if err != nil {
				return nil, err
			}
			r, err := fastBool(n.Right, fields)
			if err != nil {
				return nil, err
			}
			if n.Operator == "&&" || n.Operator == "and" {
				return func(ev *event.Event) bool { return l(ev) && r(ev) }, nil
			}
			return func(ev *event.Event) bool { return l(ev) || r(ev) }, nil
		case "==", "!=":
			l, err := fastString(n.Left, fields)
			if err != nil {
				return nil, err
			}
			r, err := fastString(n.Right, fields)
			if err != nil {
				return nil, err
			}
			if n.Operator == "==" {
				return func(ev *event.Event) bool { return l(ev) == r(ev) }, nil
			}
			return func(ev *event.Event) bool { return l(ev) != r(ev) }, nil
		case "in", "not in":
			l, err := fastString(n.Left, fields)
			if err != nil {
				return nil, err
			}
			var set []string
			switch r := n.Right.(type) {
			case *ast.ArrayNode:
				for _, e := range r.Nodes {
					s, ok := e.(*ast.StringNode)
					if !ok {
						return nil, errNotFast
					}
					set = append(set, s.Value)
				}
			case *ast.ConstantNode:
				// expr's optimizer turns a list of string literals into a set.
				m, ok := r.Value.(map[string]struct{})
				if !ok {
					return nil, errNotFast
				}
				for s := range m {
					set = append(set, s)
				}
			default:
				return nil, errNotFast
			}
			neg := n.Operator == "not in"
			return func(ev *event.Event) bool {
				v := l(ev)
				for _, s := range set {
					if v == s {
						return !neg
					}
				}
				return neg
			}, nil
		}
	}
	return nil, errNotFast
}

func fastString(n ast.Node, fields map[string]reflect.StructField) (func(*event.Event) string, error) {
	switch n := n.(type) {
	case *ast.StringNode:
		v := n.Value
		return func(*event.Event) string { return v }, nil
	case *ast.ConstantNode:
		v, ok := n.Value.(string)
		if !ok {
			return nil, errNotFast
		}
		return func(*event.Event) string { return v }, nil
	case *ast.CallNode:
		// The named-string conversion the patcher inserted.
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == "$named_string" && len(n.Arguments) == 1 {
			return fastString(n.Arguments[0], fields)
		}
	case *ast.IdentifierNode:
		f, ok := fields[n.Value]
		if !ok || f.Type.Kind() != reflect.String {
			return nil, errNotFast
		}
		off := f.Offset
		return func(ev *event.Event) string { return *(*string)(unsafe.Add(unsafe.Pointer(ev), off)) }, nil
	}
	return nil, errNotFast
}
