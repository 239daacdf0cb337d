package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fengqiao/alerts/notify"
	"fengqiao/internal/auth"
	"fengqiao/internal/config"
	"fengqiao/internal/redistest"
)

// noticePolicy pages a webhook at every colour, so every notice of the
// schedules can be seen arriving.
const noticePolicy = `version: "test-notices"
channels:
  hook: {kind: webhook, url: "${TEST_HOOK_URL}", secret: "${TEST_HOOK_SECRET}"}
levels:
  blue: {tiers: [village], channels: [hook], ack_within: 1d}
  yellow: {tiers: [township], channels: [hook], ack_within: 2h}
  orange: {tiers: [township], channels: [hook], ack_within: 1h}
  red: {tiers: [county], channels: [hook], ack_within: 30m}
suppress: 12h
`

// hookReceiver starts a webhook receiver and points the policy's channel at it.
func hookReceiver(t *testing.T) (*receiver, string) {
	t.Helper()
	rc := &receiver{}
	secret := "webhook-secret-for-the-schedules"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.VerifyWebhook(secret, r.Header, body, time.Now(), 24*365*time.Hour); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		rc.mu.Lock()
		rc.msgs, rc.raw = append(rc.msgs, m), append(rc.raw, string(body))
		rc.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	t.Setenv("TEST_HOOK_URL", srv.URL)
	t.Setenv("TEST_HOOK_SECRET", secret)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(noticePolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	return rc, filepath.Join(dir, "policy.yaml")
}

// titled returns the messages received whose title contains s.
func (rc *receiver) titled(s string) []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []map[string]any
	for _, m := range rc.msgs {
		if title, _ := m["title"].(string); strings.Contains(title, s) {
			out = append(out, m)
		}
	}
	return out
}

func withSchedules(policy string) func(*config.Config) {
	return func(c *config.Config) {
		withCases(c)
		c.AlertPolicy = policy
		c.SchedulePolicy = "../../fixtures/schedule/policy.yaml"
	}
}

// A day in the life of 枫桥镇: every unit files its zero report but 陈家村;
// at 16:00 it is late, an hour later missing, and an alert reaches 陈家村
// and the township's duty officers, reminded two hours on; 陈家村's late
// report closes it. The 17:30 daily report, made late because riskd was
// busy, counts it missing.
func TestADayOfZeroReports(t *testing.T) {
	rc, policy := hookReceiver(t)
	clk := &lockedClock{t: time.Date(2026, 11, 20, 8, 0, 0, 0, beijingTZ)} // a Friday
	d := startDaemonOn(t, redistest.Start(t).URL, "test", clk.Now, withSchedules(policy))
	ctx := t.Context()
	d.app.RunJobs(ctx) // the first run: the jobs start counting from now

	township := d.newToken(t, "枫桥镇值班室", auth.Duty, "990101100000")
	code, b := d.doAs(t, township, "GET", "/api/v1/zero-reports", "")
	if code != 200 {
		t.Fatalf("status: %d %v", code, b)
	}
	if b["checkpoint"].(map[string]any)["id"] != "2026-11-20T16:00" {
		t.Fatalf("checkpoint %v", b["checkpoint"])
	}
	var chen string
	for _, u := range b["units"].([]any) {
		u := u.(map[string]any)
		if u["status"] != "pending" {
			t.Errorf("before the deadline: %v", u)
		}
		if u["unit"] == "990101100201" {
			chen = u["name"].(string)
			continue
		}
		// Each unit files through its own token; the township files its own too.
		tok := d.newToken(t, u["name"].(string)+"值班", auth.Reporter, u["unit"].(string))
		if code, b := d.doAs(t, tok, "POST", "/api/v1/zero-reports", `{"nothing": true, "officer": "值班员"}`); code != 201 || b["status"] != "filed" {
			t.Fatalf("file for %s: %d %v", u["name"], code, b)
		}
	}
	if chen != "陈家村" {
		t.Fatalf("陈家村 is not among 枫桥镇's units")
	}
	// Another township's token may not file for 陈家村.
	other := d.newToken(t, "石门镇值班室", auth.Duty, "990101101000")
	if code, _ := d.doAs(t, other, "POST", "/api/v1/zero-reports", `{"unit": "990101100201", "nothing": true, "officer": "某"}`); code != 403 {
		t.Errorf("another township filed for 陈家村: %d", code)
	}

	clk.Add(time.Date(2026, 11, 20, 16, 30, 0, 0, beijingTZ).Sub(clk.Now()))
	d.app.RunJobs(ctx)
	_, b = d.doAs(t, township, "GET", "/api/v1/zero-reports?unit=990101100000", "")
	roll := b["rollup"].([]any)
	if len(roll) == 0 || !strings.Contains(jsonOf(roll), `"late":1`) {
		t.Errorf("at 16:30 the roll-up should show one late: %s", jsonOf(roll))
	}
	if n := len(rc.titled("零报告未报: 陈家村")); n != 0 {
		t.Errorf("alerted during the grace: %d", n)
	}

	clk.Add(time.Date(2026, 11, 20, 17, 1, 0, 0, beijingTZ).Sub(clk.Now()))
	d.app.RunJobs(ctx)
	waitFor(t, "the missing-report alert to 陈家村 and 枫桥镇", func() bool { return len(rc.titled("零报告未报: 陈家村")) == 2 })
	var to []string
	for _, m := range rc.titled("零报告未报: 陈家村") {
		to = append(to, m["key"].(string))
	}
	if !strings.Contains(strings.Join(to, " "), "/990101100000/hook") || !strings.Contains(strings.Join(to, " "), "/990101100201/hook") {
		t.Errorf("sent to %v, want 陈家村 and 枫桥镇", to)
	}
	d.app.RunJobs(ctx) // again: nothing new
	clk.Add(time.Date(2026, 11, 20, 19, 5, 0, 0, beijingTZ).Sub(clk.Now()))
	d.app.RunJobs(ctx)
	waitFor(t, "the first reminder", func() bool { return len(rc.titled("[第1次提醒] 零报告未报: 陈家村")) == 2 })

	// The 17:30 daily report ran late, at 19:05: it counts 陈家村 missing.
	_, daily := d.doAs(t, township, "GET", "/api/v1/reports/daily?unit=990101100000&date=2026-11-20", "")
	if zs, _ := daily["zero_summary"].(map[string]any); zs["missing"] != 1.0 || daily["made_at"] == nil {
		t.Errorf("daily report: %v", daily["zero_summary"])
	}
	waitFor(t, "the daily report sent up to 清河县", func() bool { return len(rc.titled("日报: 枫桥镇 2026-11-20")) == 1 })
	if md := d.raw(t, township, "/api/v1/reports/daily?unit=990101100000&date=2026-11-20&format=md"); !strings.Contains(md, "枫桥镇") {
		t.Errorf("markdown:\n%s", md)
	}

	// 陈家村 files late: the alert closes.
	clk.Add(time.Date(2026, 11, 20, 19, 30, 0, 0, beijingTZ).Sub(clk.Now()))
	village := d.newToken(t, "陈家村值班", auth.Reporter, "990101100201")
	code, b = d.doAs(t, village, "POST", "/api/v1/zero-reports", `{"checkpoint": "2026-11-20T16:00", "incidents": [{"summary": "两户宅基地纠纷, 已调处", "handled": true}], "officer": "陈建国"}`)
	if code != 201 || b["status"] != "filed_late" {
		t.Fatalf("late filing: %d %v", code, b)
	}
	waitFor(t, "the alert closed", func() bool { return len(rc.titled("已办结: 零报告未报: 陈家村")) == 2 })
	clk.Add(time.Date(2026, 11, 20, 21, 10, 0, 0, beijingTZ).Sub(clk.Now()))
	d.app.RunJobs(ctx)
	if n := len(rc.titled("[第2次提醒]")); n != 0 {
		t.Errorf("reminded after the report came: %d", n)
	}
	_, h := d.doAs(t, township, "GET", "/api/v1/zero-reports/history?unit=990101100201&days=1", "")
	if cps := h["checkpoints"].([]any); len(cps) != 1 || cps[0].(map[string]any)["status"] != "filed_late" || h["compliance"] != 1.0 {
		t.Errorf("history %v", h)
	}
	// Saturday is no reporting day; a checkpoint on it is refused.
	if code, b := d.doAs(t, township, "GET", "/api/v1/zero-reports?checkpoint=2026-11-21T16:00", ""); code != 400 || b["field"] != "checkpoint" {
		t.Errorf("a Saturday checkpoint: %d %v", code, b)
	}
	if m := d.raw(t, "", "/metrics"); !strings.Contains(m, `fengqiao_zero_reports{status="filed_late",tier="village"} 1`) {
		t.Errorf("metrics lack the late village report")
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

// Two instances on one Redis make each daily report once, and send it once.
func TestTwoInstancesMakeOneDailyReport(t *testing.T) {
	rc, policy := hookReceiver(t)
	clk := &lockedClock{t: time.Date(2026, 11, 20, 17, 0, 0, 0, beijingTZ)}
	url := redistest.Start(t).URL
	a := startDaemonOn(t, url, "a", clk.Now, withSchedules(policy))
	b := startDaemonOn(t, url, "b", clk.Now, withSchedules(policy))
	a.app.RunJobs(t.Context())
	b.app.RunJobs(t.Context())
	clk.Add(31 * time.Minute)
	var wg sync.WaitGroup
	for _, d := range []*daemon{a, b, a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); d.app.RunJobs(t.Context()) }()
	}
	wg.Wait()
	// 6 townships, 3 counties and the city.
	waitFor(t, "ten daily reports", func() bool { return len(rc.titled("日报: ")) >= 10 })
	if n := len(rc.titled("日报: ")); n != 10 {
		t.Errorf("%d daily report notices, want 10", n)
	}
	m := a.raw(t, "", "/metrics") + b.raw(t, "", "/metrics")
	if strings.Count(m, `fengqiao_job_runs_total{result="ok",task="daily-report"} 1`) != 1 {
		t.Errorf("the daily report ran other than once across the two instances")
	}
}

// A case left unaccepted past its acceptance clock is supervised (督办) to
// its registering village, and three days on, still overdue, put on the
// township's list (挂牌督办); both are on the case.
func TestOverdueCaseIsSupervised(t *testing.T) {
	rc, policy := hookReceiver(t)
	clk := &lockedClock{t: time.Date(2026, 11, 16, 9, 0, 0, 0, beijingTZ)} // a Monday
	d := startDaemonOn(t, redistest.Start(t).URL, "test", clk.Now, withSchedules(policy))
	d.app.RunJobs(t.Context())
	code, b := d.do(t, "POST", "/api/v1/cases", `{"unit": "990101100201", "channel": "walk_in", "category": "邻里",
	  "summary": "宅基地纠纷", "parties": [{"role": "申请人", "name": "陈某"}]}`)
	if code != 201 {
		t.Fatalf("register: %d %v", code, b)
	}
	number := b["case"].(map[string]any)["number"].(string)

	clk.Add(time.Date(2026, 11, 20, 0, 10, 0, 0, beijingTZ).Sub(clk.Now())) // the 3 working days ended Thursday night
	d.app.RunJobs(t.Context())
	waitFor(t, "the 督办 to 陈家村", func() bool { return len(rc.titled("督办: 案件 "+number+" 受理时限超期")) == 1 })
	if m := rc.titled("督办: 案件 " + number)[0]; !strings.Contains(m["key"].(string), "/990101100201/hook") {
		t.Errorf("督办 sent to %v", m["key"])
	}
	d.app.RunJobs(t.Context())
	clk.Add(3*24*time.Hour + 10*time.Minute)
	d.app.RunJobs(t.Context())
	waitFor(t, "the 挂牌督办 to 枫桥镇", func() bool { return len(rc.titled("挂牌督办: 案件 "+number)) == 1 })
	if m := rc.titled("挂牌督办: 案件 " + number)[0]; !strings.Contains(m["key"].(string), "/990101100000/hook") || m["level"] != "red" {
		t.Errorf("挂牌督办: %v", m)
	}
	_, c := d.do(t, "GET", "/api/v1/cases/"+number, "")
	sup := c["supervisions"].([]any)
	if len(sup) != 2 || sup[1].(map[string]any)["listed"] != true || sup[1].(map[string]any)["unit"] != "990101100000" {
		t.Errorf("supervisions %v", sup)
	}
	if m := d.raw(t, "", "/metrics"); !strings.Contains(m, `fengqiao_case_supervisions_total{kind="listed_supervision"} 1`) {
		t.Error("the 挂牌督办 is not counted")
	}
}

// An alert left unacknowledged past its deadline is supervised (督办) to its
// unit, and three days on 挂牌督办 by the township; both are on the alert.
func TestUnacknowledgedAlertIsSupervised(t *testing.T) {
	rc, policy := hookReceiver(t)
	clk := &lockedClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, beijingTZ)}
	d := startDaemonOn(t, redistest.Start(t).URL, "test", clk.Now, withSchedules(policy))
	d.app.RunJobs(t.Context())
	if code, _ := d.do(t, "POST", "/api/v1/signals", threatSignal); code != http.StatusAccepted {
		t.Fatal("send refused")
	}
	var id string
	waitFor(t, "the dispute's alert", func() bool {
		_, b := d.do(t, "GET", "/api/v1/alerts?state=open", "")
		for _, a := range asSlice(b["alerts"]) {
			a := a.(map[string]any)
			if a["subject"].(map[string]any)["ref"] == "TZ-E2E-1" {
				id = a["id"].(string)
				return true
			}
		}
		return false
	})
	clk.Add(70 * time.Minute) // past the orange alert's hour to acknowledge
	d.app.RunJobs(t.Context())
	waitFor(t, "the 督办 of the alert", func() bool { return len(rc.titled("督办: 橙色预警 TZ-E2E-1 逾期未签收")) == 1 })
	d.app.RunJobs(t.Context())
	clk.Add(3*24*time.Hour + 10*time.Minute)
	d.app.RunJobs(t.Context())
	waitFor(t, "the 挂牌督办 of the alert", func() bool { return len(rc.titled("挂牌督办: 橙色预警 TZ-E2E-1")) == 1 })
	if m := rc.titled("挂牌督办: 橙色预警 TZ-E2E-1")[0]; !strings.Contains(m["key"].(string), "/990101100000/hook") {
		t.Errorf("挂牌督办 sent to %v, want 枫桥镇", m["key"])
	}
	_, a := d.do(t, "GET", "/api/v1/alerts/"+id, "")
	if sup := asSlice(a["alert"].(map[string]any)["supervisions"]); len(sup) != 2 {
		t.Errorf("supervisions on the alert: %v", a["alert"])
	}
}
