// Package ledger reads dispute ledgers (矛盾纠纷台账), the spreadsheets units
// keep, into signals: CSV, JSONL and XLSX files whose columns are named by
// Chinese headers (or the signals' JSON field names), one row a signal of
// source ledger. It converts each cell and reports what it cannot convert by
// row and column, without ever repeating a cell's value; validating a
// converted signal against the jurisdiction is left to signals.Validator.
//
// docs/ledger.md is the user's guide: the header map, accepted cell formats,
// and an example row.
package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"fengqiao/risk"
	"fengqiao/signals"
)

// Formats a ledger can be read from.
const (
	CSV   = "csv"   // UTF-8 (with or without BOM) or GB18030/GBK, comma-separated, headers in the first row
	JSONL = "jsonl" // one JSON object a line, keyed by headers or JSON field names
	XLSX  = "xlsx"  // the first sheet of an Excel workbook, headers in the first row
)

// Limits on one ledger file.
const (
	MaxRows      = 100_000   // data rows
	maxFileBytes = 256 << 20 // bytes read from an XLSX or CSV file
	maxLineBytes = 4 << 20   // bytes on one JSONL line
)

// The columns riskctl adds to a file of rejected rows. Both are ignored when
// a ledger is read, so that a fixed file of rejected rows imports as it is.
const (
	RowColumn    = "原行号"  // the row's number in the file it came from
	ReasonColumn = "错误原因" // why the row was rejected
)

// Row is one row of a ledger and the signal made of it.
type Row struct {
	// Line is the row's number as a spreadsheet shows it (the header is row
	// 1); in JSONL, the line number.
	Line int
	// Signal is the row as a signal of source ledger. When Errors is not
	// empty it is incomplete: fields that could not be read are left empty.
	Signal signals.Signal
	// Errors lists every cell of the row that could not be read, each field
	// named by its Chinese header (e.g. 登记日期).
	Errors []signals.FieldError
	// Cells are the row's cells as read, in column order, so that a rejected
	// row can be written back as it was.
	Cells []Cell

	// failed holds the signal fields whose cells could not be read: JSON
	// roots ("persons" covers "persons[1].phone"), "=field" for the field
	// alone, "*" for all.
	failed map[string]bool
}

// Cell is one cell of a row, under its column's header as the file gives it.
type Cell struct {
	Header string
	Value  string
}

// OK reports whether the row has no errors.
func (r *Row) OK() bool { return len(r.Errors) == 0 }

// AddSignalErrors adds errors found in the row's signal by validation (fields
// named as the API names them, e.g. "[3].persons[0].id_number" or "unit"),
// naming each by its column (身份证号(第1人), 所属单位代码). Errors on fields
// whose cells could not be read are left out: the row already says why, and
// "is required" would only repeat it.
func (r *Row) AddSignalErrors(errs ...signals.FieldError) {
	for _, fe := range errs {
		field := fe.Field
		if strings.HasPrefix(field, "[") { // a batch index: the caller placed the error on this row
			if _, rest, ok := strings.Cut(field, "]"); ok {
				field = strings.TrimPrefix(rest, ".")
			}
		}
		root, _, _ := splitField(field)
		if r.failed[root] || r.failed["="+field] || r.failed["*"] {
			continue
		}
		r.Errors = append(r.Errors, signals.FieldError{Field: FieldHeader(field), Message: fe.Message})
	}
}

// FormatOf returns the format of a ledger file from its name's extension.
func FormatOf(name string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".csv", ".txt":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONL, nil
	case ".xlsx", ".xlsm":
		return XLSX, nil
	case ".xls", ".et", ".wps":
		return "", fmt.Errorf("%s files are not supported: save the sheet as .xlsx or CSV (UTF-8)", ext)
	case ".json":
		return "", errors.New("a ledger in JSON must be JSONL, one object a line: name it .jsonl or give --format jsonl")
	}
	return "", errors.New("cannot tell the ledger's format from its name: give --format csv, jsonl or xlsx")
}

// Read reads a whole ledger in the given format (csv, jsonl or xlsx) and
// converts every row. An error means the file as a whole could not be read
// (it is not a CSV, a required column is missing, …); a row that cannot be
// converted has its Errors instead. Empty rows are skipped. A ledger number
// that repeats an earlier row's is an error on the later row.
func Read(r io.Reader, format string) ([]Row, error) {
	var rows []Row
	var err error
	switch strings.ToLower(format) {
	case CSV:
		rows, err = readCSV(r)
	case JSONL, "ndjson":
		rows, err = readJSONL(r)
	case XLSX:
		rows, err = readXLSX(r)
	default:
		return nil, errors.New("unknown ledger format: use csv, jsonl or xlsx")
	}
	if err != nil {
		return nil, err
	}
	first := map[string]int{}
	for i := range rows {
		id := rows[i].Signal.ID
		if id == "" {
			continue
		}
		if line, dup := first[id]; dup {
			rows[i].fail("id", "台账编号", fmt.Sprintf("repeats the ledger number of row %d: give each row its own", line))
			continue
		}
		first[id] = rows[i].Line
	}
	return rows, nil
}

func (r *Row) fail(field, header, msg string) {
	if r.failed == nil {
		r.failed = map[string]bool{}
	}
	r.failed[field] = true
	r.Errors = append(r.Errors, signals.FieldError{Field: header, Message: msg})
}

// cell is a cell on its way to conversion.
type cell struct {
	col   int             // index in columns, or -1 (unknown) or -2 (ignored)
	key   string          // the header or JSON key as given
	text  string          // the value as text
	shown string          // the value as a spreadsheet shows it, if not text
	raw   json.RawMessage // JSONL: the value as sent
}

// converter turns a row's cells into a signal.
type converter struct {
	serials, date1904 bool // XLSX: number cells in date columns are Excel dates
}

func colIndex(header string) int {
	i := slices.IndexFunc(columns, func(c Column) bool { return c.Header == header })
	if i < 0 {
		panic("ledger: no column " + header)
	}
	return i
}

var (
	colID        = colIndex("台账编号")
	colDispute   = colIndex("纠纷编号")
	colOccurred  = colIndex("发生时间")
	colRegister  = colIndex("登记日期")
	colUnit      = colIndex("所属单位代码")
	colCategory  = colIndex("纠纷类别")
	colParties   = colIndex("当事人数")
	colAmount    = colIndex("涉及金额(元)")
	colAmountWan = colIndex("涉及金额(万元)")
	colSummary   = colIndex("简要情况")
	colTags      = colIndex("标签")
	colNames     = colIndex("当事人姓名")
	colIDNumbers = colIndex("身份证号")
	colPhones    = colIndex("联系电话")
	colPersons   = colIndex("persons")
	colStatus    = colIndex("化解状态")
	colResp      = colIndex("责任单位")
	colReporter  = colIndex("登记人")
	colSource    = colIndex("source")
)

// convert makes a Row of one row's cells. Every cell that cannot be read is
// reported; the signal keeps what could be.
func (c converter) convert(line int, cells []cell) Row {
	r := Row{Line: line}
	for _, ce := range cells {
		if ce.col == -2 && (normalizeHeader(ce.key) == normalizeHeader(RowColumn) || normalizeHeader(ce.key) == normalizeHeader(ReasonColumn)) {
			continue
		}
		v := ce.text
		if ce.shown != "" {
			v = ce.shown
		}
		r.Cells = append(r.Cells, Cell{ce.key, v})
	}
	s := &r.Signal
	s.Source = risk.Ledger

	// One cell per column: in JSONL the same column may come under two keys.
	got := make([]*cell, len(columns))
	for i := range cells {
		ce := &cells[i]
		if ce.col < 0 {
			continue
		}
		if prev := got[ce.col]; prev != nil {
			r.fail(columns[ce.col].Field, columns[ce.col].Header, "is given twice: keep one of the columns or keys that mean it")
			continue
		}
		got[ce.col] = ce
	}
	text := func(col int) string {
		if got[col] == nil {
			return ""
		}
		return strings.TrimSpace(got[col].text)
	}
	// In JSONL a value may be a list or an object; only some columns take one.
	for i, ce := range got {
		if ce == nil || len(ce.raw) == 0 || i == colTags || i == colPersons {
			continue
		}
		if b := ce.raw[0]; b == '[' || b == '{' {
			r.fail(columns[i].Field, columns[i].Header, "must be text or a number, not a list or object")
			ce.text = ""
		}
	}

	if s.ID = text(colID); s.ID == "" {
		r.fail("id", "台账编号", "is required: the row's ledger number, which makes re-importing it harmless")
		// "dispute_id is required" and "give a person or a dispute_id" would only repeat it.
		r.failed["dispute_id"], r.failed["=persons"] = true, true
	}
	if s.DisputeID = text(colDispute); s.DisputeID == "" {
		s.DisputeID = s.ID
	}
	c.readTimes(&r, text(colOccurred), text(colRegister), got[colOccurred] != nil)

	switch s.Unit = text(colUnit); {
	case s.Unit == "":
		r.fail("unit", "所属单位代码", "is required: the 12-digit code of the unit (15 for a grid) the row belongs to")
	case !isUnitCode(s.Unit):
		r.fail("unit", "所属单位代码", "must be a unit code of 12 digits (15 for a grid), e.g. 990101100201")
		s.Unit = ""
	}
	if s.Category = text(colCategory); s.Category == "" {
		r.fail("category", "纠纷类别", "is required: the dispute category, e.g. 婚姻家庭 or 劳动/欠薪")
	}
	partyCount := -1
	if v := text(colParties); v != "" {
		n, err := parseCount(v)
		if err != nil {
			r.fail("party_count", "当事人数", err.Error())
		} else {
			partyCount = n
		}
	}
	for _, col := range []int{colAmount, colAmountWan} {
		if v := text(col); v != "" {
			unit := 1.0
			if col == colAmountWan {
				unit = 10000
			}
			amt, err := parseAmount(v, unit)
			if err != nil {
				r.fail("amount", columns[col].Header, err.Error())
			} else {
				s.Amount = amt
			}
		}
	}
	s.Summary = text(colSummary)
	s.Reporter = text(colReporter)
	c.readTags(&r, got[colTags])
	c.readPersons(&r, got, text)
	if partyCount >= 0 {
		s.PartyCount = partyCount
	} else {
		s.PartyCount = len(s.Persons)
	}
	if v := text(colSource); v != "" && v != string(risk.Ledger) {
		r.fail("source", "source", "must be ledger, or be left out: every row of a ledger is a ledger signal")
	}

	switch v := text(colStatus); {
	case v == "":
		r.fail("ledger_status", "化解状态", "is required: one of "+strings.Join(signals.LedgerStatuses, ", "))
	case !slices.Contains(signals.LedgerStatuses, v):
		r.fail("ledger_status", "化解状态", "is not a status: use one of "+strings.Join(signals.LedgerStatuses, ", "))
	default:
		s.LedgerStatus = v
	}
	s.ResponsibleUnit = text(colResp)

	extra := map[string]json.RawMessage{}
	if occ, reg := text(colOccurred), text(colRegister); occ != "" && reg != "" {
		if t, err := parseTime(reg, c.serials, c.date1904); err == nil {
			extra["registered_at"] = jsonString(t.Format(time.RFC3339))
		}
	}
	for i, ce := range cells {
		if ce.col != -1 {
			continue
		}
		key := strings.TrimSpace(ce.key)
		if key == "" {
			key = "列" + columnLetters(i)
		}
		switch {
		case len(ce.raw) > 0 && string(ce.raw) != "null" && string(ce.raw) != `""`:
			extra[key] = ce.raw
		case len(ce.raw) == 0 && strings.TrimSpace(ce.text) != "":
			extra[key] = jsonString(strings.TrimSpace(ce.text))
		}
	}
	if len(extra) > 0 {
		s.Extra = extra
	}
	return r
}

// readTimes sets the signal's occurrence time from 发生时间, or from 登记日期
// where that is absent or empty.
func (c converter) readTimes(r *Row, occ, reg string, hasOccurredColumn bool) {
	var occT, regT time.Time
	var err error
	bad := false
	if occ != "" {
		if occT, err = parseTime(occ, c.serials, c.date1904); err != nil {
			r.fail("occurred_at", "发生时间", err.Error())
			bad = true
		}
	}
	if reg != "" {
		if regT, err = parseTime(reg, c.serials, c.date1904); err != nil {
			r.fail("occurred_at", "登记日期", err.Error())
			bad = true
		}
	}
	switch {
	case bad:
	case !occT.IsZero():
		r.Signal.OccurredAt = occT
	case !regT.IsZero():
		r.Signal.OccurredAt = regT
	case hasOccurredColumn:
		r.fail("occurred_at", "发生时间", "is required: the date the dispute happened (or give 登记日期)")
	default:
		r.fail("occurred_at", "登记日期", "is required: the date the dispute was registered")
	}
}

func (c converter) readTags(r *Row, ce *cell) {
	if ce == nil {
		return
	}
	if len(ce.raw) > 0 && ce.raw[0] == '[' {
		var tags []string
		if err := json.Unmarshal(ce.raw, &tags); err != nil {
			r.fail("tags", "标签", "must be text or a list of text")
			return
		}
		for _, t := range tags {
			if t = strings.TrimSpace(t); t != "" {
				r.Signal.Tags = append(r.Signal.Tags, t)
			}
		}
		return
	}
	if len(ce.raw) > 0 && ce.raw[0] == '{' {
		r.fail("tags", "标签", "must be text or a list of text")
		return
	}
	r.Signal.Tags = splitTags(ce.text)
}

// readPersons reads the persons from a persons list (JSONL), or from the
// 当事人姓名, 身份证号 and 联系电话 columns, aligned by position.
func (c converter) readPersons(r *Row, got []*cell, text func(int) string) {
	names, ids, phones := splitPersons(text(colNames)), splitPersons(text(colIDNumbers)), splitPersons(text(colPhones))
	if ce := got[colPersons]; ce != nil && strings.TrimSpace(ce.text) != "" {
		if len(names)+len(ids)+len(phones) > 0 {
			r.fail("persons", "persons", "give persons either as a persons list or in 当事人姓名, 身份证号 and 联系电话, not both")
			return
		}
		raw := ce.raw
		if len(raw) == 0 {
			raw = json.RawMessage(ce.text)
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		var ps []signals.Person
		if err := dec.Decode(&ps); err != nil || dec.More() {
			r.fail("persons", "persons", "must be a list of persons, each {\"name\", \"id_number\", \"phone\", \"role\"}")
			return
		}
		for _, p := range ps {
			if p.Role == "" {
				p.Role = "当事人"
			}
			p.IDNumber = strings.ToUpper(p.IDNumber)
			r.Signal.Persons = append(r.Signal.Persons, p)
		}
		return
	}
	// Lists align by position; a trailing separator holds the place of a
	// last person whose value is unknown, so only a list that stops short
	// of the others is an error.
	n := max(given(names), given(ids), given(phones))
	lists := []struct {
		header string
		vals   []string
	}{{"当事人姓名", names}, {"身份证号", ids}, {"联系电话", phones}}
	longest := lists[0]
	for _, l := range lists {
		if given(l.vals) == n {
			longest = l
			break
		}
	}
	ok := true
	for _, l := range lists {
		if len(l.vals) != 0 && len(l.vals) < n {
			r.fail("persons", l.header, fmt.Sprintf("lists %d persons but %s lists %d: give one entry per person in the same order, separated by 、 (leave a gap, as in 张三、、李四, where one is unknown)", len(l.vals), longest.header, n))
			ok = false
		}
	}
	if !ok {
		return
	}
	at := func(vals []string, i int) string {
		if i < len(vals) {
			return vals[i]
		}
		return ""
	}
	for i := range n {
		p := signals.Person{Name: at(names, i), IDNumber: at(ids, i), Phone: at(phones, i), Role: "当事人"}
		if p.Name == "" && p.IDNumber == "" && p.Phone == "" {
			continue
		}
		p.IDNumber = strings.ToUpper(strings.Join(strings.Fields(p.IDNumber), ""))
		if excelNumber.MatchString(p.IDNumber) {
			r.fail("persons", "身份证号(第"+strconv.Itoa(i+1)+"人)", "was turned into a number by Excel and lost its last digits: format the column as text and enter the number again")
			continue
		}
		r.Signal.Persons = append(r.Signal.Persons, p)
	}
}

// excelNumber is an ID number that Excel stored as a number and shows in
// scientific notation, its last digits lost.
var excelNumber = regexp.MustCompile(`^\d(\.\d+)?E\+?\d+$`)

func isUnitCode(s string) bool {
	if len(s) != 12 && len(s) != 15 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// columnLetters names a column as a spreadsheet does: 0 is A, 26 is AA.
func columnLetters(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}
