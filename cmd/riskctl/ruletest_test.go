package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// lastLine returns the last line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// ruleDir makes a rules directory holding the default ruleset and the given
// test files.
func ruleDir(t *testing.T, tests map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(fixtureRules, "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "default.yaml", string(src))
	for name, text := range tests {
		writeFile(t, dir, name, text)
	}
	return dir
}

// The default ruleset's tests pass, cover every rule, and say so.
func TestRulesTestFixtures(t *testing.T) {
	r := riskctl(t, nil, "rules", "test", fixtureRules)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	if !regexp.MustCompile(`^\d{2,} passed, 0 failed$`).MatchString(lastLine(r.out)) {
		t.Errorf("last line %q\n%v", lastLine(r.out), r)
	}
	if strings.Contains(r.out, "FAIL") || strings.Contains(r.out, "never tested") || r.errout != "" {
		t.Errorf("%v", r)
	}
}

const failingTest = `# 测试: 扬言
tests:
  - name: 一次口角中的扬言为橙色
    subject: {kind: person}
    signals:
      - {source: grid_report, at: -1h, category: 婚姻家庭, summary: 男方扬言报复}
    expect: {level: orange, fires: [threat-language, family-dispute]}

  - name: 扬言加家庭纠纷为红色
    subject: {kind: person}
    signals:
      - {source: grid_report, at: -1d, category: 婚姻家庭, summary: 男方扬言报复}
    expect:
      level: red
      fires: [threat-language, threat-family]
      not_fires: [family-dispute]
      explanation_mentions: [民转刑]
`

// A failing test is printed with what it expected, what it got and the
// explanation; the last line counts the tests, and the exit status is 1.
func TestRulesTestFailure(t *testing.T) {
	dir := ruleDir(t, map[string]string{"threat_test.yaml": failingTest})
	r := riskctl(t, nil, "rules", "test", dir)
	if r.code != 1 {
		t.Fatalf("%v", r)
	}
	file := filepath.Join(dir, "threat_test.yaml")
	want := "FAIL " + file + ":9 扬言加家庭纠纷为红色\n" +
		"  level: want red, got orange\n" +
		"  fires: want threat-family, did not fire\n" +
		"  not_fires: want family-dispute not to fire, it fired (+10)\n" +
		"  explanation_mentions: want \"民转刑\", not in the explanation\n" +
		"  explanation: 橙色(得分 55): 扬言极端(近30天扬言极端言语次数 1(阈值>0)) +45,至少橙色; 婚姻家庭纠纷(近30天婚姻家庭纠纷信号数 1(阈值>0)) +10\n"
	if !strings.HasPrefix(r.out, want) {
		t.Errorf("stdout does not start with\n%s\n%v", want, r)
	}
	if lastLine(r.out) != "1 passed, 1 failed" {
		t.Errorf("last line %q", lastLine(r.out))
	}
	if !strings.Contains(r.out, "\nrules never tested to fire: key-person-extreme, self-harm, sanshi-yipian,") {
		t.Errorf("no coverage line\n%v", r)
	}
	if strings.Contains(r.out, "一次口角中的扬言为橙色") {
		t.Errorf("a passing test is listed without -v\n%v", r)
	}
}

// -run runs the tests whose name matches, and -v lists those that pass;
// coverage is not reported for a subset.
func TestRulesTestRunAndVerbose(t *testing.T) {
	dir := ruleDir(t, map[string]string{"threat_test.yaml": failingTest})
	file := filepath.Join(dir, "threat_test.yaml")
	for _, args := range [][]string{{"-run", "口角", "-v", dir}, {dir, "-v", "-run", "口角"}} {
		r := riskctl(t, nil, append([]string{"rules", "test"}, args...)...)
		if r.code != 0 || r.out != "ok   "+file+":3 一次口角中的扬言为橙色\n1 passed, 0 failed\n" {
			t.Errorf("%v: %v", args, r)
		}
	}
	r := riskctl(t, nil, "rules", "test", "-run", "^无此测试$", dir)
	if r.code != 1 || !strings.Contains(r.out, "no test matches -run ^无此测试$\n0 passed, 0 failed\n") {
		t.Errorf("no match: %v", r)
	}
}

// A test file with problems is reported with file:line and does not run; the
// others still do, and the exit status is 1.
func TestRulesTestFileProblems(t *testing.T) {
	bad := "tests:\n  - name: 拼写错误\n    subject: {kind: person}\n    signals:\n      - {source: grid_report, at: -1d, sumary: 扬言}\n    expect: {fires: [threat-languag]}\n"
	ok := "tests:\n  - name: 无信号为绿色\n    subject: {kind: dispute}\n    expect: {level: green}\n"
	dir := ruleDir(t, map[string]string{"bad_test.yaml": bad, "ok_test.yaml": ok})
	r := riskctl(t, nil, "rules", "test", dir)
	file := filepath.Join(dir, "bad_test.yaml")
	for _, want := range []string{
		file + `:5: unknown field "sumary": a signal has source, at,`,
		file + `:6: test 拼写错误: expect: fires: no rule "threat-languag" in the ruleset`,
		"2 problems in rule test files; their tests did not run\n1 passed, 0 failed\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("stdout lacks %q\n%v", want, r)
		}
	}
	if r.code != 1 || strings.Contains(r.out, "never tested") {
		t.Errorf("%v", r)
	}
}

// The ruleset is checked as lint checks it; with a problem no test runs.
func TestRulesTestBrokenRuleset(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "r.yaml", "version: \"x\"\nlevels: {blue: 20, yellow: 40, orange: 60, red: 80}\nrules:\n  - id: a\n    name: 甲\n    applies_to: [person]\n    when: features.nope > 0\n    score: 1\n")
	writeFile(t, dir, "r_test.yaml", "tests:\n  - name: t\n    subject: {kind: person}\n    expect: {level: green}\n")
	r := riskctl(t, nil, "rules", "test", dir)
	if r.code != 1 || r.out != "" || !strings.Contains(r.errout, filepath.Join(dir, "r.yaml")+`:7: rule a: when: feature "nope" is not declared`) {
		t.Errorf("%v", r)
	}
	r = riskctl(t, nil, "rules", "test", t.TempDir())
	if r.code != 1 || !strings.Contains(r.errout, "no rules files") {
		t.Errorf("empty directory: %v", r)
	}
	r = riskctl(t, nil, "rules", "test", ruleDir(t, nil))
	if r.code != 1 || !strings.Contains(r.errout, "no rule tests (*_test.yaml)") {
		t.Errorf("no tests: %v", r)
	}
}

func TestRulesTestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  bool // usage on stdout rather than stderr
	}{
		{[]string{"rules", "test"}, 2, false},
		{[]string{"rules", "test", "a", "b"}, 2, false},
		{[]string{"rules", "test", "-run"}, 2, false},
		{[]string{"rules", "test", "-run", "(", fixtureRules}, 2, false},
		{[]string{"rules", "test", "-h"}, 0, true},
	} {
		r := riskctl(t, nil, tc.args...)
		usageIn := r.errout
		if tc.out {
			usageIn = r.out
		}
		if r.code != tc.code || (tc.args[len(tc.args)-1] != fixtureRules && !strings.Contains(usageIn, "Usage: riskctl rules test")) {
			t.Errorf("%v: %v", tc.args, r)
		}
	}
	if r := riskctl(t, nil, "help"); !strings.Contains(r.out, "riskctl rules test [flags] DIR") {
		t.Errorf("help does not list rules test:\n%v", r)
	}
}
