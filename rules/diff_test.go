package rules

import (
	"os"
	"strings"
	"testing"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// diffBase is the ruleset each diff case edits.
const diffBase = `version: "1"
levels: {blue: 20, yellow: 40, orange: 60, red: 80}
dampening:
  cooldown: {red: 72h, orange: 48h}
  signoff: red
spread: {dispute_to_person: 1}
keywords:
  threat: [扬言, 报复]
features:
  petitions_30d: {count: petition, window: 30d}
  threat_30d: {count: any, keyword: threat, window: 30d}
  signals_30d: {count: any, window: 30d}
  signals_90d: {count: any, window: 90d}
  parties_90d: {max: party_count, window: 90d}
rules:
  - id: threat
    name: 扬言
    applies_to: [person]
    when: features.threat_30d > 0
    score: 45
    at_least: orange
    tags: [民转刑]
    description: 扬言。
  - id: petitions
    name: 多次信访
    applies_to: [person, dispute]
    when: features.petitions_30d >= 3
    score: 20 + 5 * min(features.petitions_30d, 6)
  - id: parties
    name: 群体
    applies_to: [dispute]
    when: features.parties_90d >= 5
    score: 'features.parties_90d >= 10 ? 40 : 25'
  - id: stale
    name: 久未化解
    applies_to: [dispute]
    when: subject.ledger_status == "未化解" && features.signals_90d > features.signals_30d
    score: 20
`

const extraRule = `  - id: extra
    name: 新规则
    applies_to: [person]
    when: features.signals_30d >= 2
`

func parseDiffRuleset(t *testing.T, src string) *Ruleset {
	t.Helper()
	rs, err := Parse(map[string][]byte{"rules.yaml": []byte(src)})
	if err != nil {
		t.Fatalf("parse:\n%v\n%s", err, src)
	}
	return rs
}

// edit applies old → new replacements to diffBase, each of which must match.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := diffBase
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("base has no %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestDiff(t *testing.T) {
	type want struct {
		part   Part
		name   string // change name ("" for levels, dampening, spread, version)
		field  string
		effect Effect
	}
	tests := []struct {
		name   string
		edits  []string
		effect Effect // of all the changes
		want   []want // each must be among the changes; with want, no other field may be listed
	}{
		{"nothing changed", nil, NoEffect, nil},
		{"the version is a label", []string{`version: "1"`, `version: "2"`}, NoEffect,
			[]want{{PartVersion, "", "version", NoEffect}}},
		{"a lower threshold raises", []string{"yellow: 40", "yellow: 35"}, Raises,
			[]want{{PartLevels, "", "yellow", Raises}}},
		{"a higher threshold lowers", []string{"red: 80", "red: 90"}, Lowers,
			[]want{{PartLevels, "", "red", Lowers}}},
		{"thresholds both ways", []string{"blue: 20, yellow: 40", "blue: 25, yellow: 35"}, Both,
			[]want{{PartLevels, "", "blue", Lowers}, {PartLevels, "", "yellow", Raises}}},
		{"a longer cooldown raises", []string{"red: 72h", "red: 96h"}, Raises,
			[]want{{PartDampening, "", "cooldown.red", Raises}}},
		{"a cooldown removed lowers", []string{"red: 72h, orange: 48h", "red: 72h"}, Lowers,
			[]want{{PartDampening, "", "cooldown.orange", Lowers}}},
		{"sign-off from a lower level raises", []string{"signoff: red", "signoff: orange"}, Raises,
			[]want{{PartDampening, "", "signoff", Raises}}},
		{"sign-off removed lowers", []string{"  signoff: red\n", ""}, Lowers,
			[]want{{PartDampening, "", "signoff", Lowers}}},
		{"spread closer raises", []string{"dispute_to_person: 1", "dispute_to_person: 0"}, Raises,
			[]want{{PartSpread, "", "dispute_to_person", Raises}}},
		{"spread removed lowers", []string{"spread: {dispute_to_person: 1}\n", ""}, Lowers,
			[]want{{PartSpread, "", "dispute_to_person", Lowers}}},
		{"words added raise", []string{"[扬言, 报复]", "[扬言, 报复, 同归于尽]"}, Raises,
			[]want{{PartKeywords, "threat", "words", Raises}}},
		{"words removed lower", []string{"[扬言, 报复]", "[扬言]"}, Lowers,
			[]want{{PartKeywords, "threat", "words", Lowers}}},
		{"words swapped go both ways", []string{"[扬言, 报复]", "[扬言, 同归于尽]"}, Both,
			[]want{{PartKeywords, "threat", "words", Both}}},
		{"words read by a rule that falls with them", []string{"when: features.threat_30d > 0", "when: features.threat_30d == 0"}, Both,
			[]want{{PartRule, "threat", "when", Both}}},
		{"a longer window read with >= raises", []string{"{count: petition, window: 30d}", "{count: petition, window: 60d}"}, Raises,
			[]want{{PartFeature, "petitions_30d", "label", NoEffect}, {PartFeature, "petitions_30d", "window", Raises}}},
		{"a longer window read on the small side of > lowers", []string{"{count: any, window: 30d}", "{count: any, window: 45d}"}, Lowers,
			[]want{{PartFeature, "signals_30d", "label", NoEffect}, {PartFeature, "signals_30d", "window", Lowers}}},
		{"a shorter window read with >= lowers", []string{"{count: petition, window: 30d}", "{count: petition, window: 7d}"}, Lowers,
			[]want{{PartFeature, "petitions_30d", "label", NoEffect}, {PartFeature, "petitions_30d", "window", Lowers}}},
		{"a filter added counts fewer", []string{"{count: any, window: 90d}", "{count: any, window: 90d, category: 邻里}"}, Lowers,
			[]want{{PartFeature, "signals_90d", "label", NoEffect}, {PartFeature, "signals_90d", "category", Lowers}}},
		{"a label is cosmetic", []string{"{count: any, window: 90d}", "{count: any, window: 90d, label: 近90天信号}"}, NoEffect,
			[]want{{PartFeature, "signals_90d", "label", NoEffect}}},
		{"counting any source instead of one raises", []string{"{count: petition, window: 30d}", "{count: any, window: 30d}"}, Raises,
			[]want{{PartFeature, "petitions_30d", "label", NoEffect}, {PartFeature, "petitions_30d", "measure", Raises}}},
		{"a lower threshold in features.x >= N raises", []string{"features.petitions_30d >= 3", "features.petitions_30d >= 2"}, Raises,
			[]want{{PartRule, "petitions", "when", Raises}}},
		{"a higher threshold in features.x > N lowers", []string{"features.threat_30d > 0", "features.threat_30d > 1"}, Lowers,
			[]want{{PartRule, "threat", "when", Lowers}}},
		{"another comparison is both", []string{"features.threat_30d > 0", "features.threat_30d >= 1"}, Both,
			[]want{{PartRule, "threat", "when", Both}}},
		{"another alternative raises", []string{"when: features.threat_30d > 0", `when: features.threat_30d > 0 || "刑释解矫" in tags`}, Raises,
			[]want{{PartRule, "threat", "when", Raises}}},
		{"another requirement lowers", []string{"when: features.threat_30d > 0", `when: features.threat_30d > 0 && "刑释解矫" in tags`}, Lowers,
			[]want{{PartRule, "threat", "when", Lowers}}},
		{"a requirement dropped raises", []string{`subject.ledger_status == "未化解" && features.signals_90d > features.signals_30d`, `features.signals_90d > features.signals_30d`}, Raises,
			[]want{{PartRule, "stale", "when", Raises}}},
		{"layout only", []string{"when: features.threat_30d > 0", "when: features.threat_30d  >  0"}, NoEffect, nil},
		{"a higher constant score raises", []string{"score: 45", "score: 50"}, Raises,
			[]want{{PartRule, "threat", "score", Raises}}},
		{"a lower constant score lowers", []string{"score: 45", "score: 40"}, Lowers,
			[]want{{PartRule, "threat", "score", Lowers}}},
		{"a constant score becoming an expression is both", []string{"score: 45", "score: 40 + features.signals_30d"}, Both,
			[]want{{PartRule, "threat", "score", Both}}},
		{"a higher branch raises", []string{"? 40 : 25", "? 45 : 25"}, Raises,
			[]want{{PartRule, "parties", "score", Raises}}},
		{"a lower cut-off between branches raises", []string{"features.parties_90d >= 10 ?", "features.parties_90d >= 8 ?"}, Raises,
			[]want{{PartRule, "parties", "score", Raises}}},
		{"a cut-off moved with a branch that crosses the other is both", []string{"? 40 : 25", "? 20 : 25", "features.parties_90d >= 10 ?", "features.parties_90d >= 8 ?"}, Both,
			[]want{{PartRule, "parties", "score", Both}}},
		{"a higher cap raises", []string{"min(features.petitions_30d, 6)", "min(features.petitions_30d, 8)"}, Raises,
			[]want{{PartRule, "petitions", "score", Raises}}},
		{"a smaller factor lowers", []string{"20 + 5 *", "20 + 4 *"}, Lowers,
			[]want{{PartRule, "petitions", "score", Lowers}}},
		{"a higher floor raises", []string{"at_least: orange", "at_least: red"}, Raises,
			[]want{{PartRule, "threat", "at_least", Raises}}},
		{"a floor removed lowers", []string{"    at_least: orange\n", ""}, Lowers,
			[]want{{PartRule, "threat", "at_least", Lowers}}},
		{"a floor added raises", []string{"score: 20 + 5", "at_least: yellow\n    score: 20 + 5"}, Raises,
			[]want{{PartRule, "petitions", "at_least", Raises}}},
		{"name, description and tags are cosmetic", []string{"name: 扬言\n", "name: 扬言极端\n", "tags: [民转刑]", "tags: [民转刑, 重点]", "description: 扬言。", "description: 扬言报复。"}, NoEffect,
			[]want{{PartRule, "threat", "name", NoEffect}, {PartRule, "threat", "tags", NoEffect}, {PartRule, "threat", "description", NoEffect}}},
		{"scoring another kind too raises", []string{"applies_to: [person]\n    when: features.threat", "applies_to: [person, dispute]\n    when: features.threat"}, Raises,
			[]want{{PartRule, "threat", "applies_to", Raises}}},
		{"a removed rule lowers", []string{diffBase[strings.Index(diffBase, "  - id: stale"):], ""}, Lowers,
			[]want{{PartRule, "stale", "rule", Lowers}}},
		{"an added rule with points raises", []string{"  - id: stale", extraRule + "    score: 10\n  - id: stale"}, Raises,
			[]want{{PartRule, "extra", "rule", Raises}}},
		{"an added rule with only a floor raises", []string{"  - id: stale", extraRule + "    score: 0\n    at_least: blue\n  - id: stale"}, Raises,
			[]want{{PartRule, "extra", "rule", Raises}}},
		{"an added rule with no points nor floor does nothing", []string{"  - id: stale", extraRule + "    score: 0\n  - id: stale"}, NoEffect,
			[]want{{PartRule, "extra", "rule", NoEffect}}},
		{"an added rule with negative points is both", []string{"  - id: stale", extraRule + "    score: -10\n  - id: stale"}, Both,
			[]want{{PartRule, "extra", "rule", Both}}},
		{"a window under a falling score is both", []string{"score: 20 + 5 * min(features.petitions_30d, 6)", "score: 50 - 5 * features.petitions_30d", "{count: petition, window: 30d}", "{count: petition, window: 60d}"}, Both,
			[]want{{PartFeature, "petitions_30d", "label", NoEffect}, {PartFeature, "petitions_30d", "window", Both}, {PartRule, "petitions", "score", Both}}},
	}
	old := parseDiffRuleset(t, diffBase)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Diff(old, parseDiffRuleset(t, edit(t, tc.edits...)))
			if c.Effect != tc.effect {
				t.Errorf("effect %s, want %s\n%s", c.Effect, tc.effect, c)
			}
			got := map[want]bool{}
			n := 0
			for _, ch := range c.Changes {
				for _, f := range ch.Fields {
					got[want{ch.Part, ch.Name, f.Name, f.Effect}] = true
					n++
				}
			}
			for _, w := range tc.want {
				if !got[w] {
					t.Errorf("missing %+v\n%s", w, c)
				}
			}
			if tc.want != nil && n != len(tc.want) {
				t.Errorf("%d fields changed, want %d\n%s", n, len(tc.want), c)
			}
			if tc.want == nil && tc.effect == NoEffect && len(c.Changes) != 0 {
				t.Errorf("changes listed for an unchanged ruleset\n%s", c)
			}
		})
	}
}

// TestTrend checks the analysis every decision rests on: how an expression
// moves as features.x grows.
func TestTrend(t *testing.T) {
	a := &analyzer{
		leaf: func(n ast.Node) (Effect, bool) {
			if f, ok := featureRef(n); ok && f != "" {
				if f == "x" {
					return Raises, true
				}
				return NoEffect, true
			}
			return "", false
		},
		touch: computedFeature,
	}
	for _, tc := range []struct {
		expr string
		want Effect
	}{
		{"features.x > 3", Raises},
		{"features.x >= 3", Raises},
		{"3 <= features.x", Raises},
		{"features.x < 3", Lowers},
		{"3 > features.x", Lowers},
		{"!(features.x > 3)", Lowers},
		{"not (features.x > 3)", Lowers},
		{"features.x == 3", Both},
		{"features.x != 3", Both},
		{"features.y > 3", NoEffect},
		{`"a" in tags`, NoEffect},
		{"features.x > 3 && features.y > 0", Raises},
		{"features.x > 3 or features.y > 0", Raises},
		{"features.x > 3 && features.x < 10", Both},
		{"features.y > features.x", Lowers},
		{"features.x > 3 ? 10 : 20", Lowers},
		{"features.x > 3 ? 20 : 10", Raises},
		{"features.x > 3 ? true : false", Raises},
		{"features.x > 3 ? features.y : 0", Raises},
		{"features.x > 3 ? features.y : 5", Both},
		{"features.y > 3 ? features.x : 0", Raises},
		{"min(features.x, 6)", Raises},
		{"max(features.x, features.y)", Raises},
		{"20 + 5 * min(features.x, 6)", Raises},
		{"features.x * -2", Lowers},
		{"features.x * features.y", Raises},
		{"features.x * subject.unit", Both},
		{"features.x / 2", Raises},
		{"features.x / features.y", Both},
		{"features.x % 2", Both},
		{"10 - features.x", Lowers},
		{"-features.x", Lowers},
		{`features["x"] >= 1`, Raises},
		{"features[subject.kind] > 1", Both},
		{"any([features.x], # > 1)", Both},
		{"let y = features.x; y > 1", Both},
		{"len(tags) > 2", NoEffect},
		{"abs(features.x) > 2", Both},
	} {
		tree, err := parser.Parse(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := a.trend(tree.Node); got != tc.want {
			t.Errorf("trend of %s = %s, want %s", tc.expr, got, tc.want)
		}
	}
}

// TestDiffCandidate pins what the diff says of the shipped candidate ruleset
// against the default one, which the backtest tests replay.
func TestDiffCandidate(t *testing.T) {
	if _, err := os.Stat("../fixtures/rules-candidate"); err != nil {
		t.Skip("no candidate ruleset")
	}
	old, err := LoadDir("../fixtures/rules")
	if err != nil {
		t.Fatal(err)
	}
	cand, err := LoadDir("../fixtures/rules-candidate")
	if err != nil {
		t.Fatal(err)
	}
	c := Diff(old, cand)
	got := map[string]Effect{}
	for _, ch := range c.Changes {
		for _, f := range ch.Fields {
			got[string(ch.Part)+" "+ch.Name+" "+f.Name] = f.Effect
		}
	}
	want := map[string]Effect{
		"version  version":                  NoEffect,
		"levels  yellow":                    Raises,
		"keywords threat words":             Raises,
		"rule collective-petition at_least": Raises,
		"rule hotline-repeat when":          Raises,
		"rule hotline-repeat description":   NoEffect,
		"rule wage-petition rule":           Raises,
		"rule frequent-reports rule":        Lowers,
	}
	for k, e := range want {
		if got[k] != e {
			t.Errorf("%s: %q, want %q", k, got[k], e)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d fields changed, want %d:\n%s", len(got), len(want), c)
	}
	if c.Effect != Both {
		t.Errorf("overall %s, want both", c.Effect)
	}
	text := c.String()
	for _, s := range []string{"Ruleset diff 规则集差异: 2026.11-2 → 2026.12-1", "Overall 总体: both 可升可降",
		"[raises 只升] levels: yellow 40 → 35", "[lowers 只降] rule frequent-reports 多日被上报 (removed): rule"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
}
