// Package chtest gives each test its own database on a real ClickHouse
// server. The server comes from VIGIL_TEST_CLICKHOUSE, a DSN such as
// clickhouse://127.0.0.1:9000/default, which `make test` sets after starting
// a throwaway server with with-clickhouse.sh in this directory. Without the
// variable the tests skip, except under CI=true, where they fail.
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// EnvDSN names the environment variable that holds the test server's DSN.
const EnvDSN = "VIGIL_TEST_CLICKHOUSE"

// DB is a fresh database on the test server.
type DB struct {
	DSN  string // DSN whose path is the fresh database
	Name string // database name
	Addr string // host:port of the server
	Conn driver.Conn
}

// ServerDSN returns the server's DSN, skipping t without one (failing it
// under CI=true).
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; run the tests with `make test`", EnvDSN)
		}
		t.Skipf("%s is not set; `make test` starts a ClickHouse server", EnvDSN)
	}
	return dsn
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// New creates a database named after the test and drops it when the test
// ends.
func New(t testing.TB) *DB {
	t.Helper()
	server := ServerDSN(t)
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("%s: %v", EnvDSN, err)
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := strings.ToLower(unsafeChars.ReplaceAllString(t.Name(), "_"))
	if len(name) > 40 {
		name = name[:40]
	}
	name = "t_" + name + "_" + hex.EncodeToString(suffix[:])

	admin := Open(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	dsn := u.String()
	return &DB{DSN: dsn, Name: name, Addr: u.Host, Conn: Open(t, dsn)}
}

// Open connects to dsn over the native protocol and closes the connection
// when the test ends.
func Open(t testing.TB, dsn string) driver.Conn {
	t.Helper()
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse dsn: %v", err)
	}
	opts.DialTimeout = 10 * time.Second
	opts.ReadTimeout = 5 * time.Minute
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatalf("open clickhouse: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("ping clickhouse at %s: %v", opts.Addr, err)
	}
	return conn
}

// Count runs a query returning one UInt64 and returns it.
func Count(t testing.TB, conn driver.Conn, query string, args ...any) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var n uint64
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// String returns a short description for logs.
func (db *DB) String() string { return fmt.Sprintf("%s on %s", db.Name, db.Addr) }
