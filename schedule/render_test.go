package schedule_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"fengqiao/risk"
	"fengqiao/schedule"
)

// fixtureDaily is 枫桥镇's daily report for 2026-11-23 with every part filled.
func fixtureDaily() *schedule.Daily {
	ptr := func(v int) *int { return &v }
	rate := func(v float64) *float64 { return &v }
	filed := func(h, m int) *time.Time { t := at(11, 23, h, m); return &t }
	nextDay := at(11, 24, 8, 10)
	return &schedule.Daily{
		Unit: "990101100000", UnitName: "枫桥镇", Date: "2026-11-23",
		From:   at(11, 23, 0, 0),
		To:     at(11, 24, 0, 0),
		MadeAt: time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC), // 17:30 in Beijing
		Colours: []schedule.ColourCount{
			{Level: risk.Blue, Persons: 12, Disputes: 5, Change: ptr(2)},
			{Level: risk.Yellow, Persons: 4, Disputes: 3, Change: ptr(-1)},
			{Level: risk.Orange, Persons: 1, Disputes: 2, Change: ptr(0)},
			{Level: risk.Red, Persons: 1, Disputes: 0},
		},
		Rises: []schedule.Rise{
			{Subject: risk.SubjectID{Kind: risk.Person, Ref: "P3c1f9a"}, Name: "张**", Unit: "990101100201", UnitName: "陈家村",
				Level: risk.Red, At: time.Date(2026, 11, 23, 8, 5, 0, 0, time.UTC),
				Reasons: "红色(得分 85): 扬言极端 +45,\n至少橙色; 携带器械 +40"},
			{Subject: risk.SubjectID{Kind: risk.Dispute, Ref: "TZ-990101100-2026-0099"}, Unit: "990101100202", UnitName: "",
				Level: risk.Yellow, At: at(11, 23, 9, 30), Reasons: "=婚姻家庭纠纷 | 近30天 2 次"},
		},
		Alerts: schedule.AlertStats{Opened: 5, Acknowledged: 4, Escalated: 1, StillOpen: 1, MedianAckMinutes: 12.5, MaxAckMinutes: 45},
		Cases:  schedule.CaseStats{Registered: 3, Closed: 3, Agreed: 2, Failed: 1, Open: 10, Overdue: 1, SuccessRate: rate(2.0 / 3)},
		ZeroReports: []schedule.ZeroReportRow{
			{Unit: "990101100201", UnitName: "陈家村", Checkpoint: "2026-11-23T16:00", Status: schedule.Filed, FiledAt: filed(15, 42), Officer: "陈立"},
			{Unit: "990101100202", UnitName: "杜家村", Checkpoint: "2026-11-23T16:00", Status: schedule.FiledLate, FiledAt: filed(16, 20), Officer: "杜明", Incidents: 2},
			{Unit: "990101100203", UnitName: "栎江村", Checkpoint: "2026-11-23T16:00", Status: schedule.Missing},
			{Unit: "990101100204", UnitName: "枫源村", Checkpoint: "2026-11-23T16:00", Status: schedule.Late},
			{Unit: "990101100205", UnitName: "", Checkpoint: "2026-11-22T16:00", Status: schedule.FiledLate, FiledAt: &nextDay, Officer: "=cmd"},
		},
		ZeroSummary: schedule.ZeroSummary{Due: 5, Filed: 1, FiledLate: 2, Late: 1, Missing: 1, Compliance: rate(0.6)},
	}
}

func TestDailyMarkdown(t *testing.T) {
	md := fixtureDaily().Markdown()
	for _, want := range []string{
		"# 枫桥镇 日报 2026-11-23\n",
		"统计时段 2026-11-23 00:00 至 2026-11-24 00:00, 生成于 2026-11-23 17:30 (北京时间)\n",
		"## 风险分布\n\n| 颜色 | 人员 | 纠纷 | 较上期 |\n| --- | --- | --- | --- |\n",
		"| 蓝色 | 12 | 5 | +2 |\n",
		"| 黄色 | 4 | 3 | -1 |\n",
		"| 橙色 | 1 | 2 | 0 |\n",
		"| 红色 | 1 | 0 | — |\n",
		"## 新增升级\n\n",
		"- 16:05 红色 人员 P3c1f9a(张**) 陈家村: 红色(得分 85): 扬言极端 +45, 至少橙色; 携带器械 +40\n",
		"- 09:30 黄色 纠纷 TZ-990101100-2026-0099 990101100202: =婚姻家庭纠纷 | 近30天 2 次\n",
		"## 预警\n\n新发 5, 已签收 4, 已升级 1, 未签收 1\n",
		"签收用时: 中位数 12.5 分钟, 最长 45 分钟\n",
		"## 案件\n\n新登记 3, 结案 3 (达成协议 2, 调解不成 1), 在办 10, 超期 1\n",
		"调处成功率 66.7%\n",
		"## 零报告\n\n应报 5, 已报 1, 迟报 2, 逾期未报 1, 未报 1, 报送率 60%\n",
		"| 单位 | 检查点 | 状态 | 报送时间 | 签报人 | 事项 |\n",
		"| 陈家村 | 16:00 | 已报 | 15:42 | 陈立 | 无重大情况 |\n",
		"| 杜家村 | 16:00 | 迟报 | 16:20 | 杜明 | 2 起 |\n",
		"| 栎江村 | 16:00 | 未报 | — | — | — |\n",
		"| 枫源村 | 16:00 | 逾期未报 | — | — | — |\n",
		"| 990101100205 | 2026-11-22 16:00 | 迟报 | 11-24 08:10 | =cmd | 无重大情况 |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown has no %q:\n%s", want, md)
		}
	}
	// The order of the parts.
	last := -1
	for _, h := range []string{"# ", "## 风险分布", "## 新增升级", "## 预警", "## 案件", "## 零报告"} {
		i := strings.Index(md, h)
		if i <= last {
			t.Errorf("%q is out of order", h)
		}
		last = i
	}
}

func TestDailyMarkdownEmpty(t *testing.T) {
	md := (&schedule.Daily{Unit: "990101100000", Date: "2026-11-23"}).Markdown()
	for _, want := range []string{
		"# 990101100000 日报 2026-11-23\n",
		"## 新增升级\n\n无\n",
		"签收用时: 中位数 —, 最长 —\n",
		"调处成功率 —\n",
		"应报 0, 已报 0, 迟报 0, 逾期未报 0, 未报 0, 报送率 —\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown has no %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| 单位 |") {
		t.Errorf("a table of no zero reports:\n%s", md)
	}
}

// readCSV parses a CSV daily report back, checking its byte-order mark.
func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rest, ok := bytes.CutPrefix(b, []byte("\uFEFF"))
	if !ok {
		t.Fatalf("no byte-order mark: %q", b[:min(len(b), 20)])
	}
	r := csv.NewReader(bytes.NewReader(rest))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestDailyCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := fixtureDaily().WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, buf.Bytes())
	want := [][]string{
		{"日报", "单位代码", "单位", "日期", "统计起", "统计止", "生成时间"},
		{"日报", "990101100000", "枫桥镇", "2026-11-23", "2026-11-23 00:00", "2026-11-24 00:00", "2026-11-23 17:30"},
		{"风险分布", "颜色", "人员", "纠纷", "较上期"},
		{"风险分布", "蓝色", "12", "5", "2"},
		{"风险分布", "黄色", "4", "3", "-1"},
		{"风险分布", "橙色", "1", "2", "0"},
		{"风险分布", "红色", "1", "0", "—"},
		{"新增升级", "时间", "颜色", "类别", "编号", "姓名", "单位代码", "单位", "原因"},
		{"新增升级", "2026-11-23 16:05", "红色", "人员", "P3c1f9a", "张**", "990101100201", "陈家村", "红色(得分 85): 扬言极端 +45, 至少橙色; 携带器械 +40"},
		{"新增升级", "2026-11-23 09:30", "黄色", "纠纷", "TZ-990101100-2026-0099", "", "990101100202", "990101100202", "'=婚姻家庭纠纷 | 近30天 2 次"},
		{"预警", "新发", "已签收", "已升级", "未签收", "签收用时中位数(分钟)", "签收用时最长(分钟)"},
		{"预警", "5", "4", "1", "1", "12.5", "45"},
		{"案件", "新登记", "结案", "达成协议", "调解不成", "在办", "超期", "调处成功率"},
		{"案件", "3", "3", "2", "1", "10", "1", "66.7%"},
		{"零报告汇总", "应报", "已报", "迟报", "逾期未报", "未报", "报送率"},
		{"零报告汇总", "5", "1", "2", "1", "1", "60%"},
		{"零报告", "单位代码", "单位", "检查点", "状态", "报送时间", "签报人", "事项数"},
		{"零报告", "990101100201", "陈家村", "2026-11-23T16:00", "已报", "2026-11-23 15:42", "陈立", "0"},
		{"零报告", "990101100202", "杜家村", "2026-11-23T16:00", "迟报", "2026-11-23 16:20", "杜明", "2"},
		{"零报告", "990101100203", "栎江村", "2026-11-23T16:00", "未报", "", "", "0"},
		{"零报告", "990101100204", "枫源村", "2026-11-23T16:00", "逾期未报", "", "", "0"},
		{"零报告", "990101100205", "990101100205", "2026-11-22T16:00", "迟报", "2026-11-24 08:10", "'=cmd", "0"},
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d", len(rows), len(want))
	}
	for i := range min(len(rows), len(want)) {
		if !slices.Equal(rows[i], want[i]) {
			t.Errorf("row %d:\n got %q\nwant %q", i+1, rows[i], want[i])
		}
	}
}

func TestDailyXLSX(t *testing.T) {
	var buf bytes.Buffer
	if err := fixtureDaily().WriteXLSX(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, want := f.GetSheetList(), []string{"概况", "新增升级", "零报告"}; !slices.Equal(got, want) {
		t.Fatalf("sheets %q, want %q", got, want)
	}
	sheet := func(name string) [][]string {
		rows, err := f.GetRows(name)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	check := func(name string, want [][]string) {
		t.Helper()
		rows := sheet(name)
		if len(rows) != len(want) {
			t.Errorf("%s: %d rows, want %d: %q", name, len(rows), len(want), rows)
		}
		for i := range min(len(rows), len(want)) {
			if !slices.Equal(rows[i], want[i]) {
				t.Errorf("%s row %d:\n got %q\nwant %q", name, i+1, rows[i], want[i])
			}
		}
	}
	check("概况", [][]string{
		{"枫桥镇 日报 2026-11-23"},
		{"风险分布"},
		{"颜色", "人员", "纠纷", "较上期"},
		{"蓝色", "12", "5", "2"},
		{"黄色", "4", "3", "-1"},
		{"橙色", "1", "2", "0"},
		{"红色", "1", "0", "—"},
		nil,
		{"预警"},
		{"新发", "已签收", "已升级", "未签收", "签收用时中位数(分钟)", "签收用时最长(分钟)"},
		{"5", "4", "1", "1", "12.5", "45"},
		nil,
		{"案件"},
		{"新登记", "结案", "达成协议", "调解不成", "在办", "超期", "调处成功率"},
		{"3", "3", "2", "1", "10", "1", "66.7%"},
	})
	check("新增升级", [][]string{
		{"枫桥镇 日报 2026-11-23"},
		{"时间", "颜色", "类别", "编号", "姓名", "单位代码", "单位", "原因"},
		{"2026-11-23 16:05", "红色", "人员", "P3c1f9a", "张**", "990101100201", "陈家村", "红色(得分 85): 扬言极端 +45, 至少橙色; 携带器械 +40"},
		{"2026-11-23 09:30", "黄色", "纠纷", "TZ-990101100-2026-0099", "", "990101100202", "990101100202", "=婚姻家庭纠纷 | 近30天 2 次"},
	})
	check("零报告", [][]string{
		{"枫桥镇 日报 2026-11-23"},
		{"零报告汇总"},
		{"应报", "已报", "迟报", "逾期未报", "未报", "报送率"},
		{"5", "1", "2", "1", "1", "60%"},
		nil,
		{"各单位零报告"},
		{"单位代码", "单位", "检查点", "状态", "报送时间", "签报人", "事项数"},
		{"990101100201", "陈家村", "2026-11-23T16:00", "已报", "2026-11-23 15:42", "陈立", "0"},
		{"990101100202", "杜家村", "2026-11-23T16:00", "迟报", "2026-11-23 16:20", "杜明", "2"},
		{"990101100203", "栎江村", "2026-11-23T16:00", "未报", "", "", "0"},
		{"990101100204", "枫源村", "2026-11-23T16:00", "逾期未报", "", "", "0"},
		{"990101100205", "990101100205", "2026-11-22T16:00", "迟报", "2026-11-24 08:10", "=cmd", "0"},
	})
	// Counts are numbers, and a text that looks like a formula stays a text.
	// (A cell without a type attribute holds a number.)
	if typ, _ := f.GetCellType("概况", "B4"); typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
		t.Errorf("B4 is of type %v, want a number", typ)
	}
	if typ, _ := f.GetCellType("概况", "A4"); typ == excelize.CellTypeNumber || typ == excelize.CellTypeUnset {
		t.Errorf("A4 (蓝色) is of type %v, want a text", typ)
	}
	if formula, _ := f.GetCellFormula("零报告", "F12"); formula != "" {
		t.Errorf("the officer became the formula %q", formula)
	}
}

func TestDailyNoRates(t *testing.T) {
	d := fixtureDaily()
	d.Cases.SuccessRate, d.ZeroSummary.Compliance = nil, nil
	d.Alerts.Acknowledged = 0
	md := d.Markdown()
	for _, want := range []string{"调处成功率 —\n", "报送率 —\n", "签收用时: 中位数 —, 最长 —\n"} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown has no %q", want)
		}
	}
	var buf bytes.Buffer
	if err := d.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range readCSV(t, buf.Bytes()) {
		got[r[0]] = r // the last row of each part: its data
	}
	if r := got["案件"]; r[len(r)-1] != "—" {
		t.Errorf("CSV cases %q, want the rate —", r)
	}
	if r := got["零报告汇总"]; r[len(r)-1] != "—" {
		t.Errorf("CSV zero summary %q, want the rate —", r)
	}
	if r := got["预警"]; r[5] != "—" || r[6] != "—" {
		t.Errorf("CSV alerts %q, want no times", r)
	}
	buf.Reset()
	if err := d.WriteXLSX(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := f.GetCellValue("概况", "G15"); v != "—" {
		t.Errorf("XLSX success rate %q, want —", v)
	}
	if v, _ := f.GetCellValue("零报告", "F4"); v != "—" {
		t.Errorf("XLSX compliance %q, want —", v)
	}
}

// TestDailyJSON: the JSON form is the type itself; nil rates are left out.
func TestDailyJSON(t *testing.T) {
	d := fixtureDaily()
	d.Cases.SuccessRate = nil
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back schedule.Daily
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.UnitName != "枫桥镇" || len(back.Rises) != 2 || back.Rises[0].Level != risk.Red || back.Cases.SuccessRate != nil ||
		back.ZeroSummary.Compliance == nil || *back.ZeroSummary.Compliance != 0.6 || back.ZeroReports[0].Status != schedule.Filed {
		t.Errorf("round trip: %+v", back)
	}
	if strings.Contains(string(b), "success_rate") {
		t.Errorf("a nil success rate in %s", b)
	}
}
