package cases_test

import (
	"os"
	"strings"
	"testing"

	"fengqiao/cases"
	"fengqiao/jurisdiction"
	"fengqiao/signals"
)

func TestPolicyFixture(t *testing.T) {
	w, tree := fixture(t)
	p := w.Policy
	if got := p.TypeOf("劳动/欠薪").ID; got != "labour" {
		t.Errorf("labour type %s", got)
	}
	if got := p.TypeOf("邻里").ID; got != "general" {
		t.Errorf("catch-all type %s", got)
	}
	routes := []struct {
		unit, category, lead, org, mtype, docking string
	}{
		{"990101100201", "邻里", "990101100000", "枫桥镇人民调解委员会", "人民调解", ""},
		{"990101100201", "劳动/欠薪", "990101000000", "清河县劳动人事争议调解中心", "行政调解", ""},
		{"990102001001", "邻里", "990102001000", "湖滨街道矛盾纠纷调处中心", "联合调解", "访调对接"},
		{"990102001001", "医疗", "990102000000", "东湖区医疗纠纷人民调解委员会", "人民调解", ""},
	}
	for _, r := range routes {
		a, ok := p.Route(tree, r.unit, r.category)
		if !ok || a.LeadUnit != r.lead || a.Organisation != r.org || a.MediationType != r.mtype || a.Docking != r.docking {
			t.Errorf("route %s %s: %+v %v", r.unit, r.category, a, ok)
		}
	}
}

func TestBadPolicies(t *testing.T) {
	tree, err := jurisdiction.Load("../fixtures/jurisdiction.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile("../fixtures/cases/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"empty", string(good), "# nothing\n", "the file is empty: give case_types, dossier and routing"},
		{"unknown field", "return_within:", "return_in:", "field return_in not found in type cases.Policy"},
		{"no types", "case_types:", "case_typez_unused:\ncase_types: []\nx:", "field case_typez_unused not found"},
		{"duplicate id", "id: medical", "id: labour", `case_types[1].id: "labour" is used twice`},
		{"missing name", "name: 医疗纠纷", "name: \"\"", "case_types[1].name is missing: give the type's Chinese name, e.g. 劳动争议"},
		{"unknown category", "categories: [医疗]", "categories: [医患]", `case_types[1].categories: "医患" is not a dispute category`},
		{"no catch-all", `categories: ["*"]`, `categories: [其他]`, `case_types: no type has categories: ["*"], so a case of another category would have no clocks`},
		{"missing days", "handling: {days: 15,", "handling: {", "case_types[0].handling.days is missing: give the days allowed, e.g. days: 15"},
		{"too many days", "handling: {days: 15,", "handling: {days: 400,", "case_types[0].handling.days: 400 is not a period: give 1 to 366 days"},
		{"bad extension", "extend_max: 30", "extend_max: -1", "case_types[2].extend_max: give 0 to 366 days"},
		{"no dossier", "  failed: [调解申请书, 调解笔录, 终止调解告知书]\n", "", "dossier.failed: list the documents a case 调解不成 must have filed before it is closed"},
		{"unknown outcome", "  agreed: [", "  done: [x]\n  agreed: [", `dossier: "done" is not an outcome: want agreed or failed`},
		{"auto-open too low", "at_least: orange", "at_least: blue", "auto_open.at_least: give yellow, orange or red"},
		{"unknown route unit", `unit: "990102000000"`, `unit: "990199000000"`, `routing[3].unit: "990199000000" is not a unit of the jurisdiction`},
		{"unknown route category", "category: 医疗,", "category: 医患,", `routing[2].category: "医患" is not a dispute category`},
		{"bad tier", "lead_tier: county, organisation: \"{unit}医疗", "lead_tier: street, organisation: \"{unit}医疗", "unknown tier"},
		{"bad mediation type", "mediation_type: 联合调解", "mediation_type: 调解", "routing[3].mediation_type: want one of 人民调解"},
		{"bad docking", "docking: 访调对接", "docking: 对接", "routing[3].docking: want one of 公调对接"},
		{"no organisation", `organisation: "{unit}矛盾纠纷调处中心"`, `organisation: ""`, "routing[3].organisation is missing, e.g. {unit}人民调解委员会"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(good), tt.old) {
				t.Fatalf("the fixture has no %q", tt.old)
			}
			bad := strings.Replace(string(good), tt.old, tt.new, 1)
			_, err := cases.ParsePolicy([]byte(bad), tree, signals.DefaultCategories)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func FuzzParsePolicy(f *testing.F) {
	tree, err := jurisdiction.Load("../fixtures/jurisdiction.yaml")
	if err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile("../fixtures/cases/policy.yaml")
	f.Add(good)
	f.Add([]byte("case_types: [{id: x}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := cases.ParsePolicy(b, tree, signals.DefaultCategories)
		if err == nil && p == nil {
			t.Fatal("no policy and no error")
		}
	})
}
