// Command riskctl is Fengqiao's command-line tool: it checks rulesets and
// talks to a running riskd. Run riskctl help for the commands.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"fengqiao/engine"
	"fengqiao/rules"
)

const usage = `riskctl — Fengqiao's command-line tool

Usage:
  riskctl rules lint DIR           check a ruleset: every problem as file:line: rule ID: message
  riskctl rules render [-unit CODE] DIR   the ruleset in force for a unit: the baseline under its overlays
  riskctl rules test [flags] DIR   run the ruleset's tests (*_test.yaml); riskctl rules test -h for the flags
  riskctl rules diff [-json] OLD NEW   what changed between two rulesets, and whether it can only raise or lower colours
  riskctl rules backtest -from OLD -to NEW -signals FILE   replay signals through both; riskctl rules backtest -h for the flags
  riskctl send FILE...             send signals (a JSON signal or array per file) to riskd
  riskctl ingest [flags] FILE      bulk-load a ledger (台账) from CSV, JSONL or XLSX; riskctl ingest -h for the flags
  riskctl subject KIND REF         show a subject's level and why (KIND: person or dispute)
  riskctl history KIND REF         show a subject's level changes
  riskctl cases list|show|export   mediation cases (案件) and their ledger (台账); riskctl cases -h for the flags
  riskctl report daily [flags]     a unit's daily report (日报) as Markdown, JSON, CSV or XLSX; riskctl report -h for the flags
  riskctl zero-report file|status|history  file zero reports (零报告), see who has filed; riskctl zero-report -h for the flags
  riskctl tokens create|list|revoke  manage API tokens (admin); riskctl tokens for the flags
  riskctl audit verify             check the audit log's hash chain, here and on riskd; exit 1 at a break
  riskctl audit show [flags]       list audit entries, newest first; riskctl audit show -h for the flags

Flags for the commands that talk to riskd:
  -server URL                      riskd's address (env FENGQIAO_SERVER, default http://127.0.0.1:8080)
  env FENGQIAO_TOKEN               an API token, sent to riskd as Authorization: Bearer TOKEN
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv)) }

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("riskctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below, on stdout for -h and on stderr for a mistake
	server := fs.String("server", "", "riskd's address")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprint(stderr, usage)
		return 2
	}
	if *server == "" {
		*server = getenv("FENGQIAO_SERVER")
	}
	if *server == "" {
		*server = "http://127.0.0.1:8080"
	}
	c := &client{base: strings.TrimRight(*server, "/"), http: &http.Client{Timeout: 30 * time.Second}, out: stdout, token: getenv("FENGQIAO_TOKEN")}
	a := fs.Args()
	var err error
	switch {
	case len(a) >= 2 && a[0] == "rules" && a[1] == "render":
		return render(a[2:], stdout, stderr)
	case len(a) == 3 && a[0] == "rules" && a[1] == "lint":
		return lint(a[2], stdout, stderr)
	case len(a) >= 2 && a[0] == "rules" && a[1] == "test":
		return ruleTest(a[2:], stdout, stderr)
	case len(a) >= 2 && a[0] == "rules" && a[1] == "diff":
		return rulesDiff(a[2:], stdout, stderr)
	case len(a) >= 2 && a[0] == "rules" && a[1] == "backtest":
		return rulesBacktest(a[2:], c, stdout, stderr)
	case len(a) >= 2 && a[0] == "send":
		err = c.send(a[1:])
	case len(a) >= 1 && a[0] == "ingest":
		return ingest(a[1:], c, stdout, stderr)
	case len(a) == 3 && (a[0] == "subject" || a[0] == "history"):
		err = c.subject(a[0], a[1], a[2])
	case len(a) >= 1 && a[0] == "audit":
		return runAudit(a[1:], c, stdout, stderr)
	case len(a) >= 1 && a[0] == "cases":
		return runCases(a[1:], c, stdout, stderr)
	case len(a) >= 1 && a[0] == "report":
		return runReport(a[1:], c, stdout, stderr)
	case len(a) >= 1 && a[0] == "zero-report":
		return runZeroReport(a[1:], c, stdout, stderr)
	case len(a) >= 1 && a[0] == "tokens":
		return runTokens(a[1:], c, stdout, stderr)
	case len(a) == 1 && (a[0] == "help" || a[0] == "-h"):
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "riskctl:", err)
		return 1
	}
	return 0
}

func lint(dir string, stdout, stderr io.Writer) int {
	rs, err := rules.LoadDir(dir)
	if err != nil {
		return problems(err, stderr)
	}
	e, err := engine.Compile(rs)
	if err != nil {
		return problems(err, stderr)
	}
	fmt.Fprintf(stdout, "ruleset %s: %d rules, %d features, %d keyword lists: ok\n",
		e.Version(), len(rs.Rules), len(rs.Features), len(rs.Keywords))
	// Each overlay is checked against the baseline on its own; riskd also
	// checks each with the overlays of its unit's ancestors.
	overlays, err := rules.LoadOverlays(dir)
	if err != nil {
		return problems(err, stderr)
	}
	for _, o := range overlays {
		ors, err := rules.Apply(rs, []*rules.Overlay{o})
		if err == nil {
			_, err = engine.Compile(ors)
		}
		if err != nil {
			return problems(err, stderr)
		}
		fmt.Fprintf(stdout, "overlay %s (%s): %d rules: ok\n", o.Unit, filepath.Base(o.File), len(ors.Rules))
	}
	return 0
}

type client struct {
	base  string
	http  *http.Client
	out   io.Writer
	token string // sent as a bearer token when set
}

func (c *client) do(method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("riskd at %s is not reachable: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (c *client) send(files []string) error {
	failed := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		code, resp, err := c.do("POST", "/api/v1/signals", b)
		if err != nil {
			return err
		}
		if code != http.StatusAccepted {
			failed++
			fmt.Fprintf(c.out, "%s: refused (%d)\n%s\n", f, code, indent(resp))
			continue
		}
		var r struct {
			Accepted []struct {
				Source    string `json:"source"`
				ID        string `json:"id"`
				Duplicate bool   `json:"duplicate"`
				Subjects  []struct {
					Kind, Ref string
				} `json:"subjects"`
			} `json:"accepted"`
		}
		if err := json.Unmarshal(resp, &r); err != nil {
			return fmt.Errorf("%s: unexpected answer: %w", f, err)
		}
		for _, a := range r.Accepted {
			state := "accepted"
			if a.Duplicate {
				state = "duplicate, ignored"
			}
			var subj []string
			for _, s := range a.Subjects {
				subj = append(subj, s.Kind+"/"+s.Ref)
			}
			fmt.Fprintf(c.out, "%s:%s %s → %s\n", a.Source, a.ID, state, strings.Join(subj, " "))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files refused", failed, len(files))
	}
	return nil
}

func (c *client) subject(what, kind, ref string) error {
	path := "/api/v1/subjects/" + url.PathEscape(kind) + "/" + url.PathEscape(ref)
	if what == "history" {
		path += "/history"
	}
	code, resp, err := c.do("GET", path, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(resp, &e)
		return fmt.Errorf("%s/%s: %s (%d)", kind, ref, e.Error, code)
	}
	if what == "history" {
		var h struct {
			Changes []struct {
				From, To, Signal, Explanation string
				At                            time.Time
			}
		}
		if err := json.Unmarshal(resp, &h); err != nil {
			return err
		}
		for _, ch := range h.Changes {
			from := ch.From
			if from == "" {
				from = "(new)"
			}
			fmt.Fprintf(c.out, "%s  %s → %s  %s  [%s]\n", ch.At.Local().Format("2006-01-02 15:04"), from, ch.To, ch.Explanation, ch.Signal)
		}
		return nil
	}
	var s struct {
		Level          string `json:"level"`
		Unit           string `json:"unit"`
		RulesetVersion string `json:"ruleset_version"`
		Explanation    string `json:"explanation"`
	}
	if err := json.Unmarshal(resp, &s); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s/%s  %s  unit %s  ruleset %s\n%s\n", kind, ref, s.Level, s.Unit, s.RulesetVersion, s.Explanation)
	return nil
}

func indent(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "  ", "  ") != nil {
		return "  " + string(b)
	}
	return "  " + out.String()
}
