package app

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"fengqiao/internal/auth"
	"fengqiao/internal/config"
	"fengqiao/internal/redistest"
)

var beijingTZ = time.FixedZone("CST", 8*3600)

func withCases(c *config.Config) {
	c.CasePolicy = "../../fixtures/cases/policy.yaml"
	c.Calendars = []string{"../../fixtures/calendar/cn-calendar-2026.yaml"}
}

// step takes one step on a case through the API and checks its answer.
func (d *daemon) step(t *testing.T, token, number, body string, want int) map[string]any {
	t.Helper()
	code, b := d.doAs(t, token, "POST", "/api/v1/cases/"+number+"/actions", body)
	if code != want {
		t.Fatalf("step %s on %s: %d %v, want %d", body, number, code, b, want)
	}
	return b
}

func state(b map[string]any) string { return b["case"].(map[string]any)["state"].(string) }

// A case from registration to archive through the HTTP API, with a
// settable clock: the dispute's colour follows the case, refused steps say
// what is allowed, another township cannot see it, and the ledger exports.
func TestCaseFromRegistrationToArchive(t *testing.T) {
	clk := &lockedClock{t: time.Date(2026, 11, 17, 10, 0, 0, 0, beijingTZ)} // a Tuesday
	d := startDaemonOn(t, redistest.Start(t).URL, "test", clk.Now, withCases)
	village := d.newToken(t, "陈家村调委会", auth.Mediator, "990101100201")
	township := d.newToken(t, "枫桥镇调委会", auth.Mediator, "990101100000")
	county := d.newToken(t, "清河县值班室", auth.Duty, "990101000000")
	other := d.newToken(t, "石门镇调委会", auth.Mediator, "990101101000")
	viewer := d.newToken(t, "市观察员", auth.Viewer, "990100000000")

	code, b := d.doAs(t, village, "POST", "/api/v1/cases", `{
	  "channel": "walk_in", "category": "邻里", "summary": "宅基地边界纠纷, 双方多次争吵", "amount": 5000,
	  "parties": [{"role": "申请人", "name": "张国强", "id_number": "990101197803152319", "phone": "13800138000"},
	              {"role": "被申请人", "name": "李某"}]}`)
	if code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, b)
	}
	c := b["case"].(map[string]any)
	number := c["number"].(string)
	if !strings.HasPrefix(number, "990101100201-2026-") || c["state"] != "registered" || c["type"] != "general" {
		t.Fatalf("registered %v", c)
	}
	party := c["parties"].([]any)[0].(map[string]any)
	if id := party["identity"].(map[string]any); id["masked"] != true || strings.Contains(fmt.Sprint(b), "990101197803152319") {
		t.Errorf("the party's identity is not masked: %v", party)
	}

	// An illegal step: 409, the state, and the steps allowed.
	b = d.step(t, township, number, `{"action": "sign"}`, http.StatusConflict)
	if b["state"] != "registered" || !slices.Equal(b["allowed_actions"].([]any), []any{"accept", "decline", "file"}) {
		t.Errorf("409 answer %v", b)
	}
	// The village may not assign up to the township; the township dispatches.
	b = d.step(t, village, number, `{"action": "accept"}`, http.StatusOK)
	b = d.step(t, village, number, `{"action": "assign", "assignment": {"lead_unit": "990101100000", "organisation": "枫桥镇人民调解委员会", "mediation_type": "人民调解"}}`, http.StatusBadRequest)
	if b["field"] != "assignment.lead_unit" {
		t.Errorf("assign up: %v", b)
	}
	b = d.step(t, township, number, `{"action": "assign", "assignment": {"lead_unit": "990101100000", "organisation": "枫桥镇人民调解委员会", "mediation_type": "人民调解", "mediators": ["王调解"]}}`, http.StatusOK)
	if state(b) != "assigned" {
		t.Fatalf("assign: %v", b)
	}
	if code, _ := d.doAs(t, other, "GET", "/api/v1/cases/"+number, ""); code != http.StatusNotFound {
		t.Errorf("another township sees the case: %d", code)
	}
	d.step(t, other, number, `{"action": "sign"}`, http.StatusNotFound)
	d.step(t, viewer, number, `{"action": "sign"}`, http.StatusForbidden)

	clk.Add(2 * time.Hour)
	d.step(t, township, number, `{"action": "sign"}`, http.StatusOK)
	d.step(t, township, number, `{"action": "session", "session": {"date": "2026-11-17T11:30:00+08:00", "place": "陈家村调解室", "mediators": ["王调解"], "attendees": ["张国强", "李某"]}}`, http.StatusOK)

	// The mediation fails: the case event reaches the engine, and the
	// dispute's colour rises with it.
	b = d.step(t, township, number, `{"action": "fail", "reason": "双方对边界分歧过大", "referral": "litigation"}`, http.StatusOK)
	if ev := b["event"].(map[string]any); ev["signal"] != "mediation_failed" || ev["from"] != "mediating" || ev["to"] != "failed" {
		t.Errorf("fail event %v", ev)
	}
	subj := d.await(t, "/api/v1/subjects/dispute/"+number, func(code int, b map[string]any) bool {
		return code == 200 && b["level"] == "blue"
	})
	if !strings.Contains(fmt.Sprint(subj["fired"]), "mediation-failed") {
		t.Errorf("the dispute is blue but not for the failed mediation: %v", subj["fired"])
	}

	// Closing needs the dossier; then follow-up and the unit's batch.
	b = d.step(t, township, number, `{"action": "close"}`, http.StatusBadRequest)
	if b["error"] != "dossier: the dossier for a case 调解不成 is not complete: file 调解申请书, 调解笔录, 终止调解告知书 first" {
		t.Errorf("close: %v", b)
	}
	d.step(t, township, number, `{"action": "file", "documents": ["调解申请书", "调解笔录", "终止调解告知书"]}`, http.StatusOK)
	d.step(t, township, number, `{"action": "close", "version": 2}`, http.StatusConflict)
	d.step(t, township, number, `{"action": "close"}`, http.StatusOK)
	clk.Add(5 * 24 * time.Hour)
	d.step(t, township, number, `{"action": "follow_up", "follow_up": {"method": "电话", "satisfied": true}}`, http.StatusOK)
	code, b = d.doAs(t, township, "POST", "/api/v1/cases/archive", `{"unit": "990101100000", "numbers": ["`+number+`", "990101100201-2026-99999"]}`)
	if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(b["errors"]), "no such case") {
		t.Errorf("a bad batch: %d %v", code, b)
	}
	code, b = d.doAs(t, township, "POST", "/api/v1/cases/archive", `{"unit": "990101100000", "numbers": ["`+number+`"]}`)
	if code != http.StatusOK {
		t.Fatalf("archive: %d %v", code, b)
	}

	code, b = d.doAs(t, county, "GET", "/api/v1/cases/"+number, "")
	if code != http.StatusOK || b["state"] != "archived" || b["archive_batch"] == "" {
		t.Fatalf("get: %d %v", code, b)
	}
	var actions []string
	for _, e := range b["history"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	want := []string{"register", "accept", "assign", "sign", "session", "fail", "file", "close", "follow_up", "archive"}
	if !slices.Equal(actions, want) {
		t.Errorf("history %v, want %v", actions, want)
	}
	assign := b["history"].([]any)[2].(map[string]any)
	if assign["by"].(map[string]any)["name"] != "枫桥镇调委会" || !strings.Contains(fmt.Sprint(assign["changes"]), "assignment") {
		t.Errorf("assign entry %v", assign)
	}

	// The audit log has every step, and never the ID number.
	_, audit := d.do(t, "GET", "/api/v1/audit?limit=100", "")
	if s := fmt.Sprint(audit); !strings.Contains(s, "case.fail") || !strings.Contains(s, "case.archive") || strings.Contains(s, "990101197803152319") {
		t.Errorf("audit: %v", audit)
	}

	// The ledger, as CSV and XLSX with Chinese headers.
	csv := d.raw(t, county, "/api/v1/cases/export?format=csv")
	if !strings.HasPrefix(csv, "\uFEFF案件编号,登记单位,来源渠道") || !strings.Contains(csv, number+",陈家村,来访") || strings.Contains(csv, "13800138000") {
		t.Errorf("csv ledger:\n%s", csv)
	}
	f, err := excelize.OpenReader(bytes.NewReader([]byte(d.raw(t, county, "/api/v1/cases/export?format=xlsx"))))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := f.GetRows("案件台账")
	if len(rows) != 2 || rows[0][0] != "案件编号" || rows[1][0] != number || rows[1][14] != "已归档" {
		t.Errorf("xlsx ledger %v", rows)
	}

	if m := d.raw(t, "", "/metrics"); !strings.Contains(m, `fengqiao_cases{state="archived",tier="township"} 1`) ||
		!strings.Contains(m, `fengqiao_cases_closed_total{category="邻里",outcome="failed"} 1`) {
		t.Errorf("metrics lack the case")
	}
}

// raw GETs a path and returns its body.
func (d *daemon) raw(t *testing.T, token, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", d.base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

// A case whose acceptance clock runs out over a weekend is found overdue
// by the sweep, once, and its dispute is raised for it.
func TestOverdueCase(t *testing.T) {
	clk := &lockedClock{t: time.Date(2026, 11, 20, 16, 0, 0, 0, beijingTZ)} // a Friday
	d := startDaemonOn(t, redistest.Start(t).URL, "test", clk.Now, withCases)
	code, b := d.do(t, "POST", "/api/v1/cases", `{"unit": "990101100201", "channel": "hotline", "category": "劳动/欠薪",
	  "summary": "工地拖欠工资", "parties": [{"role": "申请人", "name": "王某"}], "external_id": "12345-0001"}`)
	if code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, b)
	}
	number := b["case"].(map[string]any)["number"].(string)
	if code, b := d.do(t, "POST", "/api/v1/cases", `{"unit": "990101100201", "channel": "hotline", "category": "劳动/欠薪",
	  "summary": "工地拖欠工资", "parties": [{"role": "申请人", "name": "王某"}], "external_id": "12345-0001"}`); code != 200 || b["duplicate"] != true {
		t.Errorf("registered twice: %d %v", code, b)
	}

	// 3 working days from Friday: due Wednesday 23:59:59.
	clk.Add(5*24*time.Hour + 7*time.Hour) // Wednesday 23:00
	if n, err := d.app.SweepCases(t.Context()); err != nil || n != 0 {
		t.Fatalf("sweep before the deadline: %d %v", n, err)
	}
	clk.Add(2 * time.Hour) // Thursday 01:00
	if n, err := d.app.SweepCases(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if n, _ := d.app.SweepCases(t.Context()); n != 0 {
		t.Errorf("a second sweep found %d again", n)
	}
	_, b = d.do(t, "GET", "/api/v1/cases?unit=990101100000&overdue=true", "")
	if b["total"] != 1.0 {
		t.Fatalf("overdue list %v", b)
	}
	over := b["cases"].([]any)[0].(map[string]any)["overdue"].([]any)[0].(map[string]any)
	if over["name"] != "accept" {
		t.Errorf("overdue %v", over)
	}
	subj := d.await(t, "/api/v1/subjects/dispute/"+number, func(code int, b map[string]any) bool {
		return code == 200 && strings.Contains(fmt.Sprint(b["fired"]), "case-overdue")
	})
	_ = subj
	_, b = d.do(t, "GET", "/api/v1/cases/"+number, "")
	h := b["history"].([]any)
	if last := h[len(h)-1].(map[string]any); last["action"] != "overdue" || !strings.HasPrefix(last["reason"].(string), "超过受理时限") {
		t.Errorf("last history entry %v", last)
	}
}

// A dispute the engine raises to orange gets a case, registered, accepted
// and assigned by the routing table.
func TestEngineOpensACase(t *testing.T) {
	clk := &lockedClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, beijingTZ)}
	d := startDaemonOn(t, redistest.Start(t).URL, "test", clk.Now, withCases)
	if code, b := d.do(t, "POST", "/api/v1/signals", threatSignal); code != http.StatusAccepted {
		t.Fatalf("send: %d %v", code, b)
	}
	b := d.await(t, "/api/v1/cases?unit=990100000000", func(code int, b map[string]any) bool {
		return code == 200 && b["total"] == 1.0 && b["cases"].([]any)[0].(map[string]any)["state"] == "assigned"
	})
	c := b["cases"].([]any)[0].(map[string]any)
	as := c["assignment"].(map[string]any)
	if c["channel"] != "engine" || c["dispute"] != "TZ-E2E-1" || c["category"] != "婚姻家庭" ||
		as["lead_unit"] != "990101100000" || as["organisation"] != "枫桥镇人民调解委员会" || as["mediation_type"] != "人民调解" {
		t.Errorf("opened %v", c)
	}
	if p := c["parties"].([]any); len(p) != 1 || p[0].(map[string]any)["person"] == "" {
		t.Errorf("parties %v", p)
	}
}
