package main

import (
	"fmt"
	"io"
	"io/fs"

	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/rules/builtin"
)

const rulesUsage = `Usage: vigil rules lint|test|list [--no-builtin] [DIR...]

  lint   load the builtin rules and the rule files in each DIR; print every problem (file:line: rule id: reason)
  test   run the inline tests of those rules with the real parsers
  list   print one rule a line: id, kind, severity, title
`

// cmdRules runs `vigil rules lint|test|list [--no-builtin] [DIR...]`. A
// broken rule set or a failed test exits 1.
func cmdRules(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return usageError{"rules: name a subcommand: lint, test or list"}
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("rules "+sub, stderr)
	noBuiltin := fs.Bool("no-builtin", false, "leave the builtin rules out")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), rulesUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	src := app.RuleSources{Dirs: fs.Args()}
	if !*noBuiltin {
		src.Builtin = builtinRules()
	}
	switch sub {
	case "lint":
		return app.LintRules(stdout, src)
	case "list", "test":
		rs, err := app.LoadRules(src)
		if err != nil {
			// The rule set is broken: say what lint says.
			return app.LintRules(stderr, src)
		}
		if sub == "list" {
			return app.ListRules(stdout, rs)
		}
		return app.TestRules(stdout, rs)
	}
	fmt.Fprint(stderr, rulesUsage)
	return usageError{fmt.Sprintf("rules: unknown subcommand %q", sub)}
}

// builtinRules returns the embedded catalog.
func builtinRules() fs.FS { return builtin.FS }
