package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem of a configuration file: where it is and what is
// wrong. Its text is "file:line: key: message"; parts that are unknown
// (Line 0, empty Key) are left out.
type Error struct {
	File   string // the file name given to Load or Parse
	Line   int    // 1-based; 0 when the problem has no place in the file
	Column int    // 1-based; 0 when unknown
	Key    string // key path: "sources[1].format", "alerts.slack[0]"
	Msg    string
}

// Error formats e as "file:line: key: message".
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "":
		b.WriteString(e.File)
		b.WriteString(":")
		if e.Line > 0 {
			b.WriteString(strconv.Itoa(e.Line))
			b.WriteString(":")
		}
		b.WriteString(" ")
	case e.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration file, in file order.
// Load and Parse return it (as error) when there is at least one; its text
// has one Error per line. errors.As finds it, and each Error through
// Unwrap.
type Errors []*Error

// Error lists the problems, one per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sort orders es by place in the file; problems without a line come first.
func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// maxErrors bounds how many problems one file reports; a file full of
// aliases could otherwise produce millions.
const maxErrors = 200

// errorList collects problems while a file is decoded and validated.
type errorList struct {
	file    string
	errs    Errors
	dropped int
}

func (l *errorList) add(line, col int, key, format string, args ...any) {
	if len(l.errs) >= maxErrors {
		l.dropped++
		return
	}
	l.errs = append(l.errs, &Error{File: l.file, Line: line, Column: col, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// err returns the collected problems as Errors, or nil.
func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	l.errs.sort()
	if l.dropped > 0 {
		l.errs = append(l.errs, &Error{File: l.file, Msg: fmt.Sprintf("%d more problems not shown", l.dropped)})
	}
	return l.errs
}
