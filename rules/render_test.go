package rules

import (
	"reflect"
	"testing"
)

// A rendered ruleset loads back as the same rules.
func TestRenderRoundTrip(t *testing.T) {
	rs, err := LoadDir("../fixtures/rules")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(rs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(map[string][]byte{"rendered.yaml": out})
	if err != nil {
		t.Fatalf("the rendered ruleset does not load: %v\n%s", err, out)
	}
	if back.Version != rs.Version || back.Levels != rs.Levels || back.Dampening.Cooldown != rs.Dampening.Cooldown ||
		*back.Dampening.SignOff != *rs.Dampening.SignOff || *back.Spread.DisputeToPerson != *rs.Spread.DisputeToPerson {
		t.Errorf("settings differ after rendering")
	}
	if !reflect.DeepEqual(back.Keywords, rs.Keywords) || len(back.Features) != len(rs.Features) || len(back.Rules) != len(rs.Rules) {
		t.Fatalf("parts differ after rendering")
	}
	for i := range rs.Features {
		a, b := rs.Features[i], back.Features[i]
		a.File, a.Line, b.File, b.Line = "", 0, "", 0
		if a != b {
			t.Errorf("feature %s: %+v, rendered %+v", a.Name, a, b)
		}
	}
	for i := range rs.Rules {
		a, b := rs.Rules[i], back.Rules[i]
		a.Pos, b.Pos = RulePosition{}, RulePosition{}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("rule %s: %+v, rendered %+v", a.ID, a, b)
		}
	}
}
