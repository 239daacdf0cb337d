package ledger

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"fengqiao/signals"
)

// WriteRejected writes the rows that have errors as a CSV file that Excel
// opens (UTF-8 with a byte-order mark): the ledger's own columns, then
// 原行号 (the row's number in the ledger) and 错误原因 (every error, "column:
// message", separated by "; "). Both added columns are ignored when a ledger
// is read, so the file can be fixed and imported as it is. It returns how
// many rows it wrote.
func WriteRejected(w io.Writer, rows []Row) (int, error) {
	var header []string
	at := map[string]int{}
	for _, r := range rows {
		for _, c := range r.Cells {
			if _, ok := at[c.Header]; !ok {
				at[c.Header] = len(header)
				header = append(header, c.Header)
			}
		}
	}
	if _, err := w.Write(bom); err != nil {
		return 0, err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(append(header[:len(header):len(header)], RowColumn, ReasonColumn)); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		if r.OK() {
			continue
		}
		out := make([]string, len(header)+2)
		for _, c := range r.Cells {
			if i := at[c.Header]; out[i] == "" {
				out[i] = c.Value
			}
		}
		out[len(header)] = strconv.Itoa(r.Line)
		out[len(header)+1] = Reasons(r.Errors)
		if err := cw.Write(out); err != nil {
			return n, err
		}
		n++
	}
	cw.Flush()
	return n, cw.Error()
}

// Reasons joins a row's errors as "column: message; column: message".
func Reasons(errs []signals.FieldError) string {
	parts := make([]string, len(errs))
	for i, fe := range errs {
		parts[i] = strings.TrimPrefix(fe.Field+": "+fe.Message, ": ")
	}
	return strings.Join(parts, "; ")
}
