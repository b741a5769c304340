package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DropExpired drops the partitions older than retention in database: the
// daily partitions of events whose day ended before now-retention, and the
// monthly partitions of the rollups whose month ended before it. It works
// on every dialect (the modern one has TTL clauses as well). It returns the
// dropped partitions as "table/partition".
func DropExpired(ctx context.Context, conn driver.Conn, database string, retention time.Duration, now time.Time) ([]string, error) {
	if retention <= 0 {
		return nil, nil
	}
	cutoff := now.UTC().Add(-retention)
	day := cutoff.Format("20060102") // partitions of days before the cutoff's day are wholly expired
	month := cutoff.Format("200601") // likewise for months
	tables := []struct{ name, before string }{
		{"events", day},
		{"failed_logins_by_ip_1m", month},
		{"failed_logins_by_user_1m", month},
	}
	var dropped []string
	for _, t := range tables {
		rows, err := conn.Query(ctx, `SELECT DISTINCT partition FROM system.parts
			WHERE database = ? AND table = ? AND active AND partition < ?`, database, t.name, t.before)
		if err != nil {
			return dropped, fmt.Errorf("list partitions of %s: %w", t.name, err)
		}
		var parts []string
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return dropped, fmt.Errorf("list partitions of %s: %w", t.name, err)
			}
			parts = append(parts, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dropped, fmt.Errorf("list partitions of %s: %w", t.name, err)
		}
		for _, p := range parts {
			if len(p) != len(t.before) || !isDigits(p) {
				continue // not a partition this schema made
			}
			if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP PARTITION %s", t.name, p)); err != nil {
				return dropped, fmt.Errorf("drop partition %s of %s: %w", p, t.name, err)
			}
			dropped = append(dropped, t.name+"/"+p)
		}
	}
	return dropped, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
