package ledger_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"fengqiao/jurisdiction"
	"fengqiao/risk"
	"fengqiao/signals"
	"fengqiao/signals/ledger"
)

// A good row; the tests change a cell or two. The people are the fixtures'
// invented ones.
var baseHeader = []string{"台账编号", "登记日期", "所属单位代码", "纠纷类别", "当事人姓名", "身份证号", "联系电话", "涉及金额(元)", "当事人数", "化解状态", "责任单位", "简要情况"}
var baseRow = []string{"TZ-990101100-2026-9001", "2026-11-03", "990101100201", "邻里", "张国强、李秀芳", "990101197803152319、", "、13900010001", "12,000元", "2", "化解中", "陈家村人民调解委员会", "两户因宅基地边界发生口角"}

func csvOf(t testing.TB, rows ...[]string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// with returns baseHeader and baseRow with the named cells set; a cell set
// to "-" is removed with its column.
func with(cells map[string]string) ([]string, []string) {
	h, r := slices.Clone(baseHeader), slices.Clone(baseRow)
	for k, v := range cells {
		i := slices.Index(h, k)
		switch {
		case v == "-" && i >= 0:
			h, r = slices.Delete(h, i, i+1), slices.Delete(r, i, i+1)
		case i >= 0:
			r[i] = v
		default:
			h, r = append(h, k), append(r, v)
		}
	}
	return h, r
}

func readOne(t *testing.T, format string, data []byte) ledger.Row {
	t.Helper()
	rows, err := ledger.Read(bytes.NewReader(data), format)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(rows) != 1 {
		t.Fatalf("Read: %d rows, want 1", len(rows))
	}
	return rows[0]
}

func TestBaseRow(t *testing.T) {
	r := readOne(t, ledger.CSV, csvOf(t, baseHeader, baseRow))
	want := signals.Signal{
		Source:     risk.Ledger,
		ID:         "TZ-990101100-2026-9001",
		DisputeID:  "TZ-990101100-2026-9001", // no 纠纷编号: the ledger number
		OccurredAt: time.Date(2026, 11, 3, 0, 0, 0, 0, ledger.Beijing),
		Unit:       "990101100201",
		Category:   "邻里",
		PartyCount: 2,
		Amount:     12000,
		Summary:    "两户因宅基地边界发生口角",
		Persons: []signals.Person{
			{Name: "张国强", IDNumber: "990101197803152319", Role: "当事人"},
			{Name: "李秀芳", Phone: "13900010001", Role: "当事人"},
		},
		LedgerStatus:    "化解中",
		ResponsibleUnit: "陈家村人民调解委员会",
	}
	if r.Line != 2 || !r.OK() || !reflect.DeepEqual(r.Signal, want) {
		t.Errorf("got line %d, errors %v,\n%+v\nwant\n%+v", r.Line, r.Errors, r.Signal, want)
	}
	v := signals.Validator{KnownUnit: func(string) bool { return true }, Categories: signals.DefaultCategories,
		Now: func() time.Time { return time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC) }}
	if errs := v.Validate(&r.Signal, ""); errs != nil {
		t.Errorf("the signal does not validate: %v", errs)
	}
}

func TestHeaderMap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cells  map[string]string
		header []string // instead of baseHeader, with baseRow
		check  func(t *testing.T, s signals.Signal)
		err    string // a file-level error
	}{
		{name: "English JSON field names", header: []string{"id", "registered_at", "unit", "category", "name", "id_number", "phone", "amount", "party_count", "ledger_status", "responsible_unit", "summary"},
			check: func(t *testing.T, s signals.Signal) {
				if s.ID != baseRow[0] || s.Unit != baseRow[2] || len(s.Persons) != 2 || s.Amount != 12000 || s.LedgerStatus != "化解中" || s.ResponsibleUnit == "" {
					t.Errorf("%+v", s)
				}
			}},
		{name: "other spellings", header: []string{"*编号", "登记时间", "单位代码", "纠纷类型", "当事人", "身份证号码", "电话", "涉及金额（元）", "涉及人数", "状态", "责任单位", "基本情况"},
			check: func(t *testing.T, s signals.Signal) {
				if s.ID != baseRow[0] || s.Category != "邻里" || s.PartyCount != 2 || s.Summary == "" {
					t.Errorf("%+v", s)
				}
			}},
		{name: "unknown columns are extra fields", cells: map[string]string{"所属单位": "陈家村", "备注": "需回访", "空列": ""},
			check: func(t *testing.T, s signals.Signal) {
				if string(s.Extra["所属单位"]) != `"陈家村"` || string(s.Extra["备注"]) != `"需回访"` {
					t.Errorf("extra: %s", s.Extra)
				}
				if _, ok := s.Extra["空列"]; ok {
					t.Error("an empty unknown cell was kept")
				}
			}},
		{name: "ignored columns", cells: map[string]string{"序号": "7", "原行号": "12", "错误原因": "x"},
			check: func(t *testing.T, s signals.Signal) {
				if len(s.Extra) != 0 {
					t.Errorf("extra: %s", s.Extra)
				}
			}},
		{name: "发生时间 wins over 登记日期, which is kept", cells: map[string]string{"发生时间": "2026-11-01 21:40"},
			check: func(t *testing.T, s signals.Signal) {
				if !s.OccurredAt.Equal(time.Date(2026, 11, 1, 21, 40, 0, 0, ledger.Beijing)) || string(s.Extra["registered_at"]) != `"2026-11-03T00:00:00+08:00"` {
					t.Errorf("occurred %v, extra %s", s.OccurredAt, s.Extra)
				}
			}},
		{name: "empty 发生时间 falls back to 登记日期", cells: map[string]string{"发生时间": ""},
			check: func(t *testing.T, s signals.Signal) {
				if !s.OccurredAt.Equal(time.Date(2026, 11, 3, 0, 0, 0, 0, ledger.Beijing)) || s.Extra["registered_at"] != nil {
					t.Errorf("occurred %v, extra %s", s.OccurredAt, s.Extra)
				}
			}},
		{name: "发生时间 alone", cells: map[string]string{"登记日期": "-", "发生时间": "2026/11/1 8:00"},
			check: func(t *testing.T, s signals.Signal) {
				if !s.OccurredAt.Equal(time.Date(2026, 11, 1, 8, 0, 0, 0, ledger.Beijing)) {
					t.Errorf("occurred %v", s.OccurredAt)
				}
			}},
		{name: "纠纷编号", cells: map[string]string{"纠纷编号": "TZ-990101100-2026-0031"},
			check: func(t *testing.T, s signals.Signal) {
				if s.DisputeID != "TZ-990101100-2026-0031" || s.ID != baseRow[0] {
					t.Errorf("%q %q", s.ID, s.DisputeID)
				}
			}},
		{name: "涉及金额(万元)", cells: map[string]string{"涉及金额(元)": "-", "涉及金额(万元)": "3.5"},
			check: func(t *testing.T, s signals.Signal) {
				if s.Amount != 35000 {
					t.Errorf("amount %v", s.Amount)
				}
			}},
		{name: "tags", cells: map[string]string{"标签": "三失一偏、扬言;重复信访，"},
			check: func(t *testing.T, s signals.Signal) {
				if !slices.Equal(s.Tags, []string{"三失一偏", "扬言", "重复信访"}) {
					t.Errorf("tags %q", s.Tags)
				}
			}},
		{name: "party count defaults to the persons listed", cells: map[string]string{"当事人数": ""},
			check: func(t *testing.T, s signals.Signal) {
				if s.PartyCount != 2 {
					t.Errorf("party count %d", s.PartyCount)
				}
			}},
		{name: "登记人", cells: map[string]string{"登记人": "李振华"},
			check: func(t *testing.T, s signals.Signal) {
				if s.Reporter != "李振华" {
					t.Errorf("reporter %q", s.Reporter)
				}
			}},
		{name: "missing required columns", cells: map[string]string{"所属单位代码": "-", "纠纷类别": "-"},
			err: "header row 1: missing required column 所属单位代码 (also accepted: unit, 单位代码, 所属单位编码); missing required column 纠纷类别 (also accepted: category, 纠纷类型, 类别)"},
		{name: "missing 台账编号", cells: map[string]string{"台账编号": "-"}, err: "missing required column 台账编号"},
		{name: "missing 化解状态", cells: map[string]string{"化解状态": "-"}, err: "missing required column 化解状态 (also accepted: ledger_status, 状态, 办理状态)"},
		{name: "no date column", cells: map[string]string{"登记日期": "-"}, err: "missing required column 登记日期 (also accepted: registered_at, 登记时间), or 发生时间 (also accepted: occurred_at, 发生日期)"},
		{name: "a column twice", cells: map[string]string{"unit": "990101100201"}, err: "header row 1: columns C and M both give 所属单位代码: keep one"},
		{name: "both amount columns", cells: map[string]string{"涉及金额(万元)": "1"}, err: "columns 涉及金额(元) and 涉及金额(万元) both give the amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, r := with(tc.cells)
			if tc.header != nil {
				h = tc.header
			}
			rows, err := ledger.Read(bytes.NewReader(csvOf(t, h, r)), ledger.CSV)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(rows) != 1 || !rows[0].OK() {
				t.Fatalf("Read: %v, %+v", err, rows)
			}
			tc.check(t, rows[0].Signal)
		})
	}
}

func TestConversionErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cells map[string]string
		want  []signals.FieldError
	}{
		{"missing ledger number", map[string]string{"台账编号": ""},
			[]signals.FieldError{{Field: "台账编号", Message: "is required: the row's ledger number, which makes re-importing it harmless"}}},
		{"unparseable date", map[string]string{"登记日期": "11月3日"},
			[]signals.FieldError{{Field: "登记日期", Message: "is not a date: use e.g. 2026-11-03, 2026/11/3 or 2026-11-03 14:20 (Beijing time)"}}},
		{"no such day", map[string]string{"登记日期": "2026-11-31"},
			[]signals.FieldError{{Field: "登记日期", Message: "is not a date: use e.g. 2026-11-03, 2026/11/3 or 2026-11-03 14:20 (Beijing time)"}}},
		{"empty date", map[string]string{"登记日期": ""},
			[]signals.FieldError{{Field: "登记日期", Message: "is required: the date the dispute was registered"}}},
		{"bad 发生时间, good 登记日期", map[string]string{"发生时间": "昨天晚上"},
			[]signals.FieldError{{Field: "发生时间", Message: "is not a date: use e.g. 2026-11-03, 2026/11/3 or 2026-11-03 14:20 (Beijing time)"}}},
		{"both dates empty", map[string]string{"登记日期": "", "发生时间": ""},
			[]signals.FieldError{{Field: "发生时间", Message: "is required: the date the dispute happened (or give 登记日期)"}}},
		{"empty unit", map[string]string{"所属单位代码": ""},
			[]signals.FieldError{{Field: "所属单位代码", Message: "is required: the 12-digit code of the unit (15 for a grid) the row belongs to"}}},
		{"unit code in scientific notation", map[string]string{"所属单位代码": "9.90101E+11"},
			[]signals.FieldError{{Field: "所属单位代码", Message: "must be a unit code of 12 digits (15 for a grid), e.g. 990101100201"}}},
		{"unit name instead of code", map[string]string{"所属单位代码": "陈家村"},
			[]signals.FieldError{{Field: "所属单位代码", Message: "must be a unit code of 12 digits (15 for a grid), e.g. 990101100201"}}},
		{"empty category", map[string]string{"纠纷类别": ""},
			[]signals.FieldError{{Field: "纠纷类别", Message: "is required: the dispute category, e.g. 婚姻家庭 or 劳动/欠薪"}}},
		{"bad amount", map[string]string{"涉及金额(元)": "约十二万"},
			[]signals.FieldError{{Field: "涉及金额(元)", Message: "is not an amount: use yuan, e.g. 12000, 12,000元 or 1.2万元"}}},
		{"phone number in the amount column", map[string]string{"涉及金额(元)": "139-0001-0001"},
			[]signals.FieldError{{Field: "涉及金额(元)", Message: "is not an amount: use yuan, e.g. 12000, 12,000元 or 1.2万元"}}},
		{"bad party count", map[string]string{"当事人数": "两人"},
			[]signals.FieldError{{Field: "当事人数", Message: "is not a whole number of persons, e.g. 3"}}},
		{"empty status", map[string]string{"化解状态": ""},
			[]signals.FieldError{{Field: "化解状态", Message: "is required: one of 未化解, 化解中, 已化解, 已移交"}}},
		{"bad status", map[string]string{"化解状态": "已结案"},
			[]signals.FieldError{{Field: "化解状态", Message: "is not a status: use one of 未化解, 化解中, 已化解, 已移交"}}},
		{"ID numbers stop short", map[string]string{"身份证号": "990101197803152319"},
			[]signals.FieldError{{Field: "身份证号", Message: "lists 1 persons but 当事人姓名 lists 2: give one entry per person in the same order, separated by 、 (leave a gap, as in 张三、、李四, where one is unknown)"}}},
		{"more phones than names", map[string]string{"联系电话": "13900010001、13900010002、13900010003"},
			[]signals.FieldError{
				{Field: "当事人姓名", Message: "lists 2 persons but 联系电话 lists 3: give one entry per person in the same order, separated by 、 (leave a gap, as in 张三、、李四, where one is unknown)"},
				{Field: "身份证号", Message: "lists 2 persons but 联系电话 lists 3: give one entry per person in the same order, separated by 、 (leave a gap, as in 张三、、李四, where one is unknown)"},
			}},
		{"ID number Excel turned into a number", map[string]string{"身份证号": "9.90101197803152E+17、"},
			[]signals.FieldError{{Field: "身份证号(第1人)", Message: "was turned into a number by Excel and lost its last digits: format the column as text and enter the number again"}}},
		{"every problem at once", map[string]string{"登记日期": "x", "所属单位代码": "1", "涉及金额(元)": "x", "化解状态": "x"},
			[]signals.FieldError{
				{Field: "登记日期", Message: "is not a date: use e.g. 2026-11-03, 2026/11/3 or 2026-11-03 14:20 (Beijing time)"},
				{Field: "所属单位代码", Message: "must be a unit code of 12 digits (15 for a grid), e.g. 990101100201"},
				{Field: "涉及金额(元)", Message: "is not an amount: use yuan, e.g. 12000, 12,000元 or 1.2万元"},
				{Field: "化解状态", Message: "is not a status: use one of 未化解, 化解中, 已化解, 已移交"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, r := with(tc.cells)
			row := readOne(t, ledger.CSV, csvOf(t, h, r))
			if !reflect.DeepEqual(row.Errors, tc.want) {
				t.Errorf("errors\n%q\nwant\n%q", row.Errors, tc.want)
			}
			for _, v := range tc.cells {
				for _, fe := range row.Errors {
					if len(v) >= 4 && strings.Contains(fe.Message, v) {
						t.Errorf("the error repeats the cell %q: %s", v, fe.Message)
					}
				}
			}
		})
	}
}

func TestDuplicateLedgerNumbers(t *testing.T) {
	second := slices.Clone(baseRow)
	rows, err := ledger.Read(bytes.NewReader(csvOf(t, baseHeader, baseRow, []string{}, second)), ledger.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || !rows[0].OK() || rows[1].Line != 4 {
		t.Fatalf("%+v", rows)
	}
	want := []signals.FieldError{{Field: "台账编号", Message: "repeats the ledger number of row 2: give each row its own"}}
	if !reflect.DeepEqual(rows[1].Errors, want) {
		t.Errorf("errors %q", rows[1].Errors)
	}
}

func TestCSVRowNumbers(t *testing.T) {
	// A quoted cell with line breaks is one spreadsheet row; an empty row
	// still counts; a title row above the header is skipped.
	r2, r3 := slices.Clone(baseRow), slices.Clone(baseRow)
	r2[11] = "第一行\n第二行\n第三行"
	r3[0] = "TZ-990101100-2026-9002"
	data := csvOf(t, []string{"青川市矛盾纠纷排查化解台账(2026年11月)"}, baseHeader, r2, []string{"", ""}, r3)
	rows, err := ledger.Read(bytes.NewReader(append([]byte("\ufeff"), data...)), ledger.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Line != 3 || rows[1].Line != 5 {
		t.Fatalf("rows at lines %v", lines(rows))
	}
	if rows[0].Signal.Summary != "第一行\n第二行\n第三行" {
		t.Errorf("summary %q", rows[0].Signal.Summary)
	}
}

func lines(rows []ledger.Row) []int {
	var out []int
	for _, r := range rows {
		out = append(out, r.Line)
	}
	return out
}

func TestCSVEncodings(t *testing.T) {
	data := csvOf(t, baseHeader, baseRow)
	want := readOne(t, ledger.CSV, data).Signal
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes(data)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"BOM": append([]byte("\ufeff"), data...), "GBK": gbk} {
		if got := readOne(t, ledger.CSV, b); !reflect.DeepEqual(got.Signal, want) {
			t.Errorf("%s: %+v", name, got.Signal)
		}
	}
}

func TestJSONL(t *testing.T) {
	input := strings.Join([]string{
		`{"台账编号": "TZ-1", "登记日期": "2026-11-03", "所属单位代码": "990101100201", "纠纷类别": "邻里", "当事人姓名": "张国强", "身份证号": "990101197803152319", "涉及金额(元)": "1.2万元", "备注": "需回访", "化解状态": "未化解"}`,
		``,
		`{"id": "TZ-2", "occurred_at": "2026-11-03T14:20:00+08:00", "unit": 990101100201, "category": "邻里", "amount": 12000, "party_count": 3, "tags": ["扬言", " "], "persons": [{"name": "张国强", "id_number": "990101197803152319"}], "source": "ledger", "extra": {"a": 1}, "ledger_status": "已化解"}`,
		`{"id": "TZ-3", "unit": "990101100201", "category": "邻里", "登记日期": "2026-11-03", "summary": ["not", "text"], "source": "petition", "persons": [{"name": "x", "ssn": "1"}], "状态": "化解中"}`,
		`{"id": "TZ-4", "unit": "990101100201", "所属单位代码": "990101100201"`,
		`["not an object"]`,
		`{"id": "TZ-5"} {"id": "TZ-6"}`,
		`{"id": "TZ-7", "registered_at": "2026-11-03", "unit": "990101100201", "category": "邻里", "persons": [{"name": "张国强", "phone": "13900010001"}], "当事人姓名": "张国强", "ledger_status": "化解中"}`,
	}, "\n")
	rows, err := ledger.Read(strings.NewReader("\ufeff"+input), ledger.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(rows); !slices.Equal(got, []int{1, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("lines %v", got)
	}
	one := rows[0].Signal
	if !rows[0].OK() || one.Amount != 12000 || one.Persons[0].IDNumber != "990101197803152319" || string(one.Extra["备注"]) != `"需回访"` {
		t.Errorf("line 1: %v %+v", rows[0].Errors, one)
	}
	two := rows[1].Signal
	if !rows[1].OK() || two.Unit != "990101100201" || two.PartyCount != 3 || !slices.Equal(two.Tags, []string{"扬言"}) ||
		two.Persons[0].Role != "当事人" || string(two.Extra["extra"]) != `{"a": 1}` || two.OccurredAt.Hour() != 14 {
		t.Errorf("line 3: %v %+v", rows[1].Errors, two)
	}
	wantErrs := map[int][]signals.FieldError{
		2: {
			{Field: "简要情况", Message: "must be text or a number, not a list or object"},
			{Field: "persons", Message: "must be a list of persons, each {\"name\", \"id_number\", \"phone\", \"role\"}"},
			{Field: "source", Message: "must be ledger, or be left out: every row of a ledger is a ledger signal"},
		},
		3: {{Field: "", Message: "is not valid JSON: the line ends before the object does"}},
		4: {{Field: "", Message: "is not a JSON object: each line must hold one object, e.g. {\"台账编号\": \"TZ-…\", …}"}},
		5: {{Field: "", Message: "has more after the JSON object: each line must hold exactly one object"}},
		6: {{Field: "persons", Message: "give persons either as a persons list or in 当事人姓名, 身份证号 and 联系电话, not both"}},
	}
	for i, want := range wantErrs {
		if !reflect.DeepEqual(rows[i].Errors, want) {
			t.Errorf("line %d: errors\n%q\nwant\n%q", rows[i].Line, rows[i].Errors, want)
		}
	}
	// The same column under two keys.
	r := readOne(t, ledger.JSONL, []byte(`{"id": "TZ-8", "台账编号": "TZ-8", "登记日期": "2026-11-03", "unit": "990101100201", "category": "邻里", "化解状态": "化解中"}`))
	if want := []signals.FieldError{{Field: "台账编号", Message: "is given twice: keep one of the columns or keys that mean it"}}; !reflect.DeepEqual(r.Errors, want) {
		t.Errorf("errors %q", r.Errors)
	}
	// A malformed line's signal errors are all left out: the line says it all.
	rows[3].AddSignalErrors(signals.FieldError{Field: "[0].id", Message: "is required"})
	if len(rows[3].Errors) != 1 {
		t.Errorf("errors %q", rows[3].Errors)
	}
}

func TestAddSignalErrors(t *testing.T) {
	h, r := with(map[string]string{"台账编号": "", "所属单位代码": "x"})
	row := readOne(t, ledger.CSV, csvOf(t, h, r))
	row.AddSignalErrors(
		signals.FieldError{Field: "[3].id", Message: "is required"},             // already said
		signals.FieldError{Field: "[3].unit", Message: "is required"},           // already said
		signals.FieldError{Field: "[3].persons", Message: "give at least one"},  // follows from the missing number
		signals.FieldError{Field: "[3].persons[0].id_number", Message: "check"}, // new
		signals.FieldError{Field: "[3].", Message: "at most 50 extra fields"},   // the row as a whole
	)
	want := []signals.FieldError{
		{Field: "台账编号", Message: "is required: the row's ledger number, which makes re-importing it harmless"},
		{Field: "所属单位代码", Message: "must be a unit code of 12 digits (15 for a grid), e.g. 990101100201"},
		{Field: "身份证号(第1人)", Message: "check"},
		{Field: "", Message: "at most 50 extra fields"},
	}
	if !reflect.DeepEqual(row.Errors, want) {
		t.Errorf("errors\n%q\nwant\n%q", row.Errors, want)
	}
}

func TestXLSX(t *testing.T) {
	f := excelize.NewFile()
	defer f.Close()
	sheet := "Sheet1"
	set := func(cell string, v any) {
		if err := f.SetCellValue(sheet, cell, v); err != nil {
			t.Fatal(err)
		}
	}
	set("A1", "青川市矛盾纠纷排查化解台账") // a title row
	for i, h := range []string{"台账编号", "登记日期", "发生时间", "所属单位代码", "纠纷类别", "身份证号", "当事人数", "涉及金额(元)", "备注", "化解状态"} {
		cell, _ := excelize.CoordinatesToCellName(i+1, 2)
		set(cell, h)
	}
	row := func(n int, vals ...any) {
		for i, v := range vals {
			if v != nil {
				cell, _ := excelize.CoordinatesToCellName(i+1, n)
				set(cell, v)
			}
		}
	}
	row(3, "TZ-1", 46329, 46329.597222222219, "990101100201", "邻里", "990101197803152319", 2, 820000.0, 12, "未化解")
	row(5, "TZ-2", "2026/11/3", nil, 990101100201, "邻里", 9.90101197803152e17, "3", "1.2万元", nil, "已化解")
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	rows, err := ledger.Read(&b, ledger.XLSX)
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(rows); !slices.Equal(got, []int{3, 5}) {
		t.Fatalf("lines %v", got)
	}
	s := rows[0].Signal
	if !rows[0].OK() || !s.OccurredAt.Equal(time.Date(2026, 11, 3, 14, 20, 0, 0, ledger.Beijing)) || s.Amount != 820000 ||
		s.PartyCount != 2 || string(s.Extra["registered_at"]) != `"2026-11-03T00:00:00+08:00"` || string(s.Extra["备注"]) != `"12"` {
		t.Errorf("row 3: %v %+v", rows[0].Errors, s)
	}
	s = rows[1].Signal
	if s.Unit != "990101100201" || s.Amount != 12000 || !s.OccurredAt.Equal(time.Date(2026, 11, 3, 0, 0, 0, 0, ledger.Beijing)) {
		t.Errorf("row 5: %+v", s)
	}
	want := []signals.FieldError{{Field: "身份证号(第1人)", Message: "was turned into a number by Excel and lost its last digits: format the column as text and enter the number again"}}
	if !reflect.DeepEqual(rows[1].Errors, want) {
		t.Errorf("row 5: errors %q", rows[1].Errors)
	}
	if _, err := ledger.Read(strings.NewReader("not a zip"), ledger.XLSX); err == nil || !strings.Contains(err.Error(), "not an Excel workbook") {
		t.Errorf("error %v", err)
	}
}

func TestFileErrors(t *testing.T) {
	for _, tc := range []struct{ format, data, err string }{
		{ledger.CSV, "", "the ledger is empty"},
		{ledger.CSV, "\n\n,,\n", "the ledger is empty"},
		{ledger.CSV, "台账编号,\"登记日期\n", "read CSV"},
		{"xls", "", "unknown ledger format"},
	} {
		if _, err := ledger.Read(strings.NewReader(tc.data), tc.format); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Read(%q, %s): %v; want %q", tc.data, tc.format, err, tc.err)
		}
	}
	rows, err := ledger.Read(strings.NewReader("\n \n"), ledger.JSONL)
	if err != nil || len(rows) != 0 {
		t.Errorf("empty JSONL: %v %v", rows, err)
	}
}

func TestFormatOf(t *testing.T) {
	for name, want := range map[string]string{"a.csv": "csv", "b.CSV": "csv", "c.jsonl": "jsonl", "d.ndjson": "jsonl", "e.xlsx": "xlsx", "f.XLSM": "xlsx"} {
		if got, err := ledger.FormatOf(name); got != want || err != nil {
			t.Errorf("FormatOf(%q) = %q, %v", name, got, err)
		}
	}
	for name, msg := range map[string]string{"a.xls": ".xls files are not supported", "b.json": "must be JSONL", "c": "give --format"} {
		if _, err := ledger.FormatOf(name); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("FormatOf(%q): %v", name, err)
		}
	}
}

func readFixture(t testing.TB, ext string) []ledger.Row {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "fixtures", "ledgers", "ledger-2026-11"+ext))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	format, err := ledger.FormatOf(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ledger.Read(f, format)
	if err != nil {
		t.Fatalf("%s: %v", f.Name(), err)
	}
	return rows
}

// The fixtures' bad rows, by spreadsheet row, as docs/ledger.md lists them.
var fixtureBadRows = map[int]signals.FieldError{
	24:  {Field: "身份证号(第1人)", Message: "check digit is wrong (GB 11643): please re-check the number"},
	67:  {Field: "所属单位代码", Message: "is not a unit code of the jurisdiction: use the 12-digit code of a village, township, county or city (or a grid's 15)"},
	111: {Field: "纠纷类别", Message: "is not a known category: use one of 婚姻家庭, 邻里, 土地承包/流转, 征地拆迁, 劳动/欠薪, 物业, 医疗, 交通事故, 消费, 金融/涉众, 环境, 校园, 其他"},
	158: {Field: "登记日期", Message: "is not a date: use e.g. 2026-11-03, 2026/11/3 or 2026-11-03 14:20 (Beijing time)"},
	199: {Field: "台账编号", Message: "is required: the row's ledger number, which makes re-importing it harmless"},
}

func TestFixturesAgree(t *testing.T) {
	csvRows, jsonRows, xlsxRows := readFixture(t, ".csv"), readFixture(t, ".jsonl"), readFixture(t, ".xlsx")
	if len(csvRows) < 200 || len(jsonRows) != len(csvRows) || len(xlsxRows) != len(csvRows) {
		t.Fatalf("rows: csv %d, jsonl %d, xlsx %d", len(csvRows), len(jsonRows), len(xlsxRows))
	}
	for i, c := range csvRows {
		cj, _ := json.Marshal(c.Signal)
		for _, other := range []struct {
			name string
			row  ledger.Row
			line int
		}{{"jsonl", jsonRows[i], c.Line - 1}, {"xlsx", xlsxRows[i], c.Line}} {
			oj, _ := json.Marshal(other.row.Signal)
			if string(oj) != string(cj) || other.row.Line != other.line || !reflect.DeepEqual(other.row.Errors, c.Errors) {
				t.Errorf("row %d: %s differs from csv:\n%s line %d %v\n%s line %d %v", c.Line, other.name, oj, other.row.Line, other.row.Errors, cj, c.Line, c.Errors)
			}
		}
	}
}

// TestFixtureBadRows checks the fixtures against the real validator with the
// fixture jurisdiction, as riskd would: exactly the documented rows are bad.
func TestFixtureBadRows(t *testing.T) {
	tree, err := jurisdiction.Load(filepath.Join("..", "..", "fixtures", "jurisdiction.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	v := signals.Validator{
		KnownUnit:  func(code string) bool { _, ok := tree.Unit(code); return ok },
		Categories: signals.DefaultCategories,
		Now:        func() time.Time { return time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC) },
	}
	for _, ext := range []string{".csv", ".jsonl", ".xlsx"} {
		rows := readFixture(t, ext)
		bad := map[int][]signals.FieldError{}
		for _, r := range rows {
			r.AddSignalErrors(v.Validate(&r.Signal, "")...)
			line := r.Line
			if ext == ".jsonl" {
				line++
			}
			if !r.OK() {
				bad[line] = r.Errors
			}
		}
		want := map[int][]signals.FieldError{}
		for line, fe := range fixtureBadRows {
			want[line] = []signals.FieldError{fe}
		}
		if !reflect.DeepEqual(bad, want) {
			t.Errorf("%s: bad rows\n%v\nwant\n%v", ext, bad, want)
		}
	}
}

func TestWriteRejected(t *testing.T) {
	rows := readFixture(t, ".xlsx")
	var b bytes.Buffer
	n, err := ledger.WriteRejected(&b, rows)
	if err != nil || n != 2 { // the two rows that cannot be converted
		t.Fatalf("WriteRejected: %d, %v", n, err)
	}
	if !bytes.HasPrefix(b.Bytes(), []byte("\ufeff序号,台账编号,")) || !strings.Contains(b.String(), ",原行号,错误原因\r\n") && !strings.Contains(b.String(), ",原行号,错误原因\n") {
		t.Errorf("header: %.120s", b.String())
	}
	// The rejected file reads back as the same rows, its added columns ignored.
	again, err := ledger.Read(bytes.NewReader(b.Bytes()), ledger.CSV)
	if err != nil || len(again) != 2 {
		t.Fatalf("read back: %v, %d rows", err, len(again))
	}
	var orig []ledger.Row
	for _, r := range rows {
		if !r.OK() {
			orig = append(orig, r)
		}
	}
	for i := range again {
		a, _ := json.Marshal(again[i].Signal)
		o, _ := json.Marshal(orig[i].Signal)
		if string(a) != string(o) || !reflect.DeepEqual(again[i].Errors, orig[i].Errors) {
			t.Errorf("row %d read back as\n%s %v\nwant\n%s %v", orig[i].Line, a, again[i].Errors, o, orig[i].Errors)
		}
	}
}

// TestDocsListEveryColumn keeps docs/ledger.md's header map complete.
func TestDocsListEveryColumn(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "ledger.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, c := range ledger.Columns() {
		for _, h := range append([]string{c.Header}, c.Aliases...) {
			if !strings.Contains(doc, "`"+h+"`") {
				t.Errorf("docs/ledger.md does not list `%s` (column %s)", h, c.Header)
			}
		}
	}
	for _, h := range append(ledger.Ignored(), signals.LedgerStatuses...) {
		if !strings.Contains(doc, h) {
			t.Errorf("docs/ledger.md does not mention %s", h)
		}
	}
	for line := range fixtureBadRows {
		if !strings.Contains(doc, "| "+strconv.Itoa(line)+" |") {
			t.Errorf("docs/ledger.md does not list the fixtures' bad row %d", line)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(strings.Join(baseHeader, ",")+"\n"+strings.Join(baseRow, ",")), false)
	f.Add([]byte("台账编号,登记日期,所属单位代码,纠纷类别,当事人姓名,身份证号\nTZ-1,2026/11/3 9:05,990101100201,邻里,张三、、李四,、9.9E+17、\n"), false)
	f.Add([]byte(`{"id":"TZ-1","occurred_at":"2026-11-03T14:20:00+08:00","unit":"990101100201","category":"邻里","persons":[{"name":"张三"}],"tags":["a"]}`), true)
	f.Add([]byte(`{"台账编号":"TZ-1","登记日期":"2026-11-31","涉及金额(万元)":"3.5万","当事人数":"3人"}`+"\n{"), true)
	f.Fuzz(func(t *testing.T, data []byte, jsonl bool) {
		format := ledger.CSV
		if jsonl {
			format = ledger.JSONL
		}
		rows, err := ledger.Read(bytes.NewReader(data), format)
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.Line < 1 || r.Signal.Source != risk.Ledger {
				t.Fatalf("row %d: source %q", r.Line, r.Signal.Source)
			}
			if r.OK() && (r.Signal.ID == "" || r.Signal.Unit == "" || r.Signal.OccurredAt.IsZero() || r.Signal.Category == "") {
				t.Fatalf("row %d has no errors but misses a required field: %+v", r.Line, r.Signal)
			}
			if _, err := json.Marshal(r.Signal); err != nil {
				t.Fatalf("row %d: %v", r.Line, err)
			}
			var b bytes.Buffer
			if _, err := ledger.WriteRejected(&b, []ledger.Row{r}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
