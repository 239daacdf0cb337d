package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"fengqiao/jurisdiction"
	"fengqiao/schedule"
)

const reportUsage = `Usage: riskctl [-server URL] report daily [flags]

daily gets a unit's daily report (日报) from riskd: the colours of its
subjects and how they changed, the day's rises, its alerts, its cases and
its child units' zero reports.

Flags:
  -unit CODE       the unit whose report it is (required)
  -date DATE       the day, 2026-11-23 (default: today, Beijing time)
  -format F        md (default), json, csv or xlsx; when left out, a file
                   given with -o that ends in .md, .json, .csv or .xlsx says it
  -o FILE          write to FILE; csv and xlsx need it (-o - for stdout)
`

const zeroReportUsage = `Usage: riskctl [-server URL] zero-report file [flags]
       riskctl [-server URL] zero-report status [-unit CODE] [-checkpoint ID]
       riskctl [-server URL] zero-report history -unit CODE [-days N]

file files a unit's zero report (零报告): either nothing major happened
(-nothing, 无重大情况), or its incidents (-incident, once for each).
status shows who has filed for a checkpoint and who has not. history shows
a unit's filings over the last days and its compliance (报送率).

Flags of file:
  -unit CODE       the unit that files (default: the token's unit)
  -checkpoint ID   the checkpoint, 2026-11-23T16:00 (default: the one open now)
  -officer NAME    the officer who signs it (签报人) (required)
  -nothing         nothing major happened (无重大情况)
  -incident TEXT   an incident; repeat for each
  -note TEXT       a note

Flags of status:
  -unit CODE       the unit whose subtree is shown (default: the token's unit)
  -checkpoint ID   the checkpoint (default: the latest that has come)

Flags of history:
  -unit CODE       the unit (required)
  -days N          how many days back (default: riskd's)
`

// reportNow is the clock of the default date; tests set it.
var reportNow = time.Now

// beijing is Beijing time, the zone of report dates and times.
var beijing = time.FixedZone("CST", 8*60*60)

func runReport(args []string, c *client, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stdout, reportUsage)
		return 0
	}
	if args[0] != "daily" {
		fmt.Fprint(stderr, reportUsage)
		return 2
	}
	err := reportDaily(args[1:], c, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "riskctl: report:", err)
		return 1
	}
	return 0
}

func reportDaily(args []string, c *client, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report daily", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage) }
	unit := fs.String("unit", "", "")
	date := fs.String("date", "", "")
	format := fs.String("format", "", "")
	out := fs.String("o", "", "")
	if err := fs.Parse(args); err != nil {
		return flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("多余的参数 %q: 参数都用 -unit、-date、-format、-o 给出", fs.Arg(0))
	}
	if *unit == "" {
		return errors.New("请用 -unit 指定单位代码, 例如 -unit 990101100000")
	}
	if *date == "" {
		*date = reportNow().In(beijing).Format("2006-01-02")
	} else if _, err := time.Parse("2006-01-02", *date); err != nil {
		return fmt.Errorf("-date %q 不是日期: 请写成 YYYY-MM-DD, 例如 2026-11-23", *date)
	}
	if *format == "" {
		*format = "md"
		if ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(*out), ".")); *out != "-" && isReportFormat(ext) {
			*format = ext
		}
	}
	if !isReportFormat(*format) {
		return fmt.Errorf("-format %q: 请选 md、json、csv 或 xlsx", *format)
	}
	if (*format == "csv" || *format == "xlsx") && *out == "" {
		return fmt.Errorf("%s 格式须用 -o 指定文件, 例如 -o 日报.%s (或 -o - 写到标准输出)", *format, *format)
	}
	q := url.Values{"unit": {*unit}, "date": {*date}, "format": {*format}}
	code, body, err := c.do("GET", "/api/v1/reports/daily?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return refused(code, body)
	}
	if *out != "" && *out != "-" {
		if err := os.WriteFile(*out, body, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "已写入 %s (%d 字节)\n", *out, len(body))
		return nil
	}
	if _, err := stdout.Write(body); err != nil {
		return err
	}
	if (*format == "md" || *format == "json") && len(body) > 0 && body[len(body)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	return nil
}

func isReportFormat(f string) bool { return f == "md" || f == "json" || f == "csv" || f == "xlsx" }

func runZeroReport(args []string, c *client, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stdout, zeroReportUsage)
		return 0
	}
	var err error
	switch args[0] {
	case "file":
		err = zeroReportFile(args[1:], c, stdout, stderr)
	case "status":
		err = zeroReportStatus(args[1:], c, stdout, stderr)
	case "history":
		err = zeroReportHistory(args[1:], c, stdout, stderr)
	default:
		fmt.Fprint(stderr, zeroReportUsage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "riskctl: zero-report:", err)
		return 1
	}
	return 0
}

// zeroReportFlags makes the flag set of a zero-report command.
func zeroReportFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("zero-report "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, zeroReportUsage) }
	return fs
}

// parseFlags parses a command's flags, refusing arguments left over.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("多余的参数 %q: 参数都用 -标志 给出; 一条事项有空格时请加引号", fs.Arg(0))
	}
	return nil
}

// filingRequest is the body of POST /api/v1/zero-reports.
type filingRequest struct {
	Unit       string           `json:"unit,omitempty"`
	Checkpoint string           `json:"checkpoint,omitempty"`
	Nothing    bool             `json:"nothing"`
	Incidents  []filingIncident `json:"incidents,omitempty"`
	Officer    string           `json:"officer"`
	Note       string           `json:"note,omitempty"`
}

type filingIncident struct {
	Summary string `json:"summary"`
}

func zeroReportFile(args []string, c *client, stdout, stderr io.Writer) error {
	fs := zeroReportFlags("file", stderr)
	var req filingRequest
	fs.StringVar(&req.Unit, "unit", "", "")
	fs.StringVar(&req.Checkpoint, "checkpoint", "", "")
	fs.StringVar(&req.Officer, "officer", "", "")
	fs.BoolVar(&req.Nothing, "nothing", false, "")
	fs.Func("incident", "", func(s string) error {
		if strings.TrimSpace(s) == "" {
			return errors.New("事项不能为空")
		}
		req.Incidents = append(req.Incidents, filingIncident{Summary: s})
		return nil
	})
	fs.StringVar(&req.Note, "note", "", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(req.Officer) == "":
		return errors.New("请用 -officer 写明签报人")
	case req.Nothing && len(req.Incidents) > 0:
		return errors.New("-nothing (无重大情况) 与 -incident 只能选一个")
	case !req.Nothing && len(req.Incidents) == 0:
		return errors.New("请用 -nothing 报无重大情况, 或用 -incident 逐条写明事项")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	code, resp, err := c.do("POST", "/api/v1/zero-reports", body)
	if err != nil {
		return err
	}
	// 201 files a report; a 200 is taken as well, for a filing riskd
	// answers as already made or revised.
	if code != http.StatusCreated && code != http.StatusOK {
		return refused(code, resp)
	}
	var ans struct {
		Filing struct {
			Unit       string `json:"unit"`
			Checkpoint string `json:"checkpoint"`
		} `json:"filing"`
		Status     schedule.Status `json:"status"`
		Checkpoint struct {
			ID string `json:"id"`
		} `json:"checkpoint"`
	}
	if err := json.Unmarshal(resp, &ans); err != nil {
		return fmt.Errorf("unexpected answer from riskd: %w", err)
	}
	cp := ans.Checkpoint.ID
	if cp == "" {
		cp = ans.Filing.Checkpoint
	}
	fmt.Fprintf(stdout, "零报告已报送: %s %s (%s)\n", ans.Filing.Unit, cp, statusChinese(ans.Status))
	return nil
}

func zeroReportStatus(args []string, c *client, stdout, stderr io.Writer) error {
	fs := zeroReportFlags("status", stderr)
	unit := fs.String("unit", "", "")
	checkpoint := fs.String("checkpoint", "", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	q := url.Values{}
	if *unit != "" {
		q.Set("unit", *unit)
	}
	if *checkpoint != "" {
		q.Set("checkpoint", *checkpoint)
	}
	path := "/api/v1/zero-reports"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var ans struct {
		Checkpoint struct {
			ID        string    `json:"id"`
			Deadline  time.Time `json:"deadline"`
			MissingAt time.Time `json:"missing_at"`
		} `json:"checkpoint"`
		Units []struct {
			Unit    string          `json:"unit"`
			Name    string          `json:"name"`
			Tier    string          `json:"tier"`
			Status  schedule.Status `json:"status"`
			FiledAt *time.Time      `json:"filed_at"`
			Officer string          `json:"officer"`
		} `json:"units"`
		Rollup []struct {
			Unit      string `json:"unit"`
			Name      string `json:"name"`
			Due       int    `json:"due"`
			Filed     int    `json:"filed"`
			FiledLate int    `json:"filed_late"`
			Late      int    `json:"late"`
			Missing   int    `json:"missing"`
			Pending   int    `json:"pending"`
		} `json:"rollup"`
	}
	if err := c.getJSON(path, &ans); err != nil {
		return err
	}
	cp := ans.Checkpoint
	line := "检查点 " + cp.ID
	if !cp.Deadline.IsZero() {
		line += ", 截止 " + cp.Deadline.In(beijing).Format("2006-01-02 15:04")
		if !cp.MissingAt.IsZero() {
			line += ", " + cp.MissingAt.In(beijing).Format("15:04") + " 后记为未报"
		}
	}
	fmt.Fprintln(stdout, line)
	for _, r := range ans.Rollup {
		var tiers []string
		for _, u := range ans.Units {
			if withinUnit(r.Unit, u.Unit) {
				tiers = append(tiers, u.Tier)
			}
		}
		s := fmt.Sprintf("%s: %d %s应报, %d 已报, %d 迟报, %d 逾期未报, %d 未报",
			orDefault(r.Name, r.Unit), r.Due, tierWord(tiers), r.Filed, r.FiledLate, r.Late, r.Missing)
		if r.Pending > 0 {
			s += fmt.Sprintf(", %d 待报", r.Pending)
		}
		fmt.Fprintln(stdout, s)
	}
	for _, u := range ans.Units {
		if u.Status == schedule.Filed || u.Status == schedule.FiledLate {
			continue
		}
		fmt.Fprintf(stdout, "  %s %s %s\n", orDefault(u.Name, u.Unit), u.Unit, statusChinese(u.Status))
	}
	return nil
}

func zeroReportHistory(args []string, c *client, stdout, stderr io.Writer) error {
	fs := zeroReportFlags("history", stderr)
	unit := fs.String("unit", "", "")
	days := fs.Int("days", 0, "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *unit == "" {
		return errors.New("请用 -unit 指定单位代码, 例如 -unit 990101100201")
	}
	if *days < 0 {
		return fmt.Errorf("-days %d: 请给一个正数", *days)
	}
	q := url.Values{"unit": {*unit}}
	if *days > 0 {
		q.Set("days", strconv.Itoa(*days))
	}
	var ans struct {
		Unit        string   `json:"unit"`
		Name        string   `json:"name"`
		Compliance  *float64 `json:"compliance"`
		Checkpoints []struct {
			Checkpoint string          `json:"checkpoint"`
			Status     schedule.Status `json:"status"`
			FiledAt    *time.Time      `json:"filed_at"`
		} `json:"checkpoints"`
	}
	if err := c.getJSON("/api/v1/zero-reports/history?"+q.Encode(), &ans); err != nil {
		return err
	}
	head := fmt.Sprintf("%s %s 报送率 %s", orDefault(ans.Name, ans.Unit), ans.Unit, percent(ans.Compliance))
	if *days > 0 {
		head += fmt.Sprintf(" (近 %d 天)", *days)
	}
	fmt.Fprintln(stdout, head)
	for _, cp := range ans.Checkpoints {
		s := fmt.Sprintf("  %s  %s", cp.Checkpoint, statusChinese(cp.Status))
		if cp.FiledAt != nil && !cp.FiledAt.IsZero() {
			s += "  " + cp.FiledAt.In(beijing).Format("2006-01-02 15:04")
		}
		fmt.Fprintln(stdout, s)
	}
	return nil
}

// statusChinese names a status as officers say it, or as riskd sent it
// when it is none of the known ones.
func statusChinese(s schedule.Status) string {
	if zh := s.Chinese(); zh != "" {
		return zh
	}
	return string(s)
}

// percent is a share as "93.3%", or "—" when there is none.
func percent(v *float64) string {
	if v == nil {
		return "—"
	}
	return strings.TrimSuffix(strconv.FormatFloat(*v*100, 'f', 1, 64), ".0") + "%"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// withinUnit reports whether code is a unit below parent: unit codes begin
// with the digits that identify their parent (the parent's code up to its
// trailing zero segments: 2, 4, 6, 9 or 12 digits).
func withinUnit(parent, code string) bool {
	if code == parent {
		return false
	}
	for _, n := range []int{2, 4, 6, 9, 12} {
		if n <= len(parent) && strings.Trim(parent[n:], "0") == "" {
			return strings.HasPrefix(code, parent[:n])
		}
	}
	return false
}

// tierWord names the units of a rollup by their tier, "村" in "12 村应报",
// when they are all of one tier, and "个单位" otherwise.
func tierWord(tiers []string) string {
	words := map[string]string{
		jurisdiction.City.String(): "市", jurisdiction.County.String(): "县区", jurisdiction.Township.String(): "乡镇",
		jurisdiction.Village.String(): "村", jurisdiction.Grid.String(): "网格",
	}
	if len(tiers) == 0 {
		return "个单位"
	}
	for _, t := range tiers[1:] {
		if t != tiers[0] {
			return "个单位"
		}
	}
	if w, ok := words[tiers[0]]; ok {
		return w
	}
	return "个单位"
}
