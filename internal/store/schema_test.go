package store

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/chtest"
)

func TestDialectFor(t *testing.T) {
	for v, want := range map[string]Dialect{
		"18.16.1": Baseline, "21.8.15.7": Baseline, "23.7.1": Baseline, "23.8.2.7": Modern,
		"24.8.4.13": Modern, "25.10.1": Modern, "junk": Baseline, "": Baseline,
	} {
		if got := DialectFor(v); got != want {
			t.Errorf("DialectFor(%q) = %s, want %s", v, got, want)
		}
	}
}

// TestEventColumnsAreCanonical checks that the events DDL of each dialect
// has a column for every JSON field of event.Event (plus ts_ms in the
// baseline) and that the INSERT column list names exactly the DDL's columns.
func TestEventColumnsAreCanonical(t *testing.T) {
	want := eventJSONNames(t)
	for _, d := range []Dialect{Baseline, Modern} {
		ms, err := Migrations(d, 90)
		if err != nil {
			t.Fatal(err)
		}
		ddl := ms[0].Statements[0]
		cols := ddlColumns(ddl)
		var insert []string
		for _, c := range eventColumns(d) {
			c, _, _ = strings.Cut(c, ".")
			if !slices.Contains(insert, c) {
				insert = append(insert, c)
			}
		}
		if !slices.Equal(cols, insert) {
			t.Errorf("%s: DDL columns %v\ndiffer from INSERT columns %v", d, cols, insert)
		}
		for _, name := range want {
			if !slices.Contains(cols, name) {
				t.Errorf("%s: events has no column %s", d, name)
			}
		}
		if d == Baseline && !slices.Contains(cols, "ts_ms") {
			t.Error("baseline: no ts_ms column")
		}
	}
}

func TestRenderRetention(t *testing.T) {
	ms, err := Migrations(Modern, 30)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ms[0].Statements[0], "INTERVAL 30 DAY DELETE") {
		t.Errorf("modern events DDL lacks the 30-day TTL:\n%s", ms[0].Statements[0])
	}
	ms, err = Migrations(Modern, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for _, s := range m.Statements {
			if strings.Contains(s, "TTL") || strings.Contains(s, "{retention_days}") {
				t.Errorf("retention 0 left a TTL clause:\n%s", s)
			}
		}
	}
	base, err := Schema(Baseline, 90)
	if err != nil {
		t.Fatal(err)
	}
	for _, banned := range []string{"CODEC", "TTL", "LowCardinality", "DateTime64", "IPv6", "Map(", "INDEX", "Bool"} {
		if strings.Contains(base, banned) {
			t.Errorf("baseline schema uses %s, which 18.16 lacks", banned)
		}
	}
}

func TestMigrateIdempotent(t *testing.T) {
	db := chtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Migrate(ctx, db.Conn, "", 90)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dialect != DialectFor(res.Server) {
		t.Errorf("dialect %s for server %s", res.Dialect, res.Server)
	}
	if len(res.Applied) != 3 {
		t.Errorf("first run applied %v, want 3 migrations", res.Applied)
	}
	res2, err := Migrate(ctx, db.Conn, "", 90)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Applied) != 0 {
		t.Errorf("second run applied %v, want none", res2.Applied)
	}
	for _, table := range []string{"events", "alerts", "failed_logins_by_ip_1m", "failed_logins_by_user_1m",
		"failed_logins_by_ip_1m_mv", "failed_logins_by_user_1m_mv", "schema_migrations"} {
		if n := chtest.Count(t, db.Conn, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db.Name, table); n != 1 {
			t.Errorf("table %s: found %d", table, n)
		}
	}
	if n := chtest.Count(t, db.Conn, "SELECT count() FROM schema_migrations"); n != 3 {
		t.Errorf("schema_migrations has %d rows, want 3", n)
	}
	// The server's column list matches what the writer inserts.
	rows, err := db.Conn.Query(ctx, "SELECT name FROM system.columns WHERE database = ? AND table = 'events'", db.Name)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	rows.Close()
	if want := eventColumns(res.Dialect); !slices.Equal(got, want) {
		t.Errorf("server columns %v\nwant %v", got, want)
	}
}
