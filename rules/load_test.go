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
