package app

import (
	"net/http"
	"strings"

	"fengqiao/internal/console"
	"fengqiao/internal/ruleset"
)

// newConsole makes the web console over the same services as the API.
func (a *App) newConsole() (http.Handler, error) {
	c := &console.Server{
		RDB: a.rdb, Auth: a.tokens, Tokens: a.tokens, Audit: auditor{a.audit}, Subjects: a.scorer, Rules: rulesView{a.rules},
		Units: a.tree, Now: a.now, Log: a.base.With("component", "console"),
		Secure: strings.HasPrefix(a.cfg.PublicURL, "https://"),
	}
	// Interfaces stay nil, not typed nils, for the services riskd runs without.
	if a.alerting != nil {
		c.Alerts = a.alerting
	}
	if a.cases != nil {
		c.Cases = a.cases
	}
	if a.reporting != nil {
		c.Reports = a.reporting
	}
	return c.Handler()
}

// rulesView lists the ruleset in force for the console.
type rulesView struct{ *ruleset.Live }

func (r rulesView) Rules() []console.RuleView {
	rs := r.Engine().Ruleset()
	out := make([]console.RuleView, len(rs.Rules))
	for i, ru := range rs.Rules {
		out[i] = console.RuleView{ID: ru.ID, Name: ru.Name, When: ru.When, Score: ru.Score, Description: ru.Description,
			AppliesTo: ru.AppliesTo, AtLeast: ru.AtLeast}
	}
	return out
}
