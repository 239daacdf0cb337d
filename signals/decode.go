package signals

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Decode reads one signal or a JSON array of signals. A syntax or type error
// is returned as a ValidationError naming the field; values are never echoed,
// since they may be ID or phone numbers.
func Decode(body []byte) ([]Signal, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, &ValidationError{[]FieldError{{"", "the request body is empty: send a JSON signal or an array of signals"}}}
	}
	if body[0] != '[' {
		var s Signal
		if err := decodeStrict(body, &s); err != nil {
			return nil, &ValidationError{[]FieldError{jsonFieldError(err, "")}}
		}
		return []Signal{s}, nil
	}
	var raws []json.RawMessage
	if err := decodeStrict(body, &raws); err != nil {
		return nil, &ValidationError{[]FieldError{jsonFieldError(err, "")}}
	}
	if len(raws) == 0 {
		return nil, &ValidationError{[]FieldError{{"", "the batch is empty"}}}
	}
	if len(raws) > MaxBatch {
		return nil, &ValidationError{[]FieldError{{"", fmt.Sprintf("a batch holds at most %d signals; split it", MaxBatch)}}}
	}
	out := make([]Signal, len(raws))
	var errs []FieldError
	for i, raw := range raws {
		if err := decodeStrict(raw, &out[i]); err != nil {
			errs = append(errs, jsonFieldError(err, fmt.Sprintf("[%d].", i)))
		}
	}
	if errs != nil {
		return nil, &ValidationError{errs}
	}
	return out, nil
}

// DecodeNDJSON reads newline-delimited JSON, one signal a line; blank lines
// are skipped. Errors name the item by its index among the signals, like a
// JSON array, and the line it is on.
func DecodeNDJSON(body []byte) ([]Signal, error) {
	var out []Signal
	var errs []FieldError
	for n, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if len(out) == MaxBatch {
			return nil, &ValidationError{[]FieldError{{"", fmt.Sprintf("a batch holds at most %d signals; split it", MaxBatch)}}}
		}
		var s Signal
		if err := decodeStrict(line, &s); err != nil {
			fe := jsonFieldError(err, fmt.Sprintf("[%d].", len(out)))
			fe.Message += fmt.Sprintf(" (line %d)", n+1)
			errs = append(errs, fe)
		}
		out = append(out, s)
	}
	if errs != nil {
		return nil, &ValidationError{errs}
	}
	if len(out) == 0 {
		return nil, &ValidationError{[]FieldError{{"", "the batch is empty"}}}
	}
	return out, nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func jsonFieldError(err error, prefix string) FieldError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tpe *time.ParseError
	var pe *pathError
	switch {
	case errors.As(err, &pe):
		return FieldError{prefix + pe.field, pe.msg}
	case errors.As(err, &syn):
		return FieldError{strings.TrimSuffix(prefix, "."), fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return FieldError{strings.TrimSuffix(prefix, "."), "must be a JSON object"}
		}
		return FieldError{prefix + field, "must be a " + jsonKind(typ.Type.Kind().String())}
	case errors.As(err, &tpe):
		return FieldError{prefix + "occurred_at", "must be RFC 3339 time, e.g. 2026-11-22T09:30:00+08:00"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return FieldError{strings.TrimSuffix(prefix, "."), "malformed JSON: the body ends too early"}
	}
	return FieldError{strings.TrimSuffix(prefix, "."), "malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "float64":
		return "number"
	case "slice":
		return "JSON array"
	case "struct", "map", "ptr":
		return "JSON object"
	}
	return k
}
