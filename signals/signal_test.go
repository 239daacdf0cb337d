package signals

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"fengqiao/risk"
)

var (
	shanghai = time.FixedZone("CST", 8*60*60)
	// testNow is the validator's clock: 2026-11-22T10:00:00+08:00.
	testNow = time.Date(2026, 11, 22, 10, 0, 0, 0, shanghai)

	// Personal identifiers used throughout the tests. None may ever appear in
	// an error message or a record.
	idA    = knownValidID                        // 11010519491231002X
	idB    = withCheckDigit("33010619850312457") // born 1985-03-12
	phoneA = "13912345678"
	phoneB = "+86 138-0013-8000"
)

const (
	unitVillage  = "990101001001"
	unitVillage2 = "990101001002"
)

func testValidator() *Validator {
	return &Validator{
		KnownUnit:  func(code string) bool { return code == unitVillage || code == unitVillage2 },
		Categories: DefaultCategories,
		Now:        func() time.Time { return testNow },
	}
}

// validSignal returns a signal of the given source that passes validation.
func validSignal(src risk.Source) Signal {
	s := Signal{
		Source:     src,
		ID:         "R-2026-0001",
		OccurredAt: testNow.Add(-2 * time.Hour),
		Unit:       unitVillage,
	}
	switch src {
	case risk.GridReport:
		s.Persons = []Person{
			{IDNumber: idA, Name: "张三", Role: "当事人"},
			{Name: "李四", Phone: phoneA, Role: "当事人"},
		}
		s.Category = "邻里"
		s.PartyCount = 2
		s.Tags = []string{"三失一偏", "扬言"}
		s.Summary = "两户因宅基地边界争吵，一方扬言报复。"
		s.Reporter = "网格员王五"
	case risk.Petition:
		s.Persons = []Person{{IDNumber: idB, Name: "赵六", Role: "信访人"}}
		s.Category = "征地拆迁"
		s.Petition = &Petition{Level: "city", Repeat: true}
	case risk.Hotline:
		s.Persons = []Person{{Name: "钱七", Phone: phoneB, Role: "来电人"}}
		s.DisputeID = "TZ-2026-0042"
		s.Category = "劳动/欠薪"
		s.Summary = "第三次来电反映工地欠薪。"
	case risk.Ledger:
		s.DisputeID = "TZ-2026-0042"
		s.Category = "劳动/欠薪"
		s.PartyCount = 37
		s.Amount = 1_250_000.50
		s.LedgerStatus = "化解中"
		s.ResponsibleUnit = "湖滨街道劳动保障所"
	}
	return s
}

func TestValidateAcceptsAValidSignalOfEachSource(t *testing.T) {
	for _, src := range []risk.Source{risk.GridReport, risk.Petition, risk.Hotline, risk.Ledger} {
		t.Run(string(src), func(t *testing.T) {
			s := validSignal(src)
			if errs := testValidator().Validate(&s, ""); len(errs) != 0 {
				t.Errorf("Validate(valid %s signal) = %v, want no errors", src, errs)
			}
		})
	}
}

func TestValidateAcceptsValuesAtTheLimits(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Signal)
	}{
		{"occurred 10 minutes ahead (clock skew)", func(s *Signal) { s.OccurredAt = testNow.Add(maxFutureSkew) }},
		{"occurred just under ten years ago", func(s *Signal) { s.OccurredAt = testNow.Add(-maxSignalAge + time.Hour) }},
		{"occurred_at in UTC", func(s *Signal) { s.OccurredAt = testNow.UTC() }},
		{"second known unit", func(s *Signal) { s.Unit = unitVillage2 }},
		{"id of 64 characters", func(s *Signal) { s.ID = strings.Repeat("a", 64) }},
		{"id with punctuation and Chinese", func(s *Signal) { s.ID = "网格-2026/11#7" }},
		{"dispute_id without persons", func(s *Signal) { s.Persons = nil; s.DisputeID = "TZ-1" }},
		{"200 persons", func(s *Signal) {
			s.Persons = slices.Repeat([]Person{{IDNumber: idA}}, maxPersons)
		}},
		{"lower-case x in id_number", func(s *Signal) { s.Persons[0].IDNumber = strings.ToLower(idA) }},
		{"id_number with a phone too", func(s *Signal) { s.Persons[0].Phone = phoneA }},
		{"phone of 7 digits", func(s *Signal) { s.Persons[1].Phone = "6512-345" }},
		{"phone of 15 digits", func(s *Signal) { s.Persons[1].Phone = "+86 010 1234 5678 90" }},
		{"name of 50 characters", func(s *Signal) { s.Persons[1].Name = strings.Repeat("张", 50) }},
		{"no category", func(s *Signal) { s.Category = "" }},
		{"party_count 1000000", func(s *Signal) { s.PartyCount = maxPartyCount }},
		{"amount 1e13 yuan", func(s *Signal) { s.Amount = maxAmountYuan }},
		{"50 tags", func(s *Signal) { s.Tags = slices.Repeat([]string{"扬言"}, maxTags) }},
		{"tag of 30 characters", func(s *Signal) { s.Tags = []string{strings.Repeat("标", 30)} }},
		{"summary of 4000 characters", func(s *Signal) { s.Summary = strings.Repeat("字", maxSummary) }},
		{"50 extra fields", func(s *Signal) { s.Extra = extraFields(maxExtraFields) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSignal(risk.GridReport)
			tc.mutate(&s)
			if errs := testValidator().Validate(&s, ""); len(errs) != 0 {
				t.Errorf("Validate = %v, want no errors", errs)
			}
		})
	}
}

func extraFields(n int) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, n)
	for i := range n {
		m[fmt.Sprintf("x%d", i)] = json.RawMessage(`1`)
	}
	return m
}

// TestValidateRules has one case per rule: a valid signal changed in one way
// gives exactly one error, naming the field, with a message saying what to do.
func TestValidateRules(t *testing.T) {
	tests := []struct {
		name      string
		source    risk.Source // of the valid signal to start from; grid_report if empty
		mutate    func(s *Signal)
		wantField string
		wantMsg   string
	}{
		{name: "source missing", mutate: func(s *Signal) { s.Source = "" },
			wantField: "source", wantMsg: "is required: one of grid_report, petition, hotline, ledger"},
		{name: "source unknown", mutate: func(s *Signal) { s.Source = "wechat" },
			wantField: "source", wantMsg: "is not a source"},
		{name: "source in the wrong case", mutate: func(s *Signal) { s.Source = "Hotline" },
			wantField: "source", wantMsg: "is not a source"},
		{name: "source case_event cannot be sent", mutate: func(s *Signal) { s.Source = risk.CaseEvent },
			wantField: "source", wantMsg: "produced by the case workflow"},

		{name: "id missing", mutate: func(s *Signal) { s.ID = "" },
			wantField: "id", wantMsg: "is required"},
		{name: "id too long", mutate: func(s *Signal) { s.ID = strings.Repeat("a", 65) },
			wantField: "id", wantMsg: "at most 64 printable characters"},
		{name: "id with a space", mutate: func(s *Signal) { s.ID = "R 1" },
			wantField: "id", wantMsg: "without spaces"},
		{name: "id with a control character", mutate: func(s *Signal) { s.ID = "R\x001" },
			wantField: "id", wantMsg: "printable"},
		{name: "id not UTF-8", mutate: func(s *Signal) { s.ID = "R\xff1" },
			wantField: "id", wantMsg: "printable"},

		{name: "occurred_at missing", mutate: func(s *Signal) { s.OccurredAt = time.Time{} },
			wantField: "occurred_at", wantMsg: "is required, as RFC 3339 time"},
		{name: "occurred_at in the future", mutate: func(s *Signal) { s.OccurredAt = testNow.Add(maxFutureSkew + time.Second) },
			wantField: "occurred_at", wantMsg: "is in the future"},
		{name: "occurred_at too old", mutate: func(s *Signal) { s.OccurredAt = testNow.Add(-maxSignalAge - time.Second) },
			wantField: "occurred_at", wantMsg: "more than ten years ago"},

		{name: "unit missing", mutate: func(s *Signal) { s.Unit = "" },
			wantField: "unit", wantMsg: "is required"},
		{name: "unit unknown", mutate: func(s *Signal) { s.Unit = "990101001999" },
			wantField: "unit", wantMsg: "is not a unit code of the jurisdiction"},

		{name: "neither persons nor dispute_id", mutate: func(s *Signal) { s.Persons = nil; s.DisputeID = "" },
			wantField: "persons", wantMsg: "at least one person or a dispute_id"},
		{name: "too many persons", mutate: func(s *Signal) {
			s.Persons = slices.Repeat([]Person{{IDNumber: idA}}, maxPersons+1)
		}, wantField: "persons", wantMsg: "at most 200 persons"},

		{name: "id_number with a wrong check digit", mutate: func(s *Signal) { s.Persons[0].IDNumber = wrongCheckDigit(idA) },
			wantField: "persons[0].id_number", wantMsg: "check digit is wrong"},
		{name: "id_number of the wrong length", mutate: func(s *Signal) { s.Persons[0].IDNumber = idA[:15] },
			wantField: "persons[0].id_number", wantMsg: "must be 18 characters"},
		{name: "id_number with a bad birth date", mutate: func(s *Signal) {
			s.Persons[0].IDNumber = withCheckDigit("11010519491301002")
		}, wantField: "persons[0].id_number", wantMsg: "not a valid birth date"},
		{name: "id_number missing, name only", mutate: func(s *Signal) { s.Persons[1].Phone = "" },
			wantField: "persons[1].id_number", wantMsg: "give both name and phone"},
		{name: "id_number missing, phone only", mutate: func(s *Signal) { s.Persons[1].Name = "" },
			wantField: "persons[1].id_number", wantMsg: "give both name and phone"},
		{name: "id_number missing, blank name", mutate: func(s *Signal) { s.Persons[1].Name = " \t" },
			wantField: "persons[1].id_number", wantMsg: "give both name and phone"},
		{name: "phone with too few digits", mutate: func(s *Signal) { s.Persons[1].Phone = "123-456" },
			wantField: "persons[1].phone", wantMsg: "must have 7 to 15 digits"},
		{name: "phone with too many digits", mutate: func(s *Signal) { s.Persons[1].Phone = "1391234567812345" },
			wantField: "persons[1].phone", wantMsg: "must have 7 to 15 digits"},
		{name: "phone checked beside an id_number", mutate: func(s *Signal) { s.Persons[0].Phone = "12" },
			wantField: "persons[0].phone", wantMsg: "must have 7 to 15 digits"},
		{name: "name too long", mutate: func(s *Signal) { s.Persons[1].Name = strings.Repeat("张", 51) },
			wantField: "persons[1].name", wantMsg: "at most 50 characters"},

		{name: "dispute_id invalid", mutate: func(s *Signal) { s.DisputeID = "TZ 2026/1" },
			wantField: "dispute_id", wantMsg: "invalid subject reference"},
		{name: "dispute_id too long", mutate: func(s *Signal) { s.DisputeID = strings.Repeat("a", 65) },
			wantField: "dispute_id", wantMsg: "invalid subject reference"},
		{name: "category unknown", mutate: func(s *Signal) { s.Category = "口角" },
			wantField: "category", wantMsg: "is not a known category: use one of 婚姻家庭"},

		{name: "party_count negative", mutate: func(s *Signal) { s.PartyCount = -1 },
			wantField: "party_count", wantMsg: "between 0 and 1000000"},
		{name: "party_count too large", mutate: func(s *Signal) { s.PartyCount = maxPartyCount + 1 },
			wantField: "party_count", wantMsg: "between 0 and 1000000"},
		{name: "amount negative", mutate: func(s *Signal) { s.Amount = -0.01 },
			wantField: "amount", wantMsg: "between 0 and 1e+13 yuan"},
		{name: "amount too large", mutate: func(s *Signal) { s.Amount = maxAmountYuan * 1.5 },
			wantField: "amount", wantMsg: "between 0 and 1e+13 yuan"},
		{name: "amount infinite", mutate: func(s *Signal) { s.Amount = math.Inf(1) },
			wantField: "amount", wantMsg: "between 0 and"},
		{name: "amount NaN (e.g. parsed from a ledger file)", mutate: func(s *Signal) { s.Amount = math.NaN() },
			wantField: "amount", wantMsg: "between 0 and"},

		{name: "too many tags", mutate: func(s *Signal) { s.Tags = slices.Repeat([]string{"扬言"}, maxTags+1) },
			wantField: "tags", wantMsg: "at most 50 tags"},
		{name: "empty tag", mutate: func(s *Signal) { s.Tags[1] = "" },
			wantField: "tags[1]", wantMsg: "must be 1 to 30 characters"},
		{name: "blank tag", mutate: func(s *Signal) { s.Tags[1] = "  " },
			wantField: "tags[1]", wantMsg: "must be 1 to 30 characters"},
		{name: "tag too long", mutate: func(s *Signal) { s.Tags[0] = strings.Repeat("标", 31) },
			wantField: "tags[0]", wantMsg: "must be 1 to 30 characters"},
		{name: "summary too long", mutate: func(s *Signal) { s.Summary = strings.Repeat("字", maxSummary+1) },
			wantField: "summary", wantMsg: "at most 4000 characters"},
		{name: "too many extra fields", mutate: func(s *Signal) { s.Extra = extraFields(maxExtraFields + 1) },
			wantField: "", wantMsg: "at most 50 extra fields"},

		{name: "petition missing for a petition", source: risk.Petition, mutate: func(s *Signal) { s.Petition = nil },
			wantField: "petition", wantMsg: "is required for a petition"},
		{name: "petition given for another source", source: risk.Hotline, mutate: func(s *Signal) {
			s.Petition = &Petition{Level: "county"}
		}, wantField: "petition", wantMsg: "is only for source petition"},
		{name: "petition level unknown", source: risk.Petition, mutate: func(s *Signal) { s.Petition.Level = "national" },
			wantField: "petition.level", wantMsg: "is not a level: use one of village, township, county, city, province, beijing"},
		{name: "petition level missing", source: risk.Petition, mutate: func(s *Signal) { s.Petition.Level = "" },
			wantField: "petition.level", wantMsg: "is not a level"},
		{name: "petition level in Chinese", source: risk.Petition, mutate: func(s *Signal) { s.Petition.Level = "省" },
			wantField: "petition.level", wantMsg: "is not a level"},

		{name: "id carrying an ID number", mutate: func(s *Signal) { s.ID = "GR-" + idA },
			wantField: "id", wantMsg: "must not contain an ID number or phone number"},
		{name: "id carrying a mobile number", mutate: func(s *Signal) { s.ID = "GR-" + phoneA + "-1" },
			wantField: "id", wantMsg: "must not contain an ID number or phone number"},
		{name: "dispute_id carrying an ID number", mutate: func(s *Signal) { s.DisputeID = "TZ-" + strings.ToLower(idB) },
			wantField: "dispute_id", wantMsg: "must not contain an ID number or phone number"},
		{name: "reporter too long", mutate: func(s *Signal) { s.Reporter = strings.Repeat("网", 101) },
			wantField: "reporter", wantMsg: "at most 100 characters"},
		{name: "role too long", mutate: func(s *Signal) { s.Persons[0].Role = strings.Repeat("角", 31) },
			wantField: "persons[0].role", wantMsg: "at most 30 characters"},
		{name: "extra fields too large", mutate: func(s *Signal) {
			s.Extra = map[string]json.RawMessage{"note": json.RawMessage(`"` + strings.Repeat("a", maxExtraBytes) + `"`)}
		}, wantField: "", wantMsg: "extra fields hold at most 16384 bytes"},
		{name: "hotline without its caller", source: risk.Hotline, mutate: func(s *Signal) { s.Persons = nil },
			wantField: "persons", wantMsg: "a hotline call needs its caller"},
		{name: "ledger row without dispute_id", source: risk.Ledger, mutate: func(s *Signal) {
			s.DisputeID = ""
			s.Persons = []Person{{IDNumber: idA, Name: "张三"}}
		}, wantField: "dispute_id", wantMsg: "is required for a ledger row"},
		{name: "ledger row without category", source: risk.Ledger, mutate: func(s *Signal) { s.Category = "" },
			wantField: "category", wantMsg: "is required for a ledger row"},
		{name: "ledger row without status", source: risk.Ledger, mutate: func(s *Signal) { s.LedgerStatus = "" },
			wantField: "ledger_status", wantMsg: "is required for a ledger row: use one of 未化解, 化解中, 已化解, 已移交"},
		{name: "ledger row with an unknown status", source: risk.Ledger, mutate: func(s *Signal) { s.LedgerStatus = "done" },
			wantField: "ledger_status", wantMsg: "use one of 未化解"},
		{name: "ledger status on another source", mutate: func(s *Signal) { s.LedgerStatus = "化解中" },
			wantField: "ledger_status", wantMsg: "is only for source ledger"},
		{name: "responsible unit on another source", mutate: func(s *Signal) { s.ResponsibleUnit = "司法所" },
			wantField: "responsible_unit", wantMsg: "is only for source ledger"},
		{name: "responsible unit too long", source: risk.Ledger, mutate: func(s *Signal) { s.ResponsibleUnit = strings.Repeat("所", 101) },
			wantField: "responsible_unit", wantMsg: "at most 100 characters"},
		{name: "case event fields on a report", mutate: func(s *Signal) { s.Case = &CaseEvent{CaseID: "AJ-1", Event: "closed"} },
			wantField: "case", wantMsg: "is only for case events"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.source
			if src == "" {
				src = risk.GridReport
			}
			s := validSignal(src)
			tc.mutate(&s)
			errs := testValidator().Validate(&s, "")
			if len(errs) != 1 {
				t.Fatalf("Validate = %v, want exactly one error on %q", errs, tc.wantField)
			}
			if errs[0].Field != tc.wantField {
				t.Errorf("field = %q, want %q (message %q)", errs[0].Field, tc.wantField, errs[0].Message)
			}
			if !strings.Contains(errs[0].Message, tc.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", errs[0].Message, tc.wantMsg)
			}
		})
	}
}

func TestValidatePrefixesFieldsAndListsEveryProblem(t *testing.T) {
	s := validSignal(risk.GridReport)
	s.ID = ""
	s.Persons[1].Phone = "1"
	s.Tags[0] = ""
	errs := testValidator().Validate(&s, "[3].")
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	want := []string{"[3].id", "[3].persons[1].phone", "[3].tags[0]"}
	if !slices.Equal(fields, want) {
		t.Errorf("fields = %q, want %q", fields, want)
	}
}

// TestValidateNeverRepeatsPersonalNumbers puts ID and phone numbers into every
// field, right and wrong, and checks that no message repeats them.
func TestValidateNeverRepeatsPersonalNumbers(t *testing.T) {
	badID := wrongCheckDigit(idA)
	secrets := []string{idA, idB, badID, phoneA, "13800138000", "0755-8888-6666"}
	s := Signal{
		Source:     risk.Source(idA),
		ID:         phoneA + " " + idB,
		OccurredAt: testNow.Add(time.Hour),
		Unit:       phoneA,
		DisputeID:  idB + " " + phoneA,
		Category:   idA,
		Summary:    strings.Repeat(idA, maxSummary/18+1),
		Persons: []Person{
			{IDNumber: badID, Name: strings.Repeat(phoneA, 5), Phone: phoneA + phoneA},
			{IDNumber: idA[:17] + "Z", Phone: "0755-8888-6666"},
			{Name: "孙八", Phone: "13800138000" + "1234567"},
			{Phone: phoneA},
		},
		Tags:     []string{idA + idB, phoneA + strings.Repeat("x", 30)},
		Petition: &Petition{Level: idB},
	}
	errs := testValidator().Validate(&s, "")
	if len(errs) < 10 {
		t.Fatalf("Validate = %v, want an error on most fields", errs)
	}
	msg := (&ValidationError{errs}).Error()
	for _, secret := range secrets {
		if strings.Contains(msg, secret) {
			t.Errorf("a message repeats %q: %s", secret, msg)
		}
	}
	if digits := longestDigitRun(msg); digits >= 11 {
		t.Errorf("a message holds a run of %d digits: %s", digits, msg)
	}
}

func longestDigitRun(s string) int {
	longest, run := 0, 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

func TestValidationErrorListsEveryError(t *testing.T) {
	e := &ValidationError{[]FieldError{{"id", "is required"}, {"[2].unit", "is unknown"}, {"", "the batch is empty"}}}
	want := "id: is required; [2].unit: is unknown; : the batch is empty"
	if got := e.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestPetitionLevel(t *testing.T) {
	tests := []struct {
		level string
		want  int
	}{
		{"village", 1}, {"township", 2}, {"county", 3}, {"city", 4}, {"province", 5}, {"beijing", 6},
		{"", 0}, {"Beijing", 0}, {"national", 0}, {"村", 0},
	}
	for _, tc := range tests {
		t.Run(tc.level, func(t *testing.T) {
			if got := PetitionLevel(tc.level); got != tc.want {
				t.Errorf("PetitionLevel(%q) = %d, want %d", tc.level, got, tc.want)
			}
		})
	}
}

func TestPetitionIsSkipLevel(t *testing.T) {
	tests := []struct {
		name string
		p    Petition
		want bool
	}{
		{"village petition", Petition{Level: "village"}, false},
		{"county petition", Petition{Level: "county"}, false},
		{"city petition", Petition{Level: "city"}, false},
		{"reaching the province always skips levels", Petition{Level: "province"}, true},
		{"reaching Beijing always skips levels", Petition{Level: "beijing"}, true},
		{"the office judged a county petition skip-level", Petition{Level: "county", SkipLevel: true}, true},
		{"collective and repeat do not make it skip-level", Petition{Level: "township", Collective: true, Repeat: true}, false},
		{"unknown level", Petition{Level: "national"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.IsSkipLevel(); got != tc.want {
				t.Errorf("IsSkipLevel(%+v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestSignalKey(t *testing.T) {
	s := Signal{Source: risk.Hotline, ID: "12345-2026-778"}
	if got, want := s.Key(), "hotline:12345-2026-778"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
}
