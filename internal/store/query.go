package store

import (
	"context"
	"fmt"
	"reflect"
)

// maxQueryRows bounds the rows one query may return: for an sql rule each
// row is an alert.
const maxQueryRows = 10000

// Query runs a SELECT on the writer's connection and returns its rows, each
// a map from column name to value; it is the daemon's rules.SQLRunner. At
// most maxQueryRows rows are returned, with an error saying so.
func (w *Writer) Query(ctx context.Context, query string) ([]map[string]any, error) {
	rows, err := w.conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := rows.Columns()
	types := rows.ColumnTypes()
	var out []map[string]any
	for rows.Next() {
		if len(out) == maxQueryRows {
			return out, fmt.Errorf("query returned more than %d rows; the rest are ignored", maxQueryRows)
		}
		ptrs := make([]any, len(cols))
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return out, err
		}
		row := make(map[string]any, len(cols))
		for i, c := range cols {
			row[c] = reflect.ValueOf(ptrs[i]).Elem().Interface()
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
