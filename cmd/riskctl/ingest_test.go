package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fengqiao/jurisdiction"
	"fengqiao/signals"
)

// ledgerRiskd is a stand-in for riskd's POST /api/v1/signals: it decodes and
// validates batches with the real decoder and validator over the fixture
// jurisdiction, answers a dry run with 200 {"valid": n}, stores the rest
// once per signal key, and refuses a bad batch whole with 400 and every
// error, as riskd does.
type ledgerRiskd struct {
	t  *testing.T
	v  *signals.Validator
	mu sync.Mutex
	// what it received and kept
	stored    map[string]signals.Signal
	dryRuns   int
	stores    int
	batchSize []int
	// how it misbehaves
	busy        int    // answer this many requests 503 first
	refuseUnit  string // refuse signals of this unit when storing (not on a dry run)
	refuseWhole bool   // refuse every batch with an error not tied to a signal
}

func newLedgerRiskd(t *testing.T) (*ledgerRiskd, string) {
	t.Helper()
	tree, err := jurisdiction.Load("../../fixtures/jurisdiction.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := &ledgerRiskd{t: t, stored: map[string]signals.Signal{}, v: &signals.Validator{
		KnownUnit:  func(code string) bool { _, ok := tree.Unit(code); return ok },
		Categories: signals.DefaultCategories,
		Now:        func() time.Time { return time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC) },
	}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *ledgerRiskd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/signals" {
		reply(http.StatusNotFound, map[string]string{"error": "no such endpoint"})
		return
	}
	if f.busy > 0 {
		f.busy--
		reply(http.StatusServiceUnavailable, map[string]string{"error": "the service could not store signals just now; nothing was changed, please retry"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	dry := r.URL.Query().Get("dry_run") == "true"
	refuse := func(errs []signals.FieldError) {
		reply(http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("refused whole, nothing was stored: %d problems", len(errs)), "errors": errs})
	}
	sigs, err := signals.Decode(body)
	if err != nil {
		var ve *signals.ValidationError
		if !errors.As(err, &ve) {
			f.t.Errorf("decode: %v", err)
		}
		refuse(ve.Errors)
		return
	}
	if f.refuseWhole {
		refuse([]signals.FieldError{{Field: "", Message: "the batch is refused"}})
		return
	}
	var problems []signals.FieldError
	seen := map[string]int{}
	for i := range sigs {
		prefix := fmt.Sprintf("[%d].", i)
		problems = append(problems, f.v.Validate(&sigs[i], prefix)...)
		if j, dup := seen[sigs[i].Key()]; dup && sigs[i].ID != "" {
			problems = append(problems, signals.FieldError{Field: prefix + "id", Message: fmt.Sprintf("repeats the source and id of signal [%d] in this batch", j)})
		}
		seen[sigs[i].Key()] = i
		if !dry && sigs[i].Unit == f.refuseUnit {
			problems = append(problems, signals.FieldError{Field: prefix + "unit", Message: "is not a unit code of the jurisdiction"})
		}
	}
	if dry {
		f.dryRuns++
	}
	if len(problems) > 0 {
		refuse(problems)
		return
	}
	if dry {
		reply(http.StatusOK, map[string]int{"valid": len(sigs), "stored": 0})
		return
	}
	f.stores++
	f.batchSize = append(f.batchSize, len(sigs))
	type accepted struct {
		Source    string `json:"source"`
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	}
	out := make([]accepted, len(sigs))
	for i, s := range sigs {
		_, dup := f.stored[s.Key()]
		if !dup {
			f.stored[s.Key()] = s
		}
		out[i] = accepted{string(s.Source), s.ID, dup}
	}
	reply(http.StatusAccepted, map[string]any{"accepted": out})
}

func (f *ledgerRiskd) count() (stored, dryRuns, stores int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.stored), f.dryRuns, f.stores
}

// ledgerCopy copies a sample ledger into a fresh directory, so that the
// rejected file is written there.
func ledgerCopy(t *testing.T, ext string) string {
	t.Helper()
	b, err := os.ReadFile("../../fixtures/ledgers/ledger-2026-11" + ext)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ledger-2026-11"+ext)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runIngest(t *testing.T, server string, args ...string) result {
	t.Helper()
	ingestRetryWait = time.Millisecond
	var out, errb bytes.Buffer
	code := run(append([]string{"-server", server, "ingest"}, args...), &out, &errb, func(string) string { return "" })
	r := result{code, out.String(), errb.String()}
	if personal.MatchString(r.out + r.errout) {
		t.Errorf("the output shows an ID or phone number:\n%s", r)
	}
	return r
}

// personal matches what looks like a resident ID number or a mobile number.
var personal = regexp.MustCompile(`\d{17}[\dXx]|1[3-9]\d{9}`)

// The sample ledgers' bad rows, as docs/ledger.md lists them.
var ledgerBadRows = []string{
	"row 24: 身份证号(第1人): check digit is wrong (GB 11643): please re-check the number",
	"row 67: 所属单位代码: is not a unit code of the jurisdiction: use the 12-digit code of a village, township, county or city (or a grid's 15)",
	"row 111: 纠纷类别: is not a known category: use one of 婚姻家庭, 邻里, 土地承包/流转, 征地拆迁, 劳动/欠薪, 物业, 医疗, 交通事故, 消费, 金融/涉众, 环境, 校园, 其他",
	"row 158: 登记日期: is not a date: use e.g. 2026-11-03, 2026/11/3 or 2026-11-03 14:20 (Beijing time)",
	"row 199: 台账编号: is required: the row's ledger number, which makes re-importing it harmless",
}

func problemLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if i := strings.Index(l, "row "); i >= 0 && !strings.Contains(l, "\r") {
			out = append(out, l[i:])
		}
	}
	return out
}

func TestIngestLoadsNothingFromABadFile(t *testing.T) {
	for _, ext := range []string{".csv", ".jsonl", ".xlsx"} {
		t.Run(ext, func(t *testing.T) {
			fake, url := newLedgerRiskd(t)
			file := ledgerCopy(t, ext)
			r := runIngest(t, url, "--source", "ledger", file)
			if r.code != 1 {
				t.Errorf("exit %d, want 1\n%s", r.code, r)
			}
			want := slices.Clone(ledgerBadRows)
			if ext == ".jsonl" { // JSONL rows are lines: one less than the sheet's row
				for i, l := range want {
					var n int
					fmt.Sscanf(l, "row %d:", &n)
					want[i] = fmt.Sprintf("row %d:", n-1) + strings.SplitN(l, ":", 2)[1]
				}
			}
			if got := problemLines(r.errout); !slices.Equal(got, want) {
				t.Errorf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if r.out != "nothing was loaded: 5 of 212 rows are invalid; fix them, or load the rest with -skip-invalid\n" {
				t.Errorf("stdout %q", r.out)
			}
			if stored, dry, stores := fake.count(); stored != 0 || stores != 0 || dry == 0 {
				t.Errorf("stored %d signals in %d requests after %d dry runs; want none after a dry run", stored, stores, dry)
			}
			if _, err := os.Stat(file + ".rejected.csv"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a rejected file was written without -skip-invalid: %v", err)
			}
		})
	}
}

func TestIngestSkipInvalid(t *testing.T) {
	fake, url := newLedgerRiskd(t)
	file := ledgerCopy(t, ".csv")
	r := runIngest(t, url, "--source", "ledger", "--skip-invalid", file)
	if r.code != 0 || r.out != fmt.Sprintf("accepted 207, duplicates 0, rejected 5 (see %s.rejected.csv)\n", file) {
		t.Fatalf("first load:\n%s", r)
	}
	if got := problemLines(r.errout); !slices.Equal(got, ledgerBadRows) {
		t.Errorf("problems\n%s", strings.Join(got, "\n"))
	}
	if !strings.Contains(r.errout, "\r导入 [##############################] 207/207") {
		t.Errorf("no finished progress bar:\n%s", r.errout)
	}
	if stored, _, _ := fake.count(); stored != 207 {
		t.Errorf("stored %d signals, want 207", stored)
	}
	fake.mu.Lock()
	s := fake.stored["ledger:TZ-990102001-2026-0130"]
	fake.mu.Unlock()
	if s.DisputeID != "TZ-990102001-2026-0019" || s.LedgerStatus != "化解中" || s.Amount != 820000 || len(s.Persons) != 1 {
		t.Errorf("row 191 was stored as %+v", s)
	}

	// The rejected rows, as they were, with their row and reasons.
	b, err := os.ReadFile(file + ".rejected.csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 || !slices.Equal(recs[0][len(recs[0])-2:], []string{"原行号", "错误原因"}) {
		t.Fatalf("rejected file: %q", recs)
	}
	for i, rec := range recs[1:] {
		got := "row " + rec[len(rec)-2] + ": " + rec[len(rec)-1]
		if got != ledgerBadRows[i] {
			t.Errorf("rejected row %d: %q, want %q", i, got, ledgerBadRows[i])
		}
	}

	// Loading it again, in any format, changes nothing.
	for _, ext := range []string{".csv", ".xlsx", ".jsonl"} {
		again := ledgerCopy(t, ext)
		r = runIngest(t, url, "-skip-invalid", again)
		if r.code != 0 || r.out != fmt.Sprintf("accepted 0, duplicates 207, rejected 5 (see %s.rejected.csv)\n", again) {
			t.Errorf("%s again:\n%s", ext, r)
		}
	}
	if stored, _, _ := fake.count(); stored != 207 {
		t.Errorf("stored %d signals, want 207", stored)
	}
}

func TestIngestFixedRejectedFileLoads(t *testing.T) {
	fake, url := newLedgerRiskd(t)
	file := ledgerCopy(t, ".xlsx")
	if r := runIngest(t, url, "-skip-invalid", "-rejected", filepath.Join(filepath.Dir(file), "bad.csv"), file); r.code != 0 {
		t.Fatal(r)
	}
	// Fix the five rows in the rejected file, as a person would in Excel.
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "bad.csv"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))).ReadAll()
	if err != nil || len(recs) != 6 {
		t.Fatalf("rejected file: %v, %d records", err, len(recs))
	}
	col := func(h string) int { return slices.Index(recs[0], h) }
	recs[1][col("身份证号")] = "" // the wrong check digit: give phones instead
	recs[1][col("联系电话")] = "13900019998、13900019999"
	recs[2][col("所属单位代码")] = "990102002002"
	recs[3][col("纠纷类别")] = "邻里"
	recs[4][col("登记日期")] = "2026-11-20"
	recs[5][col("台账编号")] = "TZ-990102002-2026-0199"
	var out bytes.Buffer
	_ = csv.NewWriter(&out).WriteAll(recs)
	fixedFile := writeIngestFile(t, "fixed.csv", out.String())
	r := runIngest(t, url, fixedFile)
	if r.code != 0 || r.out != "accepted 5, duplicates 0, rejected 0\n" {
		t.Errorf("fixed file:\n%s", r)
	}
	if stored, _, _ := fake.count(); stored != 212 {
		t.Errorf("stored %d, want 212", stored)
	}
}

func writeIngestFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIngestBatches(t *testing.T) {
	fake, url := newLedgerRiskd(t)
	fake.busy = 2 // riskd is busy for the first two tries: ingest waits and tries again
	r := runIngest(t, url, "-skip-invalid", "-batch", "50", ledgerCopy(t, ".jsonl"))
	if r.code != 0 || !strings.HasPrefix(r.out, "accepted 207, duplicates 0, rejected 5") {
		t.Fatal(r)
	}
	_, dry, stores := fake.count()
	if dry != 5 || stores != 5 || !slices.Equal(fake.batchSize, []int{50, 50, 50, 50, 7}) {
		t.Errorf("%d dry runs, %d stores of %v; want 5 of 50 rows or fewer each", dry, stores, fake.batchSize)
	}
	for _, want := range []string{"\r校验 [#######.......................] 50/212", "\r导入 [#######.......................] 50/207", "\r导入 [##############################] 207/207\n"} {
		if !strings.Contains(r.errout, want) {
			t.Errorf("stderr has no %q:\n%s", want, r.errout)
		}
	}
}

func TestIngestRowsRefusedWhileLoading(t *testing.T) {
	// riskd's jurisdiction changes between the check and the load: the rows
	// of one village are refused then, and reported like the other bad rows;
	// the rest of their batch is loaded all the same.
	fake, url := newLedgerRiskd(t)
	fake.refuseUnit = "990101100201"
	r := runIngest(t, url, "-skip-invalid", "-batch", "20", ledgerCopy(t, ".csv"))
	refused := 0
	for _, l := range problemLines(r.errout) {
		if strings.HasSuffix(l, "所属单位代码: is not a unit code of the jurisdiction") {
			refused++
		}
	}
	stored, _, _ := fake.count()
	if r.code != 0 || refused == 0 || stored+refused != 207 || !strings.Contains(r.out, fmt.Sprintf("accepted %d, duplicates 0, rejected %d (see ", stored, 5+refused)) {
		t.Errorf("%d refused while loading, %d stored:\n%s", refused, stored, r)
	}

	// Without -skip-invalid, the good rows are loaded too (the check had
	// passed), but ingest says what was refused and fails.
	fake, url = newLedgerRiskd(t)
	fake.refuseUnit = "990101100201"
	head := strings.Join(baseLedgerHeader, ",")
	file := writeIngestFile(t, "small.csv", head+"\n"+
		"TZ-1,2026-11-03,990101100201,邻里,未化解,张国强,13900019997\n"+
		"TZ-2,2026-11-03,990101100202,邻里,未化解,李秀芳,13900019998\n"+
		"TZ-3,2026-11-03,990101100001,邻里,未化解,王有福,13900019999\n")
	r = runIngest(t, url, file)
	if stored, _, _ := fake.count(); r.code != 1 || stored != 2 || r.out != "accepted 2, duplicates 0, rejected 1\n" ||
		!strings.Contains(r.errout, "row 2: 所属单位代码: is not a unit code of the jurisdiction\n") {
		t.Errorf("without -skip-invalid: %d stored:\n%s", stored, r)
	}
}

var baseLedgerHeader = []string{"台账编号", "登记日期", "所属单位代码", "纠纷类别", "化解状态", "当事人姓名", "联系电话"}

func TestIngestUsageAndFileErrors(t *testing.T) {
	_, url := newLedgerRiskd(t)
	dir := t.TempDir()
	noUnit := filepath.Join(dir, "no-unit.csv")
	if err := os.WriteFile(noUnit, []byte("台账编号,登记日期,纠纷类别,化解状态\nTZ-1,2026-11-03,邻里,未化解\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	headerOnly := filepath.Join(dir, "empty.csv")
	if err := os.WriteFile(headerOnly, []byte("台账编号,登记日期,所属单位代码,纠纷类别,化解状态\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string // on stderr, or stdout for -h
	}{
		{[]string{}, 2, "Usage: riskctl [-server URL] ingest [flags] FILE"},
		{[]string{"a.csv", "b.csv"}, 2, "Usage: riskctl [-server URL] ingest"},
		{[]string{"-h"}, 0, "Usage: riskctl [-server URL] ingest"},
		{[]string{"-nonsense", "a.csv"}, 2, "flag provided but not defined: -nonsense"},
		{[]string{"--source", "petition", "a.csv"}, 2, "only -source ledger is supported for now"},
		{[]string{"--batch", "1001", "a.csv"}, 2, "-batch must be from 1 to 1000"},
		{[]string{"--batch", "0", "a.csv"}, 2, "-batch must be from 1 to 1000"},
		{[]string{"ledger.xls"}, 2, ".xls files are not supported: save the sheet as .xlsx or CSV"},
		{[]string{"ledger"}, 2, "give --format csv, jsonl or xlsx"},
		{[]string{"--format", "csv", filepath.Join(dir, "missing")}, 1, "no such file"},
		{[]string{noUnit}, 1, "header row 1: missing required column 所属单位代码"},
		{[]string{headerOnly}, 1, "has a header but no rows: nothing to load"},
		{[]string{"--format", "xlsx", noUnit}, 1, "the file is not an Excel workbook"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runIngest(t, url, tc.args...)
			where := r.errout
			if tc.code == 0 {
				where = r.out
			}
			if r.code != tc.code || !strings.Contains(where, tc.out) {
				t.Errorf("want exit %d and %q\n%s", tc.code, tc.out, r)
			}
		})
	}
}

func TestIngestServerProblems(t *testing.T) {
	file := ledgerCopy(t, ".csv")
	fake, url := newLedgerRiskd(t)
	fake.busy = 100
	r := runIngest(t, url, file)
	if r.code != 1 || !strings.Contains(r.errout, "riskd answered 503: the service could not store signals just now") {
		t.Errorf("busy riskd:\n%s", r)
	}
	fake.busy, fake.refuseWhole = 0, true
	r = runIngest(t, url, file)
	if r.code != 1 || !strings.Contains(r.errout, "riskd refused a batch: refused whole") {
		t.Errorf("refused batch:\n%s", r)
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	r = runIngest(t, gone.URL, file)
	if r.code != 1 || !strings.Contains(r.errout, "is not reachable") {
		t.Errorf("no riskd:\n%s", r)
	}
	notRiskd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "<html>", http.StatusForbidden) }))
	defer notRiskd.Close()
	r = runIngest(t, notRiskd.URL, file)
	if r.code != 1 || !strings.Contains(r.errout, "riskd answered 403: is -server riskd's address?") {
		t.Errorf("not riskd:\n%s", r)
	}
}
