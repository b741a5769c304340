package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Dialect is a flavour of the schema, chosen from the server's version.
type Dialect string

// Dialects.
const (
	// Baseline runs on ClickHouse 18.16 and later: DateTime plus a
	// millisecond column, FixedString(16) addresses, Nested attributes, no
	// codecs, TTL, skip indexes or LowCardinality.
	Baseline Dialect = "baseline"
	// Modern needs ClickHouse 23.8 or later: DateTime64(3), IPv6,
	// LowCardinality, codecs, Map, TTL and bloom-filter indexes.
	Modern Dialect = "modern"
)

// ParseDialect returns the dialect named s.
func ParseDialect(s string) (Dialect, error) {
	switch d := Dialect(strings.ToLower(strings.TrimSpace(s))); d {
	case Baseline, Modern:
		return d, nil
	}
	return "", fmt.Errorf("unknown dialect %q (want baseline or modern)", s)
}

//go:embed migrations
var migrationFS embed.FS

// Migration is one versioned step of the schema.
type Migration struct {
	Version    int
	Name       string
	Statements []string // each runs on its own; all are idempotent (IF NOT EXISTS)
}

// Migrations returns the dialect's migrations in order, rendered for a
// retention of retentionDays (0: no TTL clauses).
func Migrations(d Dialect, retentionDays int) ([]Migration, error) {
	if _, err := ParseDialect(string(d)); err != nil {
		return nil, err
	}
	dir := path.Join("migrations", string(d))
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		b, err := migrationFS.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: rest, Statements: splitStatements(render(string(b), retentionDays))})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	return ms, nil
}

// render fills in {retention_days}; with no retention the lines that use it
// (TTL clauses) are left out.
func render(sql string, retentionDays int) string {
	var b strings.Builder
	for line := range strings.Lines(sql) {
		if strings.Contains(line, "{retention_days}") {
			if retentionDays <= 0 {
				continue
			}
			line = strings.ReplaceAll(line, "{retention_days}", strconv.Itoa(retentionDays))
		}
		b.WriteString(line)
	}
	return b.String()
}

// splitStatements splits a migration file at lines that end with ';' and
// drops comment lines. The files contain no string literal with ";\n".
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.Lines(sql) {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(t, ";") {
			s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			out = append(out, s)
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// Schema returns the dialect's DDL as one script, statements separated by
// ";\n\n", for `vigil schema print`.
func Schema(d Dialect, retentionDays int) (string, error) {
	ms, err := Migrations(d, retentionDays)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(migrationsTableDDL + ";\n\n")
	for _, m := range ms {
		fmt.Fprintf(&b, "-- %04d %s (%s)\n", m.Version, m.Name, d)
		for _, s := range m.Statements {
			b.WriteString(s + ";\n\n")
		}
	}
	return b.String(), nil
}

const migrationsTableDDL = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    dialect    String,
    applied_at DateTime('UTC')
)
ENGINE = MergeTree()
ORDER BY version`

// MigrateResult says what Migrate did.
type MigrateResult struct {
	Dialect Dialect
	Server  string // server version
	Applied []int  // versions applied by this call
}

// Migrate brings the connected database's schema up to date. The dialect is
// chosen from the server's version unless force is set. It is idempotent:
// applied versions are recorded in schema_migrations and every statement is
// IF NOT EXISTS, so a migration interrupted half-way is simply re-run.
func Migrate(ctx context.Context, conn driver.Conn, force Dialect, retentionDays int) (MigrateResult, error) {
	var res MigrateResult
	v, err := serverVersion(ctx, conn)
	if err != nil {
		return res, err
	}
	res.Server = v
	res.Dialect = DialectFor(v)
	if force != "" {
		res.Dialect = force
	}
	ms, err := Migrations(res.Dialect, retentionDays)
	if err != nil {
		return res, err
	}
	if err := conn.Exec(ctx, migrationsTableDDL); err != nil {
		return res, fmt.Errorf("create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return res, fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var n uint32
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return res, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[int(n)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("read schema_migrations: %w", err)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		for i, s := range m.Statements {
			if err := conn.Exec(ctx, s); err != nil {
				return res, fmt.Errorf("migration %04d_%s statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, dialect, applied_at)")
		if err != nil {
			return res, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		if err := b.Append(uint32(m.Version), m.Name, string(res.Dialect), time.Now().UTC()); err != nil {
			_ = b.Abort()
			return res, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		if err := b.Send(); err != nil {
			return res, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		res.Applied = append(res.Applied, m.Version)
	}
	return res, nil
}

// dialectOf returns the dialect the database was migrated with, from
// schema_migrations, or the server's when none is recorded.
func dialectOf(ctx context.Context, conn driver.Conn) (Dialect, error) {
	var d string
	err := conn.QueryRow(ctx, "SELECT dialect FROM schema_migrations ORDER BY version DESC LIMIT 1").Scan(&d)
	if err == nil {
		if pd, perr := ParseDialect(d); perr == nil {
			return pd, nil
		}
	}
	v, verr := serverVersion(ctx, conn)
	if verr != nil {
		return "", verr
	}
	return DialectFor(v), nil
}

// MigrateDB connects to cfg.DSN, runs Migrate and disconnects. force, when
// set, overrides the dialect chosen from the server's version.
func MigrateDB(ctx context.Context, cfg Config, force Dialect, logger *slog.Logger) (MigrateResult, error) {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conn, db, err := open(cfg, logger)
	if err != nil {
		return MigrateResult{}, err
	}
	defer conn.Close()
	return migrateCreating(ctx, conn, cfg, db, force, logger)
}

// migrateCreating runs Migrate on conn, first creating the database db
// (the one conn is for) when the server does not have it.
func migrateCreating(ctx context.Context, conn driver.Conn, cfg Config, db string, force Dialect, logger *slog.Logger) (MigrateResult, error) {
	res, err := Migrate(ctx, conn, force, cfg.retentionDays())
	if isUnknownDatabase(err) {
		if err = createDatabase(ctx, cfg, db, logger); err != nil {
			return res, err
		}
		res, err = Migrate(ctx, conn, force, cfg.retentionDays())
	}
	return res, err
}

// codeUnknownDatabase is ClickHouse's UNKNOWN_DATABASE error.
const codeUnknownDatabase = 81

func isUnknownDatabase(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == codeUnknownDatabase
}

// createDatabase creates the database db, which the connection of cfg
// names but the server does not have, through a connection to the
// server's default database.
func createDatabase(ctx context.Context, cfg Config, db string, logger *slog.Logger) error {
	cfg.Database = "default"
	conn, _, err := open(cfg, logger)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(db)); err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	logger.Info("created the clickhouse database", "database", db)
	return nil
}

// quoteIdent quotes a ClickHouse identifier with backquotes.
func quoteIdent(s string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(s) + "`"
}

// ServerDialect connects to cfg.DSN and returns the dialect for its version.
func ServerDialect(ctx context.Context, cfg Config) (Dialect, string, error) {
	conn, _, err := open(cfg.withDefaults(), slog.New(slog.DiscardHandler))
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	v, err := serverVersion(ctx, conn)
	if err != nil {
		return "", "", err
	}
	return DialectFor(v), v, nil
}
