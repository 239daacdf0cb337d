package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"fengqiao/backtest"
	"fengqiao/rules"
)

const (
	candidateRules  = "../../fixtures/rules-candidate"
	backtestSignals = "../../fixtures/backtest/signals.jsonl"
)

func TestRulesDiff(t *testing.T) {
	r := riskctl(t, nil, "rules", "diff", fixtureRules, candidateRules)
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, s := range []string{
		"Ruleset diff 规则集差异: 2026.11-2 → 2026.12-1",
		"Overall 总体: both 可升可降 (7 changes)",
		"[raises 只升] levels: yellow 40 → 35",
		"[raises 只升] keywords threat: words +不让他好过",
		"[raises 只升] rule collective-petition 集体访: at_least yellow → orange",
		"[raises 只升] rule hotline-repeat 反复来电: when features.hotline_7d >= 3 → features.hotline_7d >= 2",
		"[raises 只升] rule wage-petition 欠薪信访 (added)",
		"[lowers 只降] rule frequent-reports 多日被上报 (removed)",
	} {
		if !strings.Contains(r.out, s) {
			t.Errorf("output lacks %q\n%s", s, r)
		}
	}

	// -json, after the rulesets; a ruleset may be one file.
	r = riskctl(t, nil, "rules", "diff", fixtureRules+"/default.yaml", candidateRules, "-json")
	if r.code != 0 {
		t.Fatal(r)
	}
	var c rules.Changes
	if err := json.Unmarshal([]byte(r.out), &c); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if c.Effect != rules.Both || len(c.Changes) != 7 || c.From != "2026.11-2" || c.To != "2026.12-1" {
		t.Errorf("changes %s → %s, %d, effect %s", c.From, c.To, len(c.Changes), c.Effect)
	}

	// A ruleset against itself.
	r = riskctl(t, nil, "rules", "diff", fixtureRules, fixtureRules)
	if r.code != 0 || !strings.Contains(r.out, "No changes 无变化") {
		t.Error(r)
	}
}

func TestRulesDiffRefusesABrokenRuleset(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "rules.yaml", `version: "x"
levels: {blue: 20, yellow: 40, orange: 60, red: 80}
rules:
  - id: broken
    name: 坏
    applies_to: [person]
    when: features.nothing > 0
    score: 10
`)
	r := riskctl(t, nil, "rules", "diff", fixtureRules, dir)
	if r.code != 1 || !strings.Contains(r.errout, `rule broken: when: feature "nothing" is not declared`) {
		t.Error(r)
	}
}

func TestRulesBacktest(t *testing.T) {
	r := riskctl(t, nil, "rules", "backtest", "--from", fixtureRules, "--to", candidateRules, "--signals", backtestSignals)
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, s := range []string{
		"Backtest 回测: ruleset 2026.11-2 → 2026.12-1, scored at 评估时间 2026-11-29 15:31 北京时间",
		"64 signals 信号, 44 subjects 对象 (27 persons 人员, 17 disputes 纠纷)",
		"Colour changes 变色: 20 subjects (16 up 升, 4 down 降)",
		"  6 persons blue → yellow (蓝→黄)",
		"  3 persons yellow → blue (黄→蓝)",
		"  3 persons yellow → orange (黄→橙)",
		"  2 disputes green → yellow (绿→黄)",
		"Largest changes 主要变化 (top 10):",
		"  10. ",
	} {
		if !strings.Contains(r.out, s) {
			t.Errorf("output lacks %q\n%s", s, r)
		}
	}
	if strings.Contains(r.out, "990101197803152319") || strings.Contains(r.out, "张国强") {
		t.Error("the report shows an ID number or a name")
	}

	r = riskctl(t, nil, "rules", "backtest", "-from", fixtureRules, "-to", candidateRules, "-signals", backtestSignals,
		"-json", "-top", "3", "-jurisdiction", "../../fixtures/jurisdiction.yaml")
	if r.code != 0 {
		t.Fatal(r)
	}
	var rep backtest.Report
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	want := "[{person blue yellow 6} {person yellow blue 3} {person yellow orange 3} {person green yellow 2} {person green orange 1} " +
		"{dispute green yellow 2} {dispute green orange 1} {dispute blue yellow 1} {dispute yellow blue 1}]"
	if got := fmt.Sprint(rep.Transitions); got != want {
		t.Errorf("transitions\n got %s\nwant %s", got, want)
	}
	if len(rep.Top) != 3 || rep.Signals != 64 {
		t.Errorf("%d top changes, %d signals", len(rep.Top), rep.Signals)
	}

	// Scored a month later, the 30-day windows have emptied: the colours
	// left are those of the 90-day features.
	r = riskctl(t, nil, "rules", "backtest", "-from", fixtureRules, "-to", candidateRules, "-signals", backtestSignals,
		"-json", "-at", "2026-12-31T09:00:00+08:00")
	if r.code != 0 {
		t.Fatal(r)
	}
	rep = backtest.Report{}
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.At.Equal(time.Date(2026, 12, 31, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("scored at %v", rep.At)
	}
	for _, h := range rep.Rules {
		if h.ID == "wage-petition" && h.New != 0 {
			t.Errorf("wage-petition still fires a month later: %+v", h)
		}
	}
}

func TestRulesBacktestMistakes(t *testing.T) {
	bad := writeFile(t, t.TempDir(), "bad.jsonl",
		`{"source": "hotline", "id": "H-1", "occurred_at": "2026-11-21T11:45:00+08:00", "unit": "990102001001", "persons": [{"id_number": "990102199006113815"}]}`+"\n"+
			`{"source": "grid_report", "id": "G-1", "occurred_at": "2026-11-21T11:45:00+08:00", "unit": "990199999999", "dispute_id": "D-1"}`+"\n")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no flags", []string{"rules", "backtest"}, 2, "Usage: riskctl rules backtest"},
		{"no signals", []string{"rules", "backtest", "-from", fixtureRules, "-to", candidateRules}, 2, "Usage"},
		{"a stray argument", []string{"rules", "backtest", "-from", fixtureRules, "-to", candidateRules, "-signals", backtestSignals, "x"}, 2, "Usage"},
		{"a bad time", []string{"rules", "backtest", "-from", fixtureRules, "-to", candidateRules, "-signals", backtestSignals, "-at", "tomorrow"}, 2, "-at: give an RFC 3339 time"},
		{"a missing file", []string{"rules", "backtest", "-from", fixtureRules, "-to", candidateRules, "-signals", "nope.jsonl"}, 1, "nope.jsonl"},
		{"bad signals, every problem", []string{"rules", "backtest", "-from", fixtureRules, "-to", candidateRules, "-signals", bad,
			"-jurisdiction", "../../fixtures/jurisdiction.yaml"}, 1, "[0].persons[0].id_number: check digit is wrong"},
		{"a missing ruleset", []string{"rules", "backtest", "-from", "no-such-dir", "-to", candidateRules, "-signals", backtestSignals}, 1, "no-such-dir"},
		{"diff with one ruleset", []string{"rules", "diff", fixtureRules}, 2, "Usage: riskctl rules diff"},
		{"diff with an unknown flag", []string{"rules", "diff", "-yaml", fixtureRules, candidateRules}, 2, "flag provided but not defined: -yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := riskctl(t, nil, tc.args...)
			if r.code != tc.code || !strings.Contains(r.errout, tc.stderr) {
				t.Errorf("want exit %d and %q on stderr\n%s", tc.code, tc.stderr, r)
			}
		})
	}
	r := riskctl(t, nil, "rules", "backtest", "-from", fixtureRules, "-to", candidateRules, "-signals", bad, "-jurisdiction", "../../fixtures/jurisdiction.yaml")
	if !strings.Contains(r.errout, "[1].unit") {
		t.Errorf("the second signal's unit is not named\n%s", r)
	}
	for _, args := range [][]string{{"rules", "backtest", "-h"}, {"rules", "diff", "--help"}} {
		if r := riskctl(t, nil, args...); r.code != 0 || !strings.Contains(r.out, "Usage: riskctl rules") {
			t.Errorf("%v: %s", args, r)
		}
	}
}
