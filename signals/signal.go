// Package signals takes in what grid workers (网格员), petition offices (信访),
// the 12345 hotline and case ledgers (台账) report: it decodes and validates
// each signal strictly, replaces personal identifiers with keyed references,
// and streams the result through Redis to the engine with at-least-once,
// idempotent delivery.
package signals

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"fengqiao/risk"
)

// Limits on one signal, so that a single bad sender cannot flood the store.
const (
	MaxBatch       = 1000
	maxPersons     = 200
	maxTags        = 50
	maxSummary     = 4000 // characters
	maxIDLength    = 64
	maxPartyCount  = 1_000_000
	maxFutureSkew  = 10 * time.Minute
	maxSignalAge   = 10 * 365 * 24 * time.Hour
	maxAmountYuan  = 1e13
	maxExtraFields = 50
	maxExtraBytes  = 16 << 10
)

// DefaultCategories is the controlled list of dispute categories (纠纷类别).
var DefaultCategories = []string{
	"婚姻家庭", "邻里", "土地承包/流转", "征地拆迁", "劳动/欠薪", "物业", "医疗",
	"交通事故", "消费", "金融/涉众", "环境", "校园", "其他",
}

// Signal is one report as a source sends it. Persons carry raw identifiers
// here; Pseudonymize turns a Signal into a Record that carries none.
type Signal struct {
	Source     risk.Source `json:"source"`
	ID         string      `json:"id"`
	OccurredAt time.Time   `json:"occurred_at"`
	Unit       string      `json:"unit"`
	Persons    []Person    `json:"persons,omitempty"`
	DisputeID  string      `json:"dispute_id,omitempty"`
	Category   string      `json:"category,omitempty"`
	PartyCount int         `json:"party_count,omitempty"`
	Amount     float64     `json:"amount,omitempty"` // yuan
	Tags       []string    `json:"tags,omitempty"`
	Summary    string      `json:"summary,omitempty"`
	Reporter   string      `json:"reporter,omitempty"`
	Petition   *Petition   `json:"petition,omitempty"`
	// LedgerStatus and ResponsibleUnit are a ledger (台账) row's: how far the
	// dispute is resolved (化解状态) and who is responsible for it (责任单位).
	LedgerStatus    string `json:"ledger_status,omitempty"`
	ResponsibleUnit string `json:"responsible_unit,omitempty"`
	// Case is a case event's; only the case workflow produces those.
	Case *CaseEvent `json:"case,omitempty"`
	// Extra holds fields this version does not know, kept as sent.
	Extra map[string]json.RawMessage `json:"-"`
}

// Person is a person a signal concerns, as sent.
type Person struct {
	IDNumber string `json:"id_number,omitempty"` // 18-digit resident ID number
	Name     string `json:"name,omitempty"`
	Phone    string `json:"phone,omitempty"`
	Role     string `json:"role,omitempty"` // e.g. 当事人, 信访人, 来电人
}

// Petition holds what a petition (信访) signal adds.
type Petition struct {
	Level      string `json:"level"`                // highest level reached: village … beijing
	Collective bool   `json:"collective,omitempty"` // 集体访
	Repeat     bool   `json:"repeat,omitempty"`     // 重复访
	SkipLevel  bool   `json:"skip_level,omitempty"` // 越级访, as judged by the petition office
}

// CaseEvent is what a case event adds: the case, the step of the mediation
// workflow, and the states before and after it. The shape is reserved for
// the case workflow, which produces these signals itself.
type CaseEvent struct {
	CaseID string `json:"case_id"`
	Event  string `json:"event"` // e.g. registered, mediation_failed, overdue, closed
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	// Seq orders a case's events that happen within the same instant.
	Seq int `json:"seq,omitempty"`
}

// LedgerStatuses are the states of a ledger row (化解状态).
var LedgerStatuses = []string{"未化解", "化解中", "已化解", "已移交"}

// PetitionLevels are the levels a petition can reach, lowest first.
var PetitionLevels = []string{"village", "township", "county", "city", "province", "beijing"}

// PetitionLevel returns the rank of a petition level, 1 (village) to 6
// (beijing), or 0 when unknown.
func PetitionLevel(s string) int { return slices.Index(PetitionLevels, s) + 1 }

// SkipLevelFrom is the lowest petition level that is always skip-level (越级访):
// petitions are to be handled at county level and below, and going past the
// city to the province or Beijing skips the tiers that are responsible.
const SkipLevelFrom = "province"

// IsSkipLevel reports whether the petition skipped levels: the office said so,
// or it reached the province or Beijing.
func (p *Petition) IsSkipLevel() bool {
	return p.SkipLevel || PetitionLevel(p.Level) >= PetitionLevel(SkipLevelFrom)
}

// Key returns the signal's idempotency key, "source:id".
func (s *Signal) Key() string { return string(s.Source) + ":" + s.ID }

var knownFields = []string{"source", "id", "occurred_at", "unit", "persons", "dispute_id", "category",
	"party_count", "amount", "tags", "summary", "reporter", "petition", "ledger_status", "responsible_unit", "case"}

var (
	personFields   = []string{"id_number", "name", "phone", "role"}
	petitionFields = []string{"level", "collective", "repeat", "skip_level"}
)

// knownField returns the known field a JSON key decodes into, or "". Like
// encoding/json, it matches keys case-insensitively, so that a key such as
// "Persons" is decoded once and not also kept as an extra field.
func knownField(fields []string, key string) string {
	for _, f := range fields {
		if strings.EqualFold(f, key) {
			return f
		}
	}
	return ""
}

// plainKey is the shape of a JSON key safe to repeat in an error's field
// path; see safeKey.
var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,39}$`)

// safeKey reports whether a JSON key may be repeated in an error: a plain
// name with too few digits to hide an ID or phone number.
func safeKey(k string) bool {
	return plainKey.MatchString(k) && len(normalizePhone(k)) <= 4 // normalizePhone: the digits
}

// pathError is a decoding error at a field path (such as "persons[0].phone")
// that encoding/json cannot name. Its message never repeats the value.
type pathError struct{ field, msg string }

func (e *pathError) Error() string { return e.field + ": " + e.msg }

// UnmarshalJSON decodes a signal, keeping fields it does not know in Extra.
// Nested objects (persons, petition) are decoded strictly: a field they do
// not have is an error, not silently dropped.
func (s *Signal) UnmarshalJSON(b []byte) error {
	// Most signals hold only known, well-typed fields: one strict decode
	// gives them exactly as the full path below would. Anything else (an
	// extra field, a type error, a nested field a person does not have)
	// takes the full path, which keeps extras and names what is wrong.
	type plain Signal
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if dec.Decode(&p) == nil && !dec.More() {
		if _, err := dec.Token(); err == io.EOF {
			*s = Signal(p)
			return nil
		}
	}
	return s.decodeFull(b)
}

// decodeFull decodes a signal field by field, keeping the fields it does not
// know in Extra.
func (s *Signal) decodeFull(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	keys := slices.Sorted(maps.Keys(all))
	for _, k := range keys {
		raw := all[k]
		switch knownField(knownFields, k) {
		case "":
			continue
		case "occurred_at":
			if len(raw) > 0 && raw[0] != '"' && string(raw) != "null" {
				return &pathError{"occurred_at", "must be RFC 3339 time, e.g. 2026-11-22T09:30:00+08:00"}
			}
		case "persons":
			var items []json.RawMessage
			if json.Unmarshal(raw, &items) == nil { // not an array: the typed decode below says so
				for i, item := range items {
					if err := checkObject(item, fmt.Sprintf("persons[%d]", i), "a person", personFields, new(Person)); err != nil {
						return err
					}
				}
			}
		case "petition":
			if err := checkObject(raw, "petition", "a petition", petitionFields, new(Petition)); err != nil {
				return err
			}
		}
		delete(all, k)
	}
	type plain Signal
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if len(all) == 0 {
		all = nil
	}
	*s = Signal(p)
	s.Extra = all
	return nil
}

// checkObject decodes raw into v, refusing fields v does not have and naming
// any field of the wrong type by its full path.
func checkObject(raw json.RawMessage, path, what string, fields []string, v any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return &pathError{path, "must be a JSON object"}
		}
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if knownField(fields, k) == "" {
			use := strings.Join(fields, ", ")
			if safeKey(k) { // never echo what may be a number
				return &pathError{path + "." + k, fmt.Sprintf("is not a field of %s: use %s", what, use)}
			}
			return &pathError{path, fmt.Sprintf("has a field that %s does not have: use %s", what, use)}
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return &pathError{path + "." + typ.Field, "must be a " + jsonKind(typ.Type.Kind().String())}
		}
		return err
	}
	return nil
}

// MarshalJSON encodes a signal with its extra fields.
func (s Signal) MarshalJSON() ([]byte, error) {
	type plain Signal
	return marshalWithExtra(plain(s), s.Extra)
}

func marshalWithExtra(v any, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		if _, known := m[k]; !known {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// FieldError is one thing wrong with one field of the input.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists everything wrong with a signal or a batch. Its
// messages never repeat ID numbers or phone numbers.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.Field + ": " + fe.Message)
	}
	return b.String()
}

// Validator checks signals against the jurisdiction and the controlled lists.
type Validator struct {
	KnownUnit  func(code string) bool // whether a unit code is in the jurisdiction tree
	Categories []string               // the controlled list of dispute categories
	Now        func() time.Time
}

// Validate returns every problem with s, each field named with prefix.
func (v *Validator) Validate(s *Signal, prefix string) []FieldError {
	var errs []FieldError
	bad := func(field, format string, a ...any) {
		errs = append(errs, FieldError{prefix + field, fmt.Sprintf(format, a...)})
	}
	if s.Source == "" {
		bad("source", "is required: one of grid_report, petition, hotline, ledger")
	} else if src, err := risk.ParseSource(string(s.Source)); err != nil {
		// Not risk.ParseSource's message: it quotes the value, which may be
		// an ID or phone number sent in the wrong field.
		bad("source", "is not a source: use one of grid_report, petition, hotline, ledger")
	} else if src == risk.CaseEvent {
		bad("source", "case events are produced by the case workflow and cannot be sent")
	}
	switch {
	case s.ID == "":
		bad("id", "is required: the id the source gave this report, so that re-sending it is harmless")
	case len(s.ID) > maxIDLength || !printable(s.ID):
		bad("id", "must be at most %d printable characters without spaces", maxIDLength)
	case hidesPersonalNumber(s.ID):
		bad("id", "must not contain an ID number or phone number: use the report's own number")
	}
	now := v.Now()
	switch {
	case s.OccurredAt.IsZero():
		bad("occurred_at", "is required, as RFC 3339 time, e.g. 2026-11-22T09:30:00+08:00")
	case s.OccurredAt.After(now.Add(maxFutureSkew)):
		bad("occurred_at", "is in the future")
	case s.OccurredAt.Before(now.Add(-maxSignalAge)):
		bad("occurred_at", "is more than ten years ago")
	}
	switch {
	case s.Unit == "":
		bad("unit", "is required: the code of the unit (village, township …) where it happened")
	case !v.KnownUnit(s.Unit):
		bad("unit", "is not a unit code of the jurisdiction: use the 12-digit code of a village, township, county or city (or a grid's 15)")
	}
	if len(s.Persons) == 0 && s.DisputeID == "" {
		bad("persons", "give at least one person or a dispute_id: a signal must concern someone or something")
	}
	if len(s.Persons) > maxPersons {
		bad("persons", "at most %d persons per signal", maxPersons)
	}
	for i, p := range s.Persons {
		f := fmt.Sprintf("persons[%d].", i)
		switch {
		case p.IDNumber != "":
			if err := checkIDNumber(p.IDNumber); err != nil {
				bad(f+"id_number", "%v", err)
			}
		case strings.TrimSpace(p.Name) == "" || p.Phone == "":
			bad(f+"id_number", "is required; where it is not known, give both name and phone")
		}
		if p.Phone != "" {
			if n := len(normalizePhone(p.Phone)); n < 7 || n > 15 {
				bad(f+"phone", "must have 7 to 15 digits")
			}
		}
		if utf8.RuneCountInString(p.Name) > 50 {
			bad(f+"name", "must be at most 50 characters")
		}
		if utf8.RuneCountInString(p.Role) > 30 {
			bad(f+"role", "must be at most 30 characters")
		}
	}
	if s.DisputeID != "" {
		if err := (risk.SubjectID{Kind: risk.Dispute, Ref: s.DisputeID}).Validate(); err != nil {
			bad("dispute_id", "%v", err)
		} else if hidesPersonalNumber(s.DisputeID) {
			bad("dispute_id", "must not contain an ID number or phone number: use the ledger or case number")
		}
	}
	if utf8.RuneCountInString(s.Reporter) > 100 {
		bad("reporter", "must be at most 100 characters")
	}
	if s.Category != "" && !slices.Contains(v.Categories, s.Category) {
		bad("category", "is not a known category: use one of %s", strings.Join(v.Categories, ", "))
	}
	if s.PartyCount < 0 || s.PartyCount > maxPartyCount {
		bad("party_count", "must be between 0 and %d", maxPartyCount)
	}
	if !(s.Amount >= 0 && s.Amount <= maxAmountYuan) { // also refuses NaN, which JSON cannot encode
		bad("amount", "must be between 0 and %g yuan", maxAmountYuan)
	}
	if len(s.Tags) > maxTags {
		bad("tags", "at most %d tags", maxTags)
	}
	for i, t := range s.Tags {
		if strings.TrimSpace(t) == "" || utf8.RuneCountInString(t) > 30 {
			bad(fmt.Sprintf("tags[%d]", i), "must be 1 to 30 characters")
		}
	}
	if utf8.RuneCountInString(s.Summary) > maxSummary {
		bad("summary", "must be at most %d characters", maxSummary)
	}
	if len(s.Extra) > maxExtraFields {
		bad("", "at most %d extra fields", maxExtraFields)
	}
	extraBytes := 0
	for _, v := range s.Extra {
		extraBytes += len(v)
	}
	if extraBytes > maxExtraBytes {
		bad("", "extra fields hold at most %d bytes together", maxExtraBytes)
	}
	v.validateSource(s, bad)
	return errs
}

// validateSource checks what each source requires beyond the common fields.
func (v *Validator) validateSource(s *Signal, bad func(field, format string, a ...any)) {
	switch {
	case s.Source == risk.Petition && s.Petition == nil:
		bad("petition", "is required for a petition: give at least petition.level")
	case s.Source != risk.Petition && s.Petition != nil:
		bad("petition", "is only for source petition")
	case s.Petition != nil && PetitionLevel(s.Petition.Level) == 0:
		bad("petition.level", "is not a level: use one of %s", strings.Join(PetitionLevels, ", "))
	}
	if s.Source == risk.Hotline && len(s.Persons) == 0 {
		bad("persons", "a hotline call needs its caller: give the caller as a person (role 来电人)")
	}
	if s.Source == risk.Ledger {
		if s.DisputeID == "" {
			bad("dispute_id", "is required for a ledger row: give the dispute's ledger number")
		}
		if s.Category == "" {
			bad("category", "is required for a ledger row: use one of %s", strings.Join(v.Categories, ", "))
		}
		if !slices.Contains(LedgerStatuses, s.LedgerStatus) {
			bad("ledger_status", "is required for a ledger row: use one of %s", strings.Join(LedgerStatuses, ", "))
		}
	} else {
		if s.LedgerStatus != "" {
			bad("ledger_status", "is only for source ledger")
		}
		if s.ResponsibleUnit != "" {
			bad("responsible_unit", "is only for source ledger")
		}
	}
	if utf8.RuneCountInString(s.ResponsibleUnit) > 100 {
		bad("responsible_unit", "must be at most 100 characters")
	}
	if s.Case != nil && s.Source != risk.CaseEvent {
		bad("case", "is only for case events, which the case workflow produces")
	}
}

// hidesPersonalNumber reports whether an identifier carries a valid resident
// ID number or a mobile phone number, which must never become part of a key.
func hidesPersonalNumber(s string) bool {
	for _, run := range digitRun.FindAllString(s, -1) {
		if (len(run) == 18 && checkIDNumber(strings.ToUpper(run)) == nil) || mobile.MatchString(run) {
			return true
		}
	}
	return false
}

var (
	digitRun = regexp.MustCompile(`\d+[Xx]?`)
	mobile   = regexp.MustCompile(`^1[3-9]\d{9}$`)
)

func printable(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}
