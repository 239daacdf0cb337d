// Package engine compiles a ruleset's expressions (expr-lang/expr) once and
// evaluates them over a subject's state into a five-colour assessment with
// the reasons. It is pure: no I/O, no clocks of its own, safe for concurrent
// use.
package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"fengqiao/risk"
	"fengqiao/rules"
)

// Limits on what one expression may cost, so that a rule author cannot stall
// the engine with an accidental monster.
const (
	maxNodes     = 2000    // AST nodes per expression
	memoryBudget = 100_000 // expr VM memory units per run
)

// Env is what a rule's expressions see. It is a typed struct, so every
// expression is type-checked when the ruleset loads.
type Env struct {
	Subject  SubjectFacts       `expr:"subject"`
	Signal   SignalFacts        `expr:"signal"`   // the signal being processed; zero on a re-score
	Features map[string]float64 `expr:"features"` // the ruleset's declared features
	Tags     []string           `expr:"tags"`     // every tag seen on the subject's kept signals
}

// SubjectFacts are facts about the subject itself.
type SubjectFacts struct {
	Kind    string `expr:"kind"`    // person or dispute
	Unit    string `expr:"unit"`    // unit code of its latest signal
	Weak    bool   `expr:"weak"`    // identified by name + phone only, not an ID number
	Signals int    `expr:"signals"` // signals kept for it
}

// SignalFacts are the facts of the signal being processed.
type SignalFacts struct {
	Source        string   `expr:"source"`
	Category      string   `expr:"category"`
	Tags          []string `expr:"tags"`
	Keywords      []string `expr:"keywords"` // keyword lists its summary matched
	PartyCount    int      `expr:"party_count"`
	Amount        float64  `expr:"amount"`
	PetitionLevel int      `expr:"petition_level"`
	SkipLevel     bool     `expr:"skip_level"`
	Collective    bool     `expr:"collective"`
	Repeat        bool     `expr:"repeat"`
}

// Engine is a compiled ruleset.
type Engine struct {
	rs       *rules.Ruleset
	compiled []compiledRule
	keywords []keywordList
}

type compiledRule struct {
	rules.Rule
	when, score *vm.Program
}

type keywordList struct {
	name  string
	words []string
}

// Compile compiles and type-checks every rule of rs. All problems are returned
// together as rules.Errors, each with file, line and rule id.
func Compile(rs *rules.Ruleset) (*Engine, error) {
	e := &Engine{rs: rs}
	var errs rules.Errors
	for _, r := range rs.Rules {
		c := compiledRule{Rule: r}
		var probs rules.Errors
		c.when, probs = compileExpr(rs, r, "when", r.When, r.Pos.WhenLine, expr.AsBool())
		errs = append(errs, probs...)
		c.score, probs = compileExpr(rs, r, "score", r.Score, r.Pos.ScoreLine, expr.AsFloat64())
		errs = append(errs, probs...)
		e.compiled = append(e.compiled, c)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for name, words := range rs.Keywords {
		e.keywords = append(e.keywords, keywordList{name, words})
	}
	return e, nil
}

func compileExpr(rs *rules.Ruleset, r rules.Rule, field, src string, line int, want expr.Option) (*vm.Program, rules.Errors) {
	prog, err := expr.Compile(src, expr.Env(Env{}), want, expr.MaxNodes(maxNodes))
	if err != nil {
		p := rules.Problem{File: r.Pos.File, Line: line, Rule: r.ID, Message: field + ": " + err.Error()}
		var fe *file.Error
		if errors.As(err, &fe) {
			p.Line = line + fe.Line - 1
			p.Message = fmt.Sprintf("%s: %s (column %d)", field, envNames.Replace(fe.Message), fe.Column+1)
		}
		return nil, rules.Errors{p}
	}
	// Features are a map in Env, so expr cannot know their names: check that
	// every features.NAME the expression reads is declared.
	v := &featureRefs{rs: rs}
	root := prog.Node()
	ast.Walk(&root, v)
	var errs rules.Errors
	for _, name := range v.unknown {
		errs = append(errs, rules.Problem{File: r.Pos.File, Line: line, Rule: r.ID,
			Message: fmt.Sprintf("%s: feature %q is not declared under features", field, name)})
	}
	return prog, errs
}

// envNames turns the Go names of Env's parts in expr's messages into the
// names rule authors write.
var envNames = strings.NewReplacer("type engine.SignalFacts", "signal", "type engine.SubjectFacts", "subject", "engine.Env", "the rule environment")

type featureRefs struct {
	rs      *rules.Ruleset
	unknown []string
}

func (v *featureRefs) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MemberNode)
	if !ok {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "features" {
		return
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		v.unknown = append(v.unknown, "(computed name)")
		return
	}
	if _, ok := v.rs.Feature(prop.Value); !ok {
		v.unknown = append(v.unknown, prop.Value)
	}
}

// Ruleset returns the ruleset the engine was compiled from.
func (e *Engine) Ruleset() *rules.Ruleset { return e.rs }

// Version returns the ruleset's version.
func (e *Engine) Version() string { return e.rs.Version }

// MatchKeywords returns the names of the keyword lists that text mentions,
// in sorted order.
func (e *Engine) MatchKeywords(text string) []string {
	var hits []string
	for _, kl := range e.keywords {
		for _, w := range kl.words {
			if strings.Contains(text, w) {
				hits = append(hits, kl.name)
				break
			}
		}
	}
	sortStrings(hits)
	return hits
}

// Evaluate scores one subject's state at time now. Rule errors do not stop the
// evaluation: they are recorded in the assessment and the rule counts as not
// fired.
func (e *Engine) Evaluate(st State, now time.Time) risk.Assessment {
	env := Env{
		Subject: SubjectFacts{
			Kind:    string(st.Subject.Kind),
			Unit:    st.Unit,
			Weak:    st.Weak,
			Signals: len(st.Events),
		},
		Features: computeFeatures(e.rs.Features, st.Events, now),
		Tags:     distinctTags(st.Events),
	}
	if st.Trigger != nil {
		env.Signal = st.Trigger.facts()
	}
	a := risk.Assessment{
		Subject:        st.Subject,
		Unit:           st.Unit,
		RulesetVersion: e.rs.Version,
		At:             now,
	}
	if st.Trigger != nil {
		a.Signal = st.Trigger.Key
	}
	machine := vm.VM{MemoryBudget: memoryBudget}
	floor := st.Floor
	for i := range e.compiled {
		c := &e.compiled[i]
		if !c.Applies(st.Subject.Kind) {
			continue
		}
		out, err := machine.Run(c.when, env)
		if err != nil {
			a.Errors = append(a.Errors, risk.RuleOutcome{ID: c.ID, Name: c.Name, Error: "when: " + err.Error()})
			continue
		}
		if fired, _ := out.(bool); !fired {
			continue
		}
		out, err = machine.Run(c.score, env)
		if err != nil {
			a.Errors = append(a.Errors, risk.RuleOutcome{ID: c.ID, Name: c.Name, Error: "score: " + err.Error()})
			continue
		}
		points, _ := out.(float64)
		a.Score += points
		a.Fired = append(a.Fired, risk.RuleOutcome{ID: c.ID, Name: c.Name, Points: points, AtLeast: c.AtLeast})
		if c.AtLeast != nil && *c.AtLeast > floor {
			floor = *c.AtLeast
		}
	}
	a.Level = max(e.rs.Levels.Band(a.Score), floor)
	return a
}
