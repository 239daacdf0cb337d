package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"fengqiao/internal/config"
	"fengqiao/internal/redistest"
)

// clock is a settable clock for the daemon under test.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// daemon runs the whole daemon in-process against real Redis on a free port.
type daemon struct {
	base  string
	app   *App
	stop  func()
	token string      // sent with every request by do: the bootstrap admin's
	logs  *syncBuffer // everything the daemon logged
}

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	bootstrapToken = "bootstrap-admin-secret-for-the-tests-0123456789"
	testDataKeys   = "k1=YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="
)

func startDaemon(t *testing.T, now func() time.Time) *daemon {
	t.Helper()
	return startDaemonOn(t, redistest.Start(t).URL, "test", now)
}

func startDaemonOn(t *testing.T, redisURL, name string, now func() time.Time, opts ...func(*config.Config)) *daemon {
	t.Helper()
	return startDaemonWith(t, redisURL, name, now, nil, opts...)
}

// startDaemonWith is startDaemonOn with a hook that adjusts the app before it runs.
func startDaemonWith(t *testing.T, redisURL, name string, now func() time.Time, hook func(*App), opts ...func(*config.Config)) *daemon {
	t.Helper()
	cfg := config.Default()
	cfg.Consumer = name
	cfg.Jurisdiction = "../../fixtures/jurisdiction.yaml"
	cfg.RulesDir = "../../fixtures/rules"
	cfg.RedisURL = redisURL
	cfg.PIIKey = "test-key-of-at-least-16-bytes"
	cfg.DataKeys = testDataKeys
	cfg.BootstrapToken = bootstrapToken
	cfg.RateLimit = 0
	for _, o := range opts {
		o(&cfg)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, log, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range a.consumers {
		c.Block = 100 * time.Millisecond // so that shutdown need not wait a second
	}
	if hook != nil {
		hook(a)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	d := &daemon{base: "http://" + ln.Addr().String(), app: a, token: bootstrapToken, logs: logs}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the daemon logged:\n%s", logs.String())
		}
	})
	d.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the daemon did not shut down")
		}
		a.Close()
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			d.stop()
		}
	})
	return d
}

func (d *daemon) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	return d.doAs(t, d.token, method, path, body)
}

// doAs calls the API with token ("" for none).
func (d *daemon) doAs(t *testing.T, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, d.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, out
}

// await polls a GET until cond holds: the consumer works asynchronously, and
// this waits for its work, not for time to pass.
func (d *daemon) await(t *testing.T, path string, cond func(int, map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := d.do(t, "GET", path, "")
		if cond(code, body) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d %v", path, code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const threatSignal = `{
  "source": "grid_report",
  "id": "GR-E2E-0001",
  "occurred_at": "2026-11-22T09:30:00+08:00",
  "unit": "990101100201",
  "persons": [{"id_number": "990101197803152319", "name": "张国强", "role": "当事人"}],
  "dispute_id": "TZ-E2E-1",
  "category": "婚姻家庭",
  "party_count": 2,
  "summary": "男方酒后扬言要报复女方家人",
  "weather": "小雨"
}`

func TestSignalInColourOut(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	d := startDaemon(t, clk.Now)

	code, body := d.do(t, "POST", "/api/v1/signals", threatSignal)
	if code != http.StatusAccepted {
		t.Fatalf("POST signal: %d %v", code, body)
	}
	acc := body["accepted"].([]any)[0].(map[string]any)
	if acc["duplicate"] != false {
		t.Errorf("first send reported as duplicate: %v", acc)
	}
	subjects := acc["subjects"].([]any)
	person := subjects[0].(map[string]any)
	ref := person["ref"].(string)
	if !strings.HasPrefix(ref, "P") || strings.Contains(ref, "990101197803152319") {
		t.Fatalf("person ref %q", ref)
	}

	got := d.await(t, "/api/v1/subjects/person/"+ref, func(code int, b map[string]any) bool { return code == 200 })
	if got["level"] != "orange" {
		t.Errorf("level = %v, want orange: %v", got["level"], got)
	}
	_, rs := d.do(t, "GET", "/api/v1/rules", "")
	if v := rs["status"].(map[string]any)["version"]; got["ruleset_version"] != v || v == "" {
		t.Errorf("ruleset_version = %v, in force %v", got["ruleset_version"], v)
	}
	fired := got["fired"].([]any)
	var ids []string
	for _, f := range fired {
		ids = append(ids, f.(map[string]any)["id"].(string))
	}
	if strings.Join(ids, ",") != "threat-language,family-dispute" {
		t.Errorf("fired = %v", ids)
	}
	if e := got["explanation"].(string); !strings.Contains(e, "扬言极端(") || !strings.Contains(e, "+45,至少橙色") || !strings.HasPrefix(e, "橙色") {
		t.Errorf("explanation = %q", e)
	}
	if got["name"] != "张**" {
		t.Errorf("name shown as %v, want masked", got["name"])
	}
	d.await(t, "/api/v1/subjects/dispute/TZ-E2E-1", func(code int, b map[string]any) bool { return code == 200 && b["level"] == "orange" })

	// Re-sending is a no-op: reported as duplicate, counted once.
	code, body = d.do(t, "POST", "/api/v1/signals", threatSignal)
	if code != http.StatusAccepted || body["accepted"].([]any)[0].(map[string]any)["duplicate"] != true {
		t.Errorf("re-send: %d %v", code, body)
	}
	_, hist := d.do(t, "GET", "/api/v1/subjects/person/"+ref+"/history", "")
	if changes := hist["changes"].([]any); len(changes) != 1 || changes[0].(map[string]any)["to"] != "orange" {
		t.Errorf("history = %v", hist)
	}

	// The metrics show the slice.
	resp, err := http.Get(d.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`fengqiao_signals_accepted_total{duplicate="false",source="grid_report"} 1`,
		`fengqiao_signals_accepted_total{duplicate="true",source="grid_report"} 1`,
		`fengqiao_evaluations_total{kind="person"}`,
		`fengqiao_stream_lag_entries 0`,
		`fengqiao_rules_loaded `,
	} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if bytes.Contains(m, []byte(ref)) || bytes.Contains(m, []byte("TZ-E2E-1")) {
		t.Error("a subject id appears in the metrics")
	}

	code, ready := d.do(t, "GET", "/readyz", "")
	if code != 200 || ready["redis"] != "ok" || !strings.HasPrefix(ready["rules"].(string), "ok") || ready["consumer"] != "ok" {
		t.Errorf("readyz: %d %v", code, ready)
	}
}

func TestBadInputIsRefusedWhole(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	d := startDaemon(t, clk.Now)
	tests := []struct {
		name, body, field, msg string
	}{
		{"malformed JSON", `{"source": "grid_report",`, "", "malformed JSON"},
		{"missing unit", strings.Replace(threatSignal, `"unit": "990101100201",`, "", 1), "unit", "is required"},
		{"wrong type", strings.Replace(threatSignal, `"party_count": 2`, `"party_count": "two"`, 1), "party_count", "must be a number"},
		{"bad check digit", strings.Replace(threatSignal, "990101197803152319", "990101197803152318", 1), "persons[0].id_number", "check digit is wrong"},
		{"one bad signal in a batch", "[" + threatSignal + "," + strings.NewReplacer(`"GR-E2E-0001"`, `"GR-E2E-0002"`, `"990101100201"`, `"990199999999"`).Replace(threatSignal) + "]", "", "refused whole"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := d.do(t, "POST", "/api/v1/signals", tt.body)
			if code != http.StatusBadRequest {
				t.Fatalf("status %d: %v", code, body)
			}
			if msg, _ := body["error"].(string); !strings.Contains(msg, tt.msg) {
				t.Errorf("error %q does not say %q", msg, tt.msg)
			}
			if tt.field != "" && body["field"] != tt.field {
				t.Errorf("field = %v, want %s", body["field"], tt.field)
			}
			if strings.Contains(body["error"].(string), "990101197803152318") {
				t.Error("the ID number is echoed in the error")
			}
		})
	}
	resp, err := http.Get(d.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`fengqiao_signals_rejected_total{reason="malformed",source="unknown"} 2`,
		`fengqiao_signals_rejected_total{reason="invalid",source="grid_report"} 3`,
		`fengqiao_signals_rejected_total{reason="batch",source="grid_report"} 1`,
	} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Nothing was stored: the stream is empty.
	n, err := d.app.rdb.XLen(context.Background(), "fq:{signals}:stream").Result()
	if err != nil || n != 0 {
		t.Errorf("stream length %d, %v after refused input", n, err)
	}
}

func TestGracefulShutdown(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	d := startDaemon(t, clk.Now)
	if code, _ := d.do(t, "GET", "/healthz", ""); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	d.stop()
	if _, err := http.Get(d.base + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestSubjectsLookupAndRules(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	d := startDaemon(t, clk.Now)
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string // a key or a substring of the error
	}{
		{"lookup by ID number", "POST", "/api/v1/subjects/lookup", `{"id_number": "990101197803152319"}`, 200, "subject"},
		{"lookup by name and phone", "POST", "/api/v1/subjects/lookup", `{"name": "赵某", "phone": "138-0000-0000"}`, 200, "subject"},
		{"lookup with a bad check digit", "POST", "/api/v1/subjects/lookup", `{"id_number": "990101197803152318"}`, 400, "check digit is wrong"},
		{"lookup with nothing", "POST", "/api/v1/subjects/lookup", `{}`, 400, "give both name and phone"},
		{"unknown subject", "GET", "/api/v1/subjects/person/Pnope", "", 404, "no such subject in your jurisdiction"},
		{"unknown kind", "GET", "/api/v1/subjects/company/x", "", 400, "unknown subject kind"},
		{"bad history limit", "GET", "/api/v1/subjects/person/Px/history?limit=0", "", 400, "limit must be"},
		{"the ruleset in force", "GET", "/api/v1/rules", "", 200, "rules"},
		{"reload", "POST", "/api/v1/rules/reload", "", 200, "version"},
		{"unknown endpoint", "GET", "/api/v2/x", "", 404, "no such endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := d.do(t, tt.method, tt.path, tt.body)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %v", code, tt.code, body)
			}
			if code == 200 {
				if _, ok := body[tt.want]; !ok {
					t.Errorf("answer lacks %q: %v", tt.want, body)
				}
				return
			}
			if msg, _ := body["error"].(string); !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
		})
	}
	_, a := d.do(t, "POST", "/api/v1/subjects/lookup", `{"id_number": "990101197803152319"}`)
	_, b := d.do(t, "POST", "/api/v1/subjects/lookup", `{"id_number": "990101197803152319"}`)
	if a["subject"].(map[string]any)["ref"] != b["subject"].(map[string]any)["ref"] {
		t.Error("the same ID number gave two references")
	}
}

// Two daemons on one Redis share the stream: every signal is scored once,
// and a person's state is exact however their signals interleave.
func TestTwoInstancesShareTheStream(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	srv := redistest.Start(t)
	var ds []*daemon
	for i := 0; i < 2; i++ {
		ds = append(ds, startDaemonOn(t, srv.URL, fmt.Sprintf("instance-%d", i), clk.Now))
	}
	const n = 30
	for i := 0; i < n; i++ {
		body := strings.NewReplacer(`"GR-E2E-0001"`, fmt.Sprintf(`"GR-PAIR-%03d"`, i),
			`"summary": "男方酒后扬言要报复女方家人"`, `"summary": "邻里口角"`).Replace(threatSignal)
		if code, b := ds[i%2].do(t, "POST", "/api/v1/signals", body); code != http.StatusAccepted {
			t.Fatalf("POST %d: %d %v", i, code, b)
		}
	}
	// A re-send through the other instance is still one signal.
	if code, _ := ds[1].do(t, "POST", "/api/v1/signals", strings.Replace(threatSignal, `"GR-E2E-0001"`, `"GR-PAIR-000"`, 1)); code != http.StatusAccepted {
		t.Fatal("re-send refused")
	}
	got := ds[0].await(t, "/api/v1/subjects/dispute/TZ-E2E-1", func(code int, b map[string]any) bool {
		return code == 200 && b["signals"] == float64(n)
	})
	if e := got["explanation"].(string); got["level"] != "blue" || !strings.Contains(e, "婚姻家庭纠纷(") || !strings.Contains(e, " +25") {
		t.Errorf("level %v, explanation %v", got["level"], e)
	}
	// Nothing is left pending or unprocessed in the group; one instance at a
	// time reads the stream (the other stands by), so signals are scored in order.
	ctx := context.Background()
	groups, err := ds[0].app.rdb.XInfoGroups(ctx, "fq:{signals}:stream").Result()
	if err != nil || len(groups) != 1 || groups[0].Pending != 0 || groups[0].Lag != 0 || groups[0].Consumers != 1 {
		t.Errorf("consumer group: %+v, %v", groups, err)
	}
}

// When Redis is unreachable the API says so, and the client keeps its data.
func TestRedisDownAnswers503(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	srv := redistest.Start(t)
	d := startDaemonOn(t, srv.URL, "test", clk.Now)
	srv.Stop()
	req, _ := http.NewRequest("POST", d.base+"/api/v1/signals", strings.NewReader(threatSignal))
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("POST with Redis down: %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if !strings.Contains(string(body), "nothing was changed, please retry") {
		t.Errorf("body = %s", body)
	}
	if code, ready := d.do(t, "GET", "/readyz", ""); code != http.StatusServiceUnavailable || ready["redis"] == "ok" {
		t.Errorf("readyz with Redis down: %d %v", code, ready)
	}
}

// A duty officer's view: the board of their subtree, why a subject is there,
// an override with its reason, and the rules that were in force.
func TestBoardOverrideAndRulesets(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	d := startDaemon(t, clk.Now)
	if code, b := d.do(t, "POST", "/api/v1/signals", threatSignal); code != http.StatusAccepted {
		t.Fatalf("POST: %d %v", code, b)
	}
	d.await(t, "/api/v1/subjects/dispute/TZ-E2E-1", func(code int, b map[string]any) bool { return code == 200 })
	_, lookup := d.do(t, "POST", "/api/v1/subjects/lookup", `{"id_number": "990101197803152319"}`)
	ref := lookup["subject"].(map[string]any)["ref"].(string)
	d.await(t, "/api/v1/subjects/person/"+ref, func(code int, b map[string]any) bool { return code == 200 })

	count := func(query string) float64 {
		t.Helper()
		code, b := d.do(t, "GET", "/api/v1/subjects?"+query, "")
		if code != 200 {
			t.Fatalf("board %s: %d %v", query, code, b)
		}
		return b["total"].(float64)
	}
	if n := count("min_level=orange&unit=990101000000"); n != 2 {
		t.Errorf("清河县 board: %v subjects, want the person and the dispute", n)
	}
	if n := count("min_level=orange&unit=990102000000"); n != 0 {
		t.Errorf("东湖区 board shows another county's subjects: %v", n)
	}
	if n := count("min_level=red"); n != 0 {
		t.Errorf("red board: %v", n)
	}
	if n := count("kind=dispute"); n != 1 {
		t.Errorf("dispute board: %v", n)
	}
	for bad, want := range map[string]int{"min_level=purple": 400, "kind=x": 400, "limit=0": 400, "unit=123": 404} {
		if code, _ := d.do(t, "GET", "/api/v1/subjects?"+bad, ""); code != want {
			t.Errorf("board %s: %d, want %d", bad, code, want)
		}
	}

	path := "/api/v1/subjects/person/" + ref
	code, b := d.do(t, "POST", path+"/override", `{"level": "yellow", "officer": "李明", "reason": "已落实稳控措施", "hours": 24}`)
	if code != 200 || b["level"] != "yellow" {
		t.Fatalf("override: %d %v", code, b)
	}
	_, sub := d.do(t, "GET", path, "")
	if sub["level"] != "yellow" || !strings.Contains(sub["explanation"].(string), "李明人工调整为黄色(已落实稳控措施)") {
		t.Errorf("after override: %v", sub["explanation"])
	}
	if code, b := d.do(t, "POST", path+"/override", `{"level": "yellow", "officer": "李明", "reason": "x"}`); code != 400 || b["field"] != "until" {
		t.Errorf("override without an end: %d %v", code, b)
	}
	if code, b := d.do(t, "POST", path+"/signoff", `{"officer": "李明", "reason": "x"}`); code != 400 || !strings.Contains(b["error"].(string), "needs no sign-off") {
		t.Errorf("sign-off of a yellow subject: %d %v", code, b)
	}
	if code, b := d.do(t, "DELETE", path+"/override", `{"officer": "李明", "reason": "稳控到期"}`); code != 200 || b["level"] != "orange" {
		t.Errorf("end override: %d %v", code, b)
	}
	if code, _ := d.do(t, "POST", "/api/v1/subjects/person/Pnope/override", `{"level": "red", "officer": "李明", "reason": "x", "hours": 1}`); code != 404 {
		t.Errorf("override of an unknown subject: %d", code)
	}
	_, hist := d.do(t, "GET", path+"/history", "")
	if n := len(hist["changes"].([]any)); n != 5 { // orange, override, yellow, override_cleared, orange
		t.Errorf("history has %d entries: %v", n, hist)
	}
	if code, b := d.do(t, "POST", "/api/v1/rescore", ""); code != 200 || b["rescored"] != float64(2) {
		t.Errorf("rescore: %d %v", code, b)
	}

	// The ruleset in force, and the archived one behind an assessment.
	_, rs := d.do(t, "GET", "/api/v1/rules", "")
	st := rs["status"].(map[string]any)
	hash := st["hash"].(string)
	if sub["ruleset_hash"] != hash || st["loaded_at"] == nil {
		t.Errorf("rules status %v; assessment hash %v", st, sub["ruleset_hash"])
	}
	code, arch := d.do(t, "GET", "/api/v1/rulesets/"+hash, "")
	if code != 200 || !strings.Contains(arch["files"].(map[string]any)["default.yaml"].(string), "threat-language") {
		t.Errorf("archived ruleset: %d %v", code, arch["version"])
	}
	if code, _ := d.do(t, "GET", "/api/v1/rulesets/0123456789abcdef", ""); code != 404 {
		t.Errorf("unknown ruleset: %d", code)
	}
	_, ready := d.do(t, "GET", "/readyz", "")
	if !strings.HasPrefix(ready["rules"].(string), "ok: version ") {
		t.Errorf("readyz rules: %v", ready["rules"])
	}
}
