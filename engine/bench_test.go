package engine

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"fengqiao/risk"
	"fengqiao/rules"
)

// benchState is one person with a month of mixed signals: forty of them, one
// every 18 hours, from every source, all family disputes tagged 三失一偏.
func benchState() State {
	var events []Event
	srcs := []risk.Source{risk.GridReport, risk.Petition, risk.Hotline, risk.Ledger}
	for i := 0; i < 40; i++ {
		events = append(events, Event{
			Key: fmt.Sprintf("x:%d", i), Source: srcs[i%4], At: now.Add(-time.Duration(i) * 18 * time.Hour),
			Category: "婚姻家庭", Tags: []string{"三失一偏"}, PartyCount: i % 7, Amount: float64(i * 1000),
		})
	}
	return State{Subject: risk.SubjectID{Kind: risk.Person, Ref: "P1"}, Events: events, Trigger: &events[0]}
}

// BenchmarkEvaluate scores one subject under the default ruleset two ways,
// side by side, so that one run shows what the engine gains over expr's
// ordinary use:
//
//   - fengqiao: EvaluateInto with a reused Assessment, as a caller scoring
//     many subjects does: the features, every rule's outcome and its detail.
//   - expr_map: the same features, then each rule's expressions compiled with
//     expr.Compile(src) and run with expr.Run over a map[string]any built for
//     the subject, adding up points and floors into a level, and nothing more.
//
// `make bench` runs it; docs/benchmarks.md records a run.
func BenchmarkEvaluate(b *testing.B) {
	e := loadDefault(b)
	st := benchState()
	want := e.Evaluate(st, now)

	b.Run("fengqiao", func(b *testing.B) {
		var a risk.Assessment
		e.EvaluateInto(&st, now, &a) // the first evaluation sizes a's slices and the scratch
		b.ReportAllocs()
		for b.Loop() {
			e.EvaluateInto(&st, now, &a)
		}
		if a.Score != want.Score || a.Level != want.Level {
			b.Fatalf("score %v level %v, want %v %v", a.Score, a.Level, want.Score, want.Level)
		}
	})

	b.Run("expr_map", func(b *testing.B) {
		m := compileMapRules(b, e)
		score, level := m.evaluate(&st, now)
		if score != want.Score || level != want.RulesLevel {
			b.Fatalf("expr_map scores %v (%v), the engine %v (%v)", score, level, want.Score, want.RulesLevel)
		}
		b.ReportAllocs()
		for b.Loop() {
			m.evaluate(&st, now)
		}
	})
}

// mapRules is a ruleset run the way expr's documentation shows: each
// expression compiled with no environment, and run by expr.Run over a map.
type mapRules struct {
	rs       *rules.Ruleset
	features *Features // the engine's own feature computation
	sc       *scratch
	rules    []mapRule
}

type mapRule struct {
	rules.Rule
	when, score *vm.Program
}

func compileMapRules(b *testing.B, e *Engine) *mapRules {
	b.Helper()
	m := &mapRules{rs: e.Ruleset(), features: e.Features(), sc: e.newScratch()}
	for _, r := range m.rs.Rules {
		when, err := expr.Compile(r.When)
		if err != nil {
			b.Fatalf("%s: when: %v", r.ID, err)
		}
		score, err := expr.Compile(r.Score)
		if err != nil {
			b.Fatalf("%s: score: %v", r.ID, err)
		}
		m.rules = append(m.rules, mapRule{Rule: r, when: when, score: score})
	}
	return m
}

// evaluate returns the score and the level the rules give st.
func (m *mapRules) evaluate(st *State, now time.Time) (float64, risk.Level) {
	sc := m.sc
	x := &sc.facts
	m.features.Compute(st, now, x)
	features := make(map[string]any, len(m.rs.Features))
	for i, f := range m.rs.Features {
		features[f.Name] = x.Features[i]
	}
	var signal SignalFacts
	if st.Trigger != nil {
		signal = st.Trigger.facts()
	}
	subject := SubjectFacts{Kind: string(st.Subject.Kind), Unit: st.Unit, Weak: st.Weak, Signals: len(st.Events),
		LedgerStatus: x.LedgerStatus}
	env := map[string]any{
		"subject":  subject,
		"signal":   signal,
		"features": features,
		"tags":     x.Tags,
		"cases":    x.Cases,
	}

	var score float64
	floor := risk.Green
	for _, r := range m.rules {
		if !r.Applies(st.Subject.Kind) {
			continue
		}
		out, err := expr.Run(r.when, env)
		if fired, _ := out.(bool); err != nil || !fired {
			continue
		}
		out, err = expr.Run(r.score, env)
		if err != nil {
			continue
		}
		switch v := out.(type) {
		case int:
			score += float64(v)
		case float64:
			score += v
		}
		if r.AtLeast != nil && *r.AtLeast > floor {
			floor = *r.AtLeast
		}
	}
	return score, max(m.rs.Levels.Band(score), floor)
}

// The flat programs (see compileFlat) are an optimisation: they must mean exactly
// what the programs over Env mean. TestFlatProgramsMeanTheSame scores random
// subjects with both, under the default ruleset, the rules of these tests, and
// leafRules, which reaches every leaf, every rewrite and every way back to Env.
func TestFlatProgramsMeanTheSame(t *testing.T) {
	def, err := rules.LoadDir("../fixtures/rules")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		rs   *rules.Ruleset
	}{
		{"default", def},
		{"damped", parseRules(t, dampedRules)},
		{"leaves", parseRules(t, leafRules)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			flat, err := compile(tt.rs, true)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := compile(tt.rs, false)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(tt.name))))
			var a risk.Assessment // reused, as callers scoring many subjects do
			for i := range 3000 {
				st := randomState(rng, i)
				flat.EvaluateInto(&st, now, &a)
				want := ref.Evaluate(st, now)
				if got := normalized(a); !reflect.DeepEqual(got, normalized(want)) {
					t.Fatalf("subject %d:\nflat %+v\nEnv  %+v", i, got, want)
				}
				if i%10 == 0 {
					checkDetails(t, ref, &st, a)
				}
			}
		})
	}

	// Every default rule runs flat, and native: falling back would cost
	// allocations, and the VM costs several times what native does.
	e := loadDefault(t)
	for _, c := range e.compiled {
		if c.flatWhen == nil || c.flatScore == nil {
			t.Errorf("default rule %s runs over Env (when flat: %v, score flat: %v)", c.ID, c.flatWhen != nil, c.flatScore != nil)
		}
		if c.nativeWhen == nil || c.nativeScore == nil {
			t.Errorf("default rule %s runs on expr's VM (when native: %v, score native: %v)", c.ID, c.nativeWhen != nil, c.nativeScore != nil)
		}
	}
}

// leafRules reads every leaf of Env, with the rewrites (sets, min and max)
// and the expressions that must keep running over Env ($env) or that the
// rewrites must leave alone (let, predicates, builtins over arrays), including
// some that fail at run time.
const leafRules = `version: "leaves"
levels: {blue: 20, yellow: 40, orange: 60, red: 80}
keywords:
  threat: [扬言]
features:
  n_30d: {count: any, window: 30d}
  petitions_90d: {count: petition, window: 90d}
  threat_30d: {count: any, keyword: threat, window: 30d}
  days_30d: {distinct_days: any, window: 30d}
  amount_90d: {max: amount, window: 90d}
  parties_90d: {max: party_count, window: 90d}
  level_90d: {max: petition_level, window: 90d}
  failed_90d: {count: case_event, case_event: mediation_failed, window: 90d}
  family_30d: {count: any, category: 婚姻家庭, window: 30d}
  tagged_90d: {count: any, tag: 三失一偏, window: 90d}
  repeat_90d: {count: petition, flag: repeat, window: 90d}
rules:
  - id: subject
    name: 甲
    applies_to: [person, dispute]
    when: subject.kind == "person" && subject.signals >= 3 || subject.weak || subject.unit startsWith "9901" || subject.ledger_status == "未化解"
    score: subject.signals * 1.5
    at_least: blue
  - id: signal
    name: 乙
    applies_to: [person, dispute]
    when: >-
      signal.source == "petition" && signal.petition_level >= 5 || signal.skip_level || signal.collective ||
      signal.repeat || signal.amount > 50000 || signal.party_count > 10 || signal.ledger_status != "" ||
      signal.case_event == "overdue" || signal.category == "婚姻家庭"
    score: max(signal.party_count, 3) + min(signal.amount, 1000) / 100
  - id: words
    name: 丙
    applies_to: [person, dispute]
    when: '"threat" in signal.keywords || "三失一偏" in signal.tags || "社区矫正" in tags || "刑释解矫" not in tags && len(tags) > 2'
    score: len(tags) + len(signal.tags) * 2
  - id: not-literal-in
    name: 丁
    applies_to: [person, dispute]
    when: subject.unit in tags || signal.category in ["婚姻家庭", "邻里"] || "x" + "y" in signal.tags
    score: 3
  - id: cases
    name: 戊
    applies_to: [person, dispute]
    when: cases.open > 0 || cases.overdue > 0 || cases.failed > 1
    score: cases.open * 10 + cases.failed + cases.overdue * 0.5
    at_least: yellow
  - id: min-max
    name: 己
    applies_to: [person, dispute]
    when: min(features.n_30d, 5) >= 2 && max(features.amount_90d, 100) > 100 && min(3, features.days_30d) > 0
    score: min(features.petitions_90d, 6) * 5 + max(features.parties_90d, signal.party_count) + max(2.5, features.tagged_90d) + min(features.level_90d, 5.5)
  - id: min-many
    name: 庚
    applies_to: [person, dispute]
    when: min(features.n_30d, features.family_30d, 1) > 0 || max(-1, -features.n_30d) > -1
    score: max([features.n_30d, 3, features.failed_90d])
  - id: computed
    name: 辛
    applies_to: [person, dispute]
    when: features["threat_30d"] > 0 || features?.repeat_90d > 1
    score: features.amount_90d / 10000 + features.n_30d * 0.5
  - id: env
    name: 壬
    applies_to: [person, dispute]
    when: $env.features.n_30d > 5 || $env["subject"].weak
    score: 10
  - id: let
    name: 癸
    applies_to: [person, dispute]
    when: let n = features.n_30d; n > 2 && n < 20
    score: let n = features.n_30d; n * n
  - id: predicates
    name: 子
    applies_to: [person, dispute]
    when: 'any(tags, # startsWith "三") || all(signal.keywords, # == "threat") && len(signal.keywords) > 0'
    score: 'count(tags, len(#) > 2) + len(filter(signal.tags, # != ""))'
  - id: run-errors
    name: 丑
    applies_to: [person, dispute]
    when: tags[2] != "" && features.n_30d > 1
    score: cases.open % (cases.failed - cases.failed)
  - id: dispute-only
    name: 寅
    applies_to: [dispute]
    when: features.parties_90d >= 5
    score: 'features.parties_90d >= 30 ? 60 : 25'
    at_least: orange
`

func parseRules(t *testing.T, src string) *rules.Ruleset {
	t.Helper()
	rs, err := rules.Parse(map[string][]byte{"r.yaml": []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// randomState is a subject with up to 30 random signals of every kind, some
// exactly on a window's edge, and now and then a trigger, links, a previous
// level and an override.
func randomState(rng *rand.Rand, i int) State {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	some := func(xs ...string) []string {
		var out []string
		for _, x := range xs {
			if rng.IntN(3) == 0 {
				out = append(out, x)
			}
		}
		return out
	}
	kinds := []risk.Kind{risk.Person, risk.Dispute}
	st := State{Subject: risk.SubjectID{Kind: kinds[rng.IntN(2)], Ref: fmt.Sprint("S", i)},
		Unit: pick("990101100201", "990102", ""), Weak: rng.IntN(4) == 0}
	for j := range rng.IntN(30) {
		age := time.Duration(rng.IntN(100*24)) * time.Hour
		if rng.IntN(10) == 0 {
			age = time.Duration(pick("7", "30", "90")[0]-'0') * day // on an edge, or near one
		}
		ev := Event{Key: fmt.Sprint("e:", j), Source: risk.Sources[rng.IntN(len(risk.Sources))], At: now.Add(-age),
			Unit: st.Unit, Category: pick("婚姻家庭", "邻里", "劳动/欠薪", "土地承包/流转", "征地拆迁", "金融/涉众", ""),
			Tags:       some("三失一偏", "社区矫正", "刑释解矫", "信访重点人员", "生活失意", "心态失衡", "行为失常", "性格偏执", "精神障碍"),
			Keywords:   some("threat", "mass", "self_harm"),
			PartyCount: rng.IntN(50), PetitionLevel: rng.IntN(7),
			SkipLevel: rng.IntN(5) == 0, Collective: rng.IntN(5) == 0, Repeat: rng.IntN(4) == 0,
			LedgerStatus: pick("", "", "未化解", "已化解"),
		}
		switch rng.IntN(4) {
		case 0:
			ev.Amount = float64(rng.IntN(2_000_000))
		case 1:
			ev.Amount = rng.Float64() * 500_000
		}
		if ev.Source == risk.CaseEvent {
			ev.CaseID = pick("C1", "C2", "C3")
			ev.CaseEvent = pick(rules.CaseEvents...)
			ev.CaseState = pick("registered", "closed", "failed", "archived", "mediating")
		}
		st.Events = append(st.Events, ev)
	}
	if len(st.Events) > 0 && rng.IntN(2) == 0 {
		st.Trigger = &st.Events[rng.IntN(len(st.Events))]
	}
	if rng.IntN(5) == 0 {
		st.Links = []Link{{risk.SubjectID{Kind: risk.Dispute, Ref: "TZ-1"}, risk.Levels[rng.IntN(5)]}}
	}
	if rng.IntN(5) == 0 {
		st.Previous = &Previous{Level: risk.Levels[rng.IntN(5)], RaisedAt: now.Add(-time.Duration(rng.IntN(100)) * time.Hour)}
	}
	if rng.IntN(10) == 0 {
		st.Override = &Override{Level: risk.Levels[rng.IntN(5)], Officer: "李明", Reason: "已稳控", Until: now.Add(time.Hour)}
	}
	return st
}

// normalized is a without the difference between an empty slice and none.
func normalized(a risk.Assessment) risk.Assessment {
	if len(a.Fired) == 0 {
		a.Fired = nil
	}
	if len(a.NotFired) == 0 {
		a.NotFired = nil
	}
	if len(a.Errors) == 0 {
		a.Errors = nil
	}
	if len(a.Adjustments) == 0 {
		a.Adjustments = nil
	}
	return a
}

// checkDetails compares each fired rule's detail with the text fmt writes,
// which is how details were built before they were kept between evaluations.
func checkDetails(t *testing.T, e *Engine, st *State, a risk.Assessment) {
	t.Helper()
	var x Facts
	e.Features().Compute(st, now, &x)
	value := func(r featureRead) float64 { return x.Features[r.index] }
	for _, f := range a.Fired {
		i := slices.IndexFunc(e.compiled, func(c compiledRule) bool { return c.ID == f.ID })
		var b strings.Builder
		reads := e.compiled[i].reads
		anyHeld := slices.ContainsFunc(reads, func(r featureRead) bool { return r.holds(value(r)) })
		for _, r := range reads {
			v := value(r)
			if anyHeld && !r.named(v) {
				continue
			}
			if b.Len() > 0 {
				b.WriteString(",")
			}
			s := fmt.Sprintf("%g", v)
			switch r.feature.Max {
			case "amount":
				s = fmt.Sprintf("%g元", v)
				if v >= 10000 {
					s = fmt.Sprintf("%g万元", v/10000)
				}
			case "party_count":
				s = fmt.Sprintf("%g人", v)
			}
			fmt.Fprintf(&b, "%s %s", r.feature.Label, s)
			if r.op != "" {
				fmt.Fprintf(&b, "(阈值%s%s)", r.op, r.limit)
			}
		}
		if f.Detail != b.String() {
			t.Errorf("rule %s: detail %q, fmt writes %q", f.ID, f.Detail, b.String())
		}
	}
}
