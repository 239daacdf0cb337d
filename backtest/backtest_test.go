package backtest

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"fengqiao/engine"
	"fengqiao/jurisdiction"
	"fengqiao/risk"
	"fengqiao/rules"
	"fengqiao/signals"
)

func compileDir(t *testing.T, dir string) *engine.Engine {
	t.Helper()
	rs, err := rules.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func compileText(t *testing.T, src string) *engine.Engine {
	t.Helper()
	rs, err := rules.Parse(map[string][]byte{"rules.yaml": []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func pseudonymizer(t *testing.T) *signals.Pseudonymizer {
	t.Helper()
	p, err := signals.NewPseudonymizer([]byte("backtest-test-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixtureRecords reads fixtures/backtest/signals.jsonl as riskctl does, its
// units checked against the fictional jurisdiction.
func fixtureRecords(t *testing.T) ([]signals.Record, time.Time) {
	t.Helper()
	body, err := os.ReadFile("../fixtures/backtest/signals.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := jurisdiction.Load("../fixtures/jurisdiction.yaml")
	if err != nil {
		t.Fatal(err)
	}
	latest := Latest(sigs)
	v := &signals.Validator{KnownUnit: func(c string) bool { _, ok := tree.Unit(c); return ok },
		Categories: signals.DefaultCategories, Now: func() time.Time { return latest }}
	recs, err := Records(sigs, v, pseudonymizer(t))
	if err != nil {
		t.Fatalf("the fixture is not valid as the API checks it: %v", err)
	}
	return recs, latest
}

// TestCandidateBacktest pins, exactly, what the candidate ruleset
// (fixtures/rules-candidate, 2026.12-1) changes against the default ruleset
// over the fixture's 64 signals. Each of the candidate's changes shows:
// the lower yellow threshold lifts the 35-point subjects (三失一偏 with one
// sign, a long-unresolved wage ledger, weak callers calling twice); the new
// threat word and wage-petition rule raise their disputes and persons; the
// raised collective-petition floor makes the petitioners orange; removing
// frequent-reports drops the much-visited subjects from yellow to blue.
func TestCandidateBacktest(t *testing.T) {
	recs, latest := fixtureRecords(t)
	if got := latest.Sub(recs[0].OccurredAt); got < 59*24*time.Hour {
		t.Errorf("the fixture spans %v, want about 60 days", got)
	}
	now := latest.Add(time.Minute)
	r := Run(recs, compileDir(t, "../fixtures/rules"), compileDir(t, "../fixtures/rules-candidate"), now, 10)

	if r.From.Version != "2026.11-2" || r.To.Version != "2026.12-1" {
		t.Errorf("versions %s → %s", r.From.Version, r.To.Version)
	}
	if r.Signals != 64 || r.Raised != 16 || r.Lowered != 4 {
		t.Errorf("signals %d, raised %d, lowered %d; want 64, 16, 4", r.Signals, r.Raised, r.Lowered)
	}
	if want := []Count{{risk.Person, 27}, {risk.Dispute, 17}}; fmt.Sprint(r.Subjects) != fmt.Sprint(want) {
		t.Errorf("subjects %v, want %v", r.Subjects, want)
	}
	const (
		g, b, y, o, red = risk.Green, risk.Blue, risk.Yellow, risk.Orange, risk.Red
		person, dispute = risk.Person, risk.Dispute
	)
	wantTrans := []Transition{
		{person, b, y, 6}, {person, y, b, 3}, {person, y, o, 3}, {person, g, y, 2}, {person, g, o, 1},
		{dispute, g, y, 2}, {dispute, g, o, 1}, {dispute, b, y, 1}, {dispute, y, b, 1},
	}
	if fmt.Sprint(r.Transitions) != fmt.Sprint(wantTrans) {
		t.Errorf("transitions\n got %v\nwant %v", r.Transitions, wantTrans)
	}
	wantLevels := []LevelCount{
		{person, g, 9, 6}, {person, b, 6, 3}, {person, y, 6, 8}, {person, o, 3, 7}, {person, red, 3, 3},
		{dispute, g, 11, 8}, {dispute, b, 1, 1}, {dispute, y, 1, 3}, {dispute, o, 1, 2}, {dispute, red, 3, 3},
	}
	if fmt.Sprint(r.Levels) != fmt.Sprint(wantLevels) {
		t.Errorf("levels\n got %v\nwant %v", r.Levels, wantLevels)
	}
	wantHits := map[string][2]int{
		"threat-language": {2, 4}, "threat-family": {2, 2}, "key-person-extreme": {1, 1}, "self-harm": {1, 1},
		"sanshi-yipian": {4, 4}, "sanshi-imbalance": {1, 1}, "sanshi-paranoid": {2, 2}, "key-group": {1, 1},
		"repeat-petitions": {2, 2}, "skip-level-petition": {2, 2}, "petition-province": {2, 2},
		"collective-petition": {7, 7}, "collective-dispute": {2, 2}, "collective-dispute-large": {1, 1},
		"family-dispute": {3, 3}, "family-dispute-recurring": {2, 2}, "neighbour-escalating": {3, 3},
		"wage-arrears": {9, 9}, "wage-arrears-mass": {3, 3}, "wage-petition": {0, 7}, "land-transfer": {2, 2},
		"land-requisition": {4, 4}, "large-amount": {1, 1}, "hotline-repeat": {0, 3}, "identity-unverified": {2, 2},
		"ledger-unresolved": {4, 4}, "frequent-reports": {6, 0},
	}
	hit := 0
	for _, h := range r.Rules {
		w := wantHits[h.ID]
		if h.Old != w[0] || h.New != w[1] {
			t.Errorf("rule %s fired for %d → %d subjects, want %d → %d", h.ID, h.Old, h.New, w[0], w[1])
		}
		if h.Old+h.New > 0 {
			hit++
		}
		switch want := map[string]string{"wage-petition": "added", "frequent-reports": "removed"}[h.ID]; {
		case h.Status != want:
			t.Errorf("rule %s status %q, want %q", h.ID, h.Status, want)
		case h.Name == "":
			t.Errorf("rule %s has no name", h.ID)
		}
	}
	if hit != len(wantHits) || len(r.Rules) != 38 {
		t.Errorf("%d rules fired, %d listed; want %d and 38 (37 in the candidate and the removed one)", hit, len(r.Rules), len(wantHits))
	}

	if len(r.Top) != 10 {
		t.Fatalf("%d top changes, want 10", len(r.Top))
	}
	first := r.Top[0]
	if first.From != g || first.To != o || first.NewScore != 45 || !strings.Contains(first.New, "扬言极端") {
		t.Errorf("the largest change is %+v, want green → orange by the new threat word", first)
	}
	for i := 1; i < len(r.Top); i++ {
		if distance(r.Top[i]) > distance(r.Top[i-1]) {
			t.Errorf("top changes out of order at %d: %v", i, r.Top)
		}
	}

	text := r.String()
	for _, s := range []string{
		"Backtest 回测: ruleset 2026.11-2 → 2026.12-1, scored at 评估时间 2026-11-29 15:31 北京时间",
		"64 signals 信号, 44 subjects 对象 (27 persons 人员, 17 disputes 纠纷)",
		"Colour changes 变色: 20 subjects (16 up 升, 4 down 降)",
		"  6 persons blue → yellow (蓝→黄)\n",
		"  3 persons yellow → orange (黄→橙)\n",
		"  1 person green → orange (绿→橙)\n",
		"  1 dispute yellow → blue (黄→蓝)\n",
		"persons   人员: green 绿 9 → 6, blue 蓝 6 → 3, yellow 黄 6 → 8, orange 橙 3 → 7, red 红 3 → 3",
		"(new 新增)", "(removed 删除)",
		"old 旧: 绿色(得分 0): 未触发任何规则",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("the text lacks %q:\n%s", s, text)
		}
	}
	var back Report
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &back); err != nil || fmt.Sprint(back.Transitions) != fmt.Sprint(r.Transitions) {
		t.Errorf("the JSON does not round-trip: %v\n%s", err, js)
	}
}

// The same replay a second apart, with a fresh key: only references change.
func TestReplayIsStable(t *testing.T) {
	recs, latest := fixtureRecords(t)
	e := compileDir(t, "../fixtures/rules")
	a := Replay(recs, e, latest.Add(time.Minute))
	b := Replay(recs, e, latest.Add(time.Minute))
	if len(a) != len(b) || len(a) != 44 {
		t.Fatalf("%d and %d subjects", len(a), len(b))
	}
	for id, x := range a {
		if y := b[id]; x.Level != y.Level || x.Score != y.Score || x.Explain() != y.Explain() {
			t.Errorf("%s: %s then %s", id, x.Explain(), y.Explain())
		}
	}
}

const replayRules = `version: "t1"
levels: {blue: 10, yellow: 20, orange: 30, red: 40}
spread: {dispute_to_person: 1}
features:
  signals_30d: {count: any, window: 30d}
rules:
  - id: signals
    name: 信号
    applies_to: [person, dispute]
    when: features.signals_30d > 0
    score: 10 * features.signals_30d
`

func TestReplay(t *testing.T) {
	e := compileText(t, replayRules)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	rec := func(id string, age time.Duration, unit, dispute string, persons ...string) signals.Record {
		r := signals.Record{Source: risk.GridReport, ID: id, OccurredAt: now.Add(-age), Unit: unit, DisputeID: dispute}
		for _, p := range persons {
			r.Persons = append(r.Persons, signals.PersonRef{Ref: p})
		}
		return r
	}
	recs := []signals.Record{
		rec("1", 3*day, "990101100201", "D1", "Pa", "Pb"),
		rec("2", 2*day, "990101100202", "D1"),
		rec("3", 1*day, "990101100201", "D1"),
		rec("3", 1*day, "990101100201", "D1"),      // sent twice: counts once
		rec("4", -time.Hour, "990101100201", "D1"), // after now: not yet seen
		rec("5", 40*day, "990101100201", "", "Pc"), // out of the window
		rec("6", 5*day, "990101100201", "", "Pb"),
	}
	got := Replay(recs, e, now)
	if len(got) != 4 {
		t.Fatalf("%d subjects, want D1, Pa, Pb, Pc", len(got))
	}
	d1 := got[risk.SubjectID{Kind: risk.Dispute, Ref: "D1"}]
	if d1.Score != 30 || d1.Level != risk.Orange || d1.Unit != "990101100201" {
		t.Errorf("D1: %s in %s, want 30 points, orange, in the unit of its latest signal", d1.Explain(), d1.Unit)
	}
	pa := got[risk.SubjectID{Kind: risk.Person, Ref: "Pa"}]
	if pa.Score != 10 || pa.RulesLevel != risk.Blue || pa.Level != risk.Yellow || len(pa.Adjustments) != 1 || pa.Adjustments[0].Kind != risk.Spread {
		t.Errorf("Pa: %s; want blue by the rules, yellow by spread from the orange dispute", pa.Explain())
	}
	if pb := got[risk.SubjectID{Kind: risk.Person, Ref: "Pb"}]; pb.Score != 20 || pb.Level != risk.Yellow {
		t.Errorf("Pb: %s; want 20 points, yellow", pb.Explain())
	}
	if pc := got[risk.SubjectID{Kind: risk.Person, Ref: "Pc"}]; pc.Score != 0 || pc.Level != risk.Green {
		t.Errorf("Pc: %s; want green: its signal has left the window", pc.Explain())
	}
	if n := len(Replayed(recs, now)); n != 5 {
		t.Errorf("%d records replayed, want 5", n)
	}
}

func TestCompare(t *testing.T) {
	p := func(ref string) risk.SubjectID { return risk.SubjectID{Kind: risk.Person, Ref: ref} }
	a := func(l risk.Level, score float64, fired ...string) risk.Assessment {
		as := risk.Assessment{Level: l, Score: score, RulesetVersion: "v", Unit: "990101100201"}
		for _, f := range fired {
			as.Fired = append(as.Fired, risk.RuleOutcome{ID: f, Name: "名" + f})
		}
		return as
	}
	old := map[risk.SubjectID]risk.Assessment{
		p("a"): a(risk.Blue, 20, "x"), p("b"): a(risk.Blue, 25, "x"), p("c"): a(risk.Yellow, 40, "x", "y"),
		p("d"): a(risk.Green, 0), {Kind: risk.Dispute, Ref: "D"}: a(risk.Red, 90, "y"),
	}
	new := map[risk.SubjectID]risk.Assessment{
		p("a"): a(risk.Yellow, 35, "x"), p("b"): a(risk.Yellow, 35, "x"), p("c"): a(risk.Blue, 20, "x"),
		p("d"): a(risk.Red, 80, "z"), {Kind: risk.Dispute, Ref: "D"}: a(risk.Red, 90, "y"),
	}
	r := Compare(old, new, Options{Top: 3})
	want := "[{person blue yellow 2} {person green red 1} {person yellow blue 1}]"
	if got := fmt.Sprint(r.Transitions); got != want {
		t.Errorf("transitions %s, want %s", got, want)
	}
	if r.Raised != 3 || r.Lowered != 1 {
		t.Errorf("raised %d, lowered %d", r.Raised, r.Lowered)
	}
	var top []string
	for _, c := range r.Top {
		top = append(top, c.Subject.Ref)
	}
	// d moves three colours; then c (20 points) before a and b (15 each), which tie and go by reference.
	if got := strings.Join(top, " "); got != "d c a" {
		t.Errorf("top %s, want d c a", got)
	}
	hits := fmt.Sprint(r.Rules)
	if want := "[{x 名x  3 3} {y 名y  2 1} {z 名z  0 1}]"; hits != want {
		t.Errorf("rule hits %s, want %s", hits, want)
	}
	if r := Compare(old, new, Options{}); len(r.Top) != 0 {
		t.Errorf("top 0 lists %d changes", len(r.Top))
	}
}

func TestDecode(t *testing.T) {
	one := func(id string) string {
		return `{"source": "hotline", "id": "` + id + `", "occurred_at": "2026-11-21T11:45:00+08:00", "unit": "990102001001",
 "persons": [{"id_number": "990102199006113814", "name": "刘洋", "role": "来电人"}]}`
	}
	flat := func(s string) string { return strings.ReplaceAll(s, "\n", "") }
	var many []string
	for i := range signals.MaxBatch + 5 {
		many = append(many, flat(one(fmt.Sprint("H-", i))))
	}
	for _, tc := range []struct {
		name, body string
		n          int
		err        string
	}{
		{"one object over several lines", one("H-1"), 1, ""},
		{"an array", "[" + one("H-1") + ",\n" + one("H-2") + "]", 2, ""},
		{"NDJSON", flat(one("H-1")) + "\n\n" + flat(one("H-2")) + "\n", 2, ""},
		{"more than a request may hold", strings.Join(many, "\n"), signals.MaxBatch + 5, ""},
		{"an array of more", "[" + strings.Join(many, ",") + "]", signals.MaxBatch + 5, ""},
		{"empty", "  ", 0, "the file is empty"},
		{"a bad line is named with its index and line", flat(one("H-1")) + "\n\n" + `{"source": "hotline", "id": 5}`, 0, "[1].id: must be a string (line 3)"},
		{"a line that is not an object", flat(one("H-1")) + "\n[1]", 0, "[1]: must be a JSON object (line 2)"},
		{"a bad item of an array", "[" + one("H-1") + `, {"source": 5}]`, 0, "[1].source"},
		{"malformed JSON", "[" + one("H-1"), 0, "malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sigs, err := Decode([]byte(tc.body))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			case len(sigs) != tc.n:
				t.Fatalf("%d signals, want %d", len(sigs), tc.n)
			}
		})
	}
}

func TestRecordsChecksEverySignal(t *testing.T) {
	sigs, err := Decode([]byte(`[{"source": "hotline", "id": "H-1", "occurred_at": "2026-11-21T11:45:00+08:00", "unit": "990102001001",
 "persons": [{"id_number": "990102199006113815"}]},
 {"source": "petition", "id": "X-1", "occurred_at": "2026-11-21T11:45:00+08:00", "unit": "1", "dispute_id": "D-1"}]`))
	if err != nil {
		t.Fatal(err)
	}
	v := &signals.Validator{KnownUnit: func(c string) bool { return len(c) == 12 }, Categories: signals.DefaultCategories,
		Now: func() time.Time { return Latest(sigs) }}
	_, err = Records(sigs, v, pseudonymizer(t))
	for _, want := range []string{"[0].persons[0].id_number", "[1].unit", "[1].petition"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "990102199006113815") {
		t.Error("the error repeats an ID number")
	}
}
