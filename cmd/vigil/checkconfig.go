package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/vigil-sec/vigil/internal/config"
)

// cmdCheckConfig runs `vigil check-config [--example] FILE...`: each file
// goes through the same Load the daemon uses. A good file prints
// "FILE: ok" and a summary on stdout; a bad one prints every problem on
// stderr, one per line, and the command fails (exit 1).
func cmdCheckConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check-config", stderr)
	example := fs.Bool("example", false, "print the annotated example configuration and exit")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: vigil check-config FILE...\n       vigil check-config --example > vigil.yml")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *example {
		_, err := stdout.Write(config.Example)
		return err
	}
	if fs.NArg() == 0 {
		return usageError{"check-config: name a config file (or print an example with --example)"}
	}
	var failed []error
	for _, path := range fs.Args() {
		c, err := config.Load(path)
		if err != nil {
			// A list of problems goes to stderr one per line; the error
			// returned (and printed by main) only counts them.
			var list config.Errors
			if errors.As(err, &list) {
				fmt.Fprintln(stderr, list)
				err = fmt.Errorf("%s: %d problem(s)", path, len(list))
			}
			failed = append(failed, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", path)
		if err := c.WriteSummary(stdout); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("check-config: %w", errors.Join(failed...))
	}
	return nil
}
