package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"fengqiao/engine"
	"fengqiao/jurisdiction"
	"fengqiao/rules"
)

// render prints the ruleset in force for a unit: the baseline in DIR under
// the overlays (DIR/overlays) of the unit and its ancestors, outermost first.
func render(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	unit := fs.String("unit", "", "the unit whose rules to render (default: the baseline)")
	tree := fs.String("jurisdiction", "fixtures/jurisdiction.yaml", "the jurisdiction file")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: riskctl rules render [-unit CODE] [-jurisdiction FILE] DIR")
		return 2
	}
	dir := fs.Arg(0)
	base, err := rules.LoadDir(dir)
	if err != nil {
		return problems(err, stderr)
	}
	rs := base
	if *unit != "" {
		t, err := jurisdiction.Load(*tree)
		if err != nil {
			fmt.Fprintln(stderr, "riskctl:", err)
			return 1
		}
		if _, ok := t.Unit(*unit); !ok {
			fmt.Fprintf(stderr, "riskctl: unit %s is not in %s\n", *unit, *tree)
			return 1
		}
		overlays, err := rules.LoadOverlays(dir)
		if err != nil {
			return problems(err, stderr)
		}
		var chain []*rules.Overlay
		for _, a := range reverse(t.Ancestors(*unit)) {
			chain = appendOverlay(chain, overlays, a.Code)
		}
		chain = appendOverlay(chain, overlays, *unit)
		if rs, err = rules.Apply(base, chain); err != nil {
			return problems(err, stderr)
		}
	}
	if _, err := engine.Compile(rs); err != nil {
		return problems(err, stderr)
	}
	out, err := rules.Render(rs)
	if err != nil {
		fmt.Fprintln(stderr, "riskctl:", err)
		return 1
	}
	_, _ = stdout.Write(out)
	return 0
}

func appendOverlay(chain, overlays []*rules.Overlay, unit string) []*rules.Overlay {
	for _, o := range overlays {
		if o.Unit == unit {
			chain = append(chain, o)
		}
	}
	return chain
}

func reverse(us []jurisdiction.Unit) []jurisdiction.Unit {
	out := make([]jurisdiction.Unit, len(us))
	for i, u := range us {
		out[len(us)-1-i] = u
	}
	return out
}

func problems(err error, stderr io.Writer) int {
	var ps rules.Errors
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(stderr, p.String())
		}
		fmt.Fprintf(stderr, "%d problems\n", len(ps))
		return 1
	}
	fmt.Fprintln(stderr, "riskctl:", err)
	return 1
}
