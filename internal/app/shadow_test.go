package app

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fengqiao/internal/config"
	"fengqiao/internal/redistest"
)

// copyRules copies the default rules into a new directory, applying edits.
func copyRules(t *testing.T, edits ...string) string {
	t.Helper()
	src, err := os.ReadFile("../../fixtures/rules/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("the default rules no longer contain %q", edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "default.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A candidate scored in the shadow of the live rules: only the live one
// acts, the disagreement shows, and one admin call promotes it.
func TestShadowRunAndPromotion(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	live := copyRules(t)
	candidate := copyRules(t, `version: "2026.11-2"`, `version: "2026.12-1"`,
		"    score: 45\n    at_least: orange", "    score: 45\n    at_least: red")
	d := startDaemonOn(t, redistest.Start(t).URL, "test", clk.Now, func(c *config.Config) {
		c.RulesDir, c.ShadowRulesDir = live, candidate
	})
	if code, _ := d.do(t, "GET", "/api/v1/rules/shadow", ""); code != 404 {
		t.Errorf("shadow before loading: %d", code)
	}
	if code, b := d.do(t, "POST", "/api/v1/rules/shadow", ""); code != 200 {
		t.Fatalf("load shadow: %d %v", code, b)
	}
	if code, _ := d.do(t, "POST", "/api/v1/signals", threatSignal); code != http.StatusAccepted {
		t.Fatal("POST refused")
	}
	sub := d.await(t, "/api/v1/subjects/dispute/TZ-E2E-1", func(code int, _ map[string]any) bool { return code == 200 })
	_, lookup := d.do(t, "POST", "/api/v1/subjects/lookup", `{"id_number": "990101197803152319"}`)
	d.await(t, "/api/v1/subjects/person/"+lookup["subject"].(map[string]any)["ref"].(string), func(code int, _ map[string]any) bool { return code == 200 })
	if sub["level"] != "orange" {
		t.Errorf("the live level is %v: the shadow acted", sub["level"])
	}
	sh := d.await(t, "/api/v1/rules/shadow", func(code int, b map[string]any) bool {
		return code == 200 && b["report"].(map[string]any)["evaluations"] == float64(2)
	})
	rep := sh["report"].(map[string]any)
	if rep["disagreeing"] != float64(2) || rep["evaluations"] != float64(2) {
		t.Fatalf("shadow report: %v", rep)
	}
	first := rep["disagreements"].([]any)[0].(map[string]any)
	if first["live_level"] != "orange" || first["shadow"].(map[string]any)["level"] != "red" {
		t.Errorf("disagreement: %v", first)
	}
	hits := map[string][2]float64{}
	for _, h := range rep["rule_hits"].([]any) {
		m := h.(map[string]any)
		hits[m["rule"].(string)] = [2]float64{m["live"].(float64), m["shadow"].(float64)}
	}
	if hits["threat-language"] != [2]float64{2, 2} {
		t.Errorf("rule hits: %v", hits)
	}
	// The signals recorded so far, replayed through both: the person and the
	// dispute would be red.
	_, bt := d.do(t, "GET", "/api/v1/rules/shadow/backtest", "")
	if bt["raised"] != float64(2) || bt["lowered"] != float64(0) || bt["signals"] != float64(1) {
		t.Errorf("backtest of the recorded signals: raised %v, lowered %v, signals %v", bt["raised"], bt["lowered"], bt["signals"])
	}
	// A duty officer of another county sees the counts but none of the subjects.
	other := d.newToken(t, "东湖区值班室", "duty", "990102000000")
	_, sh = d.doAs(t, other, "GET", "/api/v1/rules/shadow", "")
	if r := sh["report"].(map[string]any); r["disagreeing"] != float64(0) {
		t.Errorf("another county sees %v disagreements", r["disagreeing"])
	}

	code, b := d.do(t, "POST", "/api/v1/rules/shadow/promote", "")
	if code != 200 || b["live"].(map[string]any)["version"] != "2026.12-1" {
		t.Fatalf("promote: %d %v", code, b)
	}
	if got, _ := os.ReadFile(filepath.Join(live, "default.yaml")); !strings.Contains(string(got), `version: "2026.12-1"`) {
		t.Error("the promoted rules were not written to the live directory")
	}
	if code, _ := d.do(t, "GET", "/api/v1/rules/shadow", ""); code != 404 {
		t.Errorf("a shadow remains after promotion: %d", code)
	}
	_, kept := d.do(t, "GET", "/api/v1/rulesets", "")
	var versions []string
	for _, r := range kept["rulesets"].([]any) {
		versions = append(versions, r.(map[string]any)["version"].(string))
	}
	if len(versions) != 2 || !strings.Contains(strings.Join(versions, ","), "2026.12-1") {
		t.Errorf("archived rulesets: %v", versions)
	}
	_, entries := d.do(t, "GET", "/api/v1/audit?action=rules.promote", "")
	if n := len(entries["entries"].([]any)); n != 1 {
		t.Errorf("%d promotions in the audit log", n)
	}
}
