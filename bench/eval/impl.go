package eval

import (
	"context"
	"fmt"
	"time"

	"github.com/Knetic/govaluate"
	"github.com/PaesslerAG/gval"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"fengqiao/engine"
	"fengqiao/risk"
	"fengqiao/rules"
)

// An Evaluator scores one subject under a ruleset: the total of the points
// of the rules that fire, and the level (the higher of the score's band and
// the highest floor, at_least, of the rules that fired; the subjects here
// have no links, previous level or override, so that is also fengqiao's
// final level). err is the first rule that failed, if any; a rule that fails
// counts as not fired.
//
// Each op of the benchmarks is one call of Evaluate. What one call does:
//
//   - fengqiao: (*engine.Engine).EvaluateInto with a reused risk.Assessment,
//     the product path: it computes the features and the other facts, runs
//     every rule that applies, records each outcome (fired, not fired) and
//     writes the detail of each fired rule.
//   - expr, cel, govaluate, gval: Facts.Compute (the engine's own
//     computation of features and facts, engine.Features), then a fresh map[string]any holding them,
//     then, for each rule that applies, its when and, if it fired, its
//     score, each compiled once beforehand; the points and floors add up to
//     a level. No outcomes, no details. expr runs the rule's own text over a
//     map shaped like the engine's Env (subject, signal, features, tags,
//     cases), as engine/bench_test.go does; cel, govaluate and gval run the
//     text translated into their language (translate.go) over a flat map,
//     one entry per value (features_threat_30d, subject_weak, tags, ...).
//   - floor: Facts.Compute, then a Go function written for the ruleset (by
//     hand for the default ruleset, generated for the others), adding up the
//     same points and floors.
type Evaluator interface {
	Evaluate(st *engine.State, now time.Time) (score float64, level risk.Level, err error)
}

// Names are the implementations, in the order they are run and printed.
var Names = []string{"fengqiao", "expr", "cel", "govaluate", "gval", "floor"}

// New returns the named implementation for rs. floor is the hand-written or
// generated function for rs, used by "floor" only.
func New(name string, rs *rules.Ruleset, floor FloorFunc) (Evaluator, error) {
	switch name {
	case "fengqiao":
		return NewFengqiao(rs)
	case "expr":
		return NewExprMap(rs)
	case "cel":
		return NewCEL(rs)
	case "govaluate":
		return NewGovaluate(rs)
	case "gval":
		return NewGval(rs)
	case "floor":
		if floor == nil {
			return nil, fmt.Errorf("no floor function for ruleset %s", rs.Version)
		}
		if err := checkFeatures(rs); err != nil {
			return nil, err
		}
		return &Floor{rs: rs, fs: engine.NewFeatures(rs.Features), fn: floor}, nil
	}
	return nil, fmt.Errorf("unknown implementation %q", name)
}

// tally adds up the points and floors of the rules that fired.
type tally struct {
	score float64
	floor risk.Level
	err   error
}

func (t *tally) fired(r *rules.Rule, points float64) {
	t.score += points
	if r.AtLeast != nil && *r.AtLeast > t.floor {
		t.floor = *r.AtLeast
	}
}

func (t *tally) failed(r *rules.Rule, field string, err error) {
	if t.err == nil {
		t.err = fmt.Errorf("rule %s: %s: %w", r.ID, field, err)
	}
}

func (t *tally) result(rs *rules.Ruleset) (float64, risk.Level, error) {
	return t.score, max(rs.Levels.Band(t.score), t.floor), t.err
}

// Fengqiao is the product path.
type Fengqiao struct {
	e *engine.Engine
	a risk.Assessment
}

func NewFengqiao(rs *rules.Ruleset) (*Fengqiao, error) {
	e, err := engine.Compile(rs)
	if err != nil {
		return nil, err
	}
	return &Fengqiao{e: e}, nil
}

func (f *Fengqiao) Evaluate(st *engine.State, now time.Time) (float64, risk.Level, error) {
	f.e.EvaluateInto(st, now, &f.a)
	var err error
	if len(f.a.Errors) > 0 {
		err = fmt.Errorf("rule %s: %s", f.a.Errors[0].ID, f.a.Errors[0].Error)
	}
	return f.a.Score, f.a.Level, err
}

// ExprMap is expr used the way its documentation shows, as in
// engine/bench_test.go: each expression compiled with expr.Compile(src) and
// no environment, and run by expr.Run over a map shaped like the engine's
// Env (subject, signal, features, tags, cases), made fresh for each subject.
type ExprMap struct {
	rs    *rules.Ruleset
	fs    *engine.Features
	x     Facts
	rules []exprRule
}

type exprRule struct {
	*rules.Rule
	when, score *vm.Program
}

func NewExprMap(rs *rules.Ruleset) (*ExprMap, error) {
	m := &ExprMap{rs: rs, fs: engine.NewFeatures(rs.Features)}
	for i := range rs.Rules {
		r := &rs.Rules[i]
		when, err := expr.Compile(r.When)
		if err != nil {
			return nil, fmt.Errorf("%s: when: %w", r.ID, err)
		}
		score, err := expr.Compile(r.Score)
		if err != nil {
			return nil, fmt.Errorf("%s: score: %w", r.ID, err)
		}
		m.rules = append(m.rules, exprRule{Rule: r, when: when, score: score})
	}
	return m, nil
}

func (m *ExprMap) Evaluate(st *engine.State, now time.Time) (float64, risk.Level, error) {
	x := &m.x
	x.Compute(m.fs, st, now)
	features := make(map[string]any, len(m.rs.Features))
	for i := range m.rs.Features {
		features[m.rs.Features[i].Name] = x.Features[i]
	}
	var signal engine.SignalFacts
	if ev := st.Trigger; ev != nil {
		signal = engine.SignalFacts{Source: string(ev.Source), Category: ev.Category, Tags: ev.Tags,
			Keywords: ev.Keywords, PartyCount: ev.PartyCount, Amount: ev.Amount, PetitionLevel: ev.PetitionLevel,
			SkipLevel: ev.SkipLevel, Collective: ev.Collective, Repeat: ev.Repeat,
			LedgerStatus: ev.LedgerStatus, CaseEvent: ev.CaseEvent}
	}
	env := map[string]any{
		"subject": engine.SubjectFacts{Kind: string(x.Kind), Unit: x.Unit, Weak: x.Weak,
			Signals: int(x.Signals), LedgerStatus: x.LedgerStatus},
		"signal":   signal,
		"features": features,
		"tags":     x.Tags,
		"cases":    engine.CaseFacts{Open: int(x.CasesOpen), Overdue: int(x.CasesOverdue), Failed: int(x.CasesFailed)},
	}
	var t tally
	for i := range m.rules {
		r := &m.rules[i]
		if !r.Applies(x.Kind) {
			continue
		}
		out, err := expr.Run(r.when, env)
		if err != nil {
			t.failed(r.Rule, "when", err)
			continue
		}
		if fired, _ := out.(bool); !fired {
			continue
		}
		out, err = expr.Run(r.score, env)
		if err != nil {
			t.failed(r.Rule, "score", err)
			continue
		}
		switch v := out.(type) {
		case int:
			t.fired(r.Rule, float64(v))
		case float64:
			t.fired(r.Rule, v)
		default:
			t.failed(r.Rule, "score", fmt.Errorf("%T is not a number", out))
		}
	}
	return t.result(m.rs)
}

// flatEnv makes the environment the other peers see (see translate.go): a
// fresh map with one entry per value a rule can read. tags is the tags as
// the peer wants them.
func flatEnv(names []string, x *Facts, tags any) map[string]any {
	env := make(map[string]any, len(names)+len(subjectPaths))
	for i, name := range names {
		env[name] = x.Features[i]
	}
	env["subject_kind"] = string(x.Kind)
	env["subject_unit"] = x.Unit
	env["subject_weak"] = x.Weak
	env["subject_signals"] = x.Signals
	env["subject_ledger_status"] = x.LedgerStatus
	env["cases_open"] = x.CasesOpen
	env["cases_overdue"] = x.CasesOverdue
	env["cases_failed"] = x.CasesFailed
	env["tags"] = tags
	return env
}

// featureNames are the flat names of rs's features, in its order.
func featureNames(rs *rules.Ruleset) []string {
	var names []string
	for _, f := range rs.Features {
		names = append(names, "features_"+f.Name)
	}
	return names
}

// anyTags copies tags into a []any, which govaluate's and gval's in want.
func anyTags(tags []string) []any {
	out := make([]any, len(tags))
	for i, t := range tags {
		out[i] = t
	}
	return out
}

// translated is a rule with its expressions in another language.
type translated[P any] struct {
	*rules.Rule
	when, score P
}

// translateAll translates and compiles every rule of rs with compile.
func translateAll[P any](rs *rules.Ruleset, d *dialect, compile func(src string, isWhen bool) (P, error)) ([]translated[P], error) {
	var out []translated[P]
	for i := range rs.Rules {
		r := &rs.Rules[i]
		t := translated[P]{Rule: r}
		for _, e := range []struct {
			field, src string
			into       *P
		}{{"when", r.When, &t.when}, {"score", r.Score, &t.score}} {
			src, err := translate(e.src, d)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", r.ID, e.field, err)
			}
			*e.into, err = compile(src, e.field == "when")
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %s: %w", r.ID, e.field, src, err)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// CEL is google/cel-go: every value declared with its type, each expression
// checked (env.Compile) and planned once with cel.OptOptimize; for each
// subject, one activation over the fresh map.
type CEL struct {
	rs    *rules.Ruleset
	fs    *engine.Features
	names []string
	x     Facts
	rules []translated[cel.Program]
}

func NewCEL(rs *rules.Ruleset) (*CEL, error) {
	c := &CEL{rs: rs, fs: engine.NewFeatures(rs.Features), names: featureNames(rs)}
	var opts []cel.EnvOption
	for _, name := range c.names {
		opts = append(opts, cel.Variable(name, cel.DoubleType))
	}
	opts = append(opts,
		cel.Variable("subject_kind", cel.StringType), cel.Variable("subject_unit", cel.StringType),
		cel.Variable("subject_weak", cel.BoolType), cel.Variable("subject_signals", cel.DoubleType),
		cel.Variable("subject_ledger_status", cel.StringType),
		cel.Variable("cases_open", cel.DoubleType), cel.Variable("cases_overdue", cel.DoubleType),
		cel.Variable("cases_failed", cel.DoubleType), cel.Variable("tags", cel.ListType(cel.StringType)))
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	c.rules, err = translateAll(rs, celDialect, func(src string, isWhen bool) (cel.Program, error) {
		ast, iss := env.Compile(src)
		if iss.Err() != nil {
			return nil, iss.Err()
		}
		want := cel.DoubleType
		if isWhen {
			want = cel.BoolType
		}
		if !ast.OutputType().IsExactType(want) {
			return nil, fmt.Errorf("type %s, want %s", ast.OutputType(), want)
		}
		return env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	})
	return c, err
}

func (c *CEL) Evaluate(st *engine.State, now time.Time) (float64, risk.Level, error) {
	x := &c.x
	x.Compute(c.fs, st, now)
	act, err := cel.NewActivation(flatEnv(c.names, x, x.Tags))
	if err != nil {
		return 0, 0, err
	}
	var t tally
	for i := range c.rules {
		r := &c.rules[i]
		if !r.Applies(x.Kind) {
			continue
		}
		out, _, err := r.when.Eval(act)
		if err != nil {
			t.failed(r.Rule, "when", err)
			continue
		}
		if out != types.True {
			continue
		}
		out, _, err = r.score.Eval(act)
		if err != nil {
			t.failed(r.Rule, "score", err)
			continue
		}
		points, ok := out.(types.Double)
		if !ok {
			t.failed(r.Rule, "score", fmt.Errorf("%s is not a double", out.Type()))
			continue
		}
		t.fired(r.Rule, float64(points))
	}
	return t.result(c.rs)
}

// Govaluate is Knetic/govaluate: each expression parsed once with
// NewEvaluableExpression, and evaluated with Eval over the fresh map as
// MapParameters.
type Govaluate struct {
	rs    *rules.Ruleset
	fs    *engine.Features
	names []string
	x     Facts
	rules []translated[*govaluate.EvaluableExpression]
}

func NewGovaluate(rs *rules.Ruleset) (*Govaluate, error) {
	g := &Govaluate{rs: rs, fs: engine.NewFeatures(rs.Features), names: featureNames(rs)}
	var err error
	g.rules, err = translateAll(rs, govaluateDialect, func(src string, _ bool) (*govaluate.EvaluableExpression, error) {
		return govaluate.NewEvaluableExpression(src)
	})
	return g, err
}

func (g *Govaluate) Evaluate(st *engine.State, now time.Time) (float64, risk.Level, error) {
	x := &g.x
	x.Compute(g.fs, st, now)
	params := govaluate.MapParameters(flatEnv(g.names, x, anyTags(x.Tags)))
	var t tally
	for i := range g.rules {
		r := &g.rules[i]
		if !r.Applies(x.Kind) {
			continue
		}
		out, err := r.when.Eval(params)
		if err != nil {
			t.failed(r.Rule, "when", err)
			continue
		}
		if fired, _ := out.(bool); !fired {
			continue
		}
		out, err = r.score.Eval(params)
		if err != nil {
			t.failed(r.Rule, "score", err)
			continue
		}
		points, ok := out.(float64)
		if !ok {
			t.failed(r.Rule, "score", fmt.Errorf("%T is not a number", out))
			continue
		}
		t.fired(r.Rule, points)
	}
	return t.result(g.rs)
}

// Gval is PaesslerAG/gval's full language: each expression parsed once with
// NewEvaluable, and run with EvalBool or EvalFloat64 over the fresh map.
type Gval struct {
	rs    *rules.Ruleset
	fs    *engine.Features
	names []string
	x     Facts
	rules []translated[gval.Evaluable]
}

func NewGval(rs *rules.Ruleset) (*Gval, error) {
	g := &Gval{rs: rs, fs: engine.NewFeatures(rs.Features), names: featureNames(rs)}
	lang := gval.Full()
	var err error
	g.rules, err = translateAll(rs, gvalDialect, func(src string, _ bool) (gval.Evaluable, error) {
		return lang.NewEvaluable(src)
	})
	return g, err
}

func (g *Gval) Evaluate(st *engine.State, now time.Time) (float64, risk.Level, error) {
	x := &g.x
	x.Compute(g.fs, st, now)
	env := flatEnv(g.names, x, anyTags(x.Tags))
	ctx := context.Background()
	var t tally
	for i := range g.rules {
		r := &g.rules[i]
		if !r.Applies(x.Kind) {
			continue
		}
		fired, err := r.when.EvalBool(ctx, env)
		if err != nil {
			t.failed(r.Rule, "when", err)
			continue
		}
		if !fired {
			continue
		}
		points, err := r.score.EvalFloat64(ctx, env)
		if err != nil {
			t.failed(r.Rule, "score", err)
			continue
		}
		t.fired(r.Rule, points)
	}
	return t.result(g.rs)
}

// FloorFunc is a ruleset written in Go: the total score of the rules that
// fire for x, and the highest floor among them.
type FloorFunc func(x *Facts) (score float64, floor risk.Level)

// Floor is the least any implementation can do: the features, then Go.
type Floor struct {
	rs *rules.Ruleset
	fs *engine.Features
	fn FloorFunc
	x  Facts
}

func (f *Floor) Evaluate(st *engine.State, now time.Time) (float64, risk.Level, error) {
	f.x.Compute(f.fs, st, now)
	score, floor := f.fn(&f.x)
	return score, max(f.rs.Levels.Band(score), floor), nil
}

// pick is c ? a : b, for the generated floors.
func pick(c bool, a, b float64) float64 {
	if c {
		return a
	}
	return b
}
