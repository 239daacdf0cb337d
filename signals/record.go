package signals

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"fengqiao/risk"
)

// Record is a validated signal as it is stored and streamed: persons are keyed
// references, and ID or phone numbers typed into free text (summary, reporter,
// names, roles, tags, extra fields) are masked. It is
// what the engine's side of the stream sees.
type Record struct {
	Source     risk.Source     `json:"source"`
	ID         string          `json:"id"`
	OccurredAt time.Time       `json:"occurred_at"`
	ReceivedAt time.Time       `json:"received_at"`
	Unit       string          `json:"unit"`
	Persons    []PersonRef     `json:"persons,omitempty"`
	DisputeID  string          `json:"dispute_id,omitempty"`
	Category   string          `json:"category,omitempty"`
	PartyCount int             `json:"party_count,omitempty"`
	Amount     float64         `json:"amount,omitempty"`
	Tags       []string        `json:"tags,omitempty"`
	Summary    string          `json:"summary,omitempty"`
	Reporter   string          `json:"reporter,omitempty"`
	Petition   *PetitionRecord `json:"petition,omitempty"`
	// LedgerStatus and ResponsibleUnit are a ledger row's (化解状态, 责任单位).
	LedgerStatus    string          `json:"ledger_status,omitempty"`
	ResponsibleUnit string          `json:"responsible_unit,omitempty"`
	Case            *CaseEvent      `json:"case,omitempty"`
	Extra           json.RawMessage `json:"extra,omitempty"` // fields the sender added that this version does not know
}

// PersonRef is a person as a record names them: a keyed reference, never the
// ID or phone number.
type PersonRef struct {
	Ref string `json:"ref"`
	// Sealed is the person's ID number and phone, encrypted by the caller
	// (opaque here), for the few roles that may read them back.
	Sealed string `json:"sealed,omitempty"`
	Weak   bool   `json:"weak,omitempty"` // known by name + phone only
	Name   string `json:"name,omitempty"`
	Role   string `json:"role,omitempty"`
}

// PetitionRecord is a petition's facts with its level ranked and skip-level
// derived.
type PetitionRecord struct {
	Level      string `json:"level"`
	Rank       int    `json:"rank"` // 1 village … 6 beijing
	Collective bool   `json:"collective,omitempty"`
	Repeat     bool   `json:"repeat,omitempty"`
	SkipLevel  bool   `json:"skip_level,omitempty"`
}

// Key returns the record's idempotency key, "source:id".
func (r *Record) Key() string { return string(r.Source) + ":" + r.ID }

// Subjects returns the subjects the record concerns: its persons, then its dispute.
func (r *Record) Subjects() []risk.SubjectID {
	out := make([]risk.SubjectID, 0, len(r.Persons)+1)
	for _, p := range r.Persons {
		out = append(out, risk.SubjectID{Kind: risk.Person, Ref: p.Ref})
	}
	if r.DisputeID != "" {
		out = append(out, risk.SubjectID{Kind: risk.Dispute, Ref: r.DisputeID})
	}
	return out
}

// Weak reports whether the subject is a person known only by name and phone.
func (r *Record) Weak(s risk.SubjectID) bool {
	for _, p := range r.Persons {
		if p.Ref == s.Ref {
			return p.Weak
		}
	}
	return false
}

// Record turns a validated signal into a Record received at the given time.
func (p *Pseudonymizer) Record(s *Signal, received time.Time) Record {
	r := Record{
		Source:          s.Source,
		ID:              s.ID,
		OccurredAt:      s.OccurredAt,
		ReceivedAt:      received,
		Unit:            s.Unit,
		DisputeID:       s.DisputeID,
		Category:        s.Category,
		PartyCount:      s.PartyCount,
		Amount:          s.Amount,
		Tags:            maskAll(s.Tags),
		Summary:         MaskNumbers(s.Summary),
		Reporter:        MaskNumbers(s.Reporter),
		LedgerStatus:    s.LedgerStatus,
		ResponsibleUnit: MaskNumbers(s.ResponsibleUnit),
		Case:            s.Case,
	}
	seen := map[string]bool{}
	for _, person := range s.Persons {
		ref := PersonRef{Name: MaskNumbers(person.Name), Role: MaskNumbers(person.Role)}
		if person.IDNumber != "" {
			ref.Ref = p.PersonRef(person.IDNumber)
		} else {
			ref.Ref, ref.Weak = p.WeakRef(person.Name, person.Phone), true
		}
		if !seen[ref.Ref] {
			seen[ref.Ref] = true
			r.Persons = append(r.Persons, ref)
		}
	}
	if s.Petition != nil {
		r.Petition = &PetitionRecord{
			Level:      s.Petition.Level,
			Rank:       PetitionLevel(s.Petition.Level),
			Collective: s.Petition.Collective,
			Repeat:     s.Petition.Repeat,
			SkipLevel:  s.Petition.IsSkipLevel(),
		}
	}
	if len(s.Extra) > 0 {
		extra := make(map[string]json.RawMessage, len(s.Extra))
		for k, v := range s.Extra {
			masked := MaskNumbers(string(v))
			if !json.Valid([]byte(masked)) { // a bare number was masked: keep it as text
				b, _ := json.Marshal(masked)
				masked = string(b)
			}
			extra[k] = json.RawMessage(masked)
		}
		r.Extra, _ = json.Marshal(extra)
	}
	return r
}

// maskAll returns a copy of ss with MaskNumbers applied to each.
func maskAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = MaskNumbers(s)
	}
	return out
}

var (
	idNumberLike = regexp.MustCompile(`\d{17}[\dXx]|\d{15}`)
	phoneLike    = regexp.MustCompile(`(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}`)
)

// MaskNumbers hides anything in free text that looks like a resident ID number
// or a mobile phone number, so that they are never stored in clear.
func MaskNumbers(s string) string {
	s = replaceWhole(s, idNumberLike, "[证件号已隐去]")
	return replaceWhole(s, phoneLike, "[电话已隐去]")
}

// replaceWhole replaces matches of re that are not part of a longer run of
// digits: a 12-digit unit code is not a phone number, though it contains 11
// digits that look like one.
func replaceWhole(s string, re *regexp.Regexp, with string) string {
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringIndex(s, -1) {
		if (m[0] > 0 && isDigit(s[m[0]-1])) || (m[1] < len(s) && isDigit(s[m[1]])) {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(with)
		last = m[1]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
