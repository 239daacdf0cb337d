package engine

import (
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
		}, risk.Red, []string{"threat-language", "sanshi-yipian", "family-dispute"}},
		{"skip-level petition is at least yellow", person, []Event{
			{Key: "petition:1", Source: risk.Petition, At: ago(10 * day), SkipLevel: true, PetitionLevel: 5},
		}, risk.Yellow, []string{"skip-level-petition"}},
		{"collective dispute of 40 parties", dispute, []Event{
			{Key: "ledger:1", Source: risk.Ledger, At: ago(5 * day), PartyCount: 40, Category: "劳动/欠薪", Amount: 1_200_000},
		}, risk.Red, []string{"collective-dispute", "wage-arrears", "large-amount"}},
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
			if a.RulesetVersion != "2026.11-1" {
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

func TestFloorAndBand(t *testing.T) {
	e := loadDefault(t)
	a := e.Evaluate(State{Subject: risk.SubjectID{Kind: risk.Person, Ref: "P"}, Floor: risk.Yellow}, now)
	if a.Level != risk.Yellow {
		t.Errorf("floor ignored: %v", a.Level)
	}
}
