package escalation_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"fengqiao/alerts/escalation"
	"fengqiao/jurisdiction"
	"fengqiao/risk"
)

// paged is a target as the tests write it: the unit's code, then the names
// of the people paged, and "*" last if they were not taken from the roster.
type paged []string

func describe(ts []escalation.Target) []paged {
	var out []paged
	for _, t := range ts {
		p := paged{t.Unit.Code}
		for _, c := range t.Contacts {
			p = append(p, c.Name)
		}
		if !t.FromRoster {
			p = append(p, "*")
		}
		out = append(out, p)
	}
	return out
}

func TestRoute(t *testing.T) {
	tree := loadTree(t)
	p, err := escalation.LoadPolicy(fixturePolicy)
	if err != nil {
		t.Fatal(err)
	}
	roster := loadRoster(t, fixtureRoster)

	const (
		city     = "990100000000" // 青川市: all day; 周建国 on even dates, 沈丽华 on odd; no one on the 29th
		qinghe   = "990101000000" // 清河县: day 吴海燕, night 陈志强
		fengqiao = "990101100000" // 枫桥镇: day 孙雪梅, night 王明辉; no one the night of the 22nd
		fengxi   = "990101100001" // 枫溪社区, a village: never rostered
		grid     = "990101100001001"
		donghu   = "990102000000" // 东湖区: day 何秀英, night 楼永康; no one the night of the 28th
		hubin    = "990102001001001"

		gapFengqiao = "no one rostered for 枫桥镇 on 2026-11-22 night: falling back to its contacts"
	)
	tests := []struct {
		name   string
		level  risk.Level
		unit   string
		at     string
		nil    bool // route without a roster
		want   []paged
		warns  []string
		noPage bool
	}{
		// yellow: the township, across the day/night boundaries
		{name: "yellow day", level: risk.Yellow, unit: grid, at: "2026-11-22 10:00",
			want: []paged{{fengqiao, "孙雪梅"}}},
		{name: "yellow last minute of the day shift", level: risk.Yellow, unit: grid, at: "2026-11-22 19:59",
			want: []paged{{fengqiao, "孙雪梅"}}},
		{name: "yellow night, no one rostered", level: risk.Yellow, unit: grid, at: "2026-11-22 20:00",
			want: []paged{{fengqiao, "王明辉", "孙雪梅", "*"}}, warns: []string{gapFengqiao}},
		{name: "yellow before dawn, still the night of the 22nd", level: risk.Yellow, unit: grid, at: "2026-11-23 07:59",
			want: []paged{{fengqiao, "王明辉", "孙雪梅", "*"}}, warns: []string{gapFengqiao}},
		{name: "yellow next day shift", level: risk.Yellow, unit: grid, at: "2026-11-23 08:00",
			want: []paged{{fengqiao, "孙雪梅"}}},
		{name: "yellow rostered night", level: risk.Yellow, unit: grid, at: "2026-11-21 23:00",
			want: []paged{{fengqiao, "王明辉"}}},
		{name: "yellow without a roster", level: risk.Yellow, unit: grid, at: "2026-11-22 10:00", nil: true,
			want:  []paged{{fengqiao, "王明辉", "孙雪梅", "*"}},
			warns: []string{"no one rostered for 枫桥镇 on 2026-11-22 day: falling back to its contacts"}},

		// orange: township and county
		{name: "orange night", level: risk.Orange, unit: grid, at: "2026-11-21 21:00",
			want: []paged{{fengqiao, "王明辉"}, {qinghe, "陈志强"}}},
		{name: "orange night, township gap", level: risk.Orange, unit: grid, at: "2026-11-22 21:00",
			want: []paged{{fengqiao, "王明辉", "孙雪梅", "*"}, {qinghe, "陈志强"}}, warns: []string{gapFengqiao}},
		{name: "orange without a roster", level: risk.Orange, unit: grid, at: "2026-11-24 10:00", nil: true,
			want: []paged{{fengqiao, "王明辉", "孙雪梅", "*"}, {qinghe, "陈志强", "吴海燕", "*"}},
			warns: []string{
				"no one rostered for 枫桥镇 on 2026-11-24 day: falling back to its contacts",
				"no one rostered for 清河县 on 2026-11-24 day: falling back to its contacts",
			}},
		{name: "orange for a county subject skips the township", level: risk.Orange, unit: qinghe, at: "2026-11-24 10:00",
			want:  []paged{{qinghe, "吴海燕"}},
			warns: []string{"orange alert for 清河县: the township tier lies below it, a county: skipping that tier"}},

		// red: county and city
		{name: "red night", level: risk.Red, unit: grid, at: "2026-11-22 21:00",
			want: []paged{{qinghe, "陈志强"}, {city, "周建国"}}},
		{name: "red, city all-day shift ends at midnight", level: risk.Red, unit: grid, at: "2026-11-23 00:00",
			want: []paged{{qinghe, "陈志强"}, {city, "沈丽华"}}},
		{name: "red, city gap", level: risk.Red, unit: grid, at: "2026-11-29 12:00",
			want:  []paged{{qinghe, "吴海燕"}, {city, "周建国", "沈丽华", "*"}},
			warns: []string{"no one rostered for 青川市 on 2026-11-29 day: falling back to its contacts"}},
		{name: "red in another county, its night gap", level: risk.Red, unit: hubin, at: "2026-11-28 21:00",
			want:  []paged{{donghu, "楼永康", "何秀英", "*"}, {city, "周建国"}},
			warns: []string{"no one rostered for 东湖区 on 2026-11-28 night: falling back to its contacts"}},
		{name: "red for the city itself", level: risk.Red, unit: city, at: "2026-11-22 10:00",
			want:  []paged{{city, "周建国"}},
			warns: []string{"red alert for 青川市: the county tier lies below it, a city: skipping that tier"}},

		// blue: the village, which is never rostered
		{name: "blue", level: risk.Blue, unit: grid, at: "2026-11-22 10:00",
			want:  []paged{{fengxi, "陈建华", "王美华", "*"}},
			warns: []string{"no one rostered for 枫溪社区 on 2026-11-22 day: falling back to its contacts"}},
		{name: "blue for a township: no tier applies, the township itself is paged", level: risk.Blue, unit: fengqiao, at: "2026-11-22 10:00",
			want: []paged{{fengqiao, "孙雪梅"}},
			warns: []string{
				"blue alert for 枫桥镇: the village tier lies below it, a township: skipping that tier",
				"blue alert for 枫桥镇: no tier of the policy applies: paging 枫桥镇 instead",
			}},

		// nobody
		{name: "green", level: risk.Green, unit: grid, at: "2026-11-22 10:00", noPage: true,
			warns: []string{"the escalation policy pages no one for green (绿色) alerts"}},
		{name: "unknown unit", level: risk.Red, unit: "990199000000", at: "2026-11-22 10:00", noPage: true,
			warns: []string{"unit 990199000000 is not in the jurisdiction tree: nobody is paged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := roster
			if tt.nil {
				r = nil
			}
			got, warns := escalation.Route(tt.level, tt.unit, tree, p, r, at(t, tt.at))
			if tt.noPage {
				if got != nil {
					t.Errorf("targets = %v, want none", describe(got))
				}
			} else if d := describe(got); !slices.EqualFunc(d, tt.want, slices.Equal) {
				t.Errorf("targets = %v\n     want %v", d, tt.want)
			}
			if !slices.Equal(warns, tt.warns) {
				t.Errorf("warnings = %q\n      want %q", warns, tt.warns)
			}
			lp := p.Snapshot(tt.level)
			for _, target := range got {
				if !slices.Equal(target.Channels, lp.Channels) {
					t.Errorf("%s channels = %v, want %v", target.Unit.Code, target.Channels, lp.Channels)
				}
				if target.Tier != target.Unit.Tier {
					t.Errorf("%s tier = %v, its unit's is %v", target.Unit.Code, target.Tier, target.Unit.Tier)
				}
			}
		})
	}
}

// A tree rooted at a county has no city: a city tier is skipped, and if no
// tier is left the root is paged.
func TestRouteAboveTheRoot(t *testing.T) {
	tree, err := jurisdiction.Parse([]byte(`
version: "1"
units:
  - {code: "990101000000", name: 清河县, tier: county, contacts: [{name: 吴海燕, phone: "13900000004"}]}
  - {code: "990101100000", name: 枫桥镇, tier: township, parent: "990101000000", contacts: [{name: 孙雪梅, phone: "13900000006"}]}
`), "county.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := escalation.ParsePolicy("p.yaml", []byte(`
version: "1"
channels: {mail: {kind: email}}
levels:
  orange: {tiers: [township, city], channels: [mail], ack_within: 2h}
  red: {tiers: [city], channels: [mail], ack_within: 30m}
`))
	if err != nil {
		t.Fatal(err)
	}
	now := at(t, "2026-11-22 10:00")
	got, warns := escalation.Route(risk.Orange, "990101100000", tree, p, nil, now)
	if d := describe(got); !slices.EqualFunc(d, []paged{{"990101100000", "孙雪梅", "*"}}, slices.Equal) {
		t.Errorf("orange targets = %v", d)
	}
	if len(warns) != 2 || warns[1] != "orange alert for 枫桥镇: there is no city at or above it: skipping that tier" {
		t.Errorf("orange warnings = %q", warns)
	}
	got, warns = escalation.Route(risk.Red, "990101100000", tree, p, nil, now)
	if d := describe(got); !slices.EqualFunc(d, []paged{{"990101000000", "吴海燕", "*"}}, slices.Equal) {
		t.Errorf("red targets = %v", d)
	}
	if len(warns) != 3 || warns[1] != "red alert for 枫桥镇: no tier of the policy applies: paging 清河县 instead" {
		t.Errorf("red warnings = %q", warns)
	}
}

func TestEscalate(t *testing.T) {
	tree := loadTree(t)
	p, err := escalation.LoadPolicy(fixturePolicy)
	if err != nil {
		t.Fatal(err)
	}
	roster := loadRoster(t, fixtureRoster)
	targets, _ := escalation.Route(risk.Yellow, "990101100001001", tree, p, roster, at(t, "2026-11-22 10:00"))
	if len(targets) != 1 {
		t.Fatalf("targets = %v", describe(targets))
	}
	var chain []string
	for cur, ok := targets[0], true; ok; cur, ok = escalation.Escalate(cur, tree) {
		chain = append(chain, cur.Unit.Name)
		if !slices.Equal(cur.Channels, []string{"duty-email"}) {
			t.Errorf("%s: channels %v", cur.Unit.Name, cur.Channels)
		}
	}
	if want := []string{"枫桥镇", "清河县", "青川市"}; !slices.Equal(chain, want) {
		t.Errorf("escalation chain = %v, want %v", chain, want)
	}

	// Escalate names the parent with its own contacts; Staff then finds
	// whoever is on duty when the escalation falls due.
	up, ok := escalation.Escalate(targets[0], tree)
	if !ok || up.Unit.Code != "990101000000" || up.Tier != jurisdiction.County || up.FromRoster || len(up.Contacts) != 2 {
		t.Fatalf("Escalate = %+v, %v", up, ok)
	}
	staffed, warn := escalation.Staff(up, roster, at(t, "2026-11-22 22:00"))
	if warn != "" || !staffed.FromRoster || describe([]escalation.Target{staffed})[0][1] != "陈志强" {
		t.Errorf("Staff = %v, %q", describe([]escalation.Target{staffed}), warn)
	}
	staffed, warn = escalation.Staff(up, nil, at(t, "2026-11-22 22:00"))
	if warn != "no one rostered for 清河县 on 2026-11-22 night: falling back to its contacts" || staffed.FromRoster {
		t.Errorf("Staff without a roster = %v, %q", describe([]escalation.Target{staffed}), warn)
	}
	if _, ok := escalation.Escalate(escalation.Target{Unit: tree.Root()}, tree); ok {
		t.Error("Escalate from the root succeeded")
	}

	// A unit without contacts and without a roster entry pages no one, and says so.
	bare := escalation.Target{Unit: jurisdiction.Unit{Code: "990101100000", Name: "枫桥镇"}}
	if _, warn := escalation.Staff(bare, nil, at(t, "2026-11-22 10:00")); !strings.Contains(warn, "nobody is paged there") {
		t.Errorf("Staff of a unit with no contacts: %q", warn)
	}
}

func TestTargetJSON(t *testing.T) {
	tree := loadTree(t)
	p, err := escalation.LoadPolicy(fixturePolicy)
	if err != nil {
		t.Fatal(err)
	}
	targets, _ := escalation.Route(risk.Red, "990101100001001", tree, p, loadRoster(t, fixtureRoster), at(t, "2026-11-22 10:00"))
	b, err := json.Marshal(targets)
	if err != nil {
		t.Fatal(err)
	}
	var back []escalation.Target
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(describe(back), describe(targets), slices.Equal) || back[0].Tier != jurisdiction.County {
		t.Errorf("JSON round trip: %s", b)
	}
}
