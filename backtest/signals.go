package backtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"fengqiao/signals"
)

// Decode reads signals in any of the API's formats: one JSON object, a JSON
// array, or one object a line (NDJSON). Unlike the API it takes any number:
// a file to replay is a recording, not a request. Each signal is decoded by
// signals.Decode, so that its problems read as the API's, with the item's
// index (and, in NDJSON, its line) in front.
func Decode(body []byte) ([]signals.Signal, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, &signals.ValidationError{Errors: []signals.FieldError{{Message: "the file is empty: give signals as JSON or NDJSON"}}}
	}
	var items [][]byte
	var lines []int // the line of each item, for NDJSON
	switch first, _, more := bytes.Cut(body, []byte("\n")); {
	case body[0] == '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			_, err = signals.Decode(body) // for the API's wording of what is wrong
			return nil, err
		}
		for _, r := range raws {
			items = append(items, r)
		}
	case more && json.Valid(bytes.TrimSpace(first)):
		for n, line := range bytes.Split(body, []byte("\n")) {
			if line = bytes.TrimSpace(line); len(line) > 0 {
				items = append(items, line)
				lines = append(lines, n+1)
			}
		}
	default:
		return signals.Decode(body)
	}
	out := make([]signals.Signal, 0, len(items))
	var errs []signals.FieldError
	for i, item := range items {
		where := ""
		if lines != nil {
			where = fmt.Sprintf(" (line %d)", lines[i])
		}
		if item[0] != '{' {
			errs = append(errs, signals.FieldError{Field: fmt.Sprintf("[%d]", i), Message: "must be a JSON object" + where})
			continue
		}
		s, err := signals.Decode(item)
		if err != nil {
			errs = append(errs, prefixed(err, i, where)...)
			continue
		}
		out = append(out, s...)
	}
	if errs != nil {
		return nil, &signals.ValidationError{Errors: errs}
	}
	return out, nil
}

// prefixed names item i in err's fields, as a batch would.
func prefixed(err error, i int, where string) []signals.FieldError {
	var ve *signals.ValidationError
	if !errors.As(err, &ve) {
		return []signals.FieldError{{Field: fmt.Sprintf("[%d]", i), Message: err.Error() + where}}
	}
	out := make([]signals.FieldError, len(ve.Errors))
	for j, fe := range ve.Errors {
		field := fmt.Sprintf("[%d]", i)
		if fe.Field != "" {
			field += "." + fe.Field
		}
		out[j] = signals.FieldError{Field: field, Message: fe.Message + where}
	}
	return out
}

// Records checks every signal as the API would and turns each into the
// record the engine's side sees, its persons pseudonymized by p. Every
// problem is reported at once.
func Records(sigs []signals.Signal, v *signals.Validator, p *signals.Pseudonymizer) ([]signals.Record, error) {
	var errs []signals.FieldError
	for i := range sigs {
		errs = append(errs, v.Validate(&sigs[i], fmt.Sprintf("[%d].", i))...)
	}
	if errs != nil {
		return nil, &signals.ValidationError{Errors: errs}
	}
	out := make([]signals.Record, len(sigs))
	for i := range sigs {
		out[i] = p.Record(&sigs[i], sigs[i].OccurredAt)
	}
	return out, nil
}

// Latest returns when the latest of the signals happened; zero if none.
func Latest(sigs []signals.Signal) time.Time {
	var t time.Time
	for _, s := range sigs {
		if s.OccurredAt.After(t) {
			t = s.OccurredAt
		}
	}
	return t
}
