package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/internal/auth"
	"fengqiao/jurisdiction"
)

// token makes a token as the bootstrap admin and returns its secret.
func (d *daemon) newToken(t *testing.T, name string, role auth.Role, unit string) string {
	t.Helper()
	code, b := d.do(t, "POST", "/api/v1/tokens", fmt.Sprintf(`{"name": %q, "role": %q, "unit": %q}`, name, role, unit))
	if code != http.StatusCreated {
		t.Fatalf("create token %s: %d %v", name, code, b)
	}
	return b["secret"].(string)
}

// policy is who may call what, written independently of the route table so
// that a change to either shows here.
var policy = map[string][]auth.Role{
	"POST /api/v1/signals":                          {auth.Reporter, auth.System, auth.Admin},
	"GET /api/v1/subjects":                          {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"POST /api/v1/subjects/lookup":                  {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"GET /api/v1/subjects/{kind}/{ref}":             {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"GET /api/v1/subjects/{kind}/{ref}/history":     {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"POST /api/v1/subjects/{kind}/{ref}/override":   {auth.Duty, auth.Admin},
	"DELETE /api/v1/subjects/{kind}/{ref}/override": {auth.Duty, auth.Admin},
	"POST /api/v1/subjects/{kind}/{ref}/signoff":    {auth.Duty, auth.Admin},
	"POST /api/v1/rescore":                          {auth.Admin, auth.System},
	"GET /api/v1/rules":                             {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"POST /api/v1/rules/reload":                     {auth.Admin},
	"GET /api/v1/rulesets":                          {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"GET /api/v1/rulesets/{hash}":                   {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"GET /api/v1/rules/shadow":                      {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"POST /api/v1/rules/shadow":                     {auth.Admin},
	"DELETE /api/v1/rules/shadow":                   {auth.Admin},
	"POST /api/v1/rules/shadow/promote":             {auth.Admin},
	"GET /api/v1/rules/shadow/backtest":             {auth.Admin},
	"GET /api/v1/tokens":                            {auth.Admin},
	"POST /api/v1/tokens":                           {auth.Admin},
	"DELETE /api/v1/tokens/{id}":                    {auth.Admin},
	"GET /api/v1/whoami":                            auth.Roles,
	"GET /api/v1/alerts":                            {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"GET /api/v1/alerts/{id}":                       {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"POST /api/v1/alerts/{id}/ack":                  {auth.Duty, auth.Admin},
	"POST /api/v1/alerts/{id}/resolve":              {auth.Duty, auth.Admin},
	"POST /api/v1/cases":                            {auth.Reporter, auth.Mediator, auth.Duty, auth.Admin, auth.System},
	"GET /api/v1/cases":                             {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"GET /api/v1/cases/export":                      {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"POST /api/v1/cases/archive":                    {auth.Mediator, auth.Duty, auth.Admin, auth.System},
	"GET /api/v1/cases/batches":                     {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"GET /api/v1/cases/{number}":                    {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"POST /api/v1/cases/{number}/actions":           {auth.Mediator, auth.Duty, auth.Admin, auth.System},
	"POST /api/v1/zero-reports":                     {auth.Reporter, auth.Duty, auth.Admin},
	"GET /api/v1/zero-reports":                      {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"GET /api/v1/zero-reports/history":              {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"GET /api/v1/reports/daily":                     {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"GET /api/v1/silences":                          {auth.Admin, auth.Duty, auth.Mediator, auth.Viewer},
	"POST /api/v1/silences":                         {auth.Duty, auth.Admin},
	"DELETE /api/v1/silences/{id}":                  {auth.Duty, auth.Admin},
	"GET /api/v1/audit":                             {auth.Admin},
	"GET /api/v1/audit/verify":                      {auth.Admin},
	"GET /api/v1/openapi.yaml":                      nil,
	"GET /healthz":                                  nil,
	"GET /readyz":                                   nil,
	"GET /metrics":                                  nil,
}

// Every route × every role: a role the policy does not name gets 403, one it
// names gets past the guard, and no token gets 401.
func TestRouteRoleMatrix(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	d := startDaemon(t, clk.Now)
	table := d.app.Permissions()
	for pattern := range table {
		if _, ok := policy[pattern]; !ok {
			t.Errorf("route %s is not in the test's policy: decide who may call it", pattern)
		}
	}
	tokens := map[auth.Role]string{}
	for _, role := range auth.Roles {
		tokens[role] = d.newToken(t, "矩阵 "+string(role), role, "990100000000")
	}
	fill := strings.NewReplacer("{kind}", "person", "{ref}", "Pnope", "{hash}", "0123456789abcdef", "{id}", "abcdefgh")
	for pattern, allowed := range policy {
		if !slices.Equal(table[pattern], allowed) && !(len(table[pattern]) == len(allowed) && subset(table[pattern], allowed)) {
			t.Errorf("%s: the route table allows %v, the policy %v", pattern, table[pattern], allowed)
		}
		method, path, _ := strings.Cut(pattern, " ")
		path = fill.Replace(path)
		if allowed == nil {
			if code, _ := d.doAs(t, "", method, path, ""); code == 401 || code == 403 {
				t.Errorf("%s is public, but without a token: %d", pattern, code)
			}
			continue
		}
		if code, _ := d.doAs(t, "", method, path, "{}"); code != 401 {
			t.Errorf("%s without a token: %d, want 401", pattern, code)
		}
		if code, _ := d.doAs(t, "fqt_abcdefgh_forged", method, path, "{}"); code != 401 {
			t.Errorf("%s with a forged token: %d, want 401", pattern, code)
		}
		for _, role := range auth.Roles {
			code, body := d.doAs(t, tokens[role], method, path, "{}")
			may := slices.Contains(allowed, role)
			switch {
			case may && (code == 401 || code == 403):
				t.Errorf("%s as %s: %d %v, but the role may", pattern, role, code, body)
			case !may && code != 403:
				t.Errorf("%s as %s: %d, want 403", pattern, role, code)
			}
		}
	}
}

func subset(a, b []auth.Role) bool {
	for _, r := range a {
		if !slices.Contains(b, r) {
			return false
		}
	}
	return true
}

// Each officer sees and acts only within their unit's subtree; a subject
// elsewhere is 404, as if it did not exist.
func TestJurisdictionMatrix(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	d := startDaemon(t, clk.Now)
	tree, err := jurisdiction.Load("../../fixtures/jurisdiction.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// One person in the first village of every township.
	type subject struct{ ref, unit string }
	var subjects []subject
	var officers []jurisdiction.Unit
	for _, u := range tree.Units() {
		if u.Tier == jurisdiction.City || u.Tier == jurisdiction.County || u.Tier == jurisdiction.Township {
			officers = append(officers, u)
		}
		if u.Tier != jurisdiction.Township {
			continue
		}
		village := tree.Children(u.Code)[0]
		id := idNumber(fmt.Sprintf("%s19800101%03d", village.Code[:6], len(subjects)))
		sig := fmt.Sprintf(`{"source": "grid_report", "id": "GR-M-%d", "occurred_at": "2026-11-22T09:00:00+08:00",
			"unit": %q, "persons": [{"id_number": %q, "name": "某某"}], "summary": "扬言报复"}`, len(subjects), village.Code, id)
		code, b := d.do(t, "POST", "/api/v1/signals", sig)
		if code != http.StatusAccepted {
			t.Fatalf("POST: %d %v", code, b)
		}
		ref := b["accepted"].([]any)[0].(map[string]any)["subjects"].([]any)[0].(map[string]any)["ref"].(string)
		subjects = append(subjects, subject{ref, village.Code})
	}
	for _, s := range subjects {
		d.await(t, "/api/v1/subjects/person/"+s.ref, func(code int, _ map[string]any) bool { return code == 200 })
	}
	for _, o := range officers {
		tok := d.newToken(t, o.Name+"值班室", auth.Duty, o.Code)
		want := 0
		for _, s := range subjects {
			if tree.Contains(o.Code, s.unit) {
				want++
			}
		}
		_, board := d.doAs(t, tok, "GET", "/api/v1/subjects?min_level=blue", "")
		if int(board["total"].(float64)) != want {
			t.Errorf("%s's board has %v subjects, want %d", o.Name, board["total"], want)
		}
		for _, s := range subjects {
			sees := tree.Contains(o.Code, s.unit)
			code, _ := d.doAs(t, tok, "GET", "/api/v1/subjects/person/"+s.ref, "")
			if (code == 200) != sees || (!sees && code != 404) {
				t.Errorf("%s (%s) reading a subject of %s: %d", o.Name, o.Code, s.unit, code)
			}
			code, _ = d.doAs(t, tok, "POST", "/api/v1/subjects/person/"+s.ref+"/override", `{"level": "red", "officer": "某", "reason": "测试", "hours": 1}`)
			if (code == 200) != sees || (!sees && code != 404) {
				t.Errorf("%s overriding a subject of %s: %d", o.Name, s.unit, code)
			}
		}
	}
	// A reporter of one township cannot send for another.
	rep := d.newToken(t, "枫桥镇网格员", auth.Reporter, "990101100000")
	other := fmt.Sprintf(`{"source": "grid_report", "id": "GR-X", "occurred_at": "2026-11-22T09:00:00+08:00",
		"unit": "990102001001", "dispute_id": "TZ-X"}`)
	if code, b := d.doAs(t, rep, "POST", "/api/v1/signals", other); code != 400 || !strings.Contains(b["error"].(string), "outside your jurisdiction") {
		t.Errorf("reporter sending for another township: %d %v", code, b)
	}
}

// idNumber completes 17 digits with their GB 11643 check digit.
func idNumber(s17 string) string {
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range 17 {
		sum += int(s17[i]-'0') * w[i]
	}
	return s17 + string("10X98765432"[sum%11])
}

// Tokens are made, used, listed and revoked; identities are masked unless
// revealed by a role that may, and every such act is in an unbroken audit
// chain, whose tampering shows.
func TestTokensIdentityAndAudit(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	d := startDaemon(t, clk.Now)
	duty := d.newToken(t, "枫桥镇值班室", auth.Duty, "990101100000")
	viewer := d.newToken(t, "枫桥镇查询", auth.Viewer, "990101100000")
	_, who := d.doAs(t, duty, "GET", "/api/v1/whoami", "")
	if who["role"] != "duty" || who["unit"] != "990101100000" || who["name"] != "枫桥镇值班室" {
		t.Errorf("whoami = %v", who)
	}
	if code, b := d.do(t, "POST", "/api/v1/tokens", `{"name": "x", "role": "root", "unit": "990101100000"}`); code != 400 || b["field"] != "role" {
		t.Errorf("a token with an unknown role: %d %v", code, b)
	}
	if code, b := d.doAs(t, duty, "POST", "/api/v1/signals", threatSignal); code != 403 {
		t.Errorf("duty sending signals: %d %v", code, b)
	}
	if code, _ := d.do(t, "POST", "/api/v1/signals", strings.Replace(threatSignal, `"role": "当事人"`, `"role": "当事人", "phone": "13900001234"`, 1)); code != 202 {
		t.Fatal("POST refused")
	}
	_, lookup := d.doAs(t, duty, "POST", "/api/v1/subjects/lookup", `{"id_number": "990101197803152319"}`)
	path := "/api/v1/subjects/person/" + lookup["subject"].(map[string]any)["ref"].(string)
	sub := d.await(t, path, func(code int, _ map[string]any) bool { return code == 200 })
	if id := sub["identity"].(map[string]any); id["id_number"] != "990***********2319" || id["phone"] != "139****1234" || id["masked"] != true {
		t.Errorf("identity = %v, want masked", id)
	}
	if code, _ := d.doAs(t, viewer, "GET", path+"?reveal=true", ""); code != 403 {
		t.Errorf("a viewer revealing: %d", code)
	}
	_, clear := d.doAs(t, duty, "GET", path+"?reveal=true", "")
	if id := clear["identity"].(map[string]any); id["id_number"] != "990101197803152319" || id["masked"] != false {
		t.Errorf("revealed identity = %v", id)
	}

	// Tokens: listed without secrets, revoked at once.
	_, list := d.do(t, "GET", "/api/v1/tokens", "")
	raw, _ := json.Marshal(list)
	if strings.Contains(string(raw), viewer) || strings.Contains(string(raw), `"hash"`) {
		t.Error("the token list shows a secret or a hash")
	}
	viewerID := strings.Split(viewer, "_")[1]
	if code, _ := d.do(t, "DELETE", "/api/v1/tokens/"+viewerID, ""); code != 200 {
		t.Fatal("revoke refused")
	}
	if code, _ := d.doAs(t, viewer, "GET", "/api/v1/whoami", ""); code != 401 {
		t.Errorf("a revoked token: %d, want 401", code)
	}
	township := d.newToken(t, "枫桥镇管理员", auth.Admin, "990101100000")
	if code, _ := d.doAs(t, township, "DELETE", "/api/v1/tokens/"+viewerID, ""); code != 200 {
		t.Errorf("a township admin revoking a token of their township: %d", code)
	}
	if code, _ := d.doAs(t, township, "POST", "/api/v1/tokens", `{"name": "x", "role": "duty", "unit": "990102001000"}`); code != 400 {
		t.Errorf("a township admin making a token for another township: %d", code)
	}

	// The audit log holds every act, as an unbroken chain.
	_, entries := d.do(t, "GET", "/api/v1/audit?limit=100", "")
	var actions []string
	for _, e := range entries["entries"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	for _, want := range []string{"rules.load", "token.create", "pii.read", "token.revoke"} {
		if !slices.Contains(actions, want) {
			t.Errorf("the audit log lacks %s: %v", want, actions)
		}
	}
	_, rep := d.do(t, "GET", "/api/v1/audit/verify", "")
	if rep["ok"] != true {
		t.Fatalf("audit chain: %v", rep)
	}
	// Someone with Redis access rewrites the third entry: the chain shows it.
	ctx := context.Background()
	msgs, _ := d.app.rdb.XRange(ctx, "fq:{audit}:log", "-", "+").Result()
	msgs[2].Values["detail"] = "无事发生"
	d.app.rdb.Del(ctx, "fq:{audit}:log")
	for _, m := range msgs {
		if err := d.app.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "fq:{audit}:log", ID: m.ID, Values: m.Values}).Err(); err != nil {
			t.Fatalf("rewrite the log: %v", err)
		}
	}
	_, rep = d.do(t, "GET", "/api/v1/audit/verify", "")
	if rep["ok"] != false || rep["first_broken"].(map[string]any)["seq"] != float64(3) {
		t.Errorf("tampered audit chain: %v", rep)
	}
}

// No fixture ID number or phone appears in the logs, the metrics, the audit
// log, or anywhere in Redis — keys or values — after an end-to-end run.
func TestNoPersonalNumbersLeak(t *testing.T) {
	clk := &clock{time.Now().UTC()}
	d := startDaemon(t, clk.Now)
	n, err := d.app.LoadDemoSignals(context.Background(), "../../fixtures/signals")
	if err != nil || n == 0 {
		t.Fatalf("sample signals: %d, %v", n, err)
	}
	// A bad signal too: its error must not echo what was sent.
	d.do(t, "POST", "/api/v1/signals", strings.Replace(threatSignal, "990101197803152319", "990101197803152318", 1))
	secrets := fixtureNumbers(t)
	if len(secrets) < 5 {
		t.Fatalf("found only %d fixture numbers", len(secrets))
	}
	// Wait until every sample is scored.
	d.await(t, "/metrics", func(int, map[string]any) bool {
		_, rep := d.do(t, "GET", "/readyz", "")
		return rep != nil && streamDone(t, d)
	})
	var haystacks = map[string]string{"logs": d.logs.String()}
	resp, err := http.Get(d.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_, _ = fmt.Fprint(&b, readAll(resp))
	haystacks["metrics"] = b.String()
	haystacks["redis"] = dumpRedis(t, d.app.rdb)
	for where, text := range haystacks {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains a fixture ID or phone number (%s…)", where, s[:4])
			}
		}
	}
}

func streamDone(t *testing.T, d *daemon) bool {
	groups, err := d.app.rdb.XInfoGroups(context.Background(), "fq:{signals}:stream").Result()
	return err == nil && len(groups) == 1 && groups[0].Lag == 0 && groups[0].Pending == 0
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

var (
	idLike    = regexp.MustCompile(`\b\d{17}[\dX]\b`)
	phoneLike = regexp.MustCompile(`\b1[3-9]\d{9}\b`)
)

// fixtureNumbers collects every ID and phone number in the fixtures.
func fixtureNumbers(t *testing.T) []string {
	var out []string
	files, _ := filepath.Glob("../../fixtures/signals/*.json")
	files = append(files, "../../fixtures/jurisdiction.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, idLike.FindAllString(string(b), -1)...)
		out = append(out, phoneLike.FindAllString(string(b), -1)...)
	}
	out = append(out, "990101197803152318", "13900001234")
	slices.Sort(out)
	return slices.Compact(out)
}

// dumpRedis renders every key and value in Redis as text.
func dumpRedis(t *testing.T, rdb redis.UniversalClient) string {
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "\n")
		switch rdb.Type(ctx, k).Val() {
		case "string":
			b.WriteString(rdb.Get(ctx, k).Val())
		case "hash":
			fmt.Fprint(&b, rdb.HGetAll(ctx, k).Val())
		case "zset":
			fmt.Fprint(&b, rdb.ZRange(ctx, k, 0, -1).Val())
		case "set":
			fmt.Fprint(&b, rdb.SMembers(ctx, k).Val())
		case "stream":
			fmt.Fprint(&b, rdb.XRange(ctx, k, "-", "+").Val())
		}
		b.WriteString("\n")
	}
	return b.String()
}
