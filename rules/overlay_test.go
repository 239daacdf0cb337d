package rules

import (
	"strings"
	"testing"

	"fengqiao/risk"
)

const overlayBase = `version: "b1"
levels: {blue: 20, yellow: 40, orange: 60, red: 80}
features:
  n: {count: any, window: 30d}
rules:
  - {id: a, name: 甲, applies_to: [person], when: features.n > 0, score: 10}
  - {id: b, name: 乙, applies_to: [person], when: features.n > 1, score: 20, at_least: yellow}
  - {id: c, name: 丙, applies_to: [person], when: features.n > 2, score: 30}
`

const countyOverlay = `unit: "990101000000"
levels: {yellow: 35}
rules:
  - id: a
    override:
      score: 15
  - id: c
    enabled: false
  - id: d
    name: 丁
    applies_to: [dispute]
    when: features.n > 3
    score: 5
`

const townshipOverlay = `unit: "990101100000"
levels: {orange: 55}
features:
  m: {count: petition, window: 7d}
rules:
  - id: a
    override:
      score: 25
      name: 甲(本镇)
  - id: b
    override:
      at_least: none
`

func overlay(t *testing.T, name, src string) *Overlay {
	t.Helper()
	o, errs := ParseOverlay(name, []byte(src))
	if errs != nil {
		t.Fatalf("%s: %v", name, errs)
	}
	return o
}

// Overlays apply outermost first: the township's word on a rule beats the
// county's, which beats the baseline's.
func TestOverlayPrecedence(t *testing.T) {
	base, err := Parse(map[string][]byte{"base.yaml": []byte(overlayBase)})
	if err != nil {
		t.Fatal(err)
	}
	county, township := overlay(t, "county.yaml", countyOverlay), overlay(t, "township.yaml", townshipOverlay)
	rule := func(rs *Ruleset, id string) *Rule {
		for i := range rs.Rules {
			if rs.Rules[i].ID == id {
				return &rs.Rules[i]
			}
		}
		return nil
	}
	tests := []struct {
		name     string
		chain    []*Overlay
		version  string
		yellow   float64
		orange   float64
		ids      string
		aScore   string
		aName    string
		bFloor   *risk.Level
		hasFeatM bool
	}{
		{"the baseline alone", nil, "b1", 40, 60, "a,b,c", "10", "甲", ptr(risk.Yellow), false},
		{"the county", []*Overlay{county}, "b1+990101000000", 35, 60, "a,b,d", "15", "甲", ptr(risk.Yellow), false},
		{"the county, then the township", []*Overlay{county, township}, "b1+990101000000+990101100000", 35, 55, "a,b,d", "25", "甲(本镇)", nil, true},
		{"the township alone", []*Overlay{township}, "b1+990101100000", 40, 55, "a,b,c", "25", "甲(本镇)", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Apply(base, tt.chain)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range rs.Rules {
				ids = append(ids, r.ID)
			}
			a, b := rule(rs, "a"), rule(rs, "b")
			_, hasM := rs.Feature("m")
			switch {
			case rs.Version != tt.version:
				t.Errorf("version %q", rs.Version)
			case rs.Levels.Yellow != tt.yellow || rs.Levels.Orange != tt.orange:
				t.Errorf("levels %+v", rs.Levels)
			case strings.Join(ids, ",") != tt.ids:
				t.Errorf("rules %v", ids)
			case a.Score != tt.aScore || a.Name != tt.aName:
				t.Errorf("rule a: %+v", a)
			case (b.AtLeast == nil) != (tt.bFloor == nil) || (b.AtLeast != nil && *b.AtLeast != *tt.bFloor):
				t.Errorf("rule b floor %v", b.AtLeast)
			case hasM != tt.hasFeatM:
				t.Errorf("feature m: %v", hasM)
			}
			if len(tt.chain) > 0 && (rs.Hash == base.Hash || rs.Hash == "") {
				t.Error("the effective ruleset has the baseline's hash")
			}
		})
	}
	if len(base.Rules) != 3 || base.Rules[0].Score != "10" {
		t.Error("Apply changed the baseline")
	}
}

func ptr(l risk.Level) *risk.Level { return &l }

func TestOverlayProblems(t *testing.T) {
	base, _ := Parse(map[string][]byte{"base.yaml": []byte(overlayBase)})
	for _, tt := range []struct {
		name, src string
		want      []string
	}{
		{"bad unit and level", "unit: 9901\nlevels: {green: 1}\n", []string{
			"o.yaml:1: unit: give the 12-digit code", `o.yaml:2: levels: "green" is not blue`}},
		{"unknown key", "unit: \"990101000000\"\ncolour: red\n", []string{`o.yaml:2: unknown field "colour"`}},
		{"mixed entries", `unit: "990101000000"
rules:
  - id: a
    enabled: false
    score: 3
  - id: b
    score: 5
    override: {score: 6}
  - id: a
    enabled: false
  - enabled: false
`, []string{
			"o.yaml:3: rule a: a rule switched off takes no other fields",
			"o.yaml:6: rule b: give the changed fields under override, not beside it",
			"o.yaml:9: rule a: the overlay names this rule twice",
			"o.yaml:11: rule #11: id is missing",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := ParseOverlay("o.yaml", []byte(tt.src))
			got := errs.Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems lack %q:\n%s", w, got)
				}
			}
		})
	}
	// Problems only the baseline can show.
	o := overlay(t, "o.yaml", `unit: "990101000000"
levels: {yellow: 70}
features:
  n: {count: any, window: 1d}
rules:
  - id: zz
    enabled: false
  - id: yy
    override: {score: 1}
  - {id: a, name: 重复, applies_to: [person], when: "true", score: 1}
`)
	_, err := Apply(base, []*Overlay{o})
	for _, w := range []string{
		"o.yaml: levels: orange (60) must be above yellow (70)",
		`o.yaml:4: feature "n" is already defined`,
		"o.yaml:6: rule zz: there is no such rule to switch off",
		"o.yaml:8: rule yy: there is no such rule to override",
		"o.yaml:10: rule a: a rule with this id exists",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("problems lack %q:\n%v", w, err)
		}
	}
}
