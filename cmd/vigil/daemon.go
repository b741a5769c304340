package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
)

// DefaultConfigFile is where `vigil run` looks without --config.
const DefaultConfigFile = "/etc/vigil/vigil.yml"

// cmdRun is `vigil run`: the daemon. SIGTERM and SIGINT (ctx) drain and
// stop it; SIGHUP reloads the config and the rules.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	file := fs.String("config", DefaultConfigFile, "config file")
	drain := fs.Duration("drain-timeout", app.DefaultDrainTimeout, "how long a shutdown may take to drain")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"run takes no arguments"}
	}
	cfg, err := config.Load(*file)
	if err != nil {
		return err
	}
	logger, err := daemonLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	d, err := app.NewDaemon(app.RunOptions{
		Config: cfg, Builtin: builtinRules(), Stdout: stdout, Reload: reload,
		DrainTimeout: *drain, Logger: logger,
	})
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

// daemonLogger is the logger of `vigil run`: the config's level and
// format, on stderr (journald takes it from there).
func daemonLogger(l config.Log, stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	o := &slog.HandlerOptions{Level: level}
	if l.Format == config.LogJSON {
		return slog.New(slog.NewJSONHandler(stderr, o)), nil
	}
	return slog.New(slog.NewTextHandler(stderr, o)), nil
}

// cmdDemo is `vigil demo`: a generated attack scenario through the whole
// pipeline, alerts as a table.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	dir := fs.String("dir", "", "directory for the logs and the state (default: a new temporary directory)")
	scenario := fs.String("scenario", "mixed", "scenario to generate (see vigil gen)")
	lines := fs.Int("lines", 6000, "log lines to generate over all files")
	seed := fs.Int64("seed", 1, "random seed")
	verbose := fs.Bool("v", false, "log what the daemon does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "vigil-demo-")
		if err != nil {
			return err
		}
		*dir = d
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	logger := newLogger(stderr)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	start := time.Now()
	_, err = app.Demo(ctx, app.DemoOptions{
		Dir: abs, Scenario: *scenario, Lines: *lines, Seed: *seed,
		Builtin: builtinRules(), Stdout: stdout, Logger: logger,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Done in %s.\n", time.Since(start).Round(10*time.Millisecond))
	return nil
}
