package ledger

import (
	"errors"
	"fmt"
	"strings"
)

// record is one row of a CSV file or a sheet, with its row number.
type record struct {
	line  int
	cells []string
	shown []string // XLSX: the cells as Excel shows them; nil: as cells
}

func (r record) empty() bool {
	for _, c := range r.cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// headerSearch is how many non-empty rows are searched for the header row,
// past the title rows ledgers often have above it.
const headerSearch = 10

// readTable converts the records of a CSV file or a sheet: a header row, then
// one row a signal. The header row is the first row naming at least two
// known columns among the first few, or else the first non-empty row.
func readTable(recs []record, conv converter) ([]Row, error) {
	head := -1
	seen := 0
	for i, rec := range recs {
		if rec.empty() {
			continue
		}
		if head < 0 {
			head = i // the first non-empty row, unless a better one follows
		}
		known := 0
		for _, h := range rec.cells {
			if lookup(h) >= 0 {
				known++
			}
		}
		if known >= 2 {
			head = i
			break
		}
		if seen++; seen == headerSearch {
			break
		}
	}
	if head < 0 {
		return nil, errors.New("the ledger is empty: give a header row, then one row per dispute")
	}
	header := recs[head].cells
	cols, err := mapHeader(header, recs[head].line)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, rec := range recs[head+1:] {
		if rec.empty() {
			continue
		}
		if len(rows) == MaxRows {
			return nil, fmt.Errorf("the ledger has more than %d rows: split it into several files", MaxRows)
		}
		n := max(len(header), len(rec.cells))
		cells := make([]cell, n)
		for j := range n {
			ce := cell{col: -1}
			if j < len(header) {
				ce.key, ce.col = header[j], cols[j]
			}
			if j < len(rec.cells) {
				ce.text = rec.cells[j]
			}
			if j < len(rec.shown) && rec.shown[j] != ce.text {
				ce.shown = rec.shown[j]
			}
			cells[j] = ce
		}
		// Cells past the header with nothing in them are not part of the row.
		for len(cells) > len(header) && strings.TrimSpace(cells[len(cells)-1].text) == "" {
			cells = cells[:len(cells)-1]
		}
		rows = append(rows, conv.convert(rec.line, cells))
	}
	return rows, nil
}

// mapHeader maps each header to its column (-1 unknown, -2 ignored) and
// reports every problem with the header row at once: a column given twice,
// a required column missing.
func mapHeader(header []string, line int) ([]int, error) {
	cols := make([]int, len(header))
	at := map[int]string{}
	var errs []string
	for j, h := range header {
		cols[j] = -1
		if strings.TrimSpace(h) == "" {
			continue
		}
		c := lookup(h)
		cols[j] = c
		if c < 0 {
			continue
		}
		if prev, dup := at[c]; dup {
			errs = append(errs, fmt.Sprintf("columns %s and %s both give %s: keep one", columnLetters(indexOf(header, prev)), columnLetters(j), columns[c].Header))
			continue
		}
		at[c] = h
	}
	if _, ok := at[colAmountWan]; ok {
		if _, both := at[colAmount]; both {
			errs = append(errs, "columns 涉及金额(元) and 涉及金额(万元) both give the amount: keep one")
		}
	}
	for i, c := range columns {
		if _, ok := at[i]; c.Required && !ok {
			errs = append(errs, missing(c))
		}
	}
	_, occ := at[colOccurred]
	if _, reg := at[colRegister]; !occ && !reg {
		errs = append(errs, missing(columns[colRegister])+", or 发生时间 (also accepted: "+strings.Join(columns[colOccurred].Aliases, ", ")+")")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("header row %d: %s", line, strings.Join(errs, "; "))
	}
	return cols, nil
}

func missing(c Column) string {
	return fmt.Sprintf("missing required column %s (also accepted: %s)", c.Header, strings.Join(c.Aliases, ", "))
}

func indexOf(ss []string, s string) int {
	for i, v := range ss {
		if v == s {
			return i
		}
	}
	return -1
}
