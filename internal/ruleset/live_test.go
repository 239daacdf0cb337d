package ruleset

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	fixtures     = "../../fixtures/rules"
	fixtureFile  = "default.yaml"
	fixtureVer   = "2026.11-2"
	fixtureRules = 37
)

var (
	testNow = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	now     = func() time.Time { return testNow }
	discard = slog.New(slog.DiscardHandler)
)

// fixture returns the default ruleset's text.
func fixture(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, fixtureFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit returns src with old replaced by new, failing if old is not there.
func edit(t *testing.T, src, old, new string) string {
	t.Helper()
	if !strings.Contains(src, old) {
		t.Fatalf("the fixture no longer contains %q", old)
	}
	return strings.Replace(src, old, new, 1)
}

// rulesDir writes files into a fresh directory and returns it.
func rulesDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		write(t, dir, name, text)
	}
	return dir
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lineOf returns the 1-based line of the first line of src containing s.
func lineOf(t *testing.T, src, s string) int {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("no line contains %q", s)
	return 0
}

func reloads(t *testing.T, l *Live, result string) float64 {
	t.Helper()
	return testutil.ToFloat64(l.reloads.WithLabelValues(result))
}

func TestLoadTheFixtureRuleset(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, err := Load(fixtures, discard, reg, now)
	if err != nil {
		t.Fatalf("Load(%s): %v", fixtures, err)
	}
	e := l.Engine()
	if e == nil {
		t.Fatal("Engine() is nil after a successful Load")
	}
	if got := e.Version(); got != fixtureVer {
		t.Errorf("Engine().Version() = %q, want %q", got, fixtureVer)
	}
	if got := len(e.Ruleset().Rules); got != fixtureRules {
		t.Errorf("%d rules, want %d", got, fixtureRules)
	}

	// The first load counts as a success, and both results are exported from
	// the start so that a rate() over failures works before the first one.
	want := `
# HELP fengqiao_rules_loaded Number of rules in the ruleset in force.
# TYPE fengqiao_rules_loaded gauge
fengqiao_rules_loaded 37
# HELP fengqiao_rules_last_reload_success_timestamp_seconds When the ruleset in force was loaded.
# TYPE fengqiao_rules_last_reload_success_timestamp_seconds gauge
fengqiao_rules_last_reload_success_timestamp_seconds ` + strconv.FormatInt(testNow.Unix(), 10) + `
# HELP fengqiao_rules_last_reload_successful Whether the last ruleset load or reload succeeded (1) or was refused, leaving the ruleset before it in force (0).
# TYPE fengqiao_rules_last_reload_successful gauge
fengqiao_rules_last_reload_successful 1
# HELP fengqiao_rules_reloads_total Ruleset loads and reloads, by result (success, failure).
# TYPE fengqiao_rules_reloads_total counter
fengqiao_rules_reloads_total{result="failure"} 0
fengqiao_rules_reloads_total{result="success"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestLoadFails(t *testing.T) {
	src := fixture(t)
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		want []string
	}{
		{"a directory that does not exist",
			func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			[]string{"read rules directory"}},
		{"a directory with no rules files",
			func(t *testing.T) string {
				return rulesDir(t, map[string]string{"README.md": "# rules\n", "default_test.yaml": src})
			},
			[]string{"no rules files"}},
		{"a ruleset that does not parse",
			func(t *testing.T) string {
				return rulesDir(t, map[string]string{"default.yaml": edit(t, src, "version: \"2026.11-2\"\n", "")})
			},
			[]string{"load ruleset", "default.yaml: version is missing"}},
		{"a ruleset that does not compile",
			func(t *testing.T) string {
				return rulesDir(t, map[string]string{"default.yaml": edit(t, src, "when: features.hotline_7d >= 3", "when: features.nope > 1")})
			},
			[]string{"compile ruleset 2026.11-2", "rule hotline-repeat: when: feature \"nope\" is not declared under features"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Load(tc.dir(t), discard, prometheus.NewRegistry(), now)
			if err == nil {
				t.Fatal("Load: no error")
			}
			if l != nil {
				t.Error("Load returned a Live with its error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load: %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestReload(t *testing.T) {
	src := fixture(t)
	dir := rulesDir(t, map[string]string{fixtureFile: src})
	path := filepath.Join(dir, fixtureFile)
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	l, err := Load(dir, log, reg, now)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	first := l.Engine()

	broken := edit(t, src, "when: features.hotline_7d >= 3", "when: features.nope > 1")
	brokenLine := lineOf(t, broken, "features.nope > 1")
	broken = edit(t, broken, "score: 'features.family_30d >= 2 ? 25 : 10'", "score: '\"ten\"'")
	scoreLine := lineOf(t, broken, `"ten"`)
	bumped := edit(t, src, `version: "2026.11-2"`, `version: "2026.11-3"`)
	for i, step := range []struct {
		name        string
		text        string
		wantErr     []string // nil: the reload succeeds
		wantVersion string
		wantSame    bool // the engine in force is the one before
		success     float64
		failure     float64
	}{
		{
			name: "a broken ruleset is refused with every problem at file:line",
			text: broken,
			wantErr: []string{
				"compile ruleset 2026.11-2:",
				path + ":" + strconv.Itoa(scoreLine) + ": rule family-dispute: score: expected float64, but got string",
				path + ":" + strconv.Itoa(brokenLine) + ": rule hotline-repeat: when: feature \"nope\" is not declared under features",
			},
			wantVersion: fixtureVer, wantSame: true, success: 1, failure: 1,
		},
		{
			name:        "a good ruleset with a new version replaces the one in force",
			text:        bumped,
			wantVersion: "2026.11-3", success: 2, failure: 1,
		},
		{
			name:    "a file that is not YAML is refused",
			text:    "version: [\n",
			wantErr: []string{"load ruleset:", path + ":1: "}, wantVersion: "2026.11-3", wantSame: true, success: 2, failure: 2,
		},
		{
			name:        "the same ruleset again is a success with a fresh engine",
			text:        bumped,
			wantVersion: "2026.11-3", success: 3, failure: 2,
		},
	} {
		t.Run(step.name, func(t *testing.T) {
			before := l.Engine()
			write(t, dir, fixtureFile, step.text)
			err := l.Reload()
			switch {
			case step.wantErr == nil && err != nil:
				t.Fatalf("Reload: %v", err)
			case step.wantErr != nil && err == nil:
				t.Fatal("Reload: no error")
			}
			for _, w := range step.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Reload: error\n%s\ndoes not contain %q", err, w)
				}
			}
			after := l.Engine()
			if (after == before) != step.wantSame {
				t.Errorf("step %d: engine replaced = %v, want %v", i, after != before, !step.wantSame)
			}
			if got := after.Version(); got != step.wantVersion {
				t.Errorf("Engine().Version() = %q, want %q", got, step.wantVersion)
			}
			if got := reloads(t, l, "success"); got != step.success {
				t.Errorf(`fengqiao_rules_reloads_total{result="success"} = %v, want %v`, got, step.success)
			}
			if got := reloads(t, l, "failure"); got != step.failure {
				t.Errorf(`fengqiao_rules_reloads_total{result="failure"} = %v, want %v`, got, step.failure)
			}
		})
	}
	if first.Version() != fixtureVer {
		t.Errorf("the first engine changed its version to %q", first.Version())
	}
	for _, want := range []string{
		`msg="ruleset loaded" version=2026.11-2 rules=37`,
		`level=ERROR msg="ruleset reload failed; the previous ruleset stays in force" version=2026.11-2`,
		`msg="ruleset reloaded" version=2026.11-3 previous=2026.11-2`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not contain %q:\n%s", want, logs.String())
		}
	}
}

func TestReloadMetrics(t *testing.T) {
	src := fixture(t)
	dir := rulesDir(t, map[string]string{fixtureFile: src})
	reg := prometheus.NewRegistry()
	at := testNow
	l, err := Load(dir, discard, reg, func() time.Time { return at })
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	// A failed reload leaves the gauges of the ruleset in force alone, and
	// says it failed.
	write(t, dir, fixtureFile, edit(t, src, "when: features.hotline_7d >= 3", "when: features.nope > 1"))
	at = testNow.Add(time.Hour)
	if err := l.Reload(); err == nil {
		t.Fatal("Reload of a broken ruleset: no error")
	}
	gauges := func(loaded, when, ok float64) {
		t.Helper()
		if got := testutil.ToFloat64(l.lastReload); got != ok {
			t.Errorf("fengqiao_rules_last_reload_successful = %v, want %v", got, ok)
		}
		if got := testutil.ToFloat64(l.ruleCount); got != loaded {
			t.Errorf("fengqiao_rules_loaded = %v, want %v", got, loaded)
		}
		if got := testutil.ToFloat64(l.lastLoad); got != when {
			t.Errorf("fengqiao_rules_last_reload_success_timestamp_seconds = %v, want %v", got, when)
		}
	}
	gauges(fixtureRules, float64(testNow.Unix()), 0)
	if got := testutil.ToFloat64(l.reloads.WithLabelValues("failure")); got != 1 {
		t.Errorf(`fengqiao_rules_reloads_total{result="failure"} = %v, want 1`, got)
	}

	// A good reload with one rule fewer moves both gauges.
	start := strings.Index(src, "  - id: frequent-reports")
	if start < 0 {
		t.Fatal("the fixture no longer has rule frequent-reports")
	}
	write(t, dir, fixtureFile, edit(t, src[:start], `version: "2026.11-2"`, `version: "2026.11-3"`))
	at = testNow.Add(2 * time.Hour)
	if err := l.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	gauges(fixtureRules-1, float64(testNow.Add(2*time.Hour).Unix()), 1)
	if n, err := testutil.GatherAndCount(reg, "fengqiao_rules_reloads_total"); err != nil || n != 2 {
		t.Errorf("fengqiao_rules_reloads_total has %d series (err %v), want 2", n, err)
	}
}

func TestLoadRegistersOnItsRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := Load(fixtures, discard, reg, now); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("a second Load on the same registry did not panic on the duplicate metrics")
		}
	}()
	_, _ = Load(fixtures, discard, reg, now)
}

// Engine is read by every scoring worker while a reload swaps it; run with
// -race.
func TestEngineDuringReload(t *testing.T) {
	src := fixture(t)
	dir := rulesDir(t, map[string]string{fixtureFile: src})
	l, err := Load(dir, discard, prometheus.NewRegistry(), now)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if e := l.Engine(); e == nil || e.Version() == "" {
					t.Error("Engine() gave no engine during a reload")
					return
				}
			}
		}()
	}
	var reloaders sync.WaitGroup
	for range 2 {
		reloaders.Add(1)
		go func() {
			defer reloaders.Done()
			for range 2 {
				if err := l.Reload(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	reloaders.Wait()
	close(stop)
	wg.Wait()
	if got := reloads(t, l, "success"); got != 5 {
		t.Errorf(`fengqiao_rules_reloads_total{result="success"} = %v, want 5`, got)
	}
}
