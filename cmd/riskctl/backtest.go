package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"time"

	"fengqiao/backtest"
	"fengqiao/engine"
	"fengqiao/jurisdiction"
	"fengqiao/rules"
	"fengqiao/signals"
)

const diffUsage = `Usage: riskctl rules diff [-json] OLD NEW

Lists what changed from ruleset OLD to NEW (each a directory, or one file),
rule by rule, and whether each change can only raise colours (只升), only
lower them (只降), or both (可升可降), as far as the rules' text tells. Both
rulesets must load and compile, as riskctl rules lint checks.

Flags (-flag or --flag, before or after the rulesets):
  -json    the changes as JSON
`

const backtestUsage = `Usage: riskctl rules backtest -from OLD -to NEW -signals FILE [flags]
       riskctl rules backtest -live [-top N] [-json]

With -live, riskd replays the signals it has recorded (those still in its
stream) through its live ruleset and the candidate loaded in its shadow
(POST /api/v1/rules/shadow), and this prints riskd's report. It needs a
root-unit admin token in FENGQIAO_TOKEN and -server as for other commands.

Replays recorded signals through rulesets OLD and NEW (directories, or files)
and reports how many subjects change colour, each way, the largest changes
with both explanations, and how often each rule fires under each. Subjects are
scored as riskd would re-score them at one moment, with no history: no
cooldown or sign-off holds a level, and no override applies.

FILE holds signals as the API takes them: a JSON object, a JSON array, or one
object a line (NDJSON). Each is checked as the API would; ID numbers become
references under a key made for this run only.

Flags:
  -from DIR          the ruleset in force
  -to DIR            the candidate
  -signals FILE      the signals to replay
  -at TIME           when to score, RFC 3339 (default: a minute after the latest signal)
  -top N             how many changes to list with both explanations (default 10)
  -jurisdiction FILE check unit codes against this tree (default: any 12- or 15-digit code)
  -json              the report as JSON
`

// parseInterspersed parses flags that may come before, between or after the
// positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// rulesDiff runs riskctl rules diff; it returns the exit code.
func rulesDiff(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	asJSON := fs.Bool("json", false, "")
	pos, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, diffUsage)
		return 0
	case err != nil || len(pos) != 2:
		fmt.Fprint(stderr, diffUsage)
		return 2
	}
	from, ok := loadRuleset(pos[0], stderr)
	if !ok {
		return 1
	}
	to, ok := loadRuleset(pos[1], stderr)
	if !ok {
		return 1
	}
	c := rules.Diff(from.Ruleset(), to.Ruleset())
	if *asJSON {
		return writeJSON(stdout, stderr, c)
	}
	fmt.Fprint(stdout, c.String())
	return 0
}

// rulesBacktest runs riskctl rules backtest; it returns the exit code.
func rulesBacktest(args []string, c *client, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	fromDir := fs.String("from", "", "")
	toDir := fs.String("to", "", "")
	file := fs.String("signals", "", "")
	at := fs.String("at", "", "")
	top := fs.Int("top", 10, "")
	tree := fs.String("jurisdiction", "", "")
	asJSON := fs.Bool("json", false, "")
	live := fs.Bool("live", false, "")
	pos, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, backtestUsage)
		return 0
	case err == nil && *live && len(pos) == 0 && *fromDir == "" && *toDir == "" && *file == "" && *top >= 0:
		return liveBacktest(c, *top, *asJSON, stdout, stderr)
	case err != nil || len(pos) != 0 || *fromDir == "" || *toDir == "" || *file == "" || *top < 0:
		fmt.Fprint(stderr, backtestUsage)
		return 2
	}
	var now time.Time
	if *at != "" {
		if now, err = time.Parse(time.RFC3339, *at); err != nil {
			fmt.Fprintln(stderr, "riskctl rules backtest: -at: give an RFC 3339 time, e.g. 2026-11-30T09:00:00+08:00")
			return 2
		}
	}
	from, ok := loadRuleset(*fromDir, stderr)
	if !ok {
		return 1
	}
	to, ok := loadRuleset(*toDir, stderr)
	if !ok {
		return 1
	}
	knownUnit := func(code string) bool { return unitCode.MatchString(code) }
	if *tree != "" {
		t, err := jurisdiction.Load(*tree)
		if err != nil {
			fmt.Fprintln(stderr, "riskctl rules backtest:", err)
			return 1
		}
		knownUnit = func(code string) bool { _, ok := t.Unit(code); return ok }
	}
	recs, latest, err := readSignals(*file, knownUnit)
	if err != nil {
		fmt.Fprintf(stderr, "riskctl rules backtest: %s: %v\n", *file, err)
		return 1
	}
	if now.IsZero() {
		now = latest.Add(time.Minute)
	}
	report := backtest.Run(recs, from, to, now, *top)
	if *asJSON {
		return writeJSON(stdout, stderr, report)
	}
	fmt.Fprint(stdout, report.String())
	return 0
}

var unitCode = regexp.MustCompile(`^\d{12}(\d{3})?$`)

// readSignals reads, checks and pseudonymizes the signals of a file, with a
// random key: references only need to agree within the run, and a key that
// is thrown away cannot be used to find anyone later.
func readSignals(file string, knownUnit func(string) bool) ([]signals.Record, time.Time, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return nil, time.Time{}, err
	}
	sigs, err := backtest.Decode(body)
	if err != nil {
		return nil, time.Time{}, err
	}
	latest := backtest.Latest(sigs)
	v := &signals.Validator{KnownUnit: knownUnit, Categories: signals.DefaultCategories,
		Now: func() time.Time { return latest }} // judge "in the future" and "too old" against the recording's end
	key := make([]byte, 32)
	rand.Read(key)
	p, err := signals.NewPseudonymizer(key)
	if err != nil {
		return nil, time.Time{}, err
	}
	recs, err := backtest.Records(sigs, v, p)
	return recs, latest, err
}

// loadRuleset loads and compiles a ruleset directory (or one file), writing
// every problem to stderr as rules lint does.
func loadRuleset(path string, stderr io.Writer) (*engine.Engine, bool) {
	var rs *rules.Ruleset
	var err error
	if fi, statErr := os.Stat(path); statErr == nil && !fi.IsDir() {
		rs, err = rules.LoadFiles(path)
	} else {
		rs, err = rules.LoadDir(path)
	}
	var e *engine.Engine
	if err == nil {
		if e, err = engine.Compile(rs); err == nil {
			return e, true
		}
	}
	var problems rules.Errors
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Fprintln(stderr, p.String())
		}
		fmt.Fprintf(stderr, "%s: %d problems\n", path, len(problems))
	} else {
		fmt.Fprintln(stderr, "riskctl:", err)
	}
	return nil, false
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, "riskctl:", err)
		return 1
	}
	return 0
}

// liveBacktest asks riskd to backtest its shadow ruleset on its recorded signals.
func liveBacktest(c *client, top int, asJSON bool, stdout, stderr io.Writer) int {
	path := fmt.Sprintf("/api/v1/rules/shadow/backtest?top=%d", top)
	if !asJSON {
		path += "&format=text"
	}
	code, body, err := c.do("GET", path, nil)
	if err == nil && code != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		err = fmt.Errorf("%s (%d)", e.Error, code)
	}
	if err != nil {
		fmt.Fprintln(stderr, "riskctl rules backtest:", err)
		return 1
	}
	_, _ = stdout.Write(body)
	return 0
}
