package schedule

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"fengqiao/risk"
)

// reportZone is Beijing time (UTC+8, no daylight saving since 1991), as in
// cases: every time in a rendered daily report is a Beijing time.
var reportZone = time.FixedZone("CST", 8*60*60)

// dash stands for a value there is none of: a rate with nothing to count, a
// change with no earlier report, a time not yet come.
const dash = "—"

// The Markdown, CSV and XLSX forms of a daily report share their headers.
var (
	colourHeader   = []string{"颜色", "人员", "纠纷", "较上期"}
	riseHeader     = []string{"时间", "颜色", "类别", "编号", "姓名", "单位代码", "单位", "原因"}
	alertHeader    = []string{"新发", "已签收", "已升级", "未签收", "签收用时中位数(分钟)", "签收用时最长(分钟)"}
	caseHeader     = []string{"新登记", "结案", "达成协议", "调解不成", "在办", "超期", "调处成功率"}
	zeroSumHeader  = []string{"应报", "已报", "迟报", "逾期未报", "未报", "报送率"}
	zeroRowsHeader = []string{"单位代码", "单位", "检查点", "状态", "报送时间", "签报人", "事项数"}
)

// Title is the report's title, "枫桥镇 日报 2026-11-23".
func (d *Daily) Title() string { return orCode(d.UnitName, d.Unit) + " 日报 " + d.Date }

// Markdown renders the report for a person to read, on a phone as well as
// on a screen: Chinese headings, short tables, Beijing times.
func (d *Daily) Markdown() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	row := func(cells ...string) {
		for i, c := range cells {
			cells[i] = mdCell(c)
		}
		line("| %s |", strings.Join(cells, " | "))
	}
	table := func(header []string) {
		row(append([]string(nil), header...)...)
		line("|%s", strings.Repeat(" --- |", len(header)))
	}

	line("# %s", d.Title())
	line("")
	line("统计时段 %s 至 %s, 生成于 %s (北京时间)", fmtStamp(d.From), fmtStamp(d.To), fmtStamp(d.MadeAt))

	line("")
	line("## 风险分布")
	line("")
	table(colourHeader)
	for _, c := range d.Colours {
		row(c.Level.Chinese(), strconv.Itoa(c.Persons), strconv.Itoa(c.Disputes), fmtChange(c.Change))
	}

	line("")
	line("## 新增升级")
	line("")
	if len(d.Rises) == 0 {
		line("无")
	}
	for _, r := range d.Rises {
		line("- %s %s %s %s %s: %s", fmtClock(r.At), r.Level.Chinese(), kindChinese(r.Subject.Kind),
			subjectRef(r), orCode(r.UnitName, r.Unit), oneLine(r.Reasons))
	}

	a := d.Alerts
	line("")
	line("## 预警")
	line("")
	line("新发 %d, 已签收 %d, 已升级 %d, 未签收 %d", a.Opened, a.Acknowledged, a.Escalated, a.StillOpen)
	line("")
	line("签收用时: 中位数 %s, 最长 %s", fmtAck(a, a.MedianAckMinutes, " 分钟"), fmtAck(a, a.MaxAckMinutes, " 分钟"))

	c := d.Cases
	line("")
	line("## 案件")
	line("")
	line("新登记 %d, 结案 %d (达成协议 %d, 调解不成 %d), 在办 %d, 超期 %d", c.Registered, c.Closed, c.Agreed, c.Failed, c.Open, c.Overdue)
	line("")
	line("调处成功率 %s", fmtPercent(c.SuccessRate))

	s := d.ZeroSummary
	line("")
	line("## 零报告")
	line("")
	line("应报 %d, 已报 %d, 迟报 %d, 逾期未报 %d, 未报 %d, 报送率 %s", s.Due, s.Filed, s.FiledLate, s.Late, s.Missing, fmtPercent(s.Compliance))
	if len(d.ZeroReports) > 0 {
		line("")
		table([]string{"单位", "检查点", "状态", "报送时间", "签报人", "事项"})
		for _, z := range d.ZeroReports {
			filed := z.Status == Filed || z.Status == FiledLate
			incidents := dash
			switch {
			case filed && z.Incidents == 0:
				incidents = "无重大情况"
			case filed:
				incidents = strconv.Itoa(z.Incidents) + " 起"
			}
			row(orCode(z.UnitName, z.Unit), d.checkpointLabel(z.Checkpoint), z.Status.Chinese(),
				d.filedAt(z.FiledAt), orDash(z.Officer), incidents)
		}
	}
	return b.String()
}

// WriteCSV writes the report as CSV, UTF-8 with a byte-order mark so that
// spreadsheet programs read the Chinese right. Each part is a reportBlock of rows
// whose first cell names it (日报, 风险分布, 新增升级, 预警, 案件,
// 零报告汇总, 零报告): first its header row, then its data rows.
func (d *Daily) WriteCSV(w io.Writer) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	for _, blk := range d.blocks() {
		_ = cw.Write(append([]string{blk.name}, blk.header...))
		for _, r := range blk.rows {
			cells := make([]string, len(r)+1)
			cells[0] = blk.name
			for i, v := range r {
				cells[i+1] = csvCell(v)
			}
			_ = cw.Write(cells)
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteXLSX writes the report as a workbook of three sheets: 概况 (the
// colours, the alerts and the cases), 新增升级 and 零报告.
func (d *Daily) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	blocks := map[string]reportBlock{}
	for _, blk := range d.blocks() {
		blocks[blk.name] = blk
	}
	sheets := []struct {
		name   string
		blocks []string
	}{
		{"概况", []string{"风险分布", "预警", "案件"}},
		{"新增升级", []string{"新增升级"}},
		{"零报告", []string{"零报告汇总", "零报告"}},
	}
	for i, sh := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", sh.name); err != nil {
				return err
			}
		} else if _, err := f.NewSheet(sh.name); err != nil {
			return err
		}
		sw, err := f.NewStreamWriter(sh.name)
		if err != nil {
			return err
		}
		n := 0
		row := func(cells []any) error {
			n++
			cell, _ := excelize.CoordinatesToCellName(1, n)
			return sw.SetRow(cell, cells)
		}
		if err := row([]any{d.Title()}); err != nil {
			return err
		}
		for j, name := range sh.blocks {
			blk := blocks[name]
			if len(sh.blocks) > 1 {
				// A sheet of several parts names each above its header.
				if j > 0 {
					n++ // a blank row between parts
				}
				if err := row([]any{blk.title}); err != nil {
					return err
				}
			}
			if err := row(anyStrings(blk.header)); err != nil {
				return err
			}
			for _, r := range blk.rows {
				if err := row(r); err != nil {
					return err
				}
			}
		}
		if err := sw.Flush(); err != nil {
			return err
		}
	}
	return f.Write(w)
}

// reportBlock is one part of the report as a table: its name (the first cell
// of each CSV row), its title on a sheet, its header and its rows. Counts
// are ints so that a workbook holds them as numbers.
type reportBlock struct {
	name, title string
	header      []string
	rows        [][]any
}

func (d *Daily) blocks() []reportBlock {
	head := reportBlock{name: "日报", title: "日报", header: []string{"单位代码", "单位", "日期", "统计起", "统计止", "生成时间"},
		rows: [][]any{{d.Unit, orCode(d.UnitName, d.Unit), d.Date, fmtStamp(d.From), fmtStamp(d.To), fmtStamp(d.MadeAt)}}}

	colours := reportBlock{name: "风险分布", title: "风险分布", header: colourHeader}
	for _, c := range d.Colours {
		var ch any = dash
		if c.Change != nil {
			ch = *c.Change
		}
		colours.rows = append(colours.rows, []any{c.Level.Chinese(), c.Persons, c.Disputes, ch})
	}

	rises := reportBlock{name: "新增升级", title: "新增升级", header: riseHeader}
	for _, r := range d.Rises {
		rises.rows = append(rises.rows, []any{fmtStamp(r.At), r.Level.Chinese(), kindChinese(r.Subject.Kind), r.Subject.Ref,
			r.Name, r.Unit, orCode(r.UnitName, r.Unit), oneLine(r.Reasons)})
	}

	a := d.Alerts
	alerts := reportBlock{name: "预警", title: "预警", header: alertHeader,
		rows: [][]any{{a.Opened, a.Acknowledged, a.Escalated, a.StillOpen, fmtAck(a, a.MedianAckMinutes, ""), fmtAck(a, a.MaxAckMinutes, "")}}}

	c := d.Cases
	cases := reportBlock{name: "案件", title: "案件", header: caseHeader,
		rows: [][]any{{c.Registered, c.Closed, c.Agreed, c.Failed, c.Open, c.Overdue, fmtPercent(c.SuccessRate)}}}

	s := d.ZeroSummary
	zeroSum := reportBlock{name: "零报告汇总", title: "零报告汇总", header: zeroSumHeader,
		rows: [][]any{{s.Due, s.Filed, s.FiledLate, s.Late, s.Missing, fmtPercent(s.Compliance)}}}

	zero := reportBlock{name: "零报告", title: "各单位零报告", header: zeroRowsHeader}
	for _, z := range d.ZeroReports {
		filedAt := ""
		if z.FiledAt != nil {
			filedAt = fmtStamp(*z.FiledAt)
		}
		zero.rows = append(zero.rows, []any{z.Unit, orCode(z.UnitName, z.Unit), z.Checkpoint, z.Status.Chinese(), filedAt, z.Officer, z.Incidents})
	}
	return []reportBlock{head, colours, rises, alerts, cases, zeroSum, zero}
}

// checkpointLabel shortens a checkpoint id of the report's own day to its
// time, "16:00"; one of another day keeps its date.
func (d *Daily) checkpointLabel(id string) string {
	if t, ok := strings.CutPrefix(id, d.Date+"T"); ok {
		return t
	}
	return strings.Replace(id, "T", " ", 1)
}

// filedAt is a filing time as "15:42" on the report's day, with its date
// on another.
func (d *Daily) filedAt(t *time.Time) string {
	if t == nil {
		return dash
	}
	if b := t.In(reportZone); b.Format("2006-01-02") != d.Date {
		return b.Format("01-02 15:04")
	}
	return fmtClock(*t)
}

// stamp is a time as "2026-11-23 17:30", Beijing time; empty when unset.
func fmtStamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(reportZone).Format("2006-01-02 15:04")
}

// clock is a time of day, "17:30", Beijing time.
func fmtClock(t time.Time) string { return t.In(reportZone).Format("15:04") }

// percent is a share as "93.3%", or "—" when there is dash.
func fmtPercent(v *float64) string {
	if v == nil {
		return dash
	}
	return fmtDecimal(*v*100) + "%"
}

// decimal prints a number with at most one decimal, "12.5", "45".
func fmtDecimal(v float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
}

// ackMinutes is a time-to-acknowledge in minutes, or "—" when no alert was
// acknowledged.
func fmtAck(a AlertStats, v float64, unit string) string {
	if a.Acknowledged == 0 {
		return dash
	}
	return fmtDecimal(v) + unit
}

// change is a change since the previous report, "+2", "-1", "0", or "—".
func fmtChange(c *int) string {
	switch {
	case c == nil:
		return dash
	case *c > 0:
		return "+" + strconv.Itoa(*c)
	}
	return strconv.Itoa(*c)
}

func kindChinese(k risk.Kind) string {
	switch k {
	case risk.Person:
		return "人员"
	case risk.Dispute:
		return "纠纷"
	}
	return string(k)
}

// subjectRef is a rise's reference with its masked name, "P3c1f(张**)".
func subjectRef(r Rise) string {
	if r.Name == "" {
		return r.Subject.Ref
	}
	return r.Subject.Ref + "(" + r.Name + ")"
}

func orCode(name, code string) string {
	if name == "" {
		return code
	}
	return name
}

func orDash(s string) string {
	if s == "" {
		return dash
	}
	return s
}

// oneLine folds line breaks, so that a reason stays on its list item.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}

// mdCell keeps a text in its table cell.
func mdCell(s string) string { return strings.ReplaceAll(oneLine(s), "|", `\|`) }

// csvCell keeps a spreadsheet from reading a text as a formula: a text that
// begins with =, +, -, @ or a tab is prefixed with an apostrophe. Numbers
// are written as they are.
func csvCell(v any) string {
	switch v := v.(type) {
	case int:
		return strconv.Itoa(v)
	case string:
		if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			return "'" + v
		}
		return v
	}
	return fmt.Sprint(v)
}

func anyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
