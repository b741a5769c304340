package rules

import (
	"errors"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unsafe"

	"github.com/expr-lang/expr/ast"

	"github.com/vigil-sec/vigil/internal/event"
)

// The fast evaluator turns a checked expression tree into Go closures that
// read event fields at their offsets, so that the common rule shapes
// (field comparisons, in, the string helpers, in_list, in_cidr with
// constant networks) run without the expr VM, which boxes every field it
// reads. Anything outside the subset makes compileFast return nil and the
// VM runs the expression. TestFastMatchesVM holds both to the same answers.

type (
	boolFn func(*event.Event) bool
	strFn  func(*event.Event) string
	numFn  func(*event.Event) float64
	addrFn func(*event.Event) netip.Addr
	timeFn func(*event.Event) time.Time
)

var errNotFast = errors.New("not in the fast subset")

type fastCompiler struct {
	b      *binding
	fields map[string]reflect.StructField
}

var eventFieldMap = func() map[string]reflect.StructField {
	t := reflect.TypeFor[event.Event]()
	m := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if name := f.Tag.Get("expr"); name != "" {
			m[name] = f
		}
	}
	return m
}()

var (
	addrType = reflect.TypeFor[netip.Addr]()
	timeType = reflect.TypeFor[time.Time]()
)

func compileFast(root ast.Node, b *binding) func(*event.Event) bool {
	fc := fastCompiler{b: b, fields: eventFieldMap}
	f, err := fc.node(root)
	if err != nil {
		return nil
	}
	bf, ok := f.(boolFn)
	if !ok {
		return nil
	}
	return bf
}

func (fc fastCompiler) boolNode(n ast.Node) (boolFn, error) {
	f, err := fc.node(n)
	if err != nil {
		return nil, err
	}
	if b, ok := f.(boolFn); ok {
		return b, nil
	}
	return nil, errNotFast
}

func (fc fastCompiler) strNode(n ast.Node) (strFn, error) {
	f, err := fc.node(n)
	if err != nil {
		return nil, err
	}
	if s, ok := f.(strFn); ok {
		return s, nil
	}
	return nil, errNotFast
}

func constString(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.ConstantNode:
		s, ok := n.Value.(string)
		return s, ok
	}
	return "", false
}

// node compiles n into one of boolFn, strFn, numFn, addrFn or timeFn.
func (fc fastCompiler) node(n ast.Node) (any, error) {
	switch n := n.(type) {
	case *ast.BoolNode:
		v := n.Value
		return boolFn(func(*event.Event) bool { return v }), nil
	case *ast.StringNode:
		v := n.Value
		return strFn(func(*event.Event) string { return v }), nil
	case *ast.IntegerNode:
		v := float64(n.Value)
		return numFn(func(*event.Event) float64 { return v }), nil
	case *ast.FloatNode:
		v := n.Value
		return numFn(func(*event.Event) float64 { return v }), nil
	case *ast.ConstantNode:
		switch v := n.Value.(type) {
		case string:
			return strFn(func(*event.Event) string { return v }), nil
		case bool:
			return boolFn(func(*event.Event) bool { return v }), nil
		case int:
			f := float64(v)
			return numFn(func(*event.Event) float64 { return f }), nil
		case float64:
			return numFn(func(*event.Event) float64 { return v }), nil
		}
	case *ast.IdentifierNode:
		return fc.field(n.Value)
	case *ast.UnaryNode:
		switch n.Operator {
		case "!", "not":
			x, err := fc.boolNode(n.Node)
			if err != nil {
				return nil, err
			}
			return boolFn(func(ev *event.Event) bool { return !x(ev) }), nil
		case "-":
			x, err := fc.node(n.Node)
			if err != nil {
				return nil, err
			}
			if f, ok := x.(numFn); ok {
				return numFn(func(ev *event.Event) float64 { return -f(ev) }), nil
			}
		}
	case *ast.BinaryNode:
		if f, ok := fc.constCompare(n); ok {
			return f, nil
		}
		return fc.binary(n)
	case *ast.CallNode:
		if m, ok := n.Callee.(*ast.MemberNode); ok && m.Method {
			return fc.timeMethod(m, n.Arguments)
		}
		return fc.call(n)
	case *ast.MemberNode:
		return fc.attr(n)
	case *ast.BuiltinNode:
		if (n.Name == "lower" || n.Name == "upper") && len(n.Arguments) == 1 {
			s, err := fc.strNode(n.Arguments[0])
			if err != nil {
				return nil, err
			}
			if n.Name == "lower" {
				return strFn(func(ev *event.Event) string { return strings.ToLower(s(ev)) }), nil
			}
			return strFn(func(ev *event.Event) string { return strings.ToUpper(s(ev)) }), nil
		}
	}
	return nil, errNotFast
}

func (fc fastCompiler) field(name string) (any, error) {
	f, ok := fc.fields[name]
	if !ok {
		return nil, errNotFast
	}
	off := f.Offset
	switch {
	case f.Type == addrType:
		return addrFn(func(ev *event.Event) netip.Addr { return *(*netip.Addr)(unsafe.Add(unsafe.Pointer(ev), off)) }), nil
	case f.Type == timeType:
		return timeFn(func(ev *event.Event) time.Time { return *(*time.Time)(unsafe.Add(unsafe.Pointer(ev), off)) }), nil
	}
	switch f.Type.Kind() {
	case reflect.String:
		return strFn(func(ev *event.Event) string { return *(*string)(unsafe.Add(unsafe.Pointer(ev), off)) }), nil
	case reflect.Bool:
		return boolFn(func(ev *event.Event) bool { return *(*bool)(unsafe.Add(unsafe.Pointer(ev), off)) }), nil
	case reflect.Uint16:
		return numFn(func(ev *event.Event) float64 { return float64(*(*uint16)(unsafe.Add(unsafe.Pointer(ev), off))) }), nil
	case reflect.Uint32:
		return numFn(func(ev *event.Event) float64 { return float64(*(*uint32)(unsafe.Add(unsafe.Pointer(ev), off))) }), nil
	case reflect.Uint64:
		return numFn(func(ev *event.Event) float64 { return float64(*(*uint64)(unsafe.Add(unsafe.Pointer(ev), off))) }), nil
	case reflect.Float64:
		return numFn(func(ev *event.Event) float64 { return *(*float64)(unsafe.Add(unsafe.Pointer(ev), off)) }), nil
	}
	return nil, errNotFast
}

func (fc fastCompiler) binary(n *ast.BinaryNode) (any, error) {
	switch n.Operator {
	case "&&", "and", "||", "or":
		l, err := fc.boolNode(n.Left)
		if err != nil {
			return nil, err
		}
		r, err := fc.boolNode(n.Right)
		if err != nil {
			return nil, err
		}
		if n.Operator == "&&" || n.Operator == "and" {
			return boolFn(func(ev *event.Event) bool { return l(ev) && r(ev) }), nil
		}
		return boolFn(func(ev *event.Event) bool { return l(ev) || r(ev) }), nil
	case "in", "not in":
		f, err := fc.in(n)
		if err != nil || n.Operator == "in" {
			return f, err
		}
		return boolFn(func(ev *event.Event) bool { return !f(ev) }), nil
	case "contains", "startsWith", "endsWith":
		l, err := fc.strNode(n.Left)
		if err != nil {
			return nil, err
		}
		r, err := fc.strNode(n.Right)
		if err != nil {
			return nil, err
		}
		op := map[string]func(string, string) bool{"contains": strings.Contains, "startsWith": strings.HasPrefix, "endsWith": strings.HasSuffix}[n.Operator]
		return boolFn(func(ev *event.Event) bool { return op(l(ev), r(ev)) }), nil
	case "matches":
		l, err := fc.strNode(n.Left)
		if err != nil {
			return nil, err
		}
		p, ok := constString(n.Right)
		if !ok {
			return nil, errNotFast
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, errNotFast
		}
		m := matcher(re)
		return boolFn(func(ev *event.Event) bool { return m(l(ev)) }), nil
	}
	l, err := fc.node(n.Left)
	if err != nil {
		return nil, err
	}
	r, err := fc.node(n.Right)
	if err != nil {
		return nil, err
	}
	switch l := l.(type) {
	case strFn:
		r, ok := r.(strFn)
		if !ok {
			return nil, errNotFast
		}
		switch n.Operator {
		case "==":
			return boolFn(func(ev *event.Event) bool { return l(ev) == r(ev) }), nil
		case "!=":
			return boolFn(func(ev *event.Event) bool { return l(ev) != r(ev) }), nil
		case "<":
			return boolFn(func(ev *event.Event) bool { return l(ev) < r(ev) }), nil
		case ">":
			return boolFn(func(ev *event.Event) bool { return l(ev) > r(ev) }), nil
		case "+":
			return strFn(func(ev *event.Event) string { return l(ev) + r(ev) }), nil
		}
	case numFn:
		r, ok := r.(numFn)
		if !ok {
			return nil, errNotFast
		}
		switch n.Operator {
		case "==":
			return boolFn(func(ev *event.Event) bool { return l(ev) == r(ev) }), nil
		case "!=":
			return boolFn(func(ev *event.Event) bool { return l(ev) != r(ev) }), nil
		case "<":
			return boolFn(func(ev *event.Event) bool { return l(ev) < r(ev) }), nil
		case "<=":
			return boolFn(func(ev *event.Event) bool { return l(ev) <= r(ev) }), nil
		case ">":
			return boolFn(func(ev *event.Event) bool { return l(ev) > r(ev) }), nil
		case ">=":
			return boolFn(func(ev *event.Event) bool { return l(ev) >= r(ev) }), nil
		}
	case boolFn:
		r, ok := r.(boolFn)
		if !ok {
			return nil, errNotFast
		}
		switch n.Operator {
		case "==":
			return boolFn(func(ev *event.Event) bool { return l(ev) == r(ev) }), nil
		case "!=":
			return boolFn(func(ev *event.Event) bool { return l(ev) != r(ev) }), nil
		}
	}
	return nil, errNotFast
}

// in compiles `x in [...]` for a constant list of strings or numbers.
func (fc fastCompiler) in(n *ast.BinaryNode) (boolFn, error) {
	l, err := fc.node(n.Left)
	if err != nil {
		return nil, err
	}
	var vals []any
	switch r := n.Right.(type) {
	case *ast.ArrayNode:
		for _, e := range r.Nodes {
			switch e := e.(type) {
			case *ast.StringNode:
				vals = append(vals, e.Value)
			case *ast.IntegerNode:
				vals = append(vals, float64(e.Value))
			default:
				return nil, errNotFast
			}
		}
	case *ast.ConstantNode:
		rv := reflect.ValueOf(r.Value)
		switch rv.Kind() {
		case reflect.Map:
			for _, k := range rv.MapKeys() {
				vals = append(vals, k.Interface())
			}
		case reflect.Slice:
			for i := range rv.Len() {
				vals = append(vals, rv.Index(i).Interface())
			}
		default:
			return nil, errNotFast
		}
	default:
		return nil, errNotFast
	}
	switch l := l.(type) {
	case strFn:
		set := make(map[string]struct{}, len(vals))
		for _, v := range vals {
			s, ok := v.(string)
			if !ok {
				return nil, errNotFast
			}
			set[s] = struct{}{}
		}
		if len(set) <= 8 {
			list := make([]string, 0, len(set))
			for s := range set {
				list = append(list, s)
			}
			return func(ev *event.Event) bool {
				v := l(ev)
				for _, s := range list {
					if v == s {
						return true
					}
				}
				return false
			}, nil
		}
		return func(ev *event.Event) bool { _, ok := set[l(ev)]; return ok }, nil
	case numFn:
		var list []float64
		for _, v := range vals {
			switch v := v.(type) {
			case float64:
				list = append(list, v)
			case int:
				list = append(list, float64(v))
			default:
				return nil, errNotFast
			}
		}
		return func(ev *event.Event) bool {
			v := l(ev)
			for _, x := range list {
				if v == x {
					return true
				}
			}
			return false
		}, nil
	}
	return nil, errNotFast
}

func (fc fastCompiler) call(n *ast.CallNode) (any, error) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return nil, errNotFast
	}
	args := n.Arguments
	switch id.Value {
	case "$named_string":
		if len(args) == 1 {
			return fc.node(args[0])
		}
	case "has_prefix", "has_suffix", "_contains":
		if len(args) != 2 {
			break
		}
		l, err := fc.strNode(args[0])
		if err != nil {
			return nil, err
		}
		r, err := fc.strNode(args[1])
		if err != nil {
			return nil, err
		}
		op := map[string]func(string, string) bool{"has_prefix": strings.HasPrefix, "has_suffix": strings.HasSuffix, "_contains": strings.Contains}[id.Value]
		return boolFn(func(ev *event.Event) bool { return op(l(ev), r(ev)) }), nil
	case "_matches":
		if len(args) != 2 {
			break
		}
		s, err := fc.strNode(args[0])
		if err != nil {
			return nil, err
		}
		p, ok := constString(args[1])
		if !ok {
			return nil, errNotFast
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, errNotFast
		}
		m := matcher(re)
		return boolFn(func(ev *event.Event) bool { return m(s(ev)) }), nil
	case "in_list":
		if len(args) != 2 {
			break
		}
		name, ok := constString(args[0])
		if !ok {
			return nil, errNotFast
		}
		v, err := fc.strNode(args[1])
		if err != nil {
			return nil, err
		}
		b := fc.b
		return boolFn(func(ev *event.Event) bool { return b.inList(name, v(ev)) }), nil
	case "in_cidr":
		if len(args) < 2 {
			break
		}
		a, err := fc.node(args[0])
		if err != nil {
			return nil, err
		}
		af, ok := a.(addrFn)
		if !ok {
			return nil, errNotFast
		}
		var ps []netip.Prefix
		for _, arg := range args[1:] {
			s, ok := constString(arg)
			if !ok {
				return nil, errNotFast
			}
			p, err := parseCIDR(s)
			if err != nil {
				return nil, errNotFast
			}
			ps = append(ps, p)
		}
		return boolFn(func(ev *event.Event) bool { return inPrefixes(af(ev), ps) }), nil
	case "is_internal":
		if len(args) != 1 {
			break
		}
		a, err := fc.node(args[0])
		if err != nil {
			return nil, err
		}
		af, ok := a.(addrFn)
		if !ok {
			return nil, errNotFast
		}
		b := fc.b
		return boolFn(func(ev *event.Event) bool { return b.isInternal(af(ev)) }), nil
	case "hour_of_day", "weekday":
		if len(args) < 1 || len(args) > 2 {
			break
		}
		t, err := fc.node(args[0])
		if err != nil {
			return nil, err
		}
		tf, ok := t.(timeFn)
		if !ok {
			return nil, errNotFast
		}
		loc := time.UTC
		if len(args) == 2 {
			s, ok := constString(args[1])
			if !ok {
				return nil, errNotFast
			}
			if loc, err = loadLocation(s); err != nil {
				return nil, errNotFast
			}
		}
		if id.Value == "hour_of_day" {
			return numFn(func(ev *event.Event) float64 { return float64(tf(ev).In(loc).Hour()) }), nil
		}
		return numFn(func(ev *event.Event) float64 { return float64(tf(ev).In(loc).Weekday()) }), nil
	}
	return nil, errNotFast
}

// attr compiles attrs["name"] (or attrs.name): the attribute's value, ""
// when the event has no such attribute, as the VM reads a missing map key.
func (fc fastCompiler) attr(n *ast.MemberNode) (any, error) {
	if n.Optional || n.Method || !isIdent(n.Node, "attrs") {
		return nil, errNotFast
	}
	if k, ok := constString(n.Property); ok {
		return strFn(func(ev *event.Event) string { return ev.Attrs[k] }), nil
	}
	k, err := fc.strNode(n.Property)
	if err != nil {
		return nil, err
	}
	return strFn(func(ev *event.Event) string { return ev.Attrs[k(ev)] }), nil
}

// timeMethods are the methods of time.Time that expressions may call on
// ts, each returning an int.
var timeMethods = map[string]func(time.Time) int{
	"Year":       time.Time.Year,
	"YearDay":    time.Time.YearDay,
	"Day":        time.Time.Day,
	"Hour":       time.Time.Hour,
	"Minute":     time.Time.Minute,
	"Second":     time.Time.Second,
	"Nanosecond": time.Time.Nanosecond,
}

// timeMethod compiles ts.Minute() and the other int methods of timeMethods.
func (fc fastCompiler) timeMethod(m *ast.MemberNode, args []ast.Node) (any, error) {
	name, ok := constString(m.Property)
	method := timeMethods[name]
	if !ok || method == nil || len(args) != 0 || m.Optional {
		return nil, errNotFast
	}
	x, err := fc.node(m.Node)
	if err != nil {
		return nil, err
	}
	tf, ok := x.(timeFn)
	if !ok {
		return nil, errNotFast
	}
	return numFn(func(ev *event.Event) float64 { return float64(method(tf(ev))) }), nil
}

// constCompare compiles the comparison of an event field with a constant
// (action == "login", http_status >= 500) into one closure that reads the
// field in place, the commonest shape of a rule by far.
func (fc fastCompiler) constCompare(n *ast.BinaryNode) (boolFn, bool) {
	field, c, op := n.Left, n.Right, n.Operator
	if _, ok := fieldName(field); !ok {
		field, c = c, field
		op = map[string]string{"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
	}
	name, ok := fieldName(field)
	if !ok || op == "" {
		return nil, false
	}
	f, ok := fc.fields[name]
	if !ok {
		return nil, false
	}
	off := f.Offset
	if f.Type.Kind() == reflect.String {
		v, ok := constString(c)
		if !ok {
			return nil, false
		}
		switch op {
		case "==":
			return func(ev *event.Event) bool { return *(*string)(unsafe.Add(unsafe.Pointer(ev), off)) == v }, true
		case "!=":
			return func(ev *event.Event) bool { return *(*string)(unsafe.Add(unsafe.Pointer(ev), off)) != v }, true
		}
		return nil, false
	}
	v, ok := constNumber(c)
	if !ok {
		return nil, false
	}
	switch f.Type.Kind() {
	case reflect.Uint16:
		return numCompare[uint16](off, op, v)
	case reflect.Uint32:
		return numCompare[uint32](off, op, v)
	case reflect.Uint64:
		return numCompare[uint64](off, op, v)
	case reflect.Float64:
		return numCompare[float64](off, op, v)
	}
	return nil, false
}

// numCompare compares the numeric field at off with v, as the VM does: in
// float64.
func numCompare[T uint16 | uint32 | uint64 | float64](off uintptr, op string, v float64) (boolFn, bool) {
	switch op {
	case "==":
		return func(ev *event.Event) bool { return numAt[T](ev, off) == v }, true
	case "!=":
		return func(ev *event.Event) bool { return numAt[T](ev, off) != v }, true
	case "<":
		return func(ev *event.Event) bool { return numAt[T](ev, off) < v }, true
	case "<=":
		return func(ev *event.Event) bool { return numAt[T](ev, off) <= v }, true
	case ">":
		return func(ev *event.Event) bool { return numAt[T](ev, off) > v }, true
	case ">=":
		return func(ev *event.Event) bool { return numAt[T](ev, off) >= v }, true
	}
	return nil, false
}

func numAt[T uint16 | uint32 | uint64 | float64](ev *event.Event, off uintptr) float64 {
	return float64(*(*T)(unsafe.Add(unsafe.Pointer(ev), off)))
}

// fieldName returns the name of the event field n reads, seeing through
// the conversion of named string types.
func fieldName(n ast.Node) (string, bool) {
	if c, ok := n.(*ast.CallNode); ok && len(c.Arguments) == 1 {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Value == "$named_string" {
			n = c.Arguments[0]
		}
	}
	id, ok := n.(*ast.IdentifierNode)
	if !ok {
		return "", false
	}
	return id.Value, true
}

// constNumber returns the value of a numeric literal, possibly negated.
func constNumber(n ast.Node) (float64, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return float64(n.Value), true
	case *ast.FloatNode:
		return n.Value, true
	case *ast.ConstantNode:
		switch v := n.Value.(type) {
		case int:
			return float64(v), true
		case float64:
			return v, true
		}
	case *ast.UnaryNode:
		if n.Operator == "-" {
			v, ok := constNumber(n.Node)
			return -v, ok
		}
	}
	return 0, false
}

// compileGuarded compiles root like compileFast, leaving out the top-level
// conjuncts that implied reports true for every event it will see (those
// the engine's dispatch already checked). always is true when nothing is
// left to check; f is nil when root is outside the fast subset.
func compileGuarded(root ast.Node, b *binding, implied func(ast.Node) bool) (f func(*event.Event) bool, always bool) {
	fc := fastCompiler{b: b, fields: eventFieldMap}
	var conj func(n ast.Node) (boolFn, bool, error)
	conj = func(n ast.Node) (boolFn, bool, error) {
		if bin, ok := n.(*ast.BinaryNode); ok && (bin.Operator == "&&" || bin.Operator == "and") {
			l, lt, err := conj(bin.Left)
			if err != nil {
				return nil, false, err
			}
			r, rt, err := conj(bin.Right)
			switch {
			case err != nil:
				return nil, false, err
			case lt && rt:
				return nil, true, nil
			case lt:
				return r, false, nil
			case rt:
				return l, false, nil
			}
			return func(ev *event.Event) bool { return l(ev) && r(ev) }, false, nil
		}
		if implied(n) {
			return nil, true, nil
		}
		f, err := fc.boolNode(n)
		return f, false, err
	}
	bf, always, err := conj(root)
	if err != nil {
		return nil, false
	}
	return bf, always
}
