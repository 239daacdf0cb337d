package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"fengqiao/risk"
	"fengqiao/rules"
)

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func loadDefault(t testing.TB) *Engine {
	t.Helper()
	rs, err := rules.LoadDir("../fixtures/rules")
	if err != nil {
		t.Fatalf("default ruleset: %v", err)
	}
	e, err := Compile(rs)
	if err != nil {
		t.Fatalf("compile default ruleset: %v", err)
	}
	return e
}

func ago(d time.Duration) time.Time { return now.Add(-d) }

const day = 24 * time.Hour

func TestDefaultRuleset(t *testing.T) {
	e := loadDefault(t)
	person := risk.SubjectID{Kind: risk.Person, Ref: "P1"}
	dispute := risk.SubjectID{Kind: risk.Dispute, Ref: "TZ-1"}
	tests := []struct {
		name      string
		subject   risk.SubjectID
		events    []Event
		wantLevel risk.Level
		wantFired []string
	}{
		{"no signals is green", person, nil, risk.Green, nil},
		{"one neighbour report is green", person, []Event{
			{Key: "grid_report:1", Source: risk.GridReport, At: ago(day), Category: "邻里"},
		}, risk.Green, nil},
		{"threat language is at least orange", person, []Event{
			{Key: "grid_report:1", Source: risk.GridReport, At: ago(day), Keywords: []string{"threat"}},
		}, risk.Orange, []string{"threat-language"}},
		{"threat language older than 30 days no longer counts", person, []Event{
			{Key: "grid_report:1", Source: risk.GridReport, At: ago(31 * day), Keywords: []string{"threat"}},
		}, risk.Green, nil},
		{"threat in a repeated family dispute is red", person, []Event{
			{Key: "grid_report:1", Source: risk.GridReport, At: ago(day), Category: "婚姻家庭", Keywords: []string{"threat"}},
			{Key: "hotline:2", Source: risk.Hotline, At: ago(2 * day), Category: "婚姻家庭", Tags: []string{"三失一偏"}},
		}, risk.Red, []string{"threat-language", "threat-family", "key-person-extreme", "sanshi-yipian", "family-dispute"}},
		{"a skip-level petition to the province is at least orange", person, []Event{
			{Key: "petition:1", Source: risk.Petition, At: ago(10 * day), SkipLevel: true, PetitionLevel: 5},
		}, risk.Orange, []string{"skip-level-petition", "petition-province"}},
		{"collective dispute of 40 parties", dispute, []Event{
			{Key: "ledger:1", Source: risk.Ledger, At: ago(5 * day), PartyCount: 40, Category: "劳动/欠薪", Amount: 1_200_000},
		}, risk.Red, []string{"collective-dispute", "collective-dispute-large", "wage-arrears", "wage-arrears-mass", "large-amount"}},
		{"person-only rules do not score disputes", dispute, []Event{
			{Key: "grid_report:1", Source: risk.GridReport, At: ago(day), Tags: []string{"三失一偏"}},
		}, risk.Green, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.Evaluate(State{Subject: tt.subject, Events: tt.events}, now)
			if a.Level != tt.wantLevel {
				t.Errorf("level = %v, want %v (%s)", a.Level, tt.wantLevel, a.Explain())
			}
			var got []string
			for _, f := range a.Fired {
				got = append(got, f.ID)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantFired, ",") {
				t.Errorf("fired = %v, want %v", got, tt.wantFired)
			}
			if len(a.Errors) > 0 {
				t.Errorf("rule errors: %v", a.Errors)
			}
			if a.RulesetVersion != e.Version() {
				t.Errorf("version = %q", a.RulesetVersion)
			}
		})
	}
}

func TestMatchKeywords(t *testing.T) {
	e := loadDefault(t)
	if got := e.MatchKeywords("当事人扬言要去村委会聚集"); strings.Join(got, ",") != "mass,threat" {
		t.Errorf("got %v", got)
	}
	if got := e.MatchKeywords("邻里因宅基地发生口角"); len(got) != 0 {
		t.Errorf("got %v", got)
	}
}

func TestCompileErrorsNameFileLineAndRule(t *testing.T) {
	src := `version: "t"
levels: {blue: 1, yellow: 2, orange: 3, red: 4}
features:
  n: {count: any, window: 1d}
rules:
  - id: not-bool
    name: 甲
    applies_to: [person]
    when: features.n + 1
    score: 1
  - id: bad-syntax
    name: 乙
    applies_to: [person]
    when: |
      features.n > 0 &&
        (features.n <
    score: 1
  - id: unknown-feature
    name: 丙
    applies_to: [person]
    when: features.petitions_7d > 1
    score: '"ten"'
  - id: unknown-field
    name: 丁
    applies_to: [person]
    when: signal.colour == "red"
    score: 1
`
	rs, err := rules.Parse(map[string][]byte{"r.yaml": []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(rs)
	if err == nil {
		t.Fatal("compiled")
	}
	want := []string{
		`r.yaml:9: rule not-bool: when: expected bool, but got float64`,
		`r.yaml:16: rule bad-syntax: when: unexpected token EOF`,
		`r.yaml:21: rule unknown-feature: when: feature "petitions_7d" is not declared under features`,
		`r.yaml:22: rule unknown-feature: score: expected float64, but got string`,
		`r.yaml:26: rule unknown-field: when: signal has no field colour (column 8)`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("errors lack %q; got:\n%s", w, got)
		}
	}
}

const dampedRules = `version: "d1"
levels: {blue: 20, yellow: 40, orange: 60, red: 80}
dampening:
  cooldown: {red: 72h, orange: 48h, yellow: 24h}
  signoff: red
spread:
  dispute_to_person: 1
features:
  reports_30d: {count: any, window: 30d, label: 近30天上报次数}
rules:
  - id: reports
    name: 多次上报
    applies_to: [person, dispute]
    when: features.reports_30d >= 2
    score: 20 * features.reports_30d
`

func compileSrc(t testing.TB, src string) *Engine {
	t.Helper()
	rs, err := rules.Parse(map[string][]byte{"r.yaml": []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Levels beyond the rules: spread from a dispute, falls held by cooldown and
// sign-off, and overrides that end by themselves.
func TestAdjustments(t *testing.T) {
	e := compileSrc(t, dampedRules)
	person := risk.SubjectID{Kind: risk.Person, Ref: "P1"}
	dispute := risk.SubjectID{Kind: risk.Dispute, Ref: "TZ-9"}
	reports := func(n int) []Event {
		var evs []Event
		for i := 0; i < n; i++ {
			evs = append(evs, Event{Key: fmt.Sprint("g:", i), Source: risk.GridReport, At: ago(day)})
		}
		return evs
	}
	tests := []struct {
		name       string
		st         State
		want       risk.Level
		wantReason string
	}{
		{"rules alone", State{Subject: person, Events: reports(3)}, risk.Orange, ""},
		{"a red dispute makes its person at least orange", State{Subject: person, Events: reports(1),
			Links: []Link{{dispute, risk.Red}}}, risk.Orange, "所涉纠纷 TZ-9 为红色,当事人至少橙色"},
		{"a green dispute spreads nothing", State{Subject: person, Links: []Link{{dispute, risk.Green}}}, risk.Green, ""},
		{"spread does not lower", State{Subject: person, Events: reports(5), Links: []Link{{dispute, risk.Yellow}}}, risk.Red, ""},
		{"spread reaches persons, not disputes", State{Subject: dispute, Links: []Link{{dispute, risk.Red}}}, risk.Green, ""},
		{"a fall within the cooldown is held", State{Subject: person, Events: reports(2),
			Previous: &Previous{Level: risk.Orange, RaisedAt: ago(47 * time.Hour)}}, risk.Orange, "橙色冷却期至"},
		{"a fall after the cooldown goes through", State{Subject: person, Events: reports(2),
			Previous: &Previous{Level: risk.Orange, RaisedAt: ago(48 * time.Hour)}}, risk.Yellow, ""},
		{"leaving red needs a sign-off, however long ago", State{Subject: person,
			Previous: &Previous{Level: risk.Red, RaisedAt: ago(30 * day)}}, risk.Green, ""},
		{"a rise is never held", State{Subject: person, Events: reports(5),
			Previous: &Previous{Level: risk.Yellow, RaisedAt: ago(time.Hour)}}, risk.Red, ""},
		{"an override sets the level", State{Subject: person, Events: reports(5),
			Override: &Override{Level: risk.Yellow, Officer: "李明", Reason: "已稳控", Until: now.Add(time.Hour)}}, risk.Yellow, "李明人工调整为黄色(已稳控)"},
		{"an expired override is gone", State{Subject: person, Events: reports(5),
			Override: &Override{Level: risk.Yellow, Officer: "李明", Reason: "已稳控", Until: now}}, risk.Red, ""},
	}
	tests[7].want, tests[7].wantReason = risk.Red, "离开红色须值班人员签字解除预警"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.Evaluate(tt.st, now)
			if a.Level != tt.want {
				t.Errorf("level = %v, want %v: %s", a.Level, tt.want, a.Explain())
			}
			if tt.wantReason == "" && len(a.Adjustments) > 0 {
				t.Errorf("unexpected adjustments: %+v", a.Adjustments)
			}
			if tt.wantReason != "" && !strings.Contains(a.Explain(), tt.wantReason) {
				t.Errorf("explanation %q lacks %q", a.Explain(), tt.wantReason)
			}
		})
	}
	signed := State{Subject: person, Previous: &Previous{Level: risk.Red, RaisedAt: ago(30 * day), SignedOff: true}}
	if a := e.Evaluate(signed, now); a.Level != risk.Green {
		t.Errorf("after sign-off: %s", a.Explain())
	}
}

func TestExplanationNamesValuesAndThresholds(t *testing.T) {
	e := compileSrc(t, dampedRules)
	var evs []Event
	for i := 0; i < 3; i++ {
		evs = append(evs, Event{Key: fmt.Sprint("g:", i), Source: risk.GridReport, At: ago(day)})
	}
	a := e.Evaluate(State{Subject: risk.SubjectID{Kind: risk.Person, Ref: "P1"}, Events: evs}, now)
	if want := "橙色(得分 60): 多次上报(近30天上报次数 3(阈值≥2)) +60"; a.Explain() != want {
		t.Errorf("Explain() = %q, want %q", a.Explain(), want)
	}
	if len(a.NotFired) != 0 || a.RulesetHash == "" {
		t.Errorf("not fired %v, hash %q", a.NotFired, a.RulesetHash)
	}
}

// Windows are half-open: an event exactly one window old has left it.
func TestWindowBoundaries(t *testing.T) {
	e := compileSrc(t, dampedRules)
	for _, tt := range []struct {
		age  time.Duration
		want float64
	}{{30*day - time.Second, 60}, {30 * day, 0}, {0, 60}, {-time.Hour, 60}} {
		evs := []Event{{Key: "a", At: ago(tt.age)}, {Key: "b", At: ago(time.Hour)}, {Key: "c", At: ago(time.Hour)}}
		a := e.Evaluate(State{Subject: risk.SubjectID{Kind: risk.Person, Ref: "P"}, Events: evs}, now)
		got := a.Score
		if tt.want == 0 && got != 40 || tt.want != 0 && got != tt.want {
			t.Errorf("event %v old: score %v", tt.age, got)
		}
	}
}
