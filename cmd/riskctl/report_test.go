package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// request is what riskd was asked.
type request struct {
	method, target, body string
}

// reportServer is a riskd that answers the report and zero-report calls
// with canned answers: answer[path] is the status and body of a path.
type reportServer struct {
	*httptest.Server
	asked  []request
	answer map[string]cannedAnswer
}

type cannedAnswer struct {
	code int
	body string
}

func newReportServer(t *testing.T) (*reportServer, map[string]string) {
	rs := &reportServer{answer: map[string]cannedAnswer{}}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error": "a bearer token is required"}`))
			return
		}
		b, _ := io.ReadAll(r.Body)
		rs.asked = append(rs.asked, request{r.Method, r.URL.RequestURI(), string(b)})
		a, ok := rs.answer[r.URL.Path]
		if !ok {
			a = cannedAnswer{http.StatusNotFound, `{"error": "no such path"}`}
		}
		w.WriteHeader(a.code)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(rs.Close)
	return rs, map[string]string{"FENGQIAO_SERVER": rs.URL, "FENGQIAO_TOKEN": "tok"}
}

// last is the last request riskd was asked, failing when there was none.
func (rs *reportServer) last(t *testing.T) request {
	t.Helper()
	if len(rs.asked) == 0 {
		t.Fatal("riskd was asked nothing")
	}
	return rs.asked[len(rs.asked)-1]
}

const dailyMarkdown = "# 枫桥镇 日报 2026-11-23\n\n## 风险分布\n"

func TestReportDaily(t *testing.T) {
	rs, env := newReportServer(t)
	rs.answer["/api/v1/reports/daily"] = cannedAnswer{200, strings.TrimSuffix(dailyMarkdown, "\n")}

	r := riskctl(t, env, "report", "daily", "-unit", "990101100000", "-date", "2026-11-23")
	if r.code != 0 || r.out != dailyMarkdown {
		t.Errorf("md:\n%s", r)
	}
	if got, want := rs.last(t), (request{"GET", "/api/v1/reports/daily?date=2026-11-23&format=md&unit=990101100000", ""}); got != want {
		t.Errorf("md asked %+v, want %+v", got, want)
	}

	// The default date is today in Beijing: 2026-11-22 17:00 UTC is 11-23 01:00 there.
	defer func(f func() time.Time) { reportNow = f }(reportNow)
	reportNow = func() time.Time { return time.Date(2026, 11, 22, 17, 0, 0, 0, time.UTC) }
	rs.answer["/api/v1/reports/daily"] = cannedAnswer{200, `{"unit": "990101100000", "date": "2026-11-23"}` + "\n"}
	r = riskctl(t, env, "report", "daily", "-unit", "990101100000", "-format", "json")
	if r.code != 0 || r.out != `{"unit": "990101100000", "date": "2026-11-23"}`+"\n" {
		t.Errorf("json:\n%s", r)
	}
	if got := rs.last(t).target; got != "/api/v1/reports/daily?date=2026-11-23&format=json&unit=990101100000" {
		t.Errorf("json asked %s", got)
	}

	// csv and xlsx go to a file.
	xlsx := "PK\x03\x04 not really a workbook \x00\xff"
	rs.answer["/api/v1/reports/daily"] = cannedAnswer{200, xlsx}
	out := filepath.Join(t.TempDir(), "日报.xlsx")
	r = riskctl(t, env, "report", "daily", "-unit", "990101100000", "-date", "2026-11-20", "-format", "xlsx", "-o", out)
	if b, _ := os.ReadFile(out); r.code != 0 || string(b) != xlsx || r.out != "已写入 "+out+" ("+strconv.Itoa(len(xlsx))+" 字节)\n" {
		t.Errorf("xlsx to %s (%q):\n%s", out, b, r)
	}
	if got := rs.last(t).target; got != "/api/v1/reports/daily?date=2026-11-20&format=xlsx&unit=990101100000" {
		t.Errorf("xlsx asked %s", got)
	}
	// The format follows the file's extension when -format is left out.
	out = filepath.Join(t.TempDir(), "daily.CSV")
	rs.answer["/api/v1/reports/daily"] = cannedAnswer{200, "\uFEFF日报,单位代码\n"}
	r = riskctl(t, env, "report", "daily", "-unit", "990101100000", "-o", out)
	if b, _ := os.ReadFile(out); r.code != 0 || string(b) != "\uFEFF日报,单位代码\n" {
		t.Errorf("csv by extension:\n%s", r)
	}
	if got := rs.last(t).target; got != "/api/v1/reports/daily?date=2026-11-23&format=csv&unit=990101100000" {
		t.Errorf("csv by extension asked %s", got)
	}
	// -o - writes to stdout, as it came.
	r = riskctl(t, env, "report", "daily", "-unit", "990101100000", "-format", "csv", "-o", "-")
	if r.code != 0 || r.out != "\uFEFF日报,单位代码\n" {
		t.Errorf("csv to stdout:\n%s", r)
	}
	// md to a file.
	rs.answer["/api/v1/reports/daily"] = cannedAnswer{200, dailyMarkdown}
	out = filepath.Join(t.TempDir(), "日报.txt")
	r = riskctl(t, env, "report", "daily", "-unit", "990101100000", "-o", out)
	if b, _ := os.ReadFile(out); r.code != 0 || string(b) != dailyMarkdown || !strings.HasPrefix(r.out, "已写入 ") {
		t.Errorf("md to a file:\n%s", r)
	}
	if got := rs.last(t).target; got != "/api/v1/reports/daily?date=2026-11-23&format=md&unit=990101100000" {
		t.Errorf("md to .txt asked %s", got)
	}

	// riskd's refusal.
	rs.answer["/api/v1/reports/daily"] = cannedAnswer{403, `{"error": "990102000000 is outside your jurisdiction"}`}
	r = riskctl(t, env, "report", "daily", "-unit", "990102000000")
	if r.code != 1 || r.out != "" || r.errout != "riskctl: report: riskd refused: 990102000000 is outside your jurisdiction (403)\n" {
		t.Errorf("refused:\n%s", r)
	}
	rs.answer["/api/v1/reports/daily"] = cannedAnswer{502, `<html>bad gateway</html>`}
	if r := riskctl(t, env, "report", "daily", "-unit", "990101100000"); r.code != 1 || !strings.Contains(r.errout, "riskd refused: Bad Gateway (502)") {
		t.Errorf("502:\n%s", r)
	}
	if r := riskctl(t, map[string]string{"FENGQIAO_SERVER": rs.URL}, "report", "daily", "-unit", "990101100000"); r.code != 1 ||
		!strings.Contains(r.errout, "riskd refused: a bearer token is required (401)") {
		t.Errorf("no token:\n%s", r)
	}

	// Mistakes found before riskd is asked.
	asked := len(rs.asked)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-unit", "990101100000", "-format", "csv"}, 1, "csv 格式须用 -o 指定文件, 例如 -o 日报.csv (或 -o - 写到标准输出)"},
		{[]string{"-unit", "990101100000", "-format", "xlsx"}, 1, "xlsx 格式须用 -o 指定文件"},
		{[]string{"-unit", "990101100000", "-format", "pdf"}, 1, `-format "pdf": 请选 md、json、csv 或 xlsx`},
		{[]string{"-unit", "990101100000", "-date", "2026-11-31"}, 1, `-date "2026-11-31" 不是日期: 请写成 YYYY-MM-DD, 例如 2026-11-23`},
		{[]string{"-date", "2026-11-23"}, 1, "请用 -unit 指定单位代码, 例如 -unit 990101100000"},
		{[]string{"-unit", "990101100000", "extra"}, 1, `多余的参数 "extra"`},
		{[]string{"-bogus"}, 2, "flag provided but not defined: -bogus"},
	} {
		r := riskctl(t, env, append([]string{"report", "daily"}, tt.args...)...)
		if r.code != tt.code || !strings.Contains(r.errout, tt.want) {
			t.Errorf("%q: want exit %d and %q:\n%s", tt.args, tt.code, tt.want, r)
		}
	}
	if len(rs.asked) != asked {
		t.Errorf("riskd was asked %+v", rs.asked[asked:])
	}
	if r := riskctl(t, env, "report", "-h"); r.code != 0 || !strings.Contains(r.out, "report daily [flags]") {
		t.Errorf("report -h:\n%s", r)
	}
	if r := riskctl(t, env, "report", "weekly"); r.code != 2 || !strings.Contains(r.errout, "Usage: riskctl [-server URL] report daily") {
		t.Errorf("report weekly:\n%s", r)
	}
}

func TestZeroReportFile(t *testing.T) {
	rs, env := newReportServer(t)
	rs.answer["/api/v1/zero-reports"] = cannedAnswer{201, `{"filing": {"unit": "990101100201", "checkpoint": "2026-11-23T16:00",
	  "nothing": true, "officer": "陈立", "filed_at": "2026-11-23T15:42:00+08:00", "filed_by": "陈家村"},
	  "status": "filed", "checkpoint": {"id": "2026-11-23T16:00", "date": "2026-11-23",
	  "deadline": "2026-11-23T16:00:00+08:00", "missing_at": "2026-11-23T17:00:00+08:00"}}`}

	r := riskctl(t, env, "zero-report", "file", "-unit", "990101100201", "-officer", "陈立", "-nothing")
	if r.code != 0 || r.out != "零报告已报送: 990101100201 2026-11-23T16:00 (已报)\n" {
		t.Errorf("file nothing:\n%s", r)
	}
	want := request{"POST", "/api/v1/zero-reports", `{"unit":"990101100201","nothing":true,"officer":"陈立"}`}
	if got := rs.last(t); got != want {
		t.Errorf("file nothing asked %+v\nwant %+v", got, want)
	}

	rs.answer["/api/v1/zero-reports"] = cannedAnswer{201, `{"filing": {"unit": "990101100202", "checkpoint": "2026-10-03T09:00"},
	  "status": "filed_late", "checkpoint": {"id": "2026-10-03T09:00", "key_period": "国庆节"}}`}
	r = riskctl(t, env, "zero-report", "file", "-checkpoint", "2026-10-03T09:00", "-officer", "杜明",
		"-incident", "村民因宅基地争吵, 已劝开", "-incident", `两户 "漏水" 纠纷`, "-note", "已报镇综治中心")
	if r.code != 0 || r.out != "零报告已报送: 990101100202 2026-10-03T09:00 (迟报)\n" {
		t.Errorf("file incidents:\n%s", r)
	}
	want = request{"POST", "/api/v1/zero-reports", `{"checkpoint":"2026-10-03T09:00","nothing":false,` +
		`"incidents":[{"summary":"村民因宅基地争吵, 已劝开"},{"summary":"两户 \"漏水\" 纠纷"}],"officer":"杜明","note":"已报镇综治中心"}`}
	if got := rs.last(t); got != want {
		t.Errorf("file incidents asked %+v\nwant %+v", got, want)
	}

	rs.answer["/api/v1/zero-reports"] = cannedAnswer{400, `{"error": "officer: is longer than 30 characters"}`}
	r = riskctl(t, env, "zero-report", "file", "-officer", strings.Repeat("陈", 31), "-nothing")
	if r.code != 1 || r.errout != "riskctl: zero-report: riskd refused: officer: is longer than 30 characters (400)\n" {
		t.Errorf("refused:\n%s", r)
	}
	rs.answer["/api/v1/zero-reports"] = cannedAnswer{409, `{"error": "2026-11-21 has no checkpoint: it is not a reporting day"}`}
	r = riskctl(t, env, "zero-report", "file", "-officer", "陈立", "-nothing")
	if r.code != 1 || !strings.Contains(r.errout, "riskd refused: 2026-11-21 has no checkpoint: it is not a reporting day (409)") {
		t.Errorf("no checkpoint:\n%s", r)
	}

	asked := len(rs.asked)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-nothing"}, 1, "请用 -officer 写明签报人"},
		{[]string{"-officer", " ", "-nothing"}, 1, "请用 -officer 写明签报人"},
		{[]string{"-officer", "陈立"}, 1, "请用 -nothing 报无重大情况, 或用 -incident 逐条写明事项"},
		{[]string{"-officer", "陈立", "-nothing", "-incident", "争吵"}, 1, "-nothing (无重大情况) 与 -incident 只能选一个"},
		{[]string{"-officer", "陈立", "-incident", ""}, 2, "事项不能为空"},
		{[]string{"-officer", "陈立", "-incident", "村民", "争吵"}, 1, `多余的参数 "争吵"`},
	} {
		r := riskctl(t, env, append([]string{"zero-report", "file"}, tt.args...)...)
		if r.code != tt.code || !strings.Contains(r.errout, tt.want) {
			t.Errorf("%q: want exit %d and %q:\n%s", tt.args, tt.code, tt.want, r)
		}
	}
	if len(rs.asked) != asked {
		t.Errorf("riskd was asked %+v", rs.asked[asked:])
	}
}

func TestZeroReportStatus(t *testing.T) {
	rs, env := newReportServer(t)
	rs.answer["/api/v1/zero-reports"] = cannedAnswer{200, `{
	  "checkpoint": {"id": "2026-11-23T16:00", "deadline": "2026-11-23T08:00:00Z", "missing_at": "2026-11-23T17:00:00+08:00"},
	  "units": [
	    {"unit": "990101100000", "name": "枫桥镇", "tier": "township", "status": "filed", "filed_at": "2026-11-23T15:00:00+08:00", "officer": "王明辉"},
	    {"unit": "990101100201", "name": "陈家村", "tier": "village", "status": "filed", "filed_at": "2026-11-23T15:42:00+08:00", "officer": "陈立"},
	    {"unit": "990101100202", "name": "杜家村", "tier": "village", "status": "filed_late", "filed_at": "2026-11-23T16:20:00+08:00", "officer": "杜明"},
	    {"unit": "990101100203", "name": "栎江村", "tier": "village", "status": "missing"},
	    {"unit": "990101100204", "name": "", "tier": "village", "status": "late"},
	    {"unit": "990101101000", "name": "城东街道", "tier": "township", "status": "pending"},
	    {"unit": "990101101001", "name": "东门社区", "tier": "village", "status": "filed", "officer": "林芳"}
	  ],
	  "rollup": [
	    {"unit": "990101000000", "name": "清河县", "due": 6, "filed": 3, "filed_late": 1, "late": 1, "missing": 1, "pending": 1},
	    {"unit": "990101100000", "name": "枫桥镇", "due": 4, "filed": 1, "filed_late": 1, "late": 1, "missing": 1, "pending": 0},
	    {"unit": "990101101000", "name": "城东街道", "due": 1, "filed": 1, "filed_late": 0, "late": 0, "missing": 0, "pending": 0}
	  ]}`}

	r := riskctl(t, env, "zero-report", "status")
	want := `检查点 2026-11-23T16:00, 截止 2026-11-23 16:00, 17:00 后记为未报
清河县: 6 个单位应报, 3 已报, 1 迟报, 1 逾期未报, 1 未报, 1 待报
枫桥镇: 4 村应报, 1 已报, 1 迟报, 1 逾期未报, 1 未报
城东街道: 1 村应报, 1 已报, 0 迟报, 0 逾期未报, 0 未报
  栎江村 990101100203 未报
  990101100204 990101100204 逾期未报
  城东街道 990101101000 待报
`
	if r.code != 0 || r.out != want {
		t.Errorf("status:\n%s\nwant\n%s", r, want)
	}
	if got := rs.last(t); got != (request{"GET", "/api/v1/zero-reports", ""}) {
		t.Errorf("status asked %+v", got)
	}
	riskctl(t, env, "zero-report", "status", "-unit", "990101100000", "-checkpoint", "2026-11-23T16:00")
	if got := rs.last(t).target; got != "/api/v1/zero-reports?checkpoint=2026-11-23T16%3A00&unit=990101100000" {
		t.Errorf("status with flags asked %s", got)
	}

	rs.answer["/api/v1/zero-reports"] = cannedAnswer{400, `{"error": "2026-11-23T15:00 is not a checkpoint"}`}
	r = riskctl(t, env, "zero-report", "status", "-checkpoint", "2026-11-23T15:00")
	if r.code != 1 || r.errout != "riskctl: zero-report: riskd refused: 2026-11-23T15:00 is not a checkpoint (400)\n" {
		t.Errorf("refused:\n%s", r)
	}
}

func TestZeroReportHistory(t *testing.T) {
	rs, env := newReportServer(t)
	rs.answer["/api/v1/zero-reports/history"] = cannedAnswer{200, `{"unit": "990101100201", "name": "陈家村", "compliance": 0.9333333,
	  "checkpoints": [
	    {"checkpoint": "2026-11-23T16:00", "status": "filed", "filed_at": "2026-11-23T07:42:00Z"},
	    {"checkpoint": "2026-11-20T16:00", "status": "filed_late", "filed_at": "2026-11-20T16:30:00+08:00"},
	    {"checkpoint": "2026-11-19T16:00", "status": "missing", "filed_at": null},
	    {"checkpoint": "2026-11-18T16:00", "status": "excused"}
	  ]}`}
	r := riskctl(t, env, "zero-report", "history", "-unit", "990101100201", "-days", "30")
	want := `陈家村 990101100201 报送率 93.3% (近 30 天)
  2026-11-23T16:00  已报  2026-11-23 15:42
  2026-11-20T16:00  迟报  2026-11-20 16:30
  2026-11-19T16:00  未报
  2026-11-18T16:00  excused
`
	if r.code != 0 || r.out != want {
		t.Errorf("history:\n%s\nwant\n%s", r, want)
	}
	if got := rs.last(t); got != (request{"GET", "/api/v1/zero-reports/history?days=30&unit=990101100201", ""}) {
		t.Errorf("history asked %+v", got)
	}

	rs.answer["/api/v1/zero-reports/history"] = cannedAnswer{200, `{"unit": "990101100201", "name": "陈家村", "compliance": null, "checkpoints": []}`}
	r = riskctl(t, env, "zero-report", "history", "-unit", "990101100201")
	if r.code != 0 || r.out != "陈家村 990101100201 报送率 —\n" {
		t.Errorf("history without compliance:\n%s", r)
	}
	if got := rs.last(t).target; got != "/api/v1/zero-reports/history?unit=990101100201" {
		t.Errorf("history without -days asked %s", got)
	}
	rs.answer["/api/v1/zero-reports/history"] = cannedAnswer{200, `{"unit": "990101100201", "compliance": 1, "checkpoints": []}`}
	if r := riskctl(t, env, "zero-report", "history", "-unit", "990101100201"); r.out != "990101100201 990101100201 报送率 100%\n" {
		t.Errorf("history at 100%%:\n%s", r)
	}

	rs.answer["/api/v1/zero-reports/history"] = cannedAnswer{404, `{"error": "no unit 990101109999"}`}
	r = riskctl(t, env, "zero-report", "history", "-unit", "990101109999")
	if r.code != 1 || r.errout != "riskctl: zero-report: riskd refused: no unit 990101109999 (404)\n" {
		t.Errorf("refused:\n%s", r)
	}

	asked := len(rs.asked)
	if r := riskctl(t, env, "zero-report", "history", "-days", "7"); r.code != 1 || !strings.Contains(r.errout, "请用 -unit 指定单位代码") {
		t.Errorf("no unit:\n%s", r)
	}
	if r := riskctl(t, env, "zero-report", "history", "-unit", "990101100201", "-days", "-1"); r.code != 1 || !strings.Contains(r.errout, "-days -1: 请给一个正数") {
		t.Errorf("negative days:\n%s", r)
	}
	if len(rs.asked) != asked {
		t.Errorf("riskd was asked %+v", rs.asked[asked:])
	}
}

func TestZeroReportUsage(t *testing.T) {
	env := map[string]string{"FENGQIAO_SERVER": "http://127.0.0.1:1"}
	if r := riskctl(t, env, "zero-report"); r.code != 0 || !strings.Contains(r.out, "zero-report file [flags]") {
		t.Errorf("zero-report:\n%s", r)
	}
	if r := riskctl(t, env, "zero-report", "revoke"); r.code != 2 || !strings.Contains(r.errout, "zero-report status") {
		t.Errorf("zero-report revoke:\n%s", r)
	}
	if r := riskctl(t, env, "zero-report", "status", "-h"); r.code != 2 || !strings.Contains(r.errout, "Flags of status") {
		t.Errorf("zero-report status -h:\n%s", r)
	}
	if r := riskctl(t, env, "help"); !strings.Contains(r.out, "riskctl report daily [flags]") || !strings.Contains(r.out, "riskctl zero-report file|status|history") {
		t.Errorf("help:\n%s", r)
	}
}

func TestWithinUnit(t *testing.T) {
	for _, tt := range []struct {
		parent, code string
		want         bool
	}{
		{"990101100000", "990101100201", true},
		{"990101100000", "990101100000", false},
		{"990101100000", "990101101001", false},
		{"990101000000", "990101100000", true},
		{"990101000000", "990101101001", true},
		{"990101000000", "990102100000", false},
		{"990100000000", "990102100000", true},
		{"990101100201", "990101100201001", true},
		{"990101100201", "990101100202", false},
	} {
		if got := withinUnit(tt.parent, tt.code); got != tt.want {
			t.Errorf("withinUnit(%s, %s) = %v", tt.parent, tt.code, got)
		}
	}
}
