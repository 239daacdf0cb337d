package ledger

import (
	"slices"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, Beijing) }
	for _, tc := range []struct {
		in      string
		serials bool
		want    time.Time // zero: an error
	}{
		{"2026-11-03", false, at(2026, 11, 3, 0, 0)},
		{"2026/11/3", false, at(2026, 11, 3, 0, 0)},
		{"2026.11.3", false, at(2026, 11, 3, 0, 0)},
		{"2026年11月3日", false, at(2026, 11, 3, 0, 0)},
		{" 2026-11-03 14:20 ", false, at(2026, 11, 3, 14, 20)},
		{"2026/11/3 9:05", false, at(2026, 11, 3, 9, 5)},
		{"2026-11-03 14:20:30", false, time.Date(2026, 11, 3, 14, 20, 30, 0, Beijing)},
		{"2026-11-03T14:20", false, at(2026, 11, 3, 14, 20)},
		{"2026-11-03T06:20:00Z", false, at(2026, 11, 3, 14, 20)}, // RFC 3339, shown in Beijing time
		{"2026-11-03T14:20:00+08:00", false, at(2026, 11, 3, 14, 20)},
		{"46329", true, at(2026, 11, 3, 0, 0)}, // an Excel date serial
		{"46329.597222222219", true, at(2026, 11, 3, 14, 20)},
		{"46329", false, time.Time{}}, // serials only in XLSX
		{"2026-11-31", false, time.Time{}},
		{"2026-02-29", false, time.Time{}},
		{"2026-11-03 24:00", false, time.Time{}},
		{"11月3日", false, time.Time{}},
		{"2026-11", false, time.Time{}},
		{"", false, time.Time{}},
		{"60", true, time.Time{}}, // before 1900-03-01, where Excel's calendar is wrong
		{"-1", true, time.Time{}},
		{"1e5", true, time.Time{}},
	} {
		got, err := parseTime(tc.in, tc.serials, false)
		if tc.want.IsZero() {
			if err == nil || err.Error() != msgDate {
				t.Errorf("parseTime(%q) = %v, %v; want the date error", tc.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) || got.Location() != Beijing {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	// The 1904 date system counts from 1904-01-01.
	if got, _ := parseTime("44867", true, true); !got.Equal(at(2026, 11, 3, 0, 0)) {
		t.Errorf("1904 serial = %v", got)
	}
}

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		unit float64
		want float64
		ok   bool
	}{
		{"12000", 1, 12000, true},
		{"12,000", 1, 12000, true},
		{"12,000元", 1, 12000, true},
		{"12，000 元", 1, 12000, true},
		{"¥12000.50", 1, 12000.5, true},
		{"1.2万元", 1, 12000, true},
		{"1.2万", 1, 12000, true},
		{"82万元", 1, 820000, true},
		{"3.5", 10000, 35000, true}, // a 涉及金额(万元) column
		{"3.5万元", 10000, 35000, true},
		{"0", 1, 0, true},
		{"-5", 1, -5, true}, // read; the validator refuses it
		{"十万", 1, 0, false},
		{"约5000", 1, 0, false},
		{"NaN", 1, 0, false},
		{"Inf", 1, 0, false},
		{"0x10", 1, 0, false},
		{"元", 1, 0, false},
	} {
		got, err := parseAmount(tc.in, tc.unit)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseAmount(%q, %v) = %v, %v; want %v (ok %v)", tc.in, tc.unit, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseCount(t *testing.T) {
	for in, want := range map[string]int{"3": 3, "3人": 3, " 12 ": 12, "36.0": 36, "0": 0} {
		if got, err := parseCount(in); err != nil || got != want {
			t.Errorf("parseCount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"三", "3.5", "about 3", "1e99"} {
		if _, err := parseCount(in); err == nil {
			t.Errorf("parseCount(%q): want an error", in)
		}
	}
}

func TestSplitting(t *testing.T) {
	if got := splitTags("三失一偏、扬言,重复信访;;刑释解矫，涉老； 夜间 "); !slices.Equal(got, []string{"三失一偏", "扬言", "重复信访", "刑释解矫", "涉老", "夜间"}) {
		t.Errorf("splitTags = %q", got)
	}
	for in, want := range map[string][]string{
		"":             nil,
		"张三":           {"张三"},
		"张三、李四":        {"张三", "李四"},
		"张三 ; 李四":      {"张三", "李四"},
		"张三、、李四":       {"张三", "", "李四"},
		"、13900010001": {"", "13900010001"},
		"13900010001、": {"13900010001", ""},
		"张三,李四；王五，赵六":  {"张三", "李四", "王五", "赵六"},
	} {
		if got := splitPersons(in); !slices.Equal(got, want) {
			t.Errorf("splitPersons(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestFieldHeader(t *testing.T) {
	for field, want := range map[string]string{
		"id":                   "台账编号",
		"unit":                 "所属单位代码",
		"occurred_at":          "发生时间/登记日期",
		"category":             "纠纷类别",
		"amount":               "涉及金额(元)",
		"party_count":          "当事人数",
		"dispute_id":           "纠纷编号",
		"tags[2]":              "标签",
		"summary":              "简要情况",
		"reporter":             "登记人",
		"persons":              "当事人姓名",
		"persons[0].id_number": "身份证号(第1人)",
		"persons[1].phone":     "联系电话(第2人)",
		"persons[2].name":      "当事人姓名(第3人)",
		"source":               "source",
		"":                     "",
		"something_else":       "something_else",
	} {
		if got := FieldHeader(field); got != want {
			t.Errorf("FieldHeader(%q) = %q; want %q", field, got, want)
		}
	}
}

func TestColumnLetters(t *testing.T) {
	for i, want := range map[int]string{0: "A", 25: "Z", 26: "AA", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA"} {
		if got := columnLetters(i); got != want {
			t.Errorf("columnLetters(%d) = %q; want %q", i, got, want)
		}
	}
}

func TestNormalizeHeader(t *testing.T) {
	for in, want := range map[string]string{
		"涉及金额（元）":   "涉及金额(元)",
		"*台账编号":     "台账编号",
		" 所属 单位代码 ": "所属单位代码",
		"\ufeff序号":  "序号",
		"Unit":      "unit",
		"＊纠纷类别":     "纠纷类别",
	} {
		if got := normalizeHeader(in); got != want {
			t.Errorf("normalizeHeader(%q) = %q; want %q", in, got, want)
		}
	}
}
