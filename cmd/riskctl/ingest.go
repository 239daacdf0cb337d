package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"fengqiao/signals"
	"fengqiao/signals/ledger"
)

const ingestUsage = `Usage: riskctl [-server URL] ingest [flags] FILE

Bulk-loads a ledger (台账) from CSV, JSONL or XLSX into riskd. Every row is
checked first (a dry run on the server); a file with any bad row loads
nothing unless -skip-invalid is given. Re-loading a file is harmless: rows
already loaded count as duplicates. See docs/ledger.md for the columns.

Flags (-flag or --flag, before or after FILE):
  -source ledger     what the file holds (only ledger for now)
  -format FORMAT     csv, jsonl or xlsx (default: from the file's extension)
  -skip-invalid      load the good rows and write the bad ones to the -rejected file
  -rejected FILE     where rejected rows go (default: FILE.rejected.csv)
  -batch N           rows per request, 1 to 1000 (default 500)
`

// ingestBodyLimit keeps a request well under the API's 8 MiB body limit,
// whatever the batch size: long summaries make big rows.
const ingestBodyLimit = 4 << 20

// ingestRetryWait is how long ingest waits before trying a request again;
// it doubles after each try. Tests shorten it.
var ingestRetryWait = time.Second

// ingester loads a ledger through the API.
type ingester struct {
	c        *client
	stderr   io.Writer
	batch    int
	attempts int           // tries per request when riskd is busy or unreachable
	wait     time.Duration // before the second try; doubles after
}

// ingest runs `riskctl ingest`. It returns the exit code.
func ingest(args []string, c *client, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below: -h to stdout, a mistake to stderr
	source := fs.String("source", "ledger", "")
	format := fs.String("format", "", "")
	skip := fs.Bool("skip-invalid", false, "")
	rejected := fs.String("rejected", "", "")
	batch := fs.Int("batch", 500, "")
	// Flags may follow the file too: ingest FILE -skip-invalid.
	var files []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, ingestUsage)
			return 0
		} else if err != nil {
			fmt.Fprint(stderr, ingestUsage)
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(files) != 1:
		fmt.Fprint(stderr, ingestUsage)
		return 2
	case *source != "ledger":
		fmt.Fprintln(stderr, "riskctl ingest: only -source ledger is supported for now; send other signals with riskctl send")
		return 2
	case *batch < 1 || *batch > signals.MaxBatch:
		fmt.Fprintf(stderr, "riskctl ingest: -batch must be from 1 to %d\n", signals.MaxBatch)
		return 2
	}
	file := files[0]
	if *format == "" {
		var err error
		if *format, err = ledger.FormatOf(file); err != nil {
			fmt.Fprintf(stderr, "riskctl ingest: %s: %v\n", file, err)
			return 2
		}
	}
	if *rejected == "" {
		*rejected = file + ".rejected.csv"
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintln(stderr, "riskctl ingest:", err)
		return 1
	}
	rows, err := ledger.Read(f, *format)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "riskctl ingest: %s: %v\n", file, err)
		return 1
	}
	if len(rows) == 0 {
		fmt.Fprintf(stderr, "riskctl ingest: %s has a header but no rows: nothing to load\n", file)
		return 1
	}
	in := &ingester{c: c, stderr: stderr, batch: *batch, attempts: 3, wait: ingestRetryWait}
	return in.run(rows, *skip, *rejected, stdout)
}

// run checks every row, then loads the good ones unless there are bad ones
// and skip is false. It returns the exit code.
func (in *ingester) run(rows []ledger.Row, skip bool, rejectedFile string, stdout io.Writer) int {
	// Check every row first, so that a bad row found late does not leave the
	// file half loaded. Rows that could not be converted are checked too, so
	// that each row's every problem is reported at once.
	all := make([]int, len(rows))
	for i := range rows {
		all[i] = i
	}
	if err := in.each(rows, all, "校验", func(batch []int) error { return in.validate(rows, batch) }); err != nil {
		fmt.Fprintln(in.stderr, "riskctl ingest:", err)
		return 1
	}
	var good, bad []int
	for i := range rows {
		if rows[i].OK() {
			good = append(good, i)
		} else {
			bad = append(bad, i)
		}
	}
	for _, i := range bad {
		for _, fe := range rows[i].Errors {
			fmt.Fprintf(in.stderr, "row %d: %s\n", rows[i].Line, strings.TrimPrefix(fe.Field+": "+fe.Message, ": "))
		}
	}
	if len(bad) > 0 && !skip {
		fmt.Fprintf(stdout, "nothing was loaded: %d of %d rows are invalid; fix them, or load the rest with -skip-invalid\n", len(bad), len(rows))
		return 1
	}

	var sum summary
	err := in.each(rows, good, "导入", func(batch []int) error { return in.store(rows, batch, &sum) })
	// Rows the server refused while loading (its jurisdiction changed since
	// the check, say) are rejected like the rest.
	var late []int
	for _, i := range good {
		if !rows[i].OK() {
			late = append(late, i)
			for _, fe := range rows[i].Errors {
				fmt.Fprintf(in.stderr, "row %d: %s\n", rows[i].Line, strings.TrimPrefix(fe.Field+": "+fe.Message, ": "))
			}
		}
	}
	bad = append(bad, late...)
	if err != nil {
		fmt.Fprintf(in.stderr, "riskctl ingest: %v\nthe load stopped part way: run ingest again to finish; rows already loaded count as duplicates\n", err)
	}
	if len(late) > 0 {
		fmt.Fprintf(in.stderr, "riskctl ingest: riskd refused %d rows while loading that had passed its check (has its jurisdiction or configuration changed?)\n", len(late))
	}
	line := fmt.Sprintf("accepted %d, duplicates %d, rejected %d", sum.accepted, sum.duplicates, len(bad))
	if len(bad) > 0 && skip {
		if werr := writeRejected(rejectedFile, rows); werr != nil {
			fmt.Fprintln(in.stderr, "riskctl ingest: write rejected rows:", werr)
			err = errors.Join(err, werr)
		} else {
			line += fmt.Sprintf(" (see %s)", rejectedFile)
		}
	}
	fmt.Fprintln(stdout, line)
	switch {
	case err != nil:
		return 1
	case len(late) > 0 && !skip:
		return 1
	case len(good) == 0:
		return 1 // -skip-invalid, and not one row was good
	}
	return 0
}

type summary struct{ accepted, duplicates int }

func writeRejected(name string, rows []ledger.Row) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	_, err = ledger.WriteRejected(f, rows)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// each calls do with the given rows in batches of at most in.batch rows and
// ingestBodyLimit bytes, drawing a progress bar on stderr.
func (in *ingester) each(rows []ledger.Row, idx []int, label string, do func([]int) error) error {
	if len(idx) == 0 {
		return nil
	}
	done := 0
	in.progress(label, done, len(idx))
	defer fmt.Fprintln(in.stderr)
	for len(idx) > 0 {
		n, size := 0, 0
		for n < len(idx) && n < in.batch {
			b, err := json.Marshal(&rows[idx[n]].Signal)
			if err != nil {
				return fmt.Errorf("row %d: %w", rows[idx[n]].Line, err)
			}
			if n > 0 && size+len(b) > ingestBodyLimit {
				break
			}
			size += len(b) + 1
			n++
		}
		if err := do(idx[:n]); err != nil {
			return err
		}
		idx = idx[n:]
		done += n
		in.progress(label, done, done+len(idx))
	}
	return nil
}

func (in *ingester) progress(label string, done, total int) {
	const width = 30
	fill := width * done / total
	fmt.Fprintf(in.stderr, "\r%s [%s%s] %d/%d", label, strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, total)
}

// apiErrors is the API's answer to a refused batch.
type apiErrors struct {
	Error  string               `json:"error"`
	Errors []signals.FieldError `json:"errors"`
}

// validate asks the server to check a batch without storing it, and puts
// each error on its row.
func (in *ingester) validate(rows []ledger.Row, batch []int) error {
	code, resp, err := in.post("/api/v1/signals?dry_run=true", rows, batch)
	if err != nil {
		return err
	}
	switch code {
	case http.StatusOK:
		return nil
	case http.StatusBadRequest:
		return placeErrors(rows, batch, resp)
	}
	return unexpected(code, resp)
}

// store sends a batch for real and counts what was new and what was not.
// A batch riskd refuses (its checks changed since the dry run) has its bad
// rows marked and the rest sent again.
func (in *ingester) store(rows []ledger.Row, batch []int, sum *summary) error {
	for len(batch) > 0 {
		code, resp, err := in.post("/api/v1/signals", rows, batch)
		if err != nil {
			return err
		}
		switch code {
		case http.StatusAccepted:
			var r struct {
				Accepted []struct {
					Duplicate bool `json:"duplicate"`
				} `json:"accepted"`
			}
			if err := json.Unmarshal(resp, &r); err != nil || len(r.Accepted) != len(batch) {
				return fmt.Errorf("riskd's answer to a batch was not understood (%d rows sent); run ingest again to finish: rows already loaded count as duplicates", len(batch))
			}
			for _, a := range r.Accepted {
				if a.Duplicate {
					sum.duplicates++
				} else {
					sum.accepted++
				}
			}
			return nil
		case http.StatusBadRequest:
			if err := placeErrors(rows, batch, resp); err != nil {
				return err
			}
			ok := batch[:0:0]
			for _, i := range batch {
				if rows[i].OK() {
					ok = append(ok, i)
				}
			}
			if len(ok) == len(batch) { // cannot happen: placeErrors placed at least one
				return unexpected(code, resp)
			}
			batch = ok
		default:
			return unexpected(code, resp)
		}
	}
	return nil
}

// placeErrors puts the errors of a refused batch ("[3].unit") on their rows.
func placeErrors(rows []ledger.Row, batch []int, resp []byte) error {
	var e apiErrors
	if err := json.Unmarshal(resp, &e); err != nil || len(e.Errors) == 0 {
		return unexpected(http.StatusBadRequest, resp)
	}
	for _, fe := range e.Errors {
		i, ok := batchIndex(fe.Field)
		if !ok || i >= len(batch) {
			return fmt.Errorf("riskd refused a batch: %s", e.Error)
		}
		rows[batch[i]].AddSignalErrors(fe)
	}
	return nil
}

// batchIndex reads the index from an error's field, "[3].unit" → 3.
func batchIndex(field string) (int, bool) {
	num, ok := strings.CutPrefix(field, "[")
	if !ok {
		return 0, false
	}
	num, _, ok = strings.Cut(num, "]")
	n, err := strconv.Atoi(num)
	return n, ok && err == nil && n >= 0
}

func unexpected(code int, resp []byte) error {
	var e apiErrors
	if json.Unmarshal(resp, &e) == nil && e.Error != "" {
		return fmt.Errorf("riskd answered %d: %s", code, e.Error)
	}
	return fmt.Errorf("riskd answered %d: is -server riskd's address?", code)
}

// post sends a batch as a JSON array, retrying while riskd is busy (503,
// 429) or unreachable: loading is idempotent, so a retry never counts twice.
func (in *ingester) post(path string, rows []ledger.Row, batch []int) (int, []byte, error) {
	sigs := make([]*signals.Signal, len(batch))
	for i, r := range batch {
		sigs[i] = &rows[r].Signal
	}
	body, err := json.Marshal(sigs)
	if err != nil {
		return 0, nil, err
	}
	wait := in.wait
	for attempt := 1; ; attempt++ {
		code, resp, err := in.c.do("POST", path, body)
		busy := err == nil && (code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests)
		if (err == nil && !busy) || attempt >= in.attempts {
			return code, resp, err
		}
		time.Sleep(wait)
		wait *= 2
	}
}
