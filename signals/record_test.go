package signals

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"fengqiao/risk"
)

var testKey = []byte("fengqiao-test-key-0123456789abcdef")

func testPseudonymizer(t *testing.T) *Pseudonymizer {
	t.Helper()
	p, err := NewPseudonymizer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	personRefPattern = regexp.MustCompile(`^P[0-9a-f]{24}$`)
	weakRefPattern   = regexp.MustCompile(`^W[0-9a-f]{24}$`)
)

func TestNewPseudonymizer(t *testing.T) {
	tests := []struct {
		name    string
		key     []byte
		wantErr bool
	}{
		{"no key", nil, true},
		{"15-byte key", []byte("123456789012345"), true},
		{"16-byte key", []byte("1234567890123456"), false},
		{"long key", testKey, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPseudonymizer(tc.key)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "at least 16 bytes") {
					t.Errorf("NewPseudonymizer = %v, %v; want an error saying 16 bytes", p, err)
				}
				return
			}
			if err != nil || p == nil {
				t.Errorf("NewPseudonymizer = %v, %v", p, err)
			}
		})
	}

	t.Run("keeps its own copy of the key", func(t *testing.T) {
		key := append([]byte(nil), testKey...)
		p, _ := NewPseudonymizer(key)
		before := p.PersonRef(idA)
		key[0] ^= 0xff
		if p.PersonRef(idA) != before {
			t.Error("changing the caller's key slice changed the references")
		}
	})
}

func TestPersonRef(t *testing.T) {
	p := testPseudonymizer(t)
	ref := p.PersonRef(idA)
	t.Run("shape", func(t *testing.T) {
		if !personRefPattern.MatchString(ref) {
			t.Errorf("PersonRef = %q, want P and 24 hex digits", ref)
		}
		if err := (risk.SubjectID{Kind: risk.Person, Ref: ref}).Validate(); err != nil {
			t.Errorf("the ref is not a valid subject reference: %v", err)
		}
	})
	t.Run("same number, same ref", func(t *testing.T) {
		if again := testPseudonymizer(t).PersonRef(idA); again != ref {
			t.Errorf("PersonRef twice = %q, %q", ref, again)
		}
	})
	t.Run("check character x in either case", func(t *testing.T) {
		if lower := p.PersonRef(strings.ToLower(idA)); lower != ref {
			t.Errorf("PersonRef(…x) = %q, PersonRef(…X) = %q; want equal", lower, ref)
		}
	})
	t.Run("different numbers, different refs", func(t *testing.T) {
		if p.PersonRef(idB) == ref {
			t.Error("two numbers gave the same ref")
		}
	})
	t.Run("different keys, different refs", func(t *testing.T) {
		other, _ := NewPseudonymizer([]byte("another-key-of-the-same-service"))
		if other.PersonRef(idA) == ref {
			t.Error("two keys gave the same ref")
		}
	})
	t.Run("the ref does not contain the number", func(t *testing.T) {
		if strings.Contains(ref, idA[:6]) || strings.Contains(strings.ToUpper(ref), idA[10:]) {
			t.Errorf("ref %q looks like the number", ref)
		}
	})
}

func TestWeakRef(t *testing.T) {
	p := testPseudonymizer(t)
	ref := p.WeakRef("李四", "13912345678")
	if !weakRefPattern.MatchString(ref) {
		t.Fatalf("WeakRef = %q, want W and 24 hex digits", ref)
	}
	same := []struct{ name, personName, phone string }{
		{"dashes", "李四", "139-1234-5678"},
		{"spaces", "李四", "139 1234 5678"},
		{"brackets and dots", "李四", "(139)1234.5678"},
		{"+86 country code", "李四", "+86 139 1234 5678"},
		{"0086 country code", "李四", "0086-13912345678"},
		{"86 without plus", "李四", "8613912345678"},
		{"spaces around the name", " 李四\t", "13912345678"},
	}
	for _, tc := range same {
		t.Run("same person: "+tc.name, func(t *testing.T) {
			if got := p.WeakRef(tc.personName, tc.phone); got != ref {
				t.Errorf("WeakRef(%q, %q) = %q, want %q", tc.personName, tc.phone, got, ref)
			}
		})
	}
	different := []struct{ name, personName, phone string }{
		{"other phone", "李四", "13912345679"},
		{"other name", "李三", "13912345678"},
		{"landline that happens to start with 86", "李四", "86139123456"},
		{"name and phone split differently", "李四1", "3912345678"},
	}
	for _, tc := range different {
		t.Run("different person: "+tc.name, func(t *testing.T) {
			if got := p.WeakRef(tc.personName, tc.phone); got == ref {
				t.Errorf("WeakRef(%q, %q) = %q, the same as 李四's", tc.personName, tc.phone, got)
			}
		})
	}
	t.Run("weak and strong refs differ", func(t *testing.T) {
		if p.WeakRef("", idA) == p.PersonRef(idA) || p.WeakRef("", idA)[1:] == p.PersonRef(idA)[1:] {
			t.Error("a weak identity collides with a strong one")
		}
	})
}

func TestMaskNumbers(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ID number", "身份证11010519491231002X，住某村", "身份证[证件号已隐去]，住某村"},
		{"ID number with lower-case x", "证号 11010519491231002x", "证号 [证件号已隐去]"},
		{"old 15-digit ID number", "旧证110105491231002", "旧证[证件号已隐去]"},
		{"mobile", "电话13912345678", "电话[电话已隐去]"},
		{"a 12-digit unit code is not a phone", "河北某村130102001001上报", "河北某村130102001001上报"},
		{"a longer run of digits is left whole", "流水号2026112213912345678", "流水号2026112213912345678"},
		{"mobile with dashes", "电话139-1234-5678。", "电话[电话已隐去]。"},
		{"mobile with spaces", "139 1234 5678", "[电话已隐去]"},
		{"mobile with +86", "+86 13912345678", "[电话已隐去]"},
		{"two numbers", "13912345678/11010519491231002X", "[电话已隐去]/[证件号已隐去]"},
		{"short numbers are kept", "欠薪3万元，涉及37人，2026年11月", "欠薪3万元，涉及37人，2026年11月"},
		{"a unit code is kept", "990101001001村", "990101001001村"},
		{"no text", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MaskNumbers(tc.in); got != tc.want {
				t.Errorf("MaskNumbers(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

var received = time.Date(2026, 11, 22, 10, 0, 1, 0, shanghai)

func TestRecord(t *testing.T) {
	p := testPseudonymizer(t)

	t.Run("copies the signal's facts", func(t *testing.T) {
		s := validSignal(risk.Ledger)
		r := p.Record(&s, received)
		want := Record{
			Source: risk.Ledger, ID: s.ID, OccurredAt: s.OccurredAt, ReceivedAt: received, Unit: s.Unit,
			DisputeID: "TZ-2026-0042", Category: "劳动/欠薪", PartyCount: 37, Amount: 1_250_000.50,
			LedgerStatus: "化解中", ResponsibleUnit: "湖滨街道劳动保障所",
		}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("Record =\n%+v\nwant\n%+v", r, want)
		}
		if r.Key() != s.Key() {
			t.Errorf("Key() = %q, want the signal's %q", r.Key(), s.Key())
		}
	})

	t.Run("persons become refs", func(t *testing.T) {
		s := validSignal(risk.GridReport)
		r := p.Record(&s, received)
		want := []PersonRef{
			{Ref: p.PersonRef(idA), Name: "张三", Role: "当事人"},
			{Ref: p.WeakRef("李四", phoneA), Weak: true, Name: "李四", Role: "当事人"},
		}
		if !reflect.DeepEqual(r.Persons, want) {
			t.Errorf("Persons = %+v, want %+v", r.Persons, want)
		}
		if !r.Weak(risk.SubjectID{Kind: risk.Person, Ref: want[1].Ref}) || r.Weak(risk.SubjectID{Kind: risk.Person, Ref: want[0].Ref}) {
			t.Error("Weak() does not tell the weak identity from the strong one")
		}
		if r.Weak(risk.SubjectID{Kind: risk.Person, Ref: "Pnobody"}) {
			t.Error("Weak() of a person not in the record")
		}
	})

	t.Run("the same person twice is listed once", func(t *testing.T) {
		s := validSignal(risk.GridReport)
		s.Persons = []Person{
			{IDNumber: idA, Role: "当事人"},
			{Name: "李四", Phone: phoneA},
			{IDNumber: strings.ToLower(idA), Role: "信访人"},
			{Name: " 李四 ", Phone: "139-1234-5678"},
			{IDNumber: idB},
		}
		r := p.Record(&s, received)
		var refs []string
		for _, ref := range r.Persons {
			refs = append(refs, ref.Ref)
		}
		want := []string{p.PersonRef(idA), p.WeakRef("李四", phoneA), p.PersonRef(idB)}
		if !reflect.DeepEqual(refs, want) {
			t.Errorf("refs = %v, want %v", refs, want)
		}
		if r.Persons[0].Role != "当事人" {
			t.Errorf("the first mention should be kept, got role %q", r.Persons[0].Role)
		}
	})

	t.Run("petition rank and skip-level", func(t *testing.T) {
		tests := []struct {
			p        Petition
			wantRank int
			wantSkip bool
		}{
			{Petition{Level: "village"}, 1, false},
			{Petition{Level: "county", Repeat: true}, 3, false},
			{Petition{Level: "county", SkipLevel: true}, 3, true},
			{Petition{Level: "city", Collective: true}, 4, false},
			{Petition{Level: "province"}, 5, true},
			{Petition{Level: "beijing", Collective: true, Repeat: true}, 6, true},
		}
		for _, tc := range tests {
			t.Run(tc.p.Level, func(t *testing.T) {
				s := validSignal(risk.Petition)
				s.Petition = &tc.p
				r := p.Record(&s, received)
				want := &PetitionRecord{Level: tc.p.Level, Rank: tc.wantRank, Collective: tc.p.Collective, Repeat: tc.p.Repeat, SkipLevel: tc.wantSkip}
				if !reflect.DeepEqual(r.Petition, want) {
					t.Errorf("Petition = %+v, want %+v", r.Petition, want)
				}
			})
		}
		s := validSignal(risk.Hotline)
		if r := p.Record(&s, received); r.Petition != nil {
			t.Errorf("a hotline record has petition %+v", r.Petition)
		}
	})

	t.Run("masks numbers in summary and reporter", func(t *testing.T) {
		s := validSignal(risk.GridReport)
		s.Summary = "当事人张三（" + idA + "）称，联系电话 139-1234-5678。"
		s.Reporter = "网格员王五 13800138000"
		r := p.Record(&s, received)
		if want := "当事人张三（[证件号已隐去]）称，联系电话 [电话已隐去]。"; r.Summary != want {
			t.Errorf("Summary = %q, want %q", r.Summary, want)
		}
		if want := "网格员王五 [电话已隐去]"; r.Reporter != want {
			t.Errorf("Reporter = %q, want %q", r.Reporter, want)
		}
	})

	t.Run("masks numbers typed into names, roles and tags", func(t *testing.T) {
		s := validSignal(risk.GridReport)
		s.Persons[0].Name = "张三" + phoneA
		s.Persons[0].Role = "当事人，身份证" + idB
		s.Tags = []string{"扬言", "回访" + phoneA}
		r := p.Record(&s, received)
		if r.Persons[0].Name != "张三[电话已隐去]" || r.Persons[0].Role != "当事人，身份证[证件号已隐去]" {
			t.Errorf("person = %+v", r.Persons[0])
		}
		if !reflect.DeepEqual(r.Tags, []string{"扬言", "回访[电话已隐去]"}) {
			t.Errorf("Tags = %q", r.Tags)
		}
		if s.Tags[1] != "回访"+phoneA {
			t.Error("Record changed the signal's tags")
		}
		if r.Persons[0].Ref != p.PersonRef(idA) {
			t.Error("masking the name changed the ref")
		}
	})

	t.Run("masks numbers in extra fields and keeps them valid JSON", func(t *testing.T) {
		s := validSignal(risk.Hotline)
		s.Extra = map[string]json.RawMessage{
			"caller_phone":    json.RawMessage(`13912345678`),
			"caller_id_card":  json.RawMessage(`"` + idA + `"`),
			"contact":         json.RawMessage(`{"name":"钱七","mobile":"138-0013-8000","tel":13800138000}`),
			"call_duration":   json.RawMessage(`315`),
			"channel":         json.RawMessage(`"app"`),
			"history":         json.RawMessage(`["2026-11-01 来电", "2026-11-15 来电"]`),
			"unit_of_contact": json.RawMessage(`"990101001001"`),
		}
		r := p.Record(&s, received)
		var extra map[string]any
		if err := json.Unmarshal(r.Extra, &extra); err != nil {
			t.Fatalf("Record.Extra is not valid JSON: %v\n%s", err, r.Extra)
		}
		want := map[string]any{
			"caller_phone":    "[电话已隐去]",
			"caller_id_card":  "[证件号已隐去]",
			"contact":         `{"name":"钱七","mobile":"[电话已隐去]","tel":[电话已隐去]}`,
			"call_duration":   float64(315),
			"channel":         "app",
			"history":         []any{"2026-11-01 来电", "2026-11-15 来电"},
			"unit_of_contact": "990101001001",
		}
		if !reflect.DeepEqual(extra, want) {
			t.Errorf("Extra =\n%v\nwant\n%v", extra, want)
		}
	})

	t.Run("no extra fields, no extra", func(t *testing.T) {
		s := validSignal(risk.Hotline)
		if r := p.Record(&s, received); r.Extra != nil {
			t.Errorf("Extra = %s, want none", r.Extra)
		}
	})
}

// TestRecordHoldsNoPersonalNumbers decodes a signal with ID and phone numbers
// in every free-text place and checks that its encoded record holds none.
func TestRecordHoldsNoPersonalNumbers(t *testing.T) {
	body := `{"source":"grid_report","id":"WG-1","occurred_at":"2026-11-22T08:30:00+08:00","unit":"990101001001",
	  "persons":[
	    {"id_number":"` + idA + `","name":"张三","phone":"13912345678","role":"当事人"},
	    {"id_number":"` + strings.ToLower(idB) + `","name":"李四 13800138000","role":"家属 ` + idA + `"},
	    {"name":"王五","phone":"+86 137-0000-1111"}
	  ],
	  "tags":["扬言","13912345678"],
	  "summary":"张三(` + idA + `)电话13912345678，李四 138 0013 8000",
	  "reporter":"网格员 137-0000-1111",
	  "caller":13912345678,
	  "ids":["` + idA + `", "` + idB + `"],
	  "nested":{"deep":{"phone":"+8613700001111"}}}`
	sigs, err := Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if errs := testValidator().Validate(&sigs[0], ""); len(errs) != 0 {
		t.Fatalf("Validate: %v", errs)
	}
	r := testPseudonymizer(t).Record(&sigs[0], received)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	// Long digit runs are suspect, except the unit code and any that a hex ref
	// happens to hold.
	rest := regexp.MustCompile(`"ref":"[PW][0-9a-f]+"`).ReplaceAllString(string(b), "")
	rest = strings.ReplaceAll(rest, `"unit":"`+unitVillage+`"`, "")
	digits := regexp.MustCompile(`\d+`).FindAllString(rest, -1)
	for _, secret := range []string{idA, strings.ToLower(idA), idB, strings.ToLower(idB), idA[:17], idB[:17],
		"13912345678", "13800138000", "13700001111", "1370000", "0013"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("the record holds %q:\n%s", secret, b)
		}
	}
	for _, d := range digits {
		if len(d) >= 11 {
			t.Errorf("the record holds a run of %d digits %q", len(d), d)
		}
	}
	if t.Failed() {
		t.Logf("record: %s", b)
	}
}

func TestRecordSubjects(t *testing.T) {
	p := testPseudonymizer(t)
	tests := []struct {
		name string
		src  risk.Source
		want func(s Signal) []risk.SubjectID
	}{
		{"persons in order", risk.GridReport, func(s Signal) []risk.SubjectID {
			return []risk.SubjectID{
				{Kind: risk.Person, Ref: p.PersonRef(idA)},
				{Kind: risk.Person, Ref: p.WeakRef("李四", phoneA)},
			}
		}},
		{"persons, then the dispute", risk.Hotline, func(s Signal) []risk.SubjectID {
			return []risk.SubjectID{
				{Kind: risk.Person, Ref: p.WeakRef("钱七", phoneB)},
				{Kind: risk.Dispute, Ref: "TZ-2026-0042"},
			}
		}},
		{"the dispute alone", risk.Ledger, func(s Signal) []risk.SubjectID {
			return []risk.SubjectID{{Kind: risk.Dispute, Ref: "TZ-2026-0042"}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSignal(tc.src)
			r := p.Record(&s, received)
			got := r.Subjects()
			if want := tc.want(s); !reflect.DeepEqual(got, want) {
				t.Errorf("Subjects() = %v, want %v", got, want)
			}
			for _, sub := range got {
				if err := sub.Validate(); err != nil {
					t.Errorf("subject %v: %v", sub, err)
				}
			}
		})
	}
}

func TestRecordJSONRoundTrip(t *testing.T) {
	s := validSignal(risk.Petition)
	s.Extra = map[string]json.RawMessage{"office": json.RawMessage(`"县信访局"`)}
	r := testPseudonymizer(t).Record(&s, received)
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.OccurredAt.Equal(r.OccurredAt) || !back.ReceivedAt.Equal(r.ReceivedAt) {
		t.Errorf("times changed: %v %v", back.OccurredAt, back.ReceivedAt)
	}
	back.OccurredAt, back.ReceivedAt = r.OccurredAt, r.ReceivedAt
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip =\n%+v\nwant\n%+v", back, r)
	}
}
