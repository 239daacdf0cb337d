package rules

import (
	"strings"
	"testing"
	"time"

	"fengqiao/risk"
)

const header = `version: "t1"
levels: {blue: 20, yellow: 40, orange: 60, red: 80}
`

func parseOne(src string) (*Ruleset, error) {
	return Parse(map[string][]byte{"r.yaml": []byte(src)})
}

func TestLoadDefaultRuleset(t *testing.T) {
	rs, err := LoadDir("../fixtures/rules")
	if err != nil {
		t.Fatal(err)
	}
	if rs.Version == "" || len(rs.Rules) < 10 {
		t.Errorf("version %q with %d rules", rs.Version, len(rs.Rules))
	}
	r := rs.Rules[0]
	if r.ID != "threat-language" || r.AtLeast == nil || *r.AtLeast != risk.Orange || !r.Applies(risk.Person) {
		t.Errorf("first rule decoded as %+v", r)
	}
	if f, ok := rs.Feature("petitions_30d"); !ok || f.Count != "petition" || time.Duration(f.Window) != 30*24*time.Hour {
		t.Errorf("petitions_30d = %+v, %v", f, ok)
	}
	if rs.MaxWindow().String() != "90d" {
		t.Errorf("max window %v", rs.MaxWindow())
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"syntax error", "version: [\n", []string{"r.yaml:1: did not find expected node content"}},
		{"empty file", "", []string{"r.yaml: file is empty"}},
		{"unknown top-level key", header + "colours: {}\n", []string{`r.yaml:3: unknown field "colours"`}},
		{"missing version and levels", "rules: []\n", []string{
			`r.yaml: version is missing`, `r.yaml: levels are missing`}},
		{"levels not increasing", `version: "x"
levels: {blue: 0, yellow: 40, orange: 30, red: 80}
`, []string{"r.yaml:2: levels: blue must be above 0", "r.yaml:2: levels: orange (30) must be above yellow (40)"}},
		{"bad keyword lists", header + `keywords:
  Threat: [a]
  empty: []
  blank: [" "]
`, []string{`r.yaml:4: keyword list name "Threat"`, `r.yaml:5: keyword list "empty" is empty`, `r.yaml:6: keyword list "blank" has an empty word`}},
		{"bad features", header + `features:
  two_kinds: {count: any, max: amount, window: 1d}
  none: {window: 1d}
  bad_source: {count: wechat, window: 1d}
  bad_max: {max: age, window: 1d}
  bad_flag: {count: any, flag: angry, window: 1d}
  no_window: {count: any}
  bad_window: {count: any, window: 3w}
  long_window: {count: any, window: 500d}
  bad_keyword: {count: any, keyword: nope, window: 1d}
  Bad-Name: {count: any, window: 1d}
  typo: {count: any, windows: 1d}
`, []string{
			`r.yaml:4: feature "two_kinds": give exactly one of count, distinct_days or max`,
			`r.yaml:5: feature "none": give exactly one of count, distinct_days or max`,
			`r.yaml:6: feature "bad_source": unknown source "wechat"`,
			`r.yaml:7: feature "bad_max": max "age": want one of party_count, amount, petition_level`,
			`r.yaml:8: feature "bad_flag": flag "angry": want one of skip_level, collective, repeat`,
			`r.yaml:9: feature "no_window": window is missing`,
			`r.yaml:10: feature "bad_window": invalid duration "3w"`,
			`r.yaml:11: feature "long_window": window 500d is longer than the longest kept history, 400d`,
			`r.yaml:12: feature "bad_keyword": keyword list "nope" is not defined under keywords`,
			`r.yaml:13: feature "Bad-Name": name must use lowercase letters`,
			`r.yaml:14: unknown field "windows"`,
			`r.yaml:14: feature "typo": window is missing`,
		}},
		{"bad rules", header + `rules:
  - name: 无编号
    applies_to: [person]
    when: "true"
    score: 1
  - id: Bad_ID
    name: 甲
    applies_to: [person]
    when: "true"
    score: 1
  - id: incomplete
  - id: bad-kind
    name: 乙
    applies_to: [company]
    when: "true"
    score: 1
    at_least: purple
  - id: dup
    name: 丙
    applies_to: [dispute]
    when: "true"
    score: 1
  - id: dup
    name: 丁
    applies_to: [dispute]
    when: "true"
    score: 1
    colour: red
`, []string{
			`r.yaml:4: rule #4: id is missing`,
			`r.yaml:8: rule Bad_ID: id must use lowercase letters`,
			`r.yaml:13: rule incomplete: name is missing`,
			`r.yaml:13: rule incomplete: applies_to is missing`,
			`r.yaml:13: rule incomplete: when is missing`,
			`r.yaml:13: rule incomplete: score is missing`,
			`r.yaml:14: rule bad-kind: applies_to: unknown subject kind "company"`,
			`r.yaml:14: rule bad-kind: at_least: unknown level "purple"`,
			`r.yaml:25: rule dup: duplicate rule id, first defined in r.yaml:20`,
			`r.yaml:30: unknown field "colour"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := parseOne(tt.src)
			if err == nil {
				t.Fatalf("loaded: %+v", rs)
			}
			if rs != nil {
				t.Error("a ruleset was returned with errors")
			}
			got := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("errors lack %q; got:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "\n") + 1; n != len(tt.want) {
				t.Errorf("%d problems reported, want %d:\n%s", n, len(tt.want), got)
			}
		})
	}
}

func TestParseAcrossFiles(t *testing.T) {
	a := header + "rules:\n  - {id: x, name: 甲, applies_to: [person], when: 'true', score: 1}\n"
	b := header + "rules:\n  - {id: x, name: 乙, applies_to: [person], when: 'true', score: 1}\n"
	_, err := Parse(map[string][]byte{"a.yaml": []byte(a), "b.yaml": []byte(b)})
	if err == nil {
		t.Fatal("loaded")
	}
	for _, w := range []string{
		"b.yaml:1: version is already set in a.yaml",
		"b.yaml:2: levels are already set in a.yaml",
		"b.yaml:4: rule x: duplicate rule id, first defined in a.yaml:4",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q; got:\n%s", w, err)
		}
	}
}

func TestBand(t *testing.T) {
	th := Thresholds{Blue: 20, Yellow: 40, Orange: 60, Red: 80}
	for score, want := range map[float64]risk.Level{0: risk.Green, 19.9: risk.Green, 20: risk.Blue, 40: risk.Yellow, 79: risk.Orange, 80: risk.Red, 500: risk.Red} {
		if got := th.Band(score); got != want {
			t.Errorf("Band(%g) = %v, want %v", score, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]string{"30d": "30d", "12h": "12h", "90m": "90m", "48h": "2d"} {
		d, err := ParseDuration(in)
		if err != nil || d.String() != want {
			t.Errorf("%s → %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"", "d", "0d", "-1d", "1.5d", "1w", "1s"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestIsRuleFile(t *testing.T) {
	for name, want := range map[string]bool{"default.yaml": true, "x.yml": true, "default_test.yaml": false, "README.md": false} {
		if IsRuleFile(name) != want {
			t.Errorf("IsRuleFile(%q) != %v", name, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(header + "rules:\n  - {id: x, name: 甲, applies_to: [person], when: 'true', score: 1}\n"))
	f.Add([]byte("version: [\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		rs, err := Parse(map[string][]byte{"f.yaml": src})
		if (rs == nil) == (err == nil) {
			t.Fatalf("got ruleset %v and error %v", rs != nil, err)
		}
	})
}
