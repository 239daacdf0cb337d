package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"fengqiao/internal/audit"
)

const auditUsage = `Usage: riskctl [-server URL] audit verify
       riskctl [-server URL] audit show [flags]

verify checks the audit log's (审计日志) hash chain twice: here, over every
entry riskd lists, and on riskd, which also checks that no entry was removed
from the end. For each it prints "audit chain intact: N entries" or the first
broken link, and it exits 1 if either finds one.

show lists audit entries, newest first. Flags:
  -actor ID          entries by this actor: a token id, or system
  -unit CODE         entries by actors of this unit (the code exactly)
  -subject S         entries about this subject: person/P…, dispute/…, a case number
  -action A          entries of this action: rules.load, policy.load, token.create,
                     token.revoke, subject.override, subject.signoff, alert.ack,
                     case.register, case.accept, case.assign … (one per case step), pii.read
  -from TIME         entries at or after TIME, in RFC 3339 (2026-11-03T08:00:00+08:00)
  -to TIME           entries at or before TIME
  -limit N           at most N entries, 1 to 1000 (default: riskd's, 100)
`

// runAudit runs `riskctl audit`. It returns the exit code.
func runAudit(args []string, c *client, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 1 && args[0] == "verify":
		ok, err := c.auditVerify()
		if err != nil {
			fmt.Fprintln(stderr, "riskctl: audit verify:", err)
			return 1
		}
		if !ok {
			return 1
		}
		return 0
	case len(args) >= 1 && args[0] == "show":
		return auditShow(args[1:], c, stdout, stderr)
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprint(stdout, auditUsage)
		return 0
	default:
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
}

// auditVerify prints both checks and says whether both found the chain
// intact.
func (c *client) auditVerify() (bool, error) {
	// riskd's report first: the entries listed afterwards can only be more.
	var server audit.Report
	if err := c.getJSON("/api/v1/audit/verify", &server); err != nil {
		return false, err
	}
	var listing struct {
		Entries []audit.Entry `json:"entries"`
	}
	if err := c.getJSON("/api/v1/audit?all=true", &listing); err != nil {
		return false, err
	}
	es := listing.Entries
	if n := len(es); n > 1 && es[0].Seq > es[n-1].Seq {
		return false, errors.New("riskd listed the entries newest first; with all=true it must list them oldest first")
	}
	local := audit.VerifyEntries(es)
	if local.OK && local.Entries < server.Entries {
		// The chain seen here is whole as far as it goes, but riskd checked
		// more: the listing leaves entries out at the end.
		local.OK = false
		local.FirstBroken = &audit.Broken{Seq: local.Entries + 1,
			Reason: fmt.Sprintf("riskd verified %d entries but listed only %d: the listing leaves entries out", server.Entries, local.Entries)}
	}
	fmt.Fprintf(c.out, "checked here:     %s\n", local)
	fmt.Fprintf(c.out, "checked by riskd: %s\n", server)
	return local.OK && server.OK, nil
}

// getJSON gets path from riskd and decodes its JSON answer into v.
func (c *client) getJSON(path string, v any) error {
	code, body, err := c.do("GET", path, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(code)
		}
		return fmt.Errorf("riskd refused: %s (%d)", e.Error, code)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("unexpected answer from riskd: %w", err)
	}
	return nil
}

func auditShow(args []string, c *client, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below: -h to stdout, a mistake to stderr
	var q struct{ actor, unit, subject, action, from, to string }
	fs.StringVar(&q.actor, "actor", "", "")
	fs.StringVar(&q.unit, "unit", "", "")
	fs.StringVar(&q.subject, "subject", "", "")
	fs.StringVar(&q.action, "action", "", "")
	fs.StringVar(&q.from, "from", "", "")
	fs.StringVar(&q.to, "to", "", "")
	limit := fs.Int("limit", 0, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, auditUsage)
			return 0
		}
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	mistake := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "riskctl: audit show: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return mistake("unexpected argument %q: audit show takes only flags", fs.Arg(0))
	}
	v := url.Values{}
	for _, p := range []struct{ name, value string }{
		{"actor", q.actor}, {"unit", q.unit}, {"subject", q.subject}, {"action", q.action}, {"from", q.from}, {"to", q.to},
	} {
		if p.value == "" {
			continue
		}
		if p.name == "from" || p.name == "to" {
			if _, err := time.Parse(time.RFC3339, p.value); err != nil {
				return mistake("-%s %q: give a time in RFC 3339, such as 2026-11-03T08:00:00+08:00", p.name, p.value)
			}
		}
		v.Set(p.name, p.value)
	}
	if *limit < 0 || *limit > audit.MaxLimit {
		return mistake("-limit %d: give 1 to %d", *limit, audit.MaxLimit)
	}
	if *limit > 0 {
		v.Set("limit", strconv.Itoa(*limit))
	}
	path := "/api/v1/audit"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var res struct {
		Entries []audit.Entry `json:"entries"`
	}
	if err := c.getJSON(path, &res); err != nil {
		fmt.Fprintln(stderr, "riskctl: audit show:", err)
		return 1
	}
	if len(res.Entries) == 0 {
		fmt.Fprintln(stderr, "no audit entries match")
		return 0
	}
	for _, e := range res.Entries {
		fmt.Fprintln(stdout, formatEntry(e))
	}
	return 0
}

// formatEntry prints an entry on one line: local time, seq, who, what,
// about what, and the detail.
func formatEntry(e audit.Entry) string {
	who := e.Actor
	if parts := nonEmpty(e.Role, e.Unit); parts != "" {
		who += " (" + parts + ")"
	}
	subject := e.Subject
	if subject == "" {
		subject = "-"
	}
	detail := strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(e.Detail) // one entry, one line
	return fmt.Sprintf("%s  #%d  %s  %s  %s  %s", e.At.Local().Format("2006-01-02 15:04:05"), e.Seq, who, e.Action, subject, detail)
}

func nonEmpty(s ...string) string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return strings.Join(out, ", ")
}
