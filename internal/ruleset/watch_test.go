package ruleset

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"fengqiao/engine"
)

func small(version, when string) string {
	return `version: "` + version + `"
levels: {blue: 1, yellow: 2, orange: 3, red: 4}
features:
  n: {count: any, window: 1d}
rules:
  - {id: r, name: 甲, applies_to: [person], when: '` + when + `', score: 1}
`
}

// A change of the rules directory reloads the ruleset; a bad change is
// refused once, shown in the status, and not retried until the files change.
func TestWatchReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.yaml")
	writeFile := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(small("v1", "features.n > 0"))
	l, err := Load(dir, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), now)
	if err != nil {
		t.Fatal(err)
	}
	var archived []string
	l.OnLoad(func(e *engine.Engine) { archived = append(archived, e.Version()) })
	if l.check() {
		t.Error("reloaded an unchanged directory")
	}
	writeFile(small("v2", "features.n > 1"))
	if !l.check() || l.Engine().Version() != "v2" {
		t.Fatalf("after a change: version %s", l.Engine().Version())
	}
	st := l.Status()
	if st.Version != "v2" || st.Hash == "" || st.Rules != 1 || st.LastError != "" || !st.LoadedAt.Equal(now()) {
		t.Errorf("status = %+v", st)
	}
	writeFile(small("v3", "features.nope > 1"))
	if !l.check() || l.Engine().Version() != "v2" {
		t.Fatalf("a bad change replaced the ruleset: %s", l.Engine().Version())
	}
	if st := l.Status(); st.Version != "v2" || !strings.Contains(st.LastError, `feature "nope" is not declared`) {
		t.Errorf("status after a bad change = %+v", st)
	}
	if l.check() {
		t.Error("retried a bad change that did not change again")
	}
	if strings.Join(archived, ",") != "v1,v2" {
		t.Errorf("OnLoad saw %v", archived)
	}
}
