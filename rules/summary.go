package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"text/template/parse"
	"time"
	"unsafe"

	"github.com/vigil-sec/vigil/internal/event"
)

// A summary template is executed once per returned alert, which in a busy
// stream is often enough for text/template and the map it reads to be the
// engine's largest cost. Most summaries are plain text with {{.name}}
// actions; those are rendered by a plan that appends the same text
// directly, and everything else runs the template. TestSummaryPlan holds
// both to the same output.

// summaryPlan renders a template made only of text and {{.name}} actions.
type summaryPlan struct {
	parts []summaryPart
}

type summaryPart struct {
	text  string
	name  string // the key of an action; empty for text
	field func(dst []byte, ev *event.Event) []byte
}

// newSummaryPlan returns the plan of r's summary, or nil when the template
// has anything besides text and {{.name}} actions.
func newSummaryPlan(r *Rule) *summaryPlan {
	if r.summary == nil || r.summary.Tree == nil {
		return nil
	}
	p := &summaryPlan{}
	for _, n := range r.summary.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			p.parts = append(p.parts, summaryPart{text: string(n.Text)})
		case *parse.ActionNode:
			pipe := n.Pipe
			if pipe == nil || len(pipe.Decl) > 0 || len(pipe.Cmds) != 1 || len(pipe.Cmds[0].Args) != 1 {
				return nil
			}
			f, ok := pipe.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 {
				return nil
			}
			part := summaryPart{name: f.Ident[0]}
			if slices.Contains(r.summaryFields, part.name) {
				part.field = summaryField(part.name)
			}
			p.parts = append(p.parts, part)
		default:
			return nil
		}
	}
	return p
}

// summaryField returns what summarize puts in the template's data for an
// event field, written as text/template prints it.
func summaryField(name string) func(dst []byte, ev *event.Event) []byte {
	f := eventFieldMap[name]
	off := f.Offset
	at := func(ev *event.Event) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(ev), off) }
	stringer := f.Type.Implements(reflect.TypeFor[fmt.Stringer]())
	switch {
	case name == "src_ip":
		return func(dst []byte, ev *event.Event) []byte {
			if !ev.SrcIP.IsValid() {
				return dst
			}
			return ev.SrcIP.AppendTo(dst)
		}
	case !stringer && f.Type.Kind() == reflect.String:
		return func(dst []byte, ev *event.Event) []byte { return append(dst, *(*string)(at(ev))...) }
	case stringer:
		return func(dst []byte, ev *event.Event) []byte {
			return append(dst, reflect.NewAt(f.Type, at(ev)).Elem().Interface().(fmt.Stringer).String()...)
		}
	}
	return func(dst []byte, ev *event.Event) []byte {
		return fmt.Append(dst, reflect.NewAt(f.Type, at(ev)).Elem().Interface())
	}
}

// render appends the summary to dst, reporting false when a key is
// neither in extra nor one that summarize always sets (the template then
// decides what a missing key prints).
func (p *summaryPlan) render(dst []byte, r *Rule, ev *event.Event, count uint64, extra map[string]string) ([]byte, bool) {
	for _, part := range p.parts {
		if part.name == "" {
			dst = append(dst, part.text...)
			continue
		}
		if v, ok := extra[part.name]; ok {
			dst = append(dst, v...)
			continue
		}
		switch part.name {
		case "ts":
			dst = ev.Ts.UTC().AppendFormat(dst, time.RFC3339)
		case "count":
			dst = strconv.AppendUint(dst, count, 10)
		case "window":
			dst = append(dst, formatDuration(r.Window)...)
		case "rule":
			dst = append(dst, r.ID...)
		case "title":
			dst = append(dst, r.Title...)
		default:
			if part.field == nil {
				return dst, false
			}
			dst = part.field(dst, ev)
		}
	}
	return dst, true
}

// summarizeWith renders the summary with the plan when there is one and
// it applies, else with the template.
func summarizeWith(p *summaryPlan, buf *[]byte, r *Rule, ev *event.Event, count uint64, extra map[string]string) string {
	if s := extra["summary"]; s != "" && r.Summary == "" {
		return s // an sql rule's row gave it
	}
	if p != nil {
		out, ok := p.render((*buf)[:0], r, ev, count, extra)
		*buf = out
		if ok {
			return string(out)
		}
	}
	return summarize(r, ev, count, extra)
}
