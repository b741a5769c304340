package store

import (
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
)

// eventJSONNames returns the JSON key of every field of event.Event.
func eventJSONNames(t *testing.T) []string {
	t.Helper()
	var names []string
	typ := reflect.TypeFor[event.Event]()
	for i := range typ.NumField() {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		names = append(names, key)
	}
	return names
}

var columnLine = regexp.MustCompile(`^\s{4}([a-z_][a-z0-9_]*)\s+\S`)

// ddlColumns returns the column names of a CREATE TABLE statement as laid
// out in the migration files (one column a line, indented four spaces).
func ddlColumns(ddl string) []string {
	var cols []string
	for line := range strings.Lines(ddl) {
		if m := columnLine.FindStringSubmatch(line); m != nil && m[1] != "" && !strings.HasPrefix(strings.TrimSpace(line), "INDEX") {
			cols = append(cols, m[1])
		}
	}
	return cols
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
