package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

const casesUsage = `Usage: riskctl [-server URL] cases list [flags]
       riskctl [-server URL] cases show NUMBER
       riskctl [-server URL] cases export [flags] -o FILE

list prints the cases (案件) of a unit's subtree, newest first: number,
state, category, handling unit and overdue clocks. show prints one case with
its history. export writes the case ledger (案件台账) as CSV or XLSX with
Chinese headers, the format taken from the file's extension.

Flags of list and export:
  -unit CODE       the unit whose subtree is listed (default: the token's unit)
  -state S         only cases in state S (registered, accepted, assigned, signed,
                   mediating, agreed, failed, closed, followed_up, archived …)
  -category C      only cases of this dispute category
  -overdue         only cases with a clock past its due time
  -from DATE       registered on or after DATE (2026-11-01)
  -to DATE         registered on or before DATE
  -limit N         list at most N cases (default 50)
`

func runCases(args []string, c *client, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stdout, casesUsage)
		return 0
	}
	var err error
	switch args[0] {
	case "list", "export":
		err = casesListOrExport(args[0], args[1:], c, stdout, stderr)
	case "show":
		if len(args) != 2 {
			fmt.Fprint(stderr, casesUsage)
			return 2
		}
		err = caseShow(args[1], c, stdout)
	default:
		fmt.Fprint(stderr, casesUsage)
		return 2
	}
	if err == flag.ErrHelp {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "riskctl: cases:", err)
		return 1
	}
	return 0
}

func casesListOrExport(what string, args []string, c *client, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cases "+what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	unit := fs.String("unit", "", "")
	state := fs.String("state", "", "")
	category := fs.String("category", "", "")
	overdue := fs.Bool("overdue", false, "")
	from := fs.String("from", "", "")
	to := fs.String("to", "", "")
	limit := fs.String("limit", "", "")
	out := fs.String("o", "", "")
	fs.Usage = func() { fmt.Fprint(stderr, casesUsage) }
	if err := fs.Parse(args); err != nil {
		return flag.ErrHelp
	}
	q := url.Values{}
	for k, v := range map[string]string{"unit": *unit, "state": *state, "category": *category, "from": *from, "to": *to, "limit": *limit} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *overdue {
		q.Set("overdue", "true")
	}
	if what == "export" {
		switch {
		case *out == "":
			return fmt.Errorf("give the file to write with -o, e.g. -o 台账.xlsx")
		case strings.HasSuffix(strings.ToLower(*out), ".xlsx"):
			q.Set("format", "xlsx")
		case strings.HasSuffix(strings.ToLower(*out), ".csv"):
			q.Set("format", "csv")
		default:
			return fmt.Errorf("%s: the ledger is written as .csv or .xlsx", *out)
		}
		code, body, err := c.do("GET", "/api/v1/cases/export?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return refused(code, body)
		}
		if err := os.WriteFile(*out, body, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", *out, len(body))
		return nil
	}
	var list struct {
		Cases []caseSummary `json:"cases"`
		Total int           `json:"total"`
	}
	if err := c.getJSON("/api/v1/cases?"+q.Encode(), &list); err != nil {
		return err
	}
	for _, cs := range list.Cases {
		fmt.Fprintln(stdout, cs.line())
	}
	fmt.Fprintf(stdout, "%d of %d cases\n", len(list.Cases), list.Total)
	return nil
}

type caseSummary struct {
	Number     string            `json:"number"`
	State      string            `json:"state"`
	Category   string            `json:"category"`
	Summary    string            `json:"summary"`
	Unit       string            `json:"unit"`
	Names      map[string]string `json:"unit_names"`
	Assignment *struct {
		LeadUnit     string `json:"lead_unit"`
		Organisation string `json:"organisation"`
	} `json:"assignment"`
	Overdue []struct {
		Name string `json:"name"`
		Due  string `json:"due"`
	} `json:"overdue"`
}

func (cs caseSummary) line() string {
	handler := cs.Names[cs.Unit]
	if cs.Assignment != nil {
		handler = cs.Assignment.Organisation
	}
	s := fmt.Sprintf("%s  %-11s  %s  %s  %s", cs.Number, cs.State, cs.Category, handler, cs.Summary)
	for _, o := range cs.Overdue {
		s += fmt.Sprintf("  [超期 %s, due %s]", o.Name, o.Due)
	}
	return s
}

func caseShow(number string, c *client, stdout io.Writer) error {
	var v struct {
		caseSummary
		Allowed []string `json:"allowed_actions"`
		History []struct {
			Seq    int    `json:"seq"`
			Action string `json:"action"`
			At     string `json:"at"`
			By     struct {
				Name string `json:"name"`
				Role string `json:"role"`
			} `json:"by"`
			From   string `json:"from"`
			To     string `json:"to"`
			Reason string `json:"reason"`
		} `json:"history"`
	}
	if err := c.getJSON("/api/v1/cases/"+url.PathEscape(number), &v); err != nil {
		return err
	}
	fmt.Fprintln(stdout, v.line())
	for _, h := range v.History {
		line := fmt.Sprintf("  %3d  %s  %-18s %s → %s  by %s (%s)", h.Seq, h.At, h.Action, h.From, h.To, h.By.Name, h.By.Role)
		if h.Reason != "" {
			line += "  " + h.Reason
		}
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "steps you may take now: %s\n", strings.Join(v.Allowed, ", "))
	return nil
}

// refused turns riskd's error answer into an error.
func refused(code int, body []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		e.Error = http.StatusText(code)
	}
	return fmt.Errorf("riskd refused: %s (%d)", e.Error, code)
}
