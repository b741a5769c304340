package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// storeFlags are the connection flags of `vigil schema` and `vigil store`.
type storeFlags struct {
	dsn, passwordFile string
	retention         time.Duration
}

func (sf *storeFlags) config() (store.Config, error) {
	cfg := store.DefaultConfig()
	cfg.DSN = sf.dsn
	if sf.retention != 0 {
		cfg.Retention = sf.retention
	}
	if sf.passwordFile != "" {
		b, err := os.ReadFile(sf.passwordFile)
		if err != nil {
			return cfg, fmt.Errorf("--password-file: %w", err)
		}
		cfg.Password = strings.TrimSpace(string(b))
	}
	return cfg, nil
}

// cmdSchema runs `vigil schema print|migrate [--dialect D] [--dsn DSN]`.
func cmdSchema(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "print" && args[0] != "migrate") {
		return usageError{"schema: want print or migrate"}
	}
	sub := args[0]
	fs := newFlagSet("schema "+sub, stderr)
	var sf storeFlags
	dialect := fs.String("dialect", "", "baseline (ClickHouse before 23.8) or modern; default: from the server's version, baseline without --dsn")
	fs.StringVar(&sf.dsn, "dsn", "", "ClickHouse DSN, clickhouse://user@host:9000/database")
	fs.StringVar(&sf.passwordFile, "password-file", "", "file holding the ClickHouse password")
	fs.DurationVar(&sf.retention, "retention", store.DefaultRetention, "event retention, for the modern dialect's TTL")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("schema %s: unexpected argument %q", sub, fs.Arg(0))}
	}
	var force store.Dialect
	if *dialect != "" {
		d, err := store.ParseDialect(*dialect)
		if err != nil {
			return usageError{"--dialect: " + err.Error()}
		}
		force = d
	}
	cfg, err := sf.config()
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil && cfg.DSN != "" && !strings.Contains(err.Error(), "spool_dir") {
		return usageError{err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	days := int(cfg.Retention / (24 * time.Hour))
	switch sub {
	case "print":
		d := force
		if d == "" {
			d = store.Baseline
			if cfg.DSN != "" {
				if d, _, err = store.ServerDialect(ctx, cfg); err != nil {
					return err
				}
			}
		}
		s, err := store.Schema(d, days)
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, s)
		return err
	default:
		if cfg.DSN == "" {
			return usageError{"schema migrate: --dsn is required"}
		}
		res, err := store.MigrateDB(ctx, cfg, force, newLogger(stderr))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "server %s, dialect %s, applied %d migration(s) %v\n", res.Server, res.Dialect, len(res.Applied), res.Applied)
		return nil
	}
}

// cmdStore runs `vigil store load --dsn DSN FILE|DIR...`: it imports an
// event archive (NDJSON) or a spool into ClickHouse.
func cmdStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "load" {
		return usageError{"store: want load"}
	}
	fs := newFlagSet("store load", stderr)
	var sf storeFlags
	fs.StringVar(&sf.dsn, "dsn", "", "ClickHouse DSN, clickhouse://user@host:9000/database (required)")
	fs.StringVar(&sf.passwordFile, "password-file", "", "file holding the ClickHouse password")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: vigil store load --dsn DSN FILE|DIR...\n"+
			"  FILE: an archive file (*.ndjson) or a spool segment (*.seg)\n"+
			"  DIR:  an archive directory, or a spool directory (resumed from its cursor; stop the daemon first)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if sf.dsn == "" {
		return usageError{"store load: --dsn is required"}
	}
	if fs.NArg() == 0 {
		return usageError{"store load: name at least one archive or spool"}
	}
	cfg, err := sf.config()
	if err != nil {
		return err
	}
	res, err := store.Load(ctx, cfg, fs.Args(), newLogger(stderr))
	fmt.Fprintf(stdout, "loaded %d events from %d file(s)\n", res.Events, res.Files)
	return err
}
