package escalation_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"fengqiao/alerts/escalation"
	"fengqiao/jurisdiction"
)

func loadRoster(t testing.TB, path string) *escalation.Roster {
	t.Helper()
	r, err := escalation.LoadRoster(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The fixture roster's CSV holds the same entries as its YAML for the units
// it covers.
func TestRosterCSVMatchesYAML(t *testing.T) {
	fromYAML := loadRoster(t, fixtureRoster).Entries()
	fromCSV := loadRoster(t, fixtureCSV).Entries()
	units := map[string]bool{}
	for _, e := range fromCSV {
		units[e.Unit] = true
	}
	if len(units) < 2 {
		t.Fatalf("the CSV covers %d units, want a few", len(units))
	}
	var want []escalation.Entry
	for _, e := range fromYAML {
		if units[e.Unit] {
			want = append(want, e)
		}
	}
	strip := func(es []escalation.Entry) []escalation.Entry {
		out := slices.Clone(es)
		for i := range out {
			out[i].Line = 0
		}
		return out
	}
	if got := strip(fromCSV); !reflect.DeepEqual(got, strip(want)) {
		t.Errorf("CSV entries differ from YAML's:\n got %d: %+v\nwant %d: %+v", len(got), got, len(want), want)
	}
	for i, e := range fromCSV {
		if e.Line != i+2 {
			t.Errorf("CSV entry %d has row %d, want %d (the header is row 1)", i, e.Line, i+2)
			break
		}
	}
}

// The fixture roster covers every township and county, day and night, from
// 2026-11-20 to 2026-11-30, but for its few deliberate gaps, and names only
// units of the fixture jurisdiction and their people.
func TestRosterFixture(t *testing.T) {
	tree := loadTree(t)
	r := loadRoster(t, fixtureRoster)
	if err := r.Check(tree); err != nil {
		t.Fatal(err)
	}
	gaps := map[string]bool{
		"990101100000 2026-11-22 night": true,
		"990101101000 2026-11-25 day":   true,
		"990102000000 2026-11-28 night": true,
		"990103001000 2026-11-30 day":   true,
		"990103001000 2026-11-30 night": true,
	}
	have := map[string]bool{}
	for _, e := range r.Entries() {
		have[e.Unit+" "+e.Date+" "+e.Shift.String()] = true
		u, _ := tree.Unit(e.Unit)
		if !slices.ContainsFunc(u.Contacts, func(c jurisdiction.Contact) bool { return c == e.Contact }) {
			t.Errorf("line %d: %s is not one of %s's contacts", e.Line, e.Contact.Name, u.Name)
		}
	}
	for _, u := range tree.Units() {
		if u.Tier != jurisdiction.County && u.Tier != jurisdiction.Township {
			continue
		}
		for d := 20; d <= 30; d++ {
			for _, s := range []string{"day", "night"} {
				key := u.Code + " 2026-11-" + itoa(d) + " " + s
				if have[key] == gaps[key] {
					t.Errorf("%s (%s): rostered %v, deliberate gap %v", key, u.Name, have[key], gaps[key])
				}
			}
		}
	}
}

func itoa(d int) string { return string(rune('0'+d/10)) + string(rune('0'+d%10)) }

func TestOnDuty(t *testing.T) {
	r := loadRoster(t, fixtureRoster)
	const (
		fengqiao = "990101100000" // 枫桥镇: day 孙雪梅, night 王明辉, no one the night of the 22nd
		city     = "990100000000" // 青川市: all day, 周建国 on even dates, 沈丽华 on odd; no one on the 29th
	)
	tests := []struct {
		unit, at string
		want     []string
	}{
		{fengqiao, "2026-11-21 07:59", []string{"王明辉"}}, // the night shift of the 20th
		{fengqiao, "2026-11-21 08:00", []string{"孙雪梅"}},
		{fengqiao, "2026-11-21 19:59", []string{"孙雪梅"}},
		{fengqiao, "2026-11-21 20:00", []string{"王明辉"}},
		{fengqiao, "2026-11-22 19:59", []string{"孙雪梅"}},
		{fengqiao, "2026-11-22 20:00", nil}, // the gap
		{fengqiao, "2026-11-23 07:59", nil}, // still the gap
		{fengqiao, "2026-11-23 08:00", []string{"孙雪梅"}},
		{fengqiao, "2026-11-20 07:59", nil},             // before the roster starts
		{fengqiao, "2026-12-01 07:59", []string{"王明辉"}}, // the night of the 30th runs into December
		{fengqiao, "2026-12-01 08:00", nil},
		{city, "2026-11-22 00:00", []string{"周建国"}},
		{city, "2026-11-22 23:59", []string{"周建国"}},
		{city, "2026-11-23 00:00", []string{"沈丽华"}},
		{city, "2026-11-29 12:00", nil},
		{"990101100001", "2026-11-22 12:00", nil}, // villages are not rostered
	}
	for _, tt := range tests {
		var got []string
		for _, c := range r.OnDuty(tt.unit, at(t, tt.at)) {
			got = append(got, c.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("OnDuty(%s, %s) = %v, want %v", tt.unit, tt.at, got, tt.want)
		}
	}
	var none *escalation.Roster
	if got := none.OnDuty(fengqiao, at(t, "2026-11-22 12:00")); got != nil {
		t.Errorf("nil roster: OnDuty = %v", got)
	}
}

func TestOnDutyOverlapping(t *testing.T) {
	src := `entries:
  - {unit: "990101100000", date: 2026-11-22, shift: all, name: 王明辉, phone: "13900000005"}
  - {unit: "990101100000", date: 2026-11-22, shift: day, name: 孙雪梅, phone: "13900000006"}
  - {unit: "990101100000", date: 2026-11-22, shift: day, name: 王明辉, phone: "13900000005"}
  - {unit: "990101100000", date: 2026-11-21, shift: night, name: 孙雪梅, phone: "13900000006"}
`
	r, err := escalation.ParseRoster("overlap.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at   string
		want []string
	}{
		{"2026-11-22 07:00", []string{"王明辉", "孙雪梅"}}, // all day, and the night of the 21st
		{"2026-11-22 12:00", []string{"王明辉", "孙雪梅"}}, // 王明辉 once, though rostered twice
		{"2026-11-22 21:00", []string{"王明辉"}},
		{"2026-11-23 00:00", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, c := range r.OnDuty("990101100000", at(t, tt.at)) {
			got = append(got, c.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("OnDuty(%s) = %v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestRosterGoodCSV(t *testing.T) {
	r := loadRoster(t, "testdata/roster/good.csv")
	want := []escalation.Entry{
		{Unit: "990101100000", Date: "2026-11-22", Shift: escalation.DayShift, Line: 2, Contact: jurisdiction.Contact{
			Name: "孙雪梅", Title: "镇综治中心值班员", Phone: "13900000006", Email: "sun.xuemei@example.org", DingTalk: "qh.sunxuemei"}},
		{Unit: "990101100000", Date: "2026-11-22", Shift: escalation.NightShift, Line: 4, Contact: jurisdiction.Contact{
			Name: "王明辉", Title: "镇综治中心主任,带班", Phone: "0571-88880000"}},
	}
	if got := r.Entries(); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// Each testdata/roster/*.bad.yaml reports exactly the problems its "# want:"
// comments give.
func TestRosterBadYAML(t *testing.T) {
	for _, path := range testdata(t, "roster/*.bad.yaml") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := wantedProblems(t, path, readFile(t, path))
			r, err := escalation.LoadRoster(path)
			if r != nil {
				t.Error("a roster was returned with the error")
			}
			checkProblems(t, err, want)
			noPhones(t, err)
		})
	}
}

func TestRosterBadCSV(t *testing.T) {
	tests := map[string][]string{
		"header.bad.csv": {
			`1: row 1: unknown column "单位"`,
			`1: row 1: column "班次" is given twice`,
			`1: row 1: column 单位代码 (unit) is missing`,
			`1: row 1: column 姓名 (name) is missing`,
		},
		"headerless.bad.csv": {
			"1: row 1 must name the columns (单位代码, 日期, 班次, 姓名, 职务, 电话, 邮箱, 企业微信, 钉钉), but names none of them",
		},
		"unnamed.bad.csv": {
			"3: row 3: column 6 has a value, but no name in the header",
		},
		"problems.bad.csv": {
			"2: row 2: 电话 is not an 11-digit mobile number or a landline number with area code (from a spreadsheet, format the column as text)",
			"3: row 3: 班次 must be day, night or all (白班, 夜班, 全天)",
			"4: row 4: 日期 is not a date written as 2026-11-22",
			"5: row 5: 单位代码 must be a unit code of 12 digits, or 15 for a grid",
			"5: row 5: 姓名 is missing",
			"6: row 6: has 6 fields, but the header has 9",
			`7: row 7: bare " in non-quoted-field`,
			"8: row 8: has no phone, email, wecom or dingtalk to reach the person by",
			"10: row 10: the same person is already rostered for 990101100000 on 2026-11-22 day, in row 9",
		},
	}
	for name, lines := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "roster", name)
			want := make([]string, len(lines))
			for i, l := range lines {
				want[i] = path + ":" + l
			}
			r, err := escalation.LoadRoster(path)
			if r != nil {
				t.Error("a roster was returned with the error")
			}
			checkProblems(t, err, want)
			noPhones(t, err)
			var le *escalation.LoadError
			if !errors.As(err, &le) {
				t.Errorf("error is %T, want *LoadError", err)
			}
		})
	}
}

// noPhones fails if err quotes anything like a phone number from the file.
func noPhones(t *testing.T, err error) {
	t.Helper()
	for _, p := range []string{"1390000", "1.39E", "88880000"} {
		if strings.Contains(err.Error(), p) {
			t.Errorf("an error quotes a phone number (%s):\n%s", p, err)
		}
	}
}

func TestShift(t *testing.T) {
	for _, tt := range []struct {
		s      escalation.Shift
		en, zh string
	}{{escalation.DayShift, "day", "白班"}, {escalation.NightShift, "night", "夜班"}, {escalation.AllDay, "all", "全天"}} {
		for _, in := range []string{tt.en, tt.zh, strings.ToUpper(tt.en)} {
			if got, err := escalation.ParseShift(in); err != nil || got != tt.s {
				t.Errorf("ParseShift(%q) = %v, %v", in, got, err)
			}
		}
		if tt.s.String() != tt.en || tt.s.Chinese() != tt.zh {
			t.Errorf("%v names: %s %s", tt.s, tt.s.String(), tt.s.Chinese())
		}
	}
	if _, err := escalation.ParseShift("中班"); err == nil {
		t.Error("ParseShift(中班) succeeded")
	}
	if escalation.Shift(0).Valid() {
		t.Error("the zero Shift is valid")
	}
}

func TestRosterCheck(t *testing.T) {
	tree := loadTree(t)
	src := "entries:\n  - {unit: \"990199000000\", date: 2026-11-22, shift: day, name: 某人, email: a@example.org}\n"
	r, err := escalation.ParseRoster("unknown.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	err = r.Check(tree)
	if err == nil || err.Error() != "unknown.yaml:2: unit 990199000000 is not in the jurisdiction tree" {
		t.Errorf("Check = %v", err)
	}
}
