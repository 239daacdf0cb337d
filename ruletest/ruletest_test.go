package ruletest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fengqiao/engine"
	"fengqiao/risk"
	"fengqiao/rules"
)

// testEngine compiles testdata/rules.yaml, a small ruleset made for these tests.
func testEngine(t testing.TB) (*rules.Ruleset, *engine.Engine) {
	t.Helper()
	return compileDir(t, "testdata")
}

func compileDir(t testing.TB, dir string) (*rules.Ruleset, *engine.Engine) {
	t.Helper()
	rs, err := rules.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	return rs, e
}

// Each testdata/*.bad_test.yaml ends with "# want: LINE: MESSAGE" (or "#
// want: MESSAGE" for a problem with no line) comments: exactly the problems
// parsing it must report, each as "file:LINE: MESSAGE…".
func TestBadFiles(t *testing.T) {
	rs, _ := testEngine(t)
	files, _ := filepath.Glob("testdata/*.bad_test.yaml")
	if len(files) < 5 {
		t.Fatalf("only %d bad files", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, line := range strings.Split(string(src), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					sep := ":"
					if w == "" || w[0] < '0' || w[0] > '9' {
						sep = ": "
					}
					want = append(want, path+sep+w)
				}
			}
			if len(want) == 0 {
				t.Fatal("the file says nothing it wants")
			}
			_, err = Parse(path, src, rs)
			var problems rules.Errors
			if !errors.As(err, &problems) {
				t.Fatalf("want problems, got %v", err)
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(want) {
				t.Errorf("%d problems, want %d:\n%s", len(got), len(want), err)
			}
			for _, w := range want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Errorf("no problem starts %q; got:\n%s", w, err)
				}
			}
		})
	}
}

// Load reports the problems of every file with one, and still returns the
// files without, so that they can run.
func TestLoadLeavesOutFilesWithProblems(t *testing.T) {
	rs, e := testEngine(t)
	files, err := Load("testdata", rs)
	var problems rules.Errors
	if !errors.As(err, &problems) {
		t.Fatalf("want the bad files' problems, got %v", err)
	}
	bad := map[string]bool{}
	for _, p := range problems {
		bad[filepath.Base(p.File)] = true
	}
	if len(bad) != 7 {
		t.Errorf("problems in %d files, want the 7 bad ones: %v", len(bad), bad)
	}
	if len(files) != 1 || filepath.Base(files[0].Name) != "good_test.yaml" {
		t.Fatalf("loaded %+v, want good_test.yaml alone", files)
	}
	res := Run(e, files)
	for _, o := range res.Outcomes {
		if !o.Passed() {
			t.Errorf("%s:%d %s: %v\n%s", o.Case.File, o.Case.Line, o.Case.Name, o.Failures, o.Explanation())
		}
	}
	if res.Passed != 10 || res.Failed != 0 {
		t.Errorf("%d passed, %d failed; want 10 and 0", res.Passed, res.Failed)
	}
	if len(res.Uncovered) != 0 {
		t.Errorf("uncovered %v", res.Uncovered)
	}
	if want := []string{"threat", "mass", "skip-level"}; !slices.Equal(res.NoBoundary, want) {
		t.Errorf("no boundary %v, want %v", res.NoBoundary, want)
	}
}

func TestLoadNeedsTests(t *testing.T) {
	rs, _ := testEngine(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("version: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, rs); err == nil || !strings.Contains(err.Error(), "no rule tests (*_test.yaml)") {
		t.Errorf("Load = %v", err)
	}
}

// A name is used once in a directory, so that a failure and -run name one test.
func TestLoadRefusesANameUsedInAnotherFile(t *testing.T) {
	rs, _ := testEngine(t)
	dir := t.TempDir()
	test := "tests:\n  - name: 扬言\n    subject: {kind: person}\n    expect: {level: green}\n"
	for _, f := range []string{"a_test.yaml", "b_test.yml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(test), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Load(dir, rs)
	want := filepath.Join(dir, "b_test.yml") + ":2: test 扬言: the name is already used at " + filepath.Join(dir, "a_test.yaml") + ":2"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load = %v, want %s…", err, want)
	}
	if len(files) != 1 {
		t.Errorf("%d files loaded, want the first", len(files))
	}
}

func TestIsTestFile(t *testing.T) {
	for name, want := range map[string]bool{"default_test.yaml": true, "a_test.yml": true, "x.bad_test.yaml": true,
		"default.yaml": false, "test.yaml": false, "default_test.json": false, "README.md": false} {
		if got := IsTestFile(name); got != want {
			t.Errorf("IsTestFile(%q) = %v", name, got)
		}
	}
}

func TestParseTime(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, beijing)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{"0", base, ""},
		{"-3d", base.Add(-72 * time.Hour), ""},
		{"-12h", base.Add(-12 * time.Hour), ""},
		{"-90m", base.Add(-90 * time.Minute), ""},
		{"-29d23h59m59s", base.Add(-30*24*time.Hour + time.Second), ""},
		{"+1d", base.Add(24 * time.Hour), ""},
		{" -1d ", base.Add(-24 * time.Hour), ""},
		{"2026-11-20T09:00:00+08:00", time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC), ""},
		{"2026-11-19T17:00:00Z", time.Date(2026, 11, 19, 17, 0, 0, 0, time.UTC), ""},
		{"2026-11-20 09:00", time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC), ""},
		{"2026-11-20", time.Date(2026, 11, 19, 16, 0, 0, 0, time.UTC), ""},
		{"3d", time.Time{}, `"3d" is not a time`},
		{"-3w", time.Time{}, `"-3w" is not a time`},
		{"-d", time.Time{}, "is not a time"},
		{"-1.5d", time.Time{}, "is not a time"},
		{"-3d 2h", time.Time{}, "is not a time"},
		{"-999999999d", time.Time{}, "too far"},
		{"-3000d3000d", time.Time{}, "too far"},
		{"-3000d", base.Add(-3000 * 24 * time.Hour), ""},
		{"", time.Time{}, "is not a time"},
		{"yesterday", time.Time{}, "is not a time"},
	} {
		got, err := parseTime(tc.in, base)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseTime(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || !got.Equal(tc.want)):
			t.Errorf("parseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParsePetitionLevel(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "6": 6, "village": 1, "City": 4, "省": 5, "进京": 6, "乡镇": 2, "0": 0, "7": 0, "moon": 0} {
		got, err := parsePetitionLevel(in)
		if got != want || (err != nil) != (want == 0) {
			t.Errorf("parsePetitionLevel(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

// A case's state is what riskd would hold: keywords matched on summaries and
// merged with the lists given, repeated signals, the skip-level a province
// petition always has, the trigger and the unit of the latest signal.
func TestCaseState(t *testing.T) {
	rs, e := testEngine(t)
	src := `tests:
  - name: state
    subject: {kind: person}
    previous: {level: orange, raised: -1d}
    signals:
      - {source: hotline, at: -2d, unit: "990102", summary: 准备聚集后报复, keywords: [mass]}
      - {source: petition, at: -1d, unit: "990101", petition_level: province, times: 2, trigger: true}
    expect: {level: orange}
`
	f, err := Parse("x_test.yaml", []byte(src), rs)
	if err != nil {
		t.Fatal(err)
	}
	c := &f.Cases[0]
	st := c.State(e)
	if len(st.Events) != 3 {
		t.Fatalf("%d events, want 3", len(st.Events))
	}
	if got := st.Events[0].Keywords; !slices.Equal(got, []string{"mass", "threat"}) {
		t.Errorf("keywords %v", got)
	}
	if ev := st.Events[2]; ev.PetitionLevel != 5 || !ev.SkipLevel || ev.Source != risk.Petition || !ev.At.Equal(defaultAt.Add(-24*time.Hour)) {
		t.Errorf("petition event %+v", ev)
	}
	if st.Events[1].Key == st.Events[2].Key {
		t.Errorf("repeated signals share the key %s", st.Events[1].Key)
	}
	if st.Trigger != &st.Events[2] {
		t.Errorf("trigger %v, want the last copy of the petition", st.Trigger)
	}
	if st.Unit != "990101" || st.Subject.Kind != risk.Person || st.Previous.Level != risk.Orange {
		t.Errorf("state %+v", st)
	}
	if c.Signals[0].Event.Keywords[0] != "mass" || len(c.Signals[0].Event.Keywords) != 1 {
		t.Errorf("State changed the case's signals: %v", c.Signals[0].Event.Keywords)
	}
}

// A case that gets other than it expects reports each difference, with what
// it wanted and what it got, and the assessment's explanation.
func TestFailingCaseReport(t *testing.T) {
	rs, e := testEngine(t)
	src := `tests:
  - name: 扬言应为红色
    subject: {kind: person}
    signals:
      - {source: grid_report, at: -1d, summary: 扬言报复}
      - {source: hotline, at: -1d, summary: 准备聚集}
    expect:
      level: red
      rules_level: yellow
      score: 45
      fires: [threat, petitions]
      not_fires: [mass]
      only: true
      explanation_mentions: [扬言, 同归于尽]
  - name: nothing should fire
    subject: {kind: person}
    signals:
      - {source: grid_report, at: -1d, summary: 扬言报复}
    expect: {fires: [], only: true}
`
	f, err := Parse("x_test.yaml", []byte(src), rs)
	if err != nil {
		t.Fatal(err)
	}
	res := Run(e, []File{f})
	if res.Passed != 0 || res.Failed != 2 {
		t.Fatalf("%d passed, %d failed", res.Passed, res.Failed)
	}
	o := res.Outcomes[0]
	var got []string
	for _, f := range o.Failures {
		got = append(got, f.String())
	}
	want := []string{
		"level: want red, got orange",
		"rules_level: want yellow, got orange",
		"score: want 45, got 65",
		"fires: want petitions, did not fire",
		"not_fires: want mass not to fire, it fired (+20)",
		`explanation_mentions: want "同归于尽", not in the explanation`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if x := "橙色(得分 65): 扬言(近30天扬言次数 1(阈值>0)) +45,至少橙色; 聚集(近30天聚集次数 1(阈值>0)) +20"; o.Explanation() != x {
		t.Errorf("explanation %q, want %q", o.Explanation(), x)
	}
	if o.Case.Line != 2 || o.Case.File != "x_test.yaml" {
		t.Errorf("case at %s:%d", o.Case.File, o.Case.Line)
	}
	if got := res.Outcomes[1].Failures; len(got) != 1 || got[0].String() != "only: want no rule to fire, fired threat (+45)" {
		t.Errorf("only: %v", got)
	}
	if want := []string{"mass", "skip-level", "calling-now", "city-unit"}; !slices.Equal(res.Uncovered, want) {
		t.Errorf("uncovered %v, want %v", res.Uncovered, want)
	}
}

// A rule that fails while it is evaluated fails the test, whatever else it expects.
func TestRuleErrorFailsTheCase(t *testing.T) {
	rs, err := rules.Parse(map[string][]byte{"r.yaml": []byte(`version: "e"
levels: {blue: 20, yellow: 40, orange: 60, red: 80}
features:
  n_30d: {count: any, window: 30d}
rules:
  - id: divide
    name: 除法
    applies_to: [person]
    when: 10 / features.n_30d > 1 && [1, 2][int(features.n_30d) + 5] > 0
    score: 1
`)})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("x_test.yaml", []byte("tests:\n  - name: e\n    subject: {kind: person}\n    signals: [{source: hotline, at: -1d}]\n    expect: {level: green}\n"), rs)
	if err != nil {
		t.Fatal(err)
	}
	res := Run(e, []File{f})
	if res.Failed != 1 || len(res.Outcomes[0].Failures) != 1 || !strings.HasPrefix(res.Outcomes[0].Failures[0].String(), "error: rule divide (除法): when: ") {
		t.Errorf("outcome %+v", res.Outcomes)
	}
}

// The default ruleset's own tests (fixtures/rules/*_test.yaml) all pass, and
// every rule is tested both firing and, at its boundary, not firing.
func TestDefaultRulesetTests(t *testing.T) {
	rs, e := compileDir(t, "../fixtures/rules")
	files, err := Load("../fixtures/rules", rs)
	if err != nil {
		t.Fatal(err)
	}
	res := Run(e, files)
	for _, o := range res.Outcomes {
		if !o.Passed() {
			t.Errorf("FAIL %s:%d %s", o.Case.File, o.Case.Line, o.Case.Name)
			for _, f := range o.Failures {
				t.Errorf("  %s", f)
			}
			t.Errorf("  explanation: %s", o.Explanation())
		}
	}
	if res.Failed != 0 || res.Passed < 60 {
		t.Errorf("%d passed, %d failed; want at least 60 and none failing", res.Passed, res.Failed)
	}
	if len(res.Uncovered) != 0 {
		t.Errorf("rules never tested to fire: %s", strings.Join(res.Uncovered, ", "))
	}
	if len(res.NoBoundary) != 0 {
		t.Errorf("rules never tested not to fire: %s", strings.Join(res.NoBoundary, ", "))
	}
}

func FuzzParse(f *testing.F) {
	rs, _ := testEngine(f)
	for _, p := range []string{"testdata/good_test.yaml", "testdata/values.bad_test.yaml", "testdata/types.bad_test.yaml"} {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse("f_test.yaml", src, rs)
		var problems rules.Errors
		if err != nil && !errors.As(err, &problems) {
			t.Fatalf("Parse returned %T, want rules.Errors", err)
		}
		if err == nil && len(file.Cases) == 0 {
			t.Fatal("no error and no cases")
		}
	})
}
