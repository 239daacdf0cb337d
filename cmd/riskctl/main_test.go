package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fengqiao/rules"
)

const fixtureRules = "../../fixtures/rules"

// result is what one run of riskctl did.
type result struct {
	code        int
	out, errout string
}

// riskctl runs the command with args and a map-backed environment.
func riskctl(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb, func(k string) string { return env[k] })
	return result{code, out.String(), errb.String()}
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.errout
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
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

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name         string
		args         []string
		code         int
		usageOn      string // "stdout" or "stderr"
		stderrSubstr string
	}{
		{"no command", nil, 2, "stderr", ""},
		{"an unknown command", []string{"frobnicate"}, 2, "stderr", ""},
		{"rules without lint", []string{"rules", "check", fixtureRules}, 2, "stderr", ""},
		{"rules lint without a directory", []string{"rules", "lint"}, 2, "stderr", ""},
		{"rules lint with two directories", []string{"rules", "lint", "a", "b"}, 2, "stderr", ""},
		{"send without a file", []string{"send"}, 2, "stderr", ""},
		{"subject without a ref", []string{"subject", "person"}, 2, "stderr", ""},
		{"history with too many arguments", []string{"history", "person", "p", "q"}, 2, "stderr", ""},
		{"an unknown flag is named", []string{"-verbose", "subject", "person", "p"}, 2, "stderr", "flag provided but not defined: -verbose"},
		{"-server without its value", []string{"-server"}, 2, "stderr", "flag needs an argument: -server"},
		{"-server after the command is not a flag", []string{"subject", "-server", "http://x", "person", "p"}, 2, "stderr", ""},
		{"help", []string{"help"}, 0, "stdout", ""},
		{"-h", []string{"-h"}, 0, "stdout", ""},
		{"--help", []string{"--help"}, 0, "stdout", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := riskctl(t, nil, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			usageIn, other := r.errout, r.out
			if tc.usageOn == "stdout" {
				usageIn, other = r.out, r.errout
			}
			if !strings.Contains(usageIn, "Usage:\n  riskctl rules lint DIR") {
				t.Errorf("the usage is not on %s\n%s", tc.usageOn, r)
			}
			if strings.Count(r.out+r.errout, "Usage:") != 1 {
				t.Errorf("the usage is printed more than once\n%s", r)
			}
			if other != "" {
				t.Errorf("unexpected output on the other stream\n%s", r)
			}
			if !strings.Contains(r.errout, tc.stderrSubstr) {
				t.Errorf("stderr does not contain %q\n%s", tc.stderrSubstr, r)
			}
		})
	}
}

func TestRulesLintTheFixtures(t *testing.T) {
	r := riskctl(t, nil, "rules", "lint", fixtureRules)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.code, r)
	}
	rs, err := rules.LoadDir(fixtureRules)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("ruleset %s: %d rules, %d features, %d keyword lists: ok\n", rs.Version, len(rs.Rules), len(rs.Features), len(rs.Keywords)) +
		"overlay 990103000000 (990103000000.yaml): 37 rules: ok\n" +
		"overlay 990103100000 (990103100000.yaml): 37 rules: ok\n"
	if r.out != want {
		t.Errorf("stdout = %q, want %q", r.out, want)
	}
	if r.errout != "" {
		t.Errorf("stderr = %q, want nothing", r.errout)
	}
}

func TestRulesLintReportsEveryProblem(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtureRules, "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	good := string(b)
	replace := func(src, old, new string) string {
		t.Helper()
		if !strings.Contains(src, old) {
			t.Fatalf("the fixture no longer contains %q", old)
		}
		return strings.Replace(src, old, new, 1)
	}

	// Problems the expressions' compiler finds.
	compileBad := replace(good, "when: features.hotline_7d >= 3", "when: features.nope > 1")
	compileBad = replace(compileBad, "when: features.wages_30d > 0", "when: features.wages_30d +")
	// Problems the loader finds, before anything is compiled.
	loadBad := replace(good, "at_least: orange", "at_least: purple")
	loadBad = replace(loadBad, "  - id: hotline-repeat", "  - id: land-transfer")

	for _, tc := range []struct {
		name  string
		src   string
		lines func(path string) []string // every problem, in order
	}{
		{"undeclared features and bad syntax", compileBad, func(p string) []string {
			return []string{
				p + ":" + strconv.Itoa(lineOf(t, compileBad, "features.wages_30d +")) + ": rule wage-arrears: when: unexpected token",
				p + ":" + strconv.Itoa(lineOf(t, compileBad, "features.nope > 1")) + `: rule hotline-repeat: when: feature "nope" is not declared under features`,
			}
		}},
		{"a bad level and a duplicate id", loadBad, func(p string) []string {
			return []string{
				p + ":" + strconv.Itoa(lineOf(t, loadBad, "  - id: threat-language")) + ": rule threat-language: at_least: ",
				// The second land-transfer is where hotline-repeat was.
				p + ":" + strconv.Itoa(lineOf(t, good, "  - id: hotline-repeat")) + ": rule land-transfer: duplicate rule id, first defined in " +
					p + ":" + strconv.Itoa(lineOf(t, loadBad, "  - id: land-transfer")),
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "default.yaml", tc.src)
			r := riskctl(t, nil, "rules", "lint", dir)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s", r.code, r)
			}
			if r.out != "" {
				t.Errorf("stdout = %q, want nothing", r.out)
			}
			got := strings.Split(strings.TrimSuffix(r.errout, "\n"), "\n")
			want := tc.lines(path)
			if len(got) != len(want)+1 {
				t.Fatalf("stderr has %d lines, want %d problems and a count:\n%s", len(got), len(want), r.errout)
			}
			for i, w := range want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("line %d = %q, want it to start %q", i+1, got[i], w)
				}
			}
			if last, want := got[len(got)-1], strconv.Itoa(len(want))+" problems"; last != want {
				t.Errorf("last line = %q, want %q", last, want)
			}
		})
	}
}

func TestRulesLintErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		want string
	}{
		{"a directory that does not exist", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			"riskctl: read rules directory: "},
		{"a directory without rules files", func(t *testing.T) string { return t.TempDir() },
			"riskctl: no rules files (*.yaml) in "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := riskctl(t, nil, "rules", "lint", tc.dir(t))
			if r.code != 1 || !strings.HasPrefix(r.errout, tc.want) || r.out != "" {
				t.Errorf("want exit 1 and stderr starting %q\n%s", tc.want, r)
			}
		})
	}
}

// fakeRiskd answers like riskd's API and records what it was asked.
type fakeRiskd struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string // "METHOD escaped-path content-type body"
}

func newFakeRiskd(t *testing.T, unit string) *fakeRiskd {
	t.Helper()
	f := &fakeRiskd{}
	answer := func(w http.ResponseWriter, code int, body string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/signals", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch {
		case strings.Contains(string(b), `"bad"`):
			answer(w, http.StatusBadRequest, `{"error":"refused whole, nothing was stored: occurred_at: is in the future","field":"occurred_at","errors":[{"field":"occurred_at","message":"is in the future"}]}`)
		case strings.Contains(string(b), `"proxy"`):
			answer(w, http.StatusBadGateway, `upstream went away`)
		case strings.Contains(string(b), `"garbled"`):
			answer(w, http.StatusAccepted, `{"accepted":`)
		default:
			answer(w, http.StatusAccepted, `{"accepted":[
				{"source":"hotline","id":"12345-1","duplicate":false,"subjects":[{"kind":"person","ref":"p-7f3a"},{"kind":"dispute","ref":"TZ-1"}]},
				{"source":"hotline","id":"12345-2","duplicate":true,"subjects":[{"kind":"person","ref":"p-7f3a"}]}]}`)
		}
	})
	mux.HandleFunc("GET /api/v1/subjects/{kind}/{ref}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("ref") {
		case "p-7f3a", "a b/c":
			answer(w, http.StatusOK, `{"subject":{"kind":"person","ref":"p-7f3a"},"unit":"`+unit+`","level":"orange","score":45,
				"fired":[{"id":"threat-language","name":"扬言极端","points":45,"at_least":"orange"}],
				"ruleset_version":"2026.11-1","assessed_at":"2026-11-19T09:02:00Z",
				"explanation":"橙色(得分 45): 扬言极端 +45(至少橙色)","updated_at":"2026-11-19T09:02:01Z"}`)
		default:
			answer(w, http.StatusNotFound, `{"error":"no such subject: it has not been scored yet"}`)
		}
	})
	mux.HandleFunc("GET /api/v1/subjects/{kind}/{ref}/history", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("kind") != "person" && r.PathValue("kind") != "dispute" {
			answer(w, http.StatusBadRequest, `{"error":"kind must be person or dispute","field":"kind"}`)
			return
		}
		answer(w, http.StatusOK, `{"subject":{"kind":"person","ref":"p-7f3a"},"changes":[
			{"from":"yellow","to":"orange","at":"2026-11-19T09:02:00Z","signal":"hotline:12345-2","explanation":"橙色(得分 45)"},
			{"to":"yellow","at":"2026-11-15T06:12:00Z","signal":"hotline:12345-1","explanation":"黄色(得分 40)"}]}`)
	})
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, r.Method+" "+r.URL.EscapedPath()+" "+r.Header.Get("Content-Type")+" "+string(b))
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRiskd) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

func TestSend(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.json", `[{"source":"hotline","id":"12345-1"},{"source":"hotline","id":"12345-2"}]`)
	bad := writeFile(t, dir, "bad.json", `{"source":"hotline","id":"bad"}`)
	proxy := writeFile(t, dir, "proxy.json", `{"id":"proxy"}`)
	garbled := writeFile(t, dir, "garbled.json", `{"id":"garbled"}`)
	const (
		acceptedLines = "hotline:12345-1 accepted → person/p-7f3a dispute/TZ-1\n" +
			"hotline:12345-2 duplicate, ignored → person/p-7f3a\n"
		refusedLines = "  {\n" +
			`    "error": "refused whole, nothing was stored: occurred_at: is in the future",` + "\n" +
			`    "field": "occurred_at",` + "\n" +
			`    "errors": [` + "\n" +
			"      {\n" +
			`        "field": "occurred_at",` + "\n" +
			`        "message": "is in the future"` + "\n" +
			"      }\n" +
			"    ]\n" +
			"  }\n"
	)
	for _, tc := range []struct {
		name   string
		files  []string
		code   int
		out    string
		errout string
		posts  int
	}{
		{"accepted signals, one of them a duplicate", []string{good}, 0, acceptedLines, "", 1},
		{"a refusal shows riskd's answer and fails", []string{bad}, 1,
			bad + ": refused (400)\n" + refusedLines, "riskctl: 1 of 1 files refused\n", 1},
		{"every file is sent even after a refusal", []string{bad, good}, 1,
			bad + ": refused (400)\n" + refusedLines + acceptedLines, "riskctl: 1 of 2 files refused\n", 2},
		{"an answer that is not JSON is shown as it is", []string{proxy}, 1,
			proxy + ": refused (502)\n  upstream went away\n", "riskctl: 1 of 1 files refused\n", 1},
		{"an accepted answer that cannot be read", []string{garbled}, 1,
			"", "riskctl: " + garbled + ": unexpected answer: ", 1},
		{"a file that cannot be read stops the command", []string{filepath.Join(dir, "missing.json"), good}, 1,
			"", "riskctl: open " + filepath.Join(dir, "missing.json") + ": ", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeRiskd(t, "990102001001")
			r := riskctl(t, nil, append([]string{"-server", srv.URL, "send"}, tc.files...)...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			if r.out != tc.out {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.out, tc.out)
			}
			if !strings.HasPrefix(r.errout, tc.errout) || (tc.errout == "" && r.errout != "") {
				t.Errorf("stderr = %q, want it to start %q", r.errout, tc.errout)
			}
			reqs := srv.requests()
			if len(reqs) != tc.posts {
				t.Fatalf("riskd got %d requests, want %d: %q", len(reqs), tc.posts, reqs)
			}
			for i, req := range reqs {
				body, _ := os.ReadFile(tc.files[i])
				if want := "POST /api/v1/signals application/json " + string(body); req != want {
					t.Errorf("request %d = %q, want %q", i, req, want)
				}
			}
		})
	}
}

func TestSubjectAndHistory(t *testing.T) {
	loc := func(s string) string {
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return at.Local().Format("2006-01-02 15:04")
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		out    string
		errout string
		path   string
	}{
		{"a subject's level and why", []string{"subject", "person", "p-7f3a"}, 0,
			"person/p-7f3a  orange  unit 990102001001  ruleset 2026.11-1\n橙色(得分 45): 扬言极端 +45(至少橙色)\n", "",
			"/api/v1/subjects/person/p-7f3a"},
		{"a subject not scored yet", []string{"subject", "dispute", "TZ-404"}, 1,
			"", "riskctl: dispute/TZ-404: no such subject: it has not been scored yet (404)\n",
			"/api/v1/subjects/dispute/TZ-404"},
		{"the ref is escaped in the path", []string{"subject", "person", "a b/c"}, 0,
			"person/a b/c  orange  unit 990102001001  ruleset 2026.11-1\n橙色(得分 45): 扬言极端 +45(至少橙色)\n", "",
			"/api/v1/subjects/person/a%20b%2Fc"},
		{"a subject's level changes, the first from (new)", []string{"history", "person", "p-7f3a"}, 0,
			loc("2026-11-19T09:02:00Z") + "  yellow → orange  橙色(得分 45)  [hotline:12345-2]\n" +
				loc("2026-11-15T06:12:00Z") + "  (new) → yellow  黄色(得分 40)  [hotline:12345-1]\n", "",
			"/api/v1/subjects/person/p-7f3a/history"},
		{"a bad kind is refused", []string{"history", "thing", "x"}, 1,
			"", "riskctl: thing/x: kind must be person or dispute (400)\n",
			"/api/v1/subjects/thing/x/history"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeRiskd(t, "990102001001")
			r := riskctl(t, nil, append([]string{"-server", srv.URL}, tc.args...)...)
			if r.code != tc.code || r.out != tc.out || r.errout != tc.errout {
				t.Errorf("got\n%s\nwant exit %d\n--- stdout:\n%s--- stderr:\n%s", r, tc.code, tc.out, tc.errout)
			}
			reqs := srv.requests()
			if want := "GET " + tc.path + " application/json "; len(reqs) != 1 || reqs[0] != want {
				t.Errorf("requests %q, want [%q]", reqs, want)
			}
		})
	}
}

func TestServerAddress(t *testing.T) {
	fromFlag := newFakeRiskd(t, "flag")
	fromEnv := newFakeRiskd(t, "env")
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		unit string // which server answered; "" when none could
	}{
		{"FENGQIAO_SERVER", map[string]string{"FENGQIAO_SERVER": fromEnv.URL}, nil, "env"},
		{"FENGQIAO_SERVER with a trailing slash", map[string]string{"FENGQIAO_SERVER": fromEnv.URL + "/"}, nil, "env"},
		{"-server", nil, []string{"-server", fromFlag.URL}, "flag"},
		{"-server=URL/", nil, []string{"-server=" + fromFlag.URL + "/"}, "flag"},
		{"-server overrides FENGQIAO_SERVER", map[string]string{"FENGQIAO_SERVER": fromEnv.URL}, []string{"-server", fromFlag.URL}, "flag"},
		{"a riskd that is not there", map[string]string{"FENGQIAO_SERVER": gone.URL}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := riskctl(t, tc.env, append(tc.args, "subject", "person", "p-7f3a")...)
			if tc.unit == "" {
				want := "riskctl: riskd at " + gone.URL + " is not reachable: "
				if r.code != 1 || !strings.HasPrefix(r.errout, want) {
					t.Errorf("want exit 1 and stderr starting %q\n%s", want, r)
				}
				return
			}
			if want := "unit " + tc.unit + " "; r.code != 0 || !strings.Contains(r.out, want) {
				t.Errorf("want exit 0 and an answer from the %s server\n%s", tc.unit, r)
			}
		})
	}
}
