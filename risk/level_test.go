package risk

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestLevelOrderAndNames(t *testing.T) {
	tests := []struct {
		level   Level
		en, zh  string
		aliases []string
	}{
		{Green, "green", "绿色", []string{"GREEN", " green ", "绿", "绿色"}},
		{Blue, "blue", "蓝色", []string{"Blue", "蓝"}},
		{Yellow, "yellow", "黄色", []string{"黄"}},
		{Orange, "orange", "橙色", []string{"橙色"}},
		{Red, "red", "红色", []string{"红"}},
	}
	for i, tt := range tests {
		t.Run(tt.en, func(t *testing.T) {
			if int(tt.level) != i {
				t.Errorf("%s has order %d, want %d", tt.en, tt.level, i)
			}
			if got := tt.level.String(); got != tt.en {
				t.Errorf("String() = %q, want %q", got, tt.en)
			}
			if got := tt.level.Chinese(); got != tt.zh {
				t.Errorf("Chinese() = %q, want %q", got, tt.zh)
			}
			for _, a := range append(tt.aliases, tt.en) {
				got, err := ParseLevel(a)
				if err != nil || got != tt.level {
					t.Errorf("ParseLevel(%q) = %v, %v; want %v", a, got, err, tt.level)
				}
			}
		})
	}
	if !(Green < Blue && Blue < Yellow && Yellow < Orange && Orange < Red) {
		t.Error("levels are not ordered lowest to highest")
	}
}

func TestParseLevelRejects(t *testing.T) {
	for _, s := range []string{"", "purple", "5", "redd"} {
		_, err := ParseLevel(s)
		if err == nil {
			t.Errorf("ParseLevel(%q) succeeded", s)
			continue
		}
		if want := "want one of green, blue, yellow, orange, red"; !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLevel(%q) error %q does not say %q", s, err, want)
		}
	}
}

func TestLevelJSON(t *testing.T) {
	type doc struct {
		L Level `json:"level"`
	}
	for _, l := range Levels {
		b, err := json.Marshal(doc{l})
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"level":"` + l.String() + `"}`; string(b) != want {
			t.Errorf("marshal %v = %s, want %s", l, b, want)
		}
		var d doc
		if err := json.Unmarshal(b, &d); err != nil || d.L != l {
			t.Errorf("round trip of %v = %v, %v", l, d.L, err)
		}
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"level":"purple"}`), &d); err == nil {
		t.Error("unmarshal of purple succeeded")
	}
	if _, err := json.Marshal(doc{Level(9)}); err == nil {
		t.Error("marshal of an invalid level succeeded")
	}
}

func TestSubjectIDValidate(t *testing.T) {
	good := []SubjectID{{Person, "P3f9a0c"}, {Dispute, "TZ-2026-0001"}, {Dispute, "a.b_c"}}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("%v: %v", s, err)
		}
	}
	bad := []SubjectID{{"company", "x"}, {Person, ""}, {Dispute, "a b"}, {Dispute, "fq:{x}"}, {Dispute, "-x"}}
	for _, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("%v: accepted", s)
		}
	}
}

func TestExplain(t *testing.T) {
	orange := Orange
	a := Assessment{Level: Red, Score: 95, Fired: []RuleOutcome{
		{ID: "threat", Name: "扬言极端", Points: 45, AtLeast: &orange, Detail: "近30天扬言信号次数 1(阈值>0)"},
		{ID: "petitions", Name: "多次信访", Points: 50},
	}, Adjustments: []Adjustment{{Kind: Held, Level: Red, Reason: "离开红色须解除预警签字"}}}
	want := "红色(得分 95): 扬言极端(近30天扬言信号次数 1(阈值>0)) +45,至少橙色; 多次信访 +50; 离开红色须解除预警签字"
	if got := a.Explain(); got != want {
		t.Errorf("Explain() = %q, want %q", got, want)
	}
	if got := (Assessment{}).Explain(); got != "绿色(得分 0): 未触发任何规则" {
		t.Errorf("empty Explain() = %q", got)
	}
}
