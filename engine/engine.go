// Package engine compiles a ruleset's expressions (expr-lang/expr) once and
// evaluates them over a subject's state into a five-colour assessment with
// the reasons. It is pure: no I/O, no clocks of its own, safe for concurrent
// use.
package engine

import (
	"errors"
	"fmt"
	"strings"
	"sync"
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
	Cases    CaseFacts          `expr:"cases"`    // the subject's mediation cases, from case events
}

// SubjectFacts are facts about the subject itself.
type SubjectFacts struct {
	Kind         string `expr:"kind"`          // person or dispute
	Unit         string `expr:"unit"`          // unit code of its latest signal
	Weak         bool   `expr:"weak"`          // identified by name + phone only, not an ID number
	Signals      int    `expr:"signals"`       // signals kept for it
	LedgerStatus string `expr:"ledger_status"` // latest ledger status (化解状态), "" if none
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
	LedgerStatus  string   `expr:"ledger_status"`
	CaseEvent     string   `expr:"case_event"`
}

// CaseFacts count the subject's cases by their latest state.
type CaseFacts struct {
	Open    int `expr:"open"`    // not yet closed
	Overdue int `expr:"overdue"` // past a deadline (督办)
	Failed  int `expr:"failed"`  // mediation failed (调解不成)
}

// Engine is a compiled ruleset.
type Engine struct {
	rs       *rules.Ruleset
	compiled []compiledRule
	keywords []keywordList
	pool     sync.Pool // *scratch
}

type compiledRule struct {
	rules.Rule
	when, score *vm.Program
	reads       []featureRead // features the condition reads, for explanations
}

// featureRead is a feature a condition reads, with the threshold it compares
// it against when there is one (features.x >= 3).
type featureRead struct {
	feature *rules.Feature
	op      string
	limit   string
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
		if c.when != nil {
			c.reads = featureReads(rs, c.when.Node())
		}
		e.compiled = append(e.compiled, c)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for name, words := range rs.Keywords {
		e.keywords = append(e.keywords, keywordList{name, words})
	}
	e.pool.New = func() any {
		return &scratch{env: Env{Features: make(map[string]float64, len(rs.Features))}, last: map[string]*Event{}}
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
var envNames = strings.NewReplacer("type engine.SignalFacts", "signal", "type engine.SubjectFacts", "subject",
	"type engine.CaseFacts", "cases", "engine.Env", "the rule environment")

type featureRefs struct {
	rs      *rules.Ruleset
	unknown []string
}

func (v *featureRefs) Visit(n *ast.Node) {
	name, ok := featureName(*n)
	if !ok {
		return
	}
	if name == "" {
		v.unknown = append(v.unknown, "(computed name)")
		return
	}
	if _, ok := v.rs.Feature(name); !ok {
		v.unknown = append(v.unknown, name)
	}
}

// featureName reports whether n reads a feature (features.NAME or
// features["NAME"]) and which; "" when the name is computed.
func featureName(n ast.Node) (string, bool) {
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return "", false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "features" {
		return "", false
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		return "", true
	}
	return prop.Value, true
}

// featureReads lists the features a condition reads, in order, each with the
// threshold it is compared against where that is a plain number.
type readCollector struct {
	rs    *rules.Ruleset
	reads []featureRead
}

func featureReads(rs *rules.Ruleset, root ast.Node) []featureRead {
	c := &readCollector{rs: rs}
	ast.Walk(&root, c)
	return c.reads
}

func (c *readCollector) Visit(n *ast.Node) {
	if b, ok := (*n).(*ast.BinaryNode); ok {
		name, isFeature := featureName(b.Left)
		num, isNum := literal(b.Right)
		op := b.Operator
		if !isFeature || !isNum { // 3 <= features.x
			name, isFeature = featureName(b.Right)
			num, isNum = literal(b.Left)
			op = flip[op]
		}
		if isFeature && isNum && op != "" {
			c.add(name, opNames[op], num)
		}
		return
	}
	if name, ok := featureName(*n); ok {
		c.add(name, "", "")
	}
}

func (c *readCollector) add(name, op, limit string) {
	for i := range c.reads {
		if c.reads[i].feature.Name == name {
			if c.reads[i].op == "" {
				c.reads[i].op, c.reads[i].limit = op, limit
			}
			return
		}
	}
	if f, ok := c.rs.Feature(name); ok {
		fc := f
		c.reads = append(c.reads, featureRead{feature: &fc, op: op, limit: limit})
	}
}

func literal(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.IntegerNode:
		return fmt.Sprint(v.Value), true
	case *ast.FloatNode:
		return fmt.Sprint(v.Value), true
	}
	return "", false
}

var (
	flip    = map[string]string{">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "=="}
	opNames = map[string]string{">": ">", "<": "<", ">=": "≥", "<=": "≤", "==": "=", "!=": "≠"}
)

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

// Evaluate scores one subject's state at time now.
func (e *Engine) Evaluate(st State, now time.Time) risk.Assessment {
	var a risk.Assessment
	e.EvaluateInto(&st, now, &a)
	return a
}

// EvaluateInto is Evaluate writing into a, reusing its slices, so that a
// caller scoring many subjects allocates nothing per subject. Rule errors do
// not stop the evaluation: they are recorded and the rule counts as not fired.
func (e *Engine) EvaluateInto(st *State, now time.Time, a *risk.Assessment) {
	sc := e.pool.Get().(*scratch)
	defer e.pool.Put(sc)
	sc.computeFeatures(e.rs.Features, st.Events, now)
	sc.subjectFacts(st.Events)
	sc.env.Subject.Kind = string(st.Subject.Kind)
	sc.env.Subject.Unit = st.Unit
	sc.env.Subject.Weak = st.Weak
	sc.env.Subject.Signals = len(st.Events)
	sc.env.Signal = SignalFacts{}
	if st.Trigger != nil {
		sc.env.Signal = st.Trigger.facts()
	}

	*a = risk.Assessment{
		Subject: st.Subject, Unit: st.Unit, RulesetVersion: e.rs.Version, RulesetHash: e.rs.Hash, At: now,
		Fired: a.Fired[:0], NotFired: a.NotFired[:0], Errors: a.Errors[:0], Adjustments: a.Adjustments[:0],
	}
	if st.Trigger != nil {
		a.Signal = st.Trigger.Key
	}
	machine := vm.VM{MemoryBudget: memoryBudget}
	floor := risk.Green
	for i := range e.compiled {
		c := &e.compiled[i]
		if !c.Applies(st.Subject.Kind) {
			continue
		}
		out, err := machine.Run(c.when, sc.env)
		if err != nil {
			a.Errors = append(a.Errors, risk.RuleOutcome{ID: c.ID, Name: c.Name, Error: "when: " + err.Error()})
			continue
		}
		if fired, _ := out.(bool); !fired {
			a.NotFired = append(a.NotFired, c.ID)
			continue
		}
		out, err = machine.Run(c.score, sc.env)
		if err != nil {
			a.Errors = append(a.Errors, risk.RuleOutcome{ID: c.ID, Name: c.Name, Error: "score: " + err.Error()})
			continue
		}
		points, _ := out.(float64)
		a.Score += points
		a.Fired = append(a.Fired, risk.RuleOutcome{ID: c.ID, Name: c.Name, Points: points, AtLeast: c.AtLeast,
			Detail: c.detail(sc.env.Features)})
		if c.AtLeast != nil && *c.AtLeast > floor {
			floor = *c.AtLeast
		}
	}
	a.RulesLevel = max(e.rs.Levels.Band(a.Score), floor)
	a.Level = e.adjust(st, now, a)
}

// detail describes, in Chinese, the values a fired rule saw.
func (c *compiledRule) detail(features map[string]float64) string {
	if len(c.reads) == 0 {
		return ""
	}
	var b strings.Builder
	for i, r := range c.reads {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s %s", r.feature.Label, formatValue(r.feature, features[r.feature.Name]))
		if r.op != "" {
			fmt.Fprintf(&b, "(阈值%s%s)", r.op, r.limit)
		}
	}
	return b.String()
}

func formatValue(f *rules.Feature, v float64) string {
	switch f.Max {
	case "amount":
		if v >= 10000 {
			return fmt.Sprintf("%g万元", v/10000)
		}
		return fmt.Sprintf("%g元", v)
	case "party_count":
		return fmt.Sprintf("%g人", v)
	}
	return fmt.Sprintf("%g", v)
}

// adjust applies what stands outside the rules, in order: floors spread from
// linked subjects, dampening of falls, and a manual override.
func (e *Engine) adjust(st *State, now time.Time, a *risk.Assessment) risk.Level {
	level := a.RulesLevel
	for _, l := range st.Links {
		if f := e.rs.Spread.PersonFloor(l.Level); f > level && st.Subject.Kind == risk.Person && l.Subject.Kind == risk.Dispute {
			level = f
			a.Adjustments = append(a.Adjustments, risk.Adjustment{Kind: risk.Spread, Level: f,
				Reason: fmt.Sprintf("所涉纠纷 %s 为%s,当事人至少%s", l.Subject.Ref, l.Level.Chinese(), f.Chinese())})
		}
	}
	if p := st.Previous; p != nil && level < p.Level {
		d := e.rs.Dampening
		switch until := p.RaisedAt.Add(time.Duration(d.Cooldown[p.Level])); {
		case d.SignOff != nil && p.Level >= *d.SignOff && !p.SignedOff:
			level = p.Level
			a.Adjustments = append(a.Adjustments, risk.Adjustment{Kind: risk.Held, Level: level,
				Reason: fmt.Sprintf("规则结果为%s,离开%s须值班人员签字解除预警", a.RulesLevel.Chinese(), p.Level.Chinese())})
		case now.Before(until):
			level = p.Level
			a.Adjustments = append(a.Adjustments, risk.Adjustment{Kind: risk.Held, Level: level, Until: &until,
				Reason: fmt.Sprintf("规则结果为%s,%s冷却期至%s", a.RulesLevel.Chinese(), p.Level.Chinese(), until.In(chinaTime).Format("01-02 15:04"))})
		}
	}
	if o := st.Override; o != nil && now.Before(o.Until) {
		level = o.Level
		until := o.Until
		a.Adjustments = append(a.Adjustments, risk.Adjustment{Kind: risk.Override, Level: level, Until: &until,
			Reason: fmt.Sprintf("%s人工调整为%s(%s),至%s", o.Officer, o.Level.Chinese(), o.Reason, o.Until.In(chinaTime).Format("01-02 15:04"))})
	}
	return level
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
