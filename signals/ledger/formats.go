package ledger

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"fengqiao/signals"
)

var bom = []byte("\ufeff")

// readCSV reads a CSV ledger. Excel saves CSV as UTF-8 with a byte-order
// mark, or, on a Chinese Windows, in GBK (GB18030's subset): a file that is
// not valid UTF-8 is read as GB18030.
func readCSV(r io.Reader) ([]Row, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read CSV: %w", err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("the file is larger than %d MiB: split it into several files", maxFileBytes>>20)
	}
	b = bytes.TrimPrefix(b, bom)
	if !utf8.Valid(b) {
		if b, err = simplifiedchinese.GB18030.NewDecoder().Bytes(b); err != nil {
			return nil, errors.New("read CSV: the file is neither UTF-8 nor GB18030: save it as CSV UTF-8")
		}
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1 // short rows are padded, long ones read; readTable sorts them out
	var recs []record
	folded := 0 // line breaks inside quoted cells so far: a spreadsheet shows them within one row
	for {
		cells, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		recs = append(recs, record{line: line - folded, cells: cells})
		for _, c := range cells {
			folded += strings.Count(c, "\n")
		}
		if len(recs) > MaxRows+headerSearch {
			return nil, fmt.Errorf("the ledger has more than %d rows: split it into several files", MaxRows)
		}
	}
	return readTable(recs, converter{})
}

// readJSONL reads a JSONL ledger: one JSON object a line, keyed by headers
// or JSON field names. A line that is not a JSON object is a row error.
func readJSONL(r io.Reader) ([]Row, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var rows []Row
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			b = bytes.TrimSpace(bytes.TrimPrefix(b, bom))
		}
		if len(b) == 0 {
			continue
		}
		if len(rows) == MaxRows {
			return nil, fmt.Errorf("the ledger has more than %d rows: split it into several files", MaxRows)
		}
		cells, msg := jsonCells(b)
		if msg != "" {
			rows = append(rows, Row{
				Line:   line,
				Signal: signals.Signal{Source: "ledger"},
				Errors: []signals.FieldError{{Field: "", Message: msg}},
				Cells:  []Cell{{Header: "json", Value: string(b)}},
				failed: map[string]bool{"*": true},
			})
			continue
		}
		rows = append(rows, converter{}.convert(line, cells))
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("line %d is longer than %d MiB: one line holds one row", line+1, maxLineBytes>>20)
	} else if err != nil {
		return nil, fmt.Errorf("read JSONL: %w", err)
	}
	return rows, nil
}

// jsonCells reads one JSONL line into cells, in the order of its keys, or
// says why it cannot.
func jsonCells(b []byte) ([]cell, string) {
	const notObject = "is not a JSON object: each line must hold one object, e.g. {\"台账编号\": \"TZ-…\", …}"
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, malformed(err, notObject)
	}
	var cells []cell
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed(err, notObject)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, malformed(err, notObject)
		}
		cells = append(cells, cell{col: lookup(key), key: key, text: jsonText(raw), raw: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, malformed(err, notObject)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "has more after the JSON object: each line must hold exactly one object"
	}
	return cells, ""
}

// malformed says where a line's JSON breaks, without quoting it.
func malformed(err error, otherwise string) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("is not valid JSON (at byte %d): each line must hold one JSON object", syn.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "is not valid JSON: the line ends before the object does"
	}
	return otherwise
}

// jsonText is a JSON value as a cell's text: a string unquoted, null empty,
// anything else as written.
func jsonText(raw json.RawMessage) string {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return ""
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	var out bytes.Buffer
	if json.Compact(&out, raw) == nil {
		return out.String()
	}
	return string(raw)
}

// readXLSX reads the first sheet of a workbook. Cells are read as stored (a
// date is its serial number, converted by the date columns) and, for writing
// rejected rows back, as Excel shows them.
func readXLSX(r io.Reader) ([]Row, error) {
	f, err := excelize.OpenReader(io.LimitReader(r, maxFileBytes+1), excelize.Options{
		UnzipSizeLimit:    1 << 30, // bounds a zip bomb
		UnzipXMLSizeLimit: 256 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("read XLSX: the file is not an Excel workbook (.xlsx): %w", err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, errors.New("read XLSX: the workbook has no sheet")
	}
	stored, err := f.GetRows(sheets[0], excelize.Options{RawCellValue: true})
	if err != nil {
		return nil, fmt.Errorf("read XLSX: %w", err)
	}
	shown, err := f.GetRows(sheets[0])
	if err != nil {
		return nil, fmt.Errorf("read XLSX: %w", err)
	}
	if len(stored) > MaxRows+headerSearch {
		return nil, fmt.Errorf("the ledger has more than %d rows: split it into several files", MaxRows)
	}
	recs := make([]record, len(stored))
	for i, cells := range stored {
		recs[i] = record{line: i + 1, cells: cells}
		if i < len(shown) {
			recs[i].shown = shown[i]
		}
		for j, c := range cells {
			// A number of 16 digits or more has lost its last digits (Excel
			// keeps 15): an ID number typed into a number cell. Read it as
			// Excel shows it, 9.90101197803152E+17, so that it is refused
			// as such rather than as a wrong check digit.
			if len(c) >= 16 && j < len(recs[i].shown) && recs[i].shown[j] != c && strings.Trim(c, "0123456789") == "" {
				cells[j] = recs[i].shown[j]
			}
		}
	}
	conv := converter{serials: true}
	if p, err := f.GetWorkbookProps(); err == nil && p.Date1904 != nil {
		conv.date1904 = *p.Date1904
	}
	return readTable(recs, conv)
}
