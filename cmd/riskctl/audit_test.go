package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"fengqiao/internal/audit"
)

var auditT0 = time.Date(2026, 11, 3, 1, 15, 0, 0, time.UTC)

// auditChain builds n linked entries as the log would.
func auditChain(n int) []audit.Entry {
	var out []audit.Entry
	prev := ""
	for i := 1; i <= n; i++ {
		e := audit.Entry{Seq: int64(i), At: auditT0.Add(time.Duration(i) * time.Minute), Actor: "tok-1", Role: "officer",
			Unit: "990101100000", Action: audit.ActionAlertAck, Subject: "person/P1", Detail: "签收预警", Prev: prev,
			ID: time.Duration(i).String()}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

// fakeAudit is riskd's audit API as riskctl sees it.
type fakeAudit struct {
	mu      sync.Mutex
	report  audit.Report  // GET /api/v1/audit/verify
	all     []audit.Entry // GET /api/v1/audit?all=true
	listed  []audit.Entry // GET /api/v1/audit?…
	status  int           // answer every request with this status, if set
	queries []url.Values
	auth    []string
}

func (f *fakeAudit) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		if f.status != 0 {
			w.WriteHeader(f.status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "a bearer token is required: send Authorization: Bearer <token>"})
			return
		}
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v1/audit/verify":
			_ = json.NewEncoder(w).Encode(f.report)
		case r.Method == "GET" && r.URL.Path == "/api/v1/audit":
			f.queries = append(f.queries, r.URL.Query())
			es := f.listed
			if r.URL.Query().Get("all") == "true" {
				es = f.all
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"entries": es})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestAuditVerify(t *testing.T) {
	intact := audit.Report{Entries: 4, OK: true}
	for _, tc := range []struct {
		name   string
		report audit.Report
		all    func([]audit.Entry) []audit.Entry
		code   int
		out    []string // lines of stdout, in order
		errout string
	}{
		{"both intact", intact, nil, 0, []string{
			"checked here:     audit chain intact: 4 entries",
			"checked by riskd: audit chain intact: 4 entries"}, ""},
		{"an empty log", audit.Report{OK: true}, func([]audit.Entry) []audit.Entry { return nil }, 0, []string{
			"checked here:     audit chain intact: 0 entries",
			"checked by riskd: audit chain intact: 0 entries"}, ""},
		{"more entries listed than riskd verified (appended since)", audit.Report{Entries: 3, OK: true}, nil, 0, []string{
			"checked here:     audit chain intact: 4 entries",
			"checked by riskd: audit chain intact: 3 entries"}, ""},
		{"an entry altered on the way", intact, func(es []audit.Entry) []audit.Entry { es[1].Detail = "未签收"; return es }, 1, []string{
			"checked here:     audit chain broken at seq 2 (stream id 2ns): the hash does not match the entry's content: the entry was altered",
			"checked by riskd: audit chain intact: 4 entries"}, ""},
		{"an entry left out of the listing", intact, func(es []audit.Entry) []audit.Entry { return append(es[:1], es[2:]...) }, 1, []string{
			"checked here:     audit chain broken at seq 3 (stream id 3ns): seq 3 follows seq 1: the entries between were removed",
			"checked by riskd: audit chain intact: 4 entries"}, ""},
		{"the last entries left out of the listing", intact, func(es []audit.Entry) []audit.Entry { return es[:2] }, 1, []string{
			"checked here:     audit chain broken at seq 3: riskd verified 4 entries but listed only 2: the listing leaves entries out",
			"checked by riskd: audit chain intact: 4 entries"}, ""},
		{"riskd finds a break", audit.Report{Entries: 4, FirstBroken: &audit.Broken{Seq: 4, Reason: "the log ends at seq 3 but its head records seq 4: entries at the end were removed"}}, nil, 1, []string{
			"checked here:     audit chain intact: 4 entries",
			"checked by riskd: audit chain broken at seq 4: the log ends at seq 3 but its head records seq 4: entries at the end were removed"}, ""},
		{"the listing is newest first", intact, func(es []audit.Entry) []audit.Entry {
			for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
				es[i], es[j] = es[j], es[i]
			}
			return es
		}, 1, nil, "riskctl: audit verify: riskd listed the entries newest first; with all=true it must list them oldest first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAudit{report: tc.report, all: auditChain(4)}
			if tc.all != nil {
				f.all = tc.all(f.all)
			}
			r := riskctl(t, map[string]string{"FENGQIAO_SERVER": f.start(t)}, "audit", "verify")
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			if want := strings.Join(tc.out, "\n"); strings.TrimSpace(r.out) != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.out, want)
			}
			if strings.TrimSpace(r.errout) != tc.errout {
				t.Errorf("stderr: %q, want %q", r.errout, tc.errout)
			}
			if len(f.queries) != 1 || f.queries[0].Get("all") != "true" {
				t.Errorf("the entries were asked for with %v, want all=true once", f.queries)
			}
		})
	}
}

func TestAuditSendsTheToken(t *testing.T) {
	f := &fakeAudit{report: audit.Report{OK: true}}
	srv := f.start(t)
	riskctl(t, map[string]string{"FENGQIAO_SERVER": srv, "FENGQIAO_TOKEN": "s3cret"}, "audit", "verify")
	riskctl(t, map[string]string{"FENGQIAO_SERVER": srv}, "audit", "show")
	want := []string{"Bearer s3cret", "Bearer s3cret", ""}
	if strings.Join(f.auth, "|") != strings.Join(want, "|") {
		t.Errorf("Authorization headers %q, want %q", f.auth, want)
	}
}

func TestAuditRefused(t *testing.T) {
	f := &fakeAudit{status: http.StatusUnauthorized}
	srv := f.start(t)
	for _, args := range [][]string{{"audit", "verify"}, {"audit", "show"}} {
		r := riskctl(t, map[string]string{"FENGQIAO_SERVER": srv}, args...)
		if r.code != 1 || r.out != "" || !strings.Contains(r.errout, "riskd refused: a bearer token is required: send Authorization: Bearer <token> (401)") {
			t.Errorf("riskctl %s:\n%s", strings.Join(args, " "), r)
		}
	}
}

func TestAuditShow(t *testing.T) {
	es := auditChain(3)
	es[0].Role, es[0].Unit, es[0].Actor, es[0].Subject = "", "", audit.SystemActor, ""
	es[1].Detail = "两行\n说明"
	newestFirst := []audit.Entry{es[2], es[1], es[0]} // newest first
	f := &fakeAudit{listed: newestFirst}
	srv := f.start(t)
	r := riskctl(t, map[string]string{"FENGQIAO_SERVER": srv}, "audit", "show",
		"-actor", "tok-1", "-unit", "990101100000", "-subject", "person/P1", "-action", "alert.ack",
		"-from", "2026-11-03T08:00:00+08:00", "-to", "2026-11-04T00:00:00Z", "-limit", "20")
	if r.code != 0 {
		t.Fatal(r)
	}
	want := url.Values{"actor": {"tok-1"}, "unit": {"990101100000"}, "subject": {"person/P1"}, "action": {"alert.ack"},
		"from": {"2026-11-03T08:00:00+08:00"}, "to": {"2026-11-04T00:00:00Z"}, "limit": {"20"}}
	if len(f.queries) != 1 || f.queries[0].Encode() != want.Encode() {
		t.Errorf("query %v, want %v", f.queries, want)
	}
	local := func(e audit.Entry) string { return e.At.Local().Format("2006-01-02 15:04:05") }
	wantOut := local(es[2]) + "  #3  tok-1 (officer, 990101100000)  alert.ack  person/P1  签收预警\n" +
		local(es[1]) + "  #2  tok-1 (officer, 990101100000)  alert.ack  person/P1  两行\\n说明\n" +
		local(es[0]) + "  #1  system  alert.ack  -  签收预警\n"
	if r.out != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.out, wantOut)
	}

	f.queries = nil
	if r := riskctl(t, map[string]string{"FENGQIAO_SERVER": srv}, "audit", "show"); r.code != 0 || len(f.queries) != 1 || len(f.queries[0]) != 0 {
		t.Errorf("show without flags sends %v\n%s", f.queries, r)
	}
	f.listed = nil
	if r := riskctl(t, map[string]string{"FENGQIAO_SERVER": srv}, "audit", "show", "-actor", "nobody"); r.code != 0 || r.out != "" || !strings.Contains(r.errout, "no audit entries match") {
		t.Errorf("show with no match:\n%s", r)
	}
}

func TestAuditUsage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		errout string // part of stderr
	}{
		{"no subcommand", []string{"audit"}, 2, "Usage: riskctl [-server URL] audit verify"},
		{"an unknown subcommand", []string{"audit", "repair"}, 2, "Usage: riskctl [-server URL] audit verify"},
		{"verify with an argument", []string{"audit", "verify", "now"}, 2, "Usage:"},
		{"show with an argument", []string{"audit", "show", "tok-1"}, 2, `unexpected argument "tok-1": audit show takes only flags`},
		{"show with an unknown flag", []string{"audit", "show", "-who", "x"}, 2, "flag provided but not defined: -who"},
		{"show with a date, not a time", []string{"audit", "show", "-from", "2026-11-03"}, 2, `-from "2026-11-03": give a time in RFC 3339`},
		{"show with a bad -to", []string{"audit", "show", "-to", "yesterday"}, 2, `-to "yesterday": give a time in RFC 3339`},
		{"show with too big a limit", []string{"audit", "show", "-limit", "5000"}, 2, "-limit 5000: give 1 to 1000"},
		{"show with a negative limit", []string{"audit", "show", "-limit", "-1"}, 2, "-limit -1: give 1 to 1000"},
		{"show -h", []string{"audit", "show", "-h"}, 0, ""},
		{"audit -h", []string{"audit", "-h"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := riskctl(t, map[string]string{"FENGQIAO_SERVER": "http://127.0.0.1:1"}, tc.args...)
			if r.code != tc.code || !strings.Contains(r.errout, tc.errout) {
				t.Errorf("want exit %d and …%s… on stderr\n%s", tc.code, tc.errout, r)
			}
			if tc.code == 0 && !strings.Contains(r.out, "show lists audit entries") {
				t.Errorf("the usage is not on stdout\n%s", r)
			}
		})
	}
	if r := riskctl(t, nil, "help"); !strings.Contains(r.out, "riskctl audit verify") || !strings.Contains(r.out, "FENGQIAO_TOKEN") {
		t.Errorf("riskctl help does not mention audit and the token\n%s", r)
	}
}
