package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"
)

const tokensUsage = `Usage:
  riskctl tokens create -name NAME -role ROLE -unit CODE   make a token; its secret is printed once
  riskctl tokens list                                      the tokens of your jurisdiction
  riskctl tokens revoke ID                                 end a token at once
Roles: admin, duty, mediator, reporter, viewer, system. Needs an admin token in FENGQIAO_TOKEN.
`

type tokenView struct {
	TokenID   string     `json:"token_id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Unit      string     `json:"unit"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// runTokens manages tokens through riskd's API.
func runTokens(args []string, c *client, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokensUsage)
		return 2
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("tokens create", flag.ContinueOnError)
		fs.SetOutput(stderr)
		name := fs.String("name", "", "who holds the token, e.g. 枫桥镇值班室")
		role := fs.String("role", "", "admin, duty, mediator, reporter, viewer or system")
		unit := fs.String("unit", "", "the unit code whose subtree the token sees")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 || *name == "" || *role == "" || *unit == "" {
			fmt.Fprint(stderr, tokensUsage)
			return 2
		}
		body, _ := json.Marshal(map[string]string{"name": *name, "role": *role, "unit": *unit})
		var out struct {
			Token  tokenView `json:"token"`
			Secret string    `json:"secret"`
		}
		if err := c.call("POST", "/api/v1/tokens", body, http.StatusCreated, &out); err != nil {
			fmt.Fprintln(stderr, "riskctl:", err)
			return 1
		}
		fmt.Fprintf(stdout, "token %s for %s (%s, unit %s)\nsecret (shown this once, never stored): %s\n",
			out.Token.TokenID, out.Token.Name, out.Token.Role, out.Token.Unit, out.Secret)
		return 0
	case "list":
		var out struct {
			Tokens []tokenView `json:"tokens"`
		}
		if err := c.call("GET", "/api/v1/tokens", nil, http.StatusOK, &out); err != nil {
			fmt.Fprintln(stderr, "riskctl:", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tUNIT\tCREATED\tSTATE")
		for _, t := range out.Tokens {
			state := "active"
			if t.RevokedAt != nil {
				state = "revoked " + t.RevokedAt.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.TokenID, t.Name, t.Role, t.Unit, t.CreatedAt.Local().Format("2006-01-02 15:04"), state)
		}
		_ = tw.Flush()
		return 0
	case "revoke":
		if len(args) != 2 {
			fmt.Fprint(stderr, tokensUsage)
			return 2
		}
		var out struct {
			Token tokenView `json:"token"`
		}
		if err := c.call("DELETE", "/api/v1/tokens/"+url.PathEscape(args[1]), nil, http.StatusOK, &out); err != nil {
			fmt.Fprintln(stderr, "riskctl:", err)
			return 1
		}
		fmt.Fprintf(stdout, "token %s (%s) revoked\n", out.Token.TokenID, out.Token.Name)
		return 0
	}
	fmt.Fprint(stderr, tokensUsage)
	return 2
}

// call sends a request and decodes a JSON answer with the wanted status, or
// returns riskd's error message.
func (c *client) call(method, path string, body []byte, want int, out any) error {
	code, resp, err := c.do(method, path, body)
	if err != nil {
		return err
	}
	if code != want {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(resp, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(code)
		}
		return fmt.Errorf("%s (%d)", e.Error, code)
	}
	return json.Unmarshal(resp, out)
}
