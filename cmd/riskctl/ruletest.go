package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"fengqiao/engine"
	"fengqiao/rules"
	"fengqiao/ruletest"
)

const ruleTestUsage = `Usage: riskctl rules test [-run REGEX] [-v] DIR

Runs the rule tests (*_test.yaml) of the ruleset in DIR: prints each failing
test with what it expected and what it got, which rules no test expects to
fire, and last "N passed, M failed". Exits 1 if any test fails or a file has
a problem.

Flags:
`

// ruleTest is riskctl rules test: it loads and compiles the ruleset as lint
// does, then loads its tests and runs them. The report goes to stdout; the
// ruleset's own problems go to stderr, as lint prints them.
func ruleTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runPattern := fs.String("run", "", "run only the tests whose name matches this regular expression")
	verbose := fs.Bool("v", false, "also list the tests that pass")
	fs.Usage = func() {} // printed below, on stdout for -h and on stderr for a mistake
	usage := func(w io.Writer) {
		fs.SetOutput(w)
		fmt.Fprint(w, ruleTestUsage)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	// Flags may come before or after DIR.
	err := fs.Parse(args)
	var dir string
	if err == nil && fs.NArg() > 0 {
		dir = fs.Arg(0)
		err = fs.Parse(fs.Args()[1:])
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage(stdout)
		return 0
	case err != nil || dir == "" || fs.NArg() != 0:
		usage(stderr)
		return 2
	}
	var match *regexp.Regexp
	if *runPattern != "" {
		var err error
		if match, err = regexp.Compile(*runPattern); err != nil {
			fmt.Fprintf(stderr, "riskctl: -run: %v\n", err)
			return 2
		}
	}

	rs, err := rules.LoadDir(dir)
	var e *engine.Engine
	if err == nil {
		e, err = engine.Compile(rs)
	}
	if err != nil {
		printProblems(err, stderr)
		return 1
	}

	files, err := ruletest.Load(dir, rs)
	var problems rules.Errors
	if err != nil && !errors.As(err, &problems) {
		fmt.Fprintln(stderr, "riskctl:", err)
		return 1
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p.String())
	}
	if match != nil {
		for i := range files {
			var kept []ruletest.Case
			for _, c := range files[i].Cases {
				if match.MatchString(c.Name) {
					kept = append(kept, c)
				}
			}
			files[i].Cases = kept
		}
	}

	res := ruletest.Run(e, files)
	for _, o := range res.Outcomes {
		c := o.Case
		if o.Passed() {
			if *verbose {
				fmt.Fprintf(stdout, "ok   %s:%d %s\n", c.File, c.Line, c.Name)
			}
			continue
		}
		fmt.Fprintf(stdout, "FAIL %s:%d %s\n", c.File, c.Line, c.Name)
		for _, f := range o.Failures {
			fmt.Fprintf(stdout, "  %s\n", f)
		}
		fmt.Fprintf(stdout, "  explanation: %s\n", o.Explanation())
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "%d problems in rule test files; their tests did not run\n", len(problems))
	}
	if match == nil && len(problems) == 0 { // coverage means little when some tests did not run
		if len(res.Uncovered) > 0 {
			fmt.Fprintf(stdout, "rules never tested to fire: %s\n", strings.Join(res.Uncovered, ", "))
		}
		if len(res.NoBoundary) > 0 {
			fmt.Fprintf(stdout, "rules never tested not to fire: %s\n", strings.Join(res.NoBoundary, ", "))
		}
	} else if len(res.Outcomes) == 0 {
		fmt.Fprintf(stdout, "no test matches -run %s\n", *runPattern)
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", res.Passed, res.Failed)
	if res.Failed > 0 || len(problems) > 0 || len(res.Outcomes) == 0 {
		return 1
	}
	return 0
}

// printProblems prints a ruleset's problems as lint does: one per line as
// file:line: rule ID: message, then how many.
func printProblems(err error, stderr io.Writer) {
	var problems rules.Errors
	if !errors.As(err, &problems) {
		fmt.Fprintln(stderr, "riskctl:", err)
		return
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, p.String())
	}
	fmt.Fprintf(stderr, "%d problems\n", len(problems))
}
