package escalation_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fengqiao/alerts/escalation"
	"fengqiao/jurisdiction"
)

const (
	fixtureTree     = "../../fixtures/jurisdiction.yaml"
	fixturePolicy   = "../../fixtures/alerts/policy.yaml"
	fixtureRoster   = "../../fixtures/alerts/roster.yaml"
	fixtureCSV      = "../../fixtures/alerts/roster.csv"
	fixtureCalendar = "../../fixtures/calendar/cn-calendar-2026.yaml"
)

// cst is Beijing time, in which every test instant is written.
var cst = time.FixedZone("CST", 8*60*60)

// at returns "2026-11-22 20:00" in Beijing time.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, cst)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func loadTree(t testing.TB) *jurisdiction.Tree {
	t.Helper()
	tree, err := jurisdiction.Load(fixtureTree)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func loadCalendar(t testing.TB) *escalation.Calendar {
	t.Helper()
	cal, err := escalation.LoadCalendar(fixtureCalendar)
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

// wantedProblems reads the "# want: LINE: MESSAGE" (or "# want: MESSAGE"
// for a problem with no line) comments of a testdata file: exactly the
// problems loading it must report, each as a prefix of "file:LINE: MESSAGE".
func wantedProblems(t *testing.T, path string, src []byte) []string {
	t.Helper()
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
	return want
}

// checkProblems checks that err reports exactly the wanted problems.
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("loaded without error; want:\n%s", strings.Join(want, "\n"))
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), err)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, w)
		}
		if !found {
			t.Errorf("no problem starts %q; got:\n%s", w, err)
		}
	}
}

func testdata(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata files %s", pattern)
	}
	return files
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
