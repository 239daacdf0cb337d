// Package ruletest runs rule tests: YAML files (*_test.yaml) that committee
// staff (政法委) keep next to their rules, each saying "given these signals at
// these times, at time T this subject is this colour, this rule fires, that
// one does not, and the explanation mentions this". Like promtool's rule
// tests, the files are decoded strictly and every problem is reported with
// its file and line; running them scores each case with the compiled engine,
// exactly as riskd would, and reports what differs from what was expected.
package ruletest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"fengqiao/engine"
	"fengqiao/risk"
)

// File is one rule test file.
type File struct {
	Name  string // the path it was read from
	Cases []Case
}

// Case is one test: a subject, the signals kept for it and what stands
// outside the rules (links, its level so far, an override), the time it is
// scored at, and what is expected.
type Case struct {
	Name     string
	File     string
	Line     int // of the test in its file
	At       time.Time
	Subject  risk.SubjectID
	Weak     bool   // known by name and phone only
	Unit     string // the subject's unit; "" for that of its latest signal
	Signals  []Signal
	Links    []engine.Link
	Previous *engine.Previous
	Override *engine.Override
	Expect   Expect
}

// Signal is one signal as a test gives it: the engine's event, and the
// summary whose keyword lists the engine matches when the test runs, as
// riskd matches them when a signal arrives.
type Signal struct {
	Event   engine.Event
	Summary string
	Trigger bool // the signal being processed: rules reading signal.* see it
}

// Expect is what a case checks. Only what is set is checked.
type Expect struct {
	Level      *risk.Level // the final level, after spread, dampening and override
	RulesLevel *risk.Level // the level from the rules alone
	Score      *float64
	Fires      []string // rules that must fire
	NotFires   []string // rules that must not fire
	Only       bool     // no rule outside Fires may fire
	Mentions   []string // text the explanation must contain
}

// Failure is one way a case's result differs from what it expected.
type Failure struct {
	Check string // level, rules_level, score, fires, not_fires, only, explanation_mentions or error
	Want  string
	Got   string
}

func (f Failure) String() string {
	switch f.Check {
	case "fires":
		return fmt.Sprintf("fires: want %s, did not fire", f.Want)
	case "not_fires":
		return fmt.Sprintf("not_fires: want %s not to fire, it fired (%s)", f.Want, f.Got)
	case "only":
		if f.Want == "" {
			return "only: want no rule to fire, fired " + f.Got
		}
		return fmt.Sprintf("only: want only %s to fire, also fired %s", f.Want, f.Got)
	case "explanation_mentions":
		return fmt.Sprintf("explanation_mentions: want %q, not in the explanation", f.Want)
	case "error":
		return "error: " + f.Got
	}
	return fmt.Sprintf("%s: want %s, got %s", f.Check, f.Want, f.Got)
}

// Outcome is what running one case gave.
type Outcome struct {
	Case       *Case
	Assessment risk.Assessment
	Failures   []Failure
}

// Passed reports whether the case got everything it expected.
func (o Outcome) Passed() bool { return len(o.Failures) == 0 }

// Explanation is the assessment as a duty officer reads it.
func (o Outcome) Explanation() string { return o.Assessment.Explain() }

// Result is the outcome of every case run, in file order.
type Result struct {
	Outcomes []Outcome
	Passed   int
	Failed   int
	// Uncovered lists, in ruleset order, the rules that no case expects to
	// fire; NoBoundary those that no case expects not to fire.
	Uncovered  []string
	NoBoundary []string
}

// Run scores every case of files with e and compares the results with what
// each case expects. Coverage is over the cases given.
func Run(e *engine.Engine, files []File) Result {
	var res Result
	fires, holds := map[string]bool{}, map[string]bool{}
	for i := range files {
		for j := range files[i].Cases {
			c := &files[i].Cases[j]
			o := c.Run(e)
			res.Outcomes = append(res.Outcomes, o)
			if o.Passed() {
				res.Passed++
			} else {
				res.Failed++
			}
			for _, id := range c.Expect.Fires {
				fires[id] = true
			}
			for _, id := range c.Expect.NotFires {
				holds[id] = true
			}
		}
	}
	for _, r := range e.Ruleset().Rules {
		if !fires[r.ID] {
			res.Uncovered = append(res.Uncovered, r.ID)
		}
		if !holds[r.ID] {
			res.NoBoundary = append(res.NoBoundary, r.ID)
		}
	}
	return res
}

// State is what the engine knows of the case's subject: its signals as riskd
// would keep them, with the keyword lists their summaries mention.
func (c *Case) State(e *engine.Engine) engine.State {
	st := engine.State{Subject: c.Subject, Unit: c.Unit, Weak: c.Weak, Links: c.Links,
		Previous: c.Previous, Override: c.Override, Events: make([]engine.Event, len(c.Signals))}
	var latest time.Time
	for i, s := range c.Signals {
		ev := s.Event
		if s.Summary != "" {
			ev.Keywords = slices.Compact(slices.Sorted(slices.Values(append(e.MatchKeywords(s.Summary), ev.Keywords...))))
		}
		st.Events[i] = ev
		if c.Unit == "" && ev.Unit != "" && !ev.At.Before(latest) {
			st.Unit, latest = ev.Unit, ev.At
		}
	}
	for i, s := range c.Signals {
		if s.Trigger {
			st.Trigger = &st.Events[i]
		}
	}
	return st
}

// Run scores the case with e and compares the result with what it expects.
func (c *Case) Run(e *engine.Engine) Outcome {
	a := e.Evaluate(c.State(e), c.At)
	o := Outcome{Case: c, Assessment: a}
	fail := func(check, want, got string) { o.Failures = append(o.Failures, Failure{check, want, got}) }
	for _, r := range a.Errors {
		fail("error", "", fmt.Sprintf("rule %s (%s): %s", r.ID, r.Name, r.Error))
	}
	x := c.Expect
	if x.Level != nil && a.Level != *x.Level {
		fail("level", x.Level.String(), a.Level.String())
	}
	if x.RulesLevel != nil && a.RulesLevel != *x.RulesLevel {
		fail("rules_level", x.RulesLevel.String(), a.RulesLevel.String())
	}
	if x.Score != nil && a.Score != *x.Score {
		fail("score", fmt.Sprintf("%g", *x.Score), fmt.Sprintf("%g", a.Score))
	}
	fired := func(id string) (risk.RuleOutcome, bool) {
		i := slices.IndexFunc(a.Fired, func(r risk.RuleOutcome) bool { return r.ID == id })
		if i < 0 {
			return risk.RuleOutcome{}, false
		}
		return a.Fired[i], true
	}
	for _, id := range x.Fires {
		if _, ok := fired(id); !ok {
			fail("fires", id, "")
		}
	}
	for _, id := range x.NotFires {
		if r, ok := fired(id); ok {
			fail("not_fires", id, fmt.Sprintf("%+g", r.Points))
		}
	}
	if x.Only {
		var extra []string
		for _, r := range a.Fired {
			if !slices.Contains(x.Fires, r.ID) && !slices.Contains(x.NotFires, r.ID) {
				extra = append(extra, fmt.Sprintf("%s (%+g)", r.ID, r.Points))
			}
		}
		if len(extra) > 0 {
			fail("only", strings.Join(x.Fires, ", "), strings.Join(extra, ", "))
		}
	}
	explanation := a.Explain()
	for _, m := range x.Mentions {
		if !strings.Contains(explanation, m) {
			fail("explanation_mentions", m, "")
		}
	}
	return o
}
