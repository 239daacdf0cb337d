package app

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A subject is scored by the rules in force in its unit: the baseline under
// the overlays of its county and township.
func TestOverlaysScoreTheirUnits(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	d := startDaemon(t, clk.Now)
	send := func(id, unit, dispute string) {
		t.Helper()
		body := `{"source": "grid_report", "id": "` + id + `", "occurred_at": "2026-11-22T09:00:00+08:00", "unit": "` + unit + `",
			"dispute_id": "` + dispute + `", "category": "土地承包/流转", "tags": ["水事纠纷"]}`
		if code, b := d.do(t, "POST", "/api/v1/signals", body); code != http.StatusAccepted {
			t.Fatalf("POST: %d %v", code, b)
		}
	}
	send("OV-1", "990103100001", "TZ-OV-BAISHA")    // 白沙镇, under 云岭县
	send("OV-2", "990103001001", "TZ-OV-CHENGGUAN") // 城关街道, 云岭县 only
	send("OV-3", "990101100201", "TZ-OV-QINGHE")    // 清河县: the baseline
	for _, tt := range []struct {
		dispute, version, level string
		explains                []string
	}{
		{"TZ-OV-BAISHA", "2026.11-2+990103000000+990103100000", "yellow", []string{"土地承包流转纠纷(", " +25", "水事纠纷("}},
		{"TZ-OV-CHENGGUAN", "2026.11-2+990103000000", "blue", []string{" +25"}},
		{"TZ-OV-QINGHE", "2026.11-2", "green", []string{"土地承包流转纠纷(", " +15"}},
	} {
		got := d.await(t, "/api/v1/subjects/dispute/"+tt.dispute, func(code int, _ map[string]any) bool { return code == 200 })
		e := got["explanation"].(string)
		if got["ruleset_version"] != tt.version || got["level"] != tt.level {
			t.Errorf("%s: version %v, level %v: %s", tt.dispute, got["ruleset_version"], got["level"], e)
		}
		for _, x := range tt.explains {
			if !strings.Contains(e, x) {
				t.Errorf("%s: explanation %q lacks %q", tt.dispute, e, x)
			}
		}
		if tt.dispute != "TZ-OV-BAISHA" && strings.Contains(e, "水事纠纷(") {
			t.Errorf("%s: the township's rule reached outside it: %s", tt.dispute, e)
		}
		// The effective ruleset behind it is kept.
		if code, _ := d.do(t, "GET", "/api/v1/rulesets/"+got["ruleset_hash"].(string), ""); code != 200 {
			t.Errorf("%s: its ruleset %v is not archived", tt.dispute, got["ruleset_hash"])
		}
	}
	_, rs := d.do(t, "GET", "/api/v1/rules", "")
	if ov := rs["status"].(map[string]any)["overlays"].([]any); len(ov) != 2 {
		t.Errorf("rules status overlays: %v", ov)
	}
}
