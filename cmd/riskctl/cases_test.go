package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCasesCommands(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error": "a bearer token is required"}`))
			return
		}
		queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
		switch r.URL.Path {
		case "/api/v1/cases":
			_, _ = w.Write([]byte(`{"total": 3, "cases": [{"number": "990101100201-2026-00001", "state": "assigned", "category": "邻里",
			  "summary": "宅基地纠纷", "unit": "990101100201", "unit_names": {"990101100201": "陈家村"},
			  "assignment": {"lead_unit": "990101100000", "organisation": "枫桥镇人民调解委员会"},
			  "overdue": [{"name": "sign", "due": "2026-11-18T23:59:59+08:00"}]}]}`))
		case "/api/v1/cases/export":
			w.Header().Set("Content-Type", "text/csv")
			_, _ = w.Write([]byte("\uFEFF案件编号,登记单位\n"))
		case "/api/v1/cases/990101100201-2026-00001":
			_, _ = w.Write([]byte(`{"number": "990101100201-2026-00001", "state": "assigned", "unit": "990101100201", "unit_names": {},
			  "allowed_actions": ["sign", "return"],
			  "history": [{"seq": 1, "action": "register", "at": "2026-11-17T10:00:00+08:00", "by": {"name": "网格员", "role": "reporter"}, "to": "registered"}]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error": "no such case in your jurisdiction"}`))
		}
	}))
	defer srv.Close()
	env := map[string]string{"FENGQIAO_SERVER": srv.URL, "FENGQIAO_TOKEN": "tok"}

	r := riskctl(t, env, "cases", "list", "-unit", "990101100000", "-overdue", "-state", "assigned")
	if r.code != 0 || !strings.Contains(r.out, "990101100201-2026-00001  assigned     邻里  枫桥镇人民调解委员会  宅基地纠纷  [超期 sign") ||
		!strings.Contains(r.out, "1 of 3 cases") {
		t.Errorf("list:\n%s", r)
	}
	if q := queries[0]; q != "/api/v1/cases?overdue=true&state=assigned&unit=990101100000" {
		t.Errorf("list asked %s", q)
	}

	out := filepath.Join(t.TempDir(), "台账.csv")
	r = riskctl(t, env, "cases", "export", "-unit", "990101100000", "-o", out)
	if b, _ := os.ReadFile(out); r.code != 0 || !strings.HasPrefix(string(b), "\uFEFF案件编号") {
		t.Errorf("export:\n%s", r)
	}
	if q := queries[1]; q != "/api/v1/cases/export?format=csv&unit=990101100000" {
		t.Errorf("export asked %s", q)
	}
	if r := riskctl(t, env, "cases", "export", "-o", "ledger.pdf"); r.code != 1 || !strings.Contains(r.errout, "the ledger is written as .csv or .xlsx") {
		t.Errorf("export pdf:\n%s", r)
	}

	r = riskctl(t, env, "cases", "show", "990101100201-2026-00001")
	if r.code != 0 || !strings.Contains(r.out, "register") || !strings.Contains(r.out, "steps you may take now: sign, return") {
		t.Errorf("show:\n%s", r)
	}
	r = riskctl(t, env, "cases", "show", "990101100201-2026-09999")
	if r.code != 1 || !strings.Contains(r.errout, "riskd refused: no such case in your jurisdiction (404)") {
		t.Errorf("show missing:\n%s", r)
	}
}
