package chtest

import (
	"strings"
	"testing"
)

func TestNewGivesAFreshDatabase(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		db := New(t)
		name = db.Name
		if !strings.HasPrefix(db.Name, "t_testnewgivesafreshdatabase_inner_") || !strings.HasSuffix(db.DSN, "/"+db.Name) {
			t.Errorf("database %s, dsn %s", db.Name, db.DSN)
		}
		if n := Count(t, db.Conn, "SELECT count() FROM system.tables WHERE database = currentDatabase()"); n != 0 {
			t.Errorf("fresh database has %d tables", n)
		}
		if err := db.Conn.Exec(t.Context(), "CREATE TABLE x (a UInt8) ENGINE = Memory"); err != nil {
			t.Fatal(err)
		}
	})
	if name == "" {
		return // skipped
	}
	admin := Open(t, ServerDSN(t))
	if n := Count(t, admin, "SELECT count() FROM system.databases WHERE name = ?", name); n != 0 {
		t.Errorf("database %s still exists after its test", name)
	}
}
