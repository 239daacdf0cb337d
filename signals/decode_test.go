package signals

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"fengqiao/risk"
)

const gridReportJSON = `{
  "source": "grid_report",
  "id": "WG-2026-1122-007",
  "occurred_at": "2026-11-22T08:30:00+08:00",
  "unit": "990101001001",
  "persons": [
    {"id_number": "11010519491231002X", "name": "张三", "role": "当事人"},
    {"name": "李四", "phone": "139-1234-5678", "role": "当事人"}
  ],
  "category": "邻里",
  "party_count": 2,
  "amount": 3000.5,
  "tags": ["三失一偏"],
  "summary": "宅基地边界争吵",
  "reporter": "网格员王五"
}`

const petitionJSON = `{"source":"petition","id":"XF-1","occurred_at":"2026-11-21T15:00:00Z","unit":"990101001002",
  "persons":[{"id_number":"11010519491231002x","role":"信访人"}],
  "petition":{"level":"province","collective":true,"repeat":true}}`

func TestDecodeSingleSignal(t *testing.T) {
	got, err := Decode([]byte("\n  " + gridReportJSON + "\n"))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := []Signal{{
		Source:     risk.GridReport,
		ID:         "WG-2026-1122-007",
		OccurredAt: time.Date(2026, 11, 22, 8, 30, 0, 0, shanghai),
		Unit:       "990101001001",
		Persons: []Person{
			{IDNumber: "11010519491231002X", Name: "张三", Role: "当事人"},
			{Name: "李四", Phone: "139-1234-5678", Role: "当事人"},
		},
		Category:   "邻里",
		PartyCount: 2,
		Amount:     3000.5,
		Tags:       []string{"三失一偏"},
		Summary:    "宅基地边界争吵",
		Reporter:   "网格员王五",
	}}
	if len(got) != 1 || !got[0].OccurredAt.Equal(want[0].OccurredAt) {
		t.Fatalf("Decode = %+v, want %+v", got, want)
	}
	got[0].OccurredAt = want[0].OccurredAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode =\n%+v\nwant\n%+v", got, want)
	}
	if errs := testValidator().Validate(&got[0], ""); len(errs) != 0 {
		t.Errorf("the decoded signal does not validate: %v", errs)
	}
}

func TestDecodeBatch(t *testing.T) {
	got, err := Decode([]byte(" [" + gridReportJSON + ",\n" + petitionJSON + "] "))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("Decode gave %d signals, want 2", len(got))
	}
	if got[0].Key() != "grid_report:WG-2026-1122-007" || got[1].Key() != "petition:XF-1" {
		t.Errorf("keys = %s, %s", got[0].Key(), got[1].Key())
	}
	want := &Petition{Level: "province", Collective: true, Repeat: true}
	if !reflect.DeepEqual(got[1].Petition, want) {
		t.Errorf("petition = %+v, want %+v", got[1].Petition, want)
	}
	v := testValidator()
	for i := range got {
		if errs := v.Validate(&got[i], fmt.Sprintf("[%d].", i)); len(errs) != 0 {
			t.Errorf("signal %d does not validate: %v", i, errs)
		}
	}
}

func TestDecodeKeepsUnknownFields(t *testing.T) {
	body := `{"source":"hotline","id":"H-9","occurred_at":"2026-11-22T09:00:00+08:00","unit":"990101001001",
	  "dispute_id":"TZ-1","call_duration":315,"channel":{"kind":"app","version":"3.2"},"urgent":true,"note":null}`
	got, err := Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	wantExtra := map[string]string{
		"call_duration": `315`,
		"channel":       `{"kind":"app","version":"3.2"}`,
		"urgent":        `true`,
		"note":          `null`,
	}
	extra := map[string]string{}
	for k, v := range got[0].Extra {
		extra[k] = string(v)
	}
	if !reflect.DeepEqual(extra, wantExtra) {
		t.Errorf("Extra = %v, want %v", extra, wantExtra)
	}

	t.Run("re-emitted by MarshalJSON", func(t *testing.T) {
		b, err := json.Marshal(got[0])
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("MarshalJSON gave invalid JSON %s: %v", b, err)
		}
		for k, v := range wantExtra {
			if string(m[k]) != v {
				t.Errorf("%s = %s, want %s (in %s)", k, m[k], v, b)
			}
		}
		if string(m["source"]) != `"hotline"` || string(m["dispute_id"]) != `"TZ-1"` {
			t.Errorf("known fields lost: %s", b)
		}
	})

	t.Run("round trip", func(t *testing.T) {
		b, _ := json.Marshal(got[0])
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(MarshalJSON(s)): %v", err)
		}
		if !reflect.DeepEqual(again[0].Extra, got[0].Extra) || again[0].Key() != got[0].Key() {
			t.Errorf("round trip changed the signal: %+v, want %+v", again[0], got[0])
		}
	})

	t.Run("an extra field does not override a known one", func(t *testing.T) {
		s := got[0]
		s.Extra = map[string]json.RawMessage{"source": json.RawMessage(`"ledger"`), "x": json.RawMessage(`1`)}
		b, _ := json.Marshal(s)
		var m map[string]json.RawMessage
		_ = json.Unmarshal(b, &m)
		if string(m["source"]) != `"hotline"` || string(m["x"]) != `1` {
			t.Errorf("MarshalJSON = %s", b)
		}
	})

	t.Run("no extra fields gives nil Extra", func(t *testing.T) {
		got, err := Decode([]byte(gridReportJSON))
		if err != nil || got[0].Extra != nil {
			t.Errorf("Decode = %v, Extra %v; want nil Extra", err, got[0].Extra)
		}
	})

	t.Run("a known field in another case is decoded, not kept as extra", func(t *testing.T) {
		got, err := Decode([]byte(`{"Source":"hotline","ID":"H-1","Persons":[{"Name":"钱七","PHONE":"13912345678"}],"x":1}`))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		s := got[0]
		if s.Source != risk.Hotline || s.ID != "H-1" || len(s.Persons) != 1 || s.Persons[0].Phone != phoneA {
			t.Errorf("Decode = %+v", s)
		}
		if len(s.Extra) != 1 || s.Extra["x"] == nil {
			t.Errorf("Extra = %v, want only x: the persons (and their phone) must not be kept twice", s.Extra)
		}
	})
}

// decodeError decodes body and returns its ValidationError, failing the test
// if there is none.
func decodeError(t *testing.T, body string) *ValidationError {
	t.Helper()
	got, err := Decode([]byte(body))
	if err == nil {
		t.Fatalf("Decode(%.60q) = %d signals, want an error", body, len(got))
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Decode error is %T (%v), want *ValidationError", err, err)
	}
	if len(ve.Errors) == 0 {
		t.Fatalf("ValidationError with no errors")
	}
	return ve
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantField string
		wantMsg   string
	}{
		{"empty body", "", "", "the request body is empty"},
		{"blank body", " \n\t ", "", "the request body is empty"},
		{"empty array", "[ ]", "", "the batch is empty"},
		{"malformed JSON", `{"source" "hotline"}`, "", "malformed JSON at byte 11"},
		{"malformed JSON in a batch", `[{"source":"hotline"},{"id":}]`, "", "malformed JSON at byte"},
		{"truncated body", `{"source":"hotline","persons":[{"name":"x"`, "", "the body ends too early"},
		{"trailing data", `{"source":"hotline"} {"source":"ledger"}`, "", "unexpected data after the JSON value"},
		{"trailing data after a batch", `[{"source":"hotline"}] x`, "", "malformed JSON"},
		{"not an object", `"hotline"`, "", "must be a JSON object"},
		{"a batch element not an object", `[{"source":"hotline"}, 42]`, "[1]", "must be a JSON object"},

		{"party_count a string", `{"party_count":"3"}`, "party_count", "must be a number"},
		{"party_count a fraction", `{"party_count":2.5}`, "party_count", "must be a number"},
		{"party_count in a batch", `[{"party_count":1},{"party_count":"many"}]`, "[1].party_count", "must be a number"},
		{"amount a string", `{"amount":"3万"}`, "amount", "must be a number"},
		{"source a number", `{"source":1}`, "source", "must be a string"},
		{"tags a string", `{"tags":"扬言"}`, "tags", "must be a JSON array"},
		{"a tag a number", `{"tags":[1]}`, "tags", "must be a string"},
		{"persons an object", `{"persons":{"name":"x"}}`, "persons", "must be a JSON array"},
		{"a person a string", `{"persons":["张三"]}`, "persons[0]", "must be a JSON object"},
		{"id_number a number", `{"persons":[{"name":"x"},{"id_number":110105194912310020}]}`, "persons[1].id_number", "must be a string"},
		{"petition a string", `{"petition":"province"}`, "petition", "must be a JSON object"},
		{"petition.collective a string", `{"petition":{"level":"city","collective":"yes"}}`, "petition.collective", "must be a bool"},

		{"occurred_at not RFC 3339", `{"occurred_at":"2026-11-22 08:30"}`, "occurred_at", "must be RFC 3339 time"},
		{"occurred_at without zone", `{"occurred_at":"2026-11-22T08:30:00"}`, "occurred_at", "must be RFC 3339 time"},
		{"occurred_at month 13", `{"occurred_at":"2026-13-01T08:30:00Z"}`, "occurred_at", "must be RFC 3339 time"},
		{"occurred_at a number", `{"occurred_at":1763771400}`, "occurred_at", "must be RFC 3339 time"},
		{"occurred_at bad in a batch", `[{},{},{"occurred_at":"yesterday"}]`, "[2].occurred_at", "must be RFC 3339 time"},

		{"unknown field of a person", `{"persons":[{"name":"x","mobile":"13912345678"}]}`, "persons[0].mobile", "is not a field of a person: use id_number, name, phone, role"},
		{"unknown field of a petition", `{"petition":{"level":"city","leader":"x"}}`, "petition.leader", "is not a field of a petition"},
		{"unknown field of a person in a batch", `[{},{"persons":[{"name":"x"},{"idcard":"x"}]}]`, "[1].persons[1].idcard", "is not a field of a person"},
		{"unknown person field named like a number", `{"persons":[{"13912345678":"x"}]}`, "persons[0]", "has a field that a person does not have"},
		{"unknown person field holding a number", `{"persons":[{"tel_13912345678":"x"}]}`, "persons[0]", "has a field that a person does not have"},
		{"unknown petition field with a few digits", `{"petition":{"level":"city","v2":1}}`, "petition.v2", "is not a field of a petition"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ve := decodeError(t, tc.body)
			if len(ve.Errors) != 1 {
				t.Fatalf("errors = %v, want one", ve.Errors)
			}
			e := ve.Errors[0]
			if e.Field != tc.wantField {
				t.Errorf("field = %q, want %q (message %q)", e.Field, tc.wantField, e.Message)
			}
			if !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tc.wantMsg)
			}
		})
	}
}

func TestDecodeBatchListsEveryBadElement(t *testing.T) {
	ve := decodeError(t, `[{"amount":"x"}, {}, {"occurred_at":"x"}, {"tags":{}}]`)
	var fields []string
	for _, e := range ve.Errors {
		fields = append(fields, e.Field)
	}
	want := []string{"[0].amount", "[2].occurred_at", "[3].tags"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("fields = %q, want %q", fields, want)
	}
}

func TestDecodeBatchLimit(t *testing.T) {
	batch := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat(`{},`, n), ",") + "]" }
	if got, err := Decode([]byte(batch(MaxBatch))); err != nil || len(got) != MaxBatch {
		t.Fatalf("Decode(batch of %d) = %d signals, %v", MaxBatch, len(got), err)
	}
	ve := decodeError(t, batch(MaxBatch+1))
	if e := ve.Errors[0]; e.Field != "" || !strings.Contains(e.Message, "at most 1000 signals; split it") {
		t.Errorf("error = %+v", e)
	}
}

func TestDecodeErrorsNeverRepeatValues(t *testing.T) {
	bodies := []string{
		`{"source":"hotline","persons":[{"id_number":110105194912310020}]}`,
		`{"persons":[{"phone":13912345678}]}`,
		`{"party_count":"13912345678"}`,
		`{"amount":"11010519491231002X"}`,
		`{"occurred_at":"11010519491231002X"}`,
		`{"occurred_at":13912345678}`,
		`{"persons":[{"name":"x","mobile":"13912345678"}]}`,
		`{"persons":[{"13912345678":1}]}`,
		`{"persons":[{"x13912345678":1}]}`,
		`{"petition":{"11010519491231002X":true}}`,
		`[{"tags":["13912345678",{}]}]`,
		`{"id":"13912345678" "x":1}`,
		`{"id":"11010519491231002X"`,
		`13912345678`,
		`{"a":1}13912345678`,
	}
	for _, body := range bodies {
		t.Run(body, func(t *testing.T) {
			ve := decodeError(t, body)
			msg := ve.Error()
			for _, secret := range []string{"13912345678", "11010519491231002", "110105194912310020"} {
				if strings.Contains(msg, secret) {
					t.Errorf("the error repeats %s: %s", secret, msg)
				}
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		gridReportJSON,
		petitionJSON,
		"[" + gridReportJSON + "," + petitionJSON + "]",
		`{"source":"hotline","id":"H-9","occurred_at":"2026-11-22T09:00:00+08:00","unit":"990101001001","dispute_id":"TZ-1","x":{"y":[1,2]}}`,
		`{"Source":"ledger","PERSONS":[{"ID_NUMBER":"11010519491231002X"}],"petition":null}`,
		`[]`, ``, `null`, `[null]`, `[1]`, `"x"`, `{"persons":[null]}`, `{"petition":{"level":"x","y":1}}`,
		`{"occurred_at":1}`, `{"occurred_at":"2026-02-30T00:00:00Z"}`, `{"party_count":1e99}`,
		`{"a":`, `{"a":1} 2`, `[{}]]`, `{"persons":"x"}`, `{"tags":[null,""]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sigs, err := Decode(body)
		checkDecoded(t, sigs, err)
	})
}

// FuzzDecodeNDJSON holds NDJSON bodies to the same promises as Decode.
func FuzzDecodeNDJSON(f *testing.F) {
	for _, seed := range []string{
		gridReportJSON + "\n" + petitionJSON + "\n",
		"\n\n", "{}\n{", "null\n", "[1]\n", gridReportJSON + "\n\n" + gridReportJSON,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sigs, err := DecodeNDJSON(body)
		checkDecoded(t, sigs, err)
	})
}

// checkDecoded checks what every decoder promises: a *ValidationError that
// repeats no number from the body, or signals that validate, encode and
// become records without panicking.
func checkDecoded(t *testing.T, sigs []Signal, err error) {
	t.Helper()
	v := testValidator()
	p, _ := NewPseudonymizer(testKey)
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Errors) == 0 {
			t.Fatalf("Decode error %T %v, want a *ValidationError with errors", err, err)
		}
		if sigs != nil {
			t.Fatalf("Decode returned signals and an error")
		}
		if n := longestDigitRun(ve.Error()); n >= 7 {
			t.Fatalf("the error may repeat a number from the body: %s", ve.Error())
		}
		return
	}
	if len(sigs) == 0 || len(sigs) > MaxBatch {
		t.Fatalf("Decode returned %d signals and no error", len(sigs))
	}
	for i := range sigs {
		_ = v.Validate(&sigs[i], fmt.Sprintf("[%d].", i))
		if _, err := json.Marshal(sigs[i]); err != nil {
			t.Fatalf("a decoded signal does not encode: %v", err)
		}
		r := p.Record(&sigs[i], received)
		b, err := json.Marshal(r)
		if err != nil || !json.Valid(b) {
			t.Fatalf("its record does not encode: %v\n%s", err, b)
		}
	}
}

// FuzzSignalFastPath holds the one-pass decode of a signal to the full one:
// whenever it succeeds, the full decode gives the same signal.
func FuzzSignalFastPath(f *testing.F) {
	for _, seed := range []string{
		gridReportJSON, petitionJSON,
		`{"Source":"ledger","PERSONS":[{"ID_NUMBER":"11010519491231002X"}],"petition":null}`,
		`{"source":"hotline","source":"ledger","persons":null,"tags":[null,""],"case":{"case_id":"C1","x":1}}`,
		`{"occurred_at":null,"amount":-0,"party_count":3}`, `{"ſource":"hotline","Kase":null}`,
		`{"petition":{"level":"county","LEVEL":"city"}}`, `{}`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Signal
		if fast.UnmarshalJSON(b) != nil {
			return
		}
		var full Signal
		if err := full.decodeFull(b); err != nil {
			t.Fatalf("the full decode fails where the fast one did not: %v", err)
		}
		if !reflect.DeepEqual(fast, full) {
			t.Fatalf("fast %+v\nfull %+v", fast, full)
		}
	})
}

// BenchmarkDecode decodes a batch of 20 signals as the API receives them.
func BenchmarkDecode(b *testing.B) {
	body := "[" + strings.Repeat(gridReportJSON+",", 19) + gridReportJSON + "]"
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Decode([]byte(body)); err != nil {
			b.Fatal(err)
		}
	}
}
