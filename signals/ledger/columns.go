package ledger

import (
	"strconv"
	"strings"
	"unicode"
)

// Column is one column of a ledger that this package knows: its Chinese
// header, the field of the signal it fills, and the other headers (English
// JSON field names among them) accepted for it. docs/ledger.md lists them all.
type Column struct {
	Header   string   // the Chinese header, as errors name the column
	Field    string   // what it fills: a signal's JSON field, or an extra field
	Aliases  []string // other headers accepted for the column
	Required bool     // a ledger without the column is refused whole
	Note     string   // how the cell is read
}

// The columns, in the order a ledger usually has them. Field names that are
// not a Signal's JSON field (names, id_numbers, phones, registered_at) are
// explained in docs/ledger.md.
var columns = []Column{
	{Header: "台账编号", Field: "id", Aliases: []string{"id", "编号", "台账号", "ledger_no"}, Required: true,
		Note: "the signal's id: unique per row; re-importing a row with the same number is a no-op"},
	{Header: "纠纷编号", Field: "dispute_id", Aliases: []string{"dispute_id", "矛盾纠纷编号"},
		Note: "the dispute the row concerns; empty: the ledger number"},
	{Header: "发生时间", Field: "occurred_at", Aliases: []string{"occurred_at", "发生日期"},
		Note: "2026-11-03, 2026/11/3, 2026-11-03 14:20, RFC 3339, or an Excel date; Beijing time (UTC+8)"},
	{Header: "登记日期", Field: "registered_at", Aliases: []string{"registered_at", "登记时间"},
		Note: "as 发生时间; the occurrence time when 发生时间 is absent or empty, else kept as extra field registered_at"},
	{Header: "所属单位代码", Field: "unit", Aliases: []string{"unit", "单位代码", "所属单位编码"}, Required: true,
		Note: "12-digit unit code (15 for a grid) from the jurisdiction"},
	{Header: "纠纷类别", Field: "category", Aliases: []string{"category", "纠纷类型", "类别"}, Required: true,
		Note: "one of the configured categories, e.g. 婚姻家庭"},
	{Header: "当事人数", Field: "party_count", Aliases: []string{"party_count", "涉及人数"},
		Note: "a whole number, \"3\" or \"3人\"; empty: the number of persons listed"},
	{Header: "涉及金额(元)", Field: "amount", Aliases: []string{"amount", "涉及金额", "金额", "涉案金额"},
		Note: "yuan: \"12000\", \"12,000元\", \"1.2万元\" (万 multiplies by 10000)"},
	{Header: "涉及金额(万元)", Field: "amount",
		Note: "as 涉及金额(元), but a bare number is in units of 10000 yuan"},
	{Header: "简要情况", Field: "summary", Aliases: []string{"summary", "基本情况", "简要案情", "纠纷简要情况"}},
	{Header: "标签", Field: "tags", Aliases: []string{"tags"},
		Note: "split on 、 , ; ， ；; in JSONL also a list"},
	{Header: "当事人姓名", Field: "names", Aliases: []string{"name", "names", "当事人", "姓名"},
		Note: "several persons separated by 、 or ; (also , ， ；), aligned by position with 身份证号 and 联系电话"},
	{Header: "身份证号", Field: "id_numbers", Aliases: []string{"id_number", "id_numbers", "身份证号码", "公民身份号码"},
		Note: "18-digit resident ID numbers, one per person, in the same order"},
	{Header: "联系电话", Field: "phones", Aliases: []string{"phone", "phones", "电话", "手机号"},
		Note: "phone numbers, one per person, in the same order"},
	{Header: "persons", Field: "persons", Aliases: nil,
		Note: "a JSON list of {name, id_number, phone, role} (JSONL, or a cell holding that JSON), instead of the three columns above"},
	{Header: "化解状态", Field: "ledger_status", Aliases: []string{"ledger_status", "状态", "办理状态"}, Required: true,
		Note: "未化解, 化解中, 已化解 or 已移交"},
	{Header: "责任单位", Field: "responsible_unit", Aliases: []string{"responsible_unit"},
		Note: "the unit responsible for resolving it"},
	{Header: "登记人", Field: "reporter", Aliases: []string{"reporter", "填报人"}},
	{Header: "source", Field: "source", Aliases: nil,
		Note: "may be left out; if given, must be ledger"},
}

// ignored are headers read but not kept: the row's position in the sheet,
// and the columns riskctl adds to a file of rejected rows, so that a fixed
// rejected file can be imported as it is.
var ignored = []string{"序号", RowColumn, ReasonColumn}

// Columns returns the columns this package knows, in their usual order.
func Columns() []Column {
	out := make([]Column, len(columns))
	for i, c := range columns {
		c.Aliases = append([]string(nil), c.Aliases...)
		out[i] = c
	}
	return out
}

// Ignored returns the headers whose columns are read but not kept.
func Ignored() []string { return append([]string(nil), ignored...) }

// byName finds a column by any of its headers, after normalizing.
var byName = func() map[string]int {
	m := map[string]int{}
	for i, c := range columns {
		m[normalizeHeader(c.Header)] = i
		for _, a := range c.Aliases {
			m[normalizeHeader(a)] = i
		}
	}
	return m
}()

var ignoredNames = func() map[string]bool {
	m := map[string]bool{}
	for _, h := range ignored {
		m[normalizeHeader(h)] = true
	}
	return m
}()

// lookup returns the index of the column a header names, -1 for an unknown
// header and -2 for an ignored one.
func lookup(header string) int {
	n := normalizeHeader(header)
	if ignoredNames[n] {
		return -2
	}
	if i, ok := byName[n]; ok {
		return i
	}
	return -1
}

// normalizeHeader folds the ways the same header is typed: full-width
// parentheses, spaces, a byte-order mark, the asterisk templates put before
// required columns, and letter case.
func normalizeHeader(h string) string {
	h = strings.NewReplacer("（", "(", "）", ")", "\ufeff", "").Replace(h)
	h = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, h)
	return strings.Trim(h, "*＊")
}

// FieldHeader names a signal field, as the API names it in an error (e.g.
// "unit", "persons[1].id_number", "tags[0]"), by the ledger column it comes
// from (所属单位代码, 身份证号(第2人), 标签). A field it does not know is
// returned as it is.
func FieldHeader(field string) string {
	root, index, sub := splitField(field)
	switch root {
	case "persons":
		if index < 0 {
			return "当事人姓名"
		}
		h := map[string]string{"id_number": "身份证号", "name": "当事人姓名", "phone": "联系电话", "role": "当事人角色"}[sub]
		if h == "" {
			h = "当事人"
		}
		return h + "(第" + strconv.Itoa(index+1) + "人)"
	case "occurred_at":
		return "发生时间/登记日期"
	case "amount":
		return "涉及金额(元)"
	}
	for _, c := range columns {
		if c.Field == root {
			return c.Header
		}
	}
	return field
}

// splitField splits "persons[1].id_number" into "persons", 1, "id_number";
// a field without an index has index -1.
func splitField(field string) (root string, index int, sub string) {
	root, rest, ok := strings.Cut(field, "[")
	if !ok {
		root, sub, _ = strings.Cut(field, ".")
		return root, -1, sub
	}
	num, rest, ok := strings.Cut(rest, "]")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return root, -1, ""
	}
	return root, n, strings.TrimPrefix(rest, ".")
}
