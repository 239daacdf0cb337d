package risk

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Kind is the kind of subject that is scored.
type Kind string

// The two kinds of subject.
const (
	Person  Kind = "person"  // 当事人/重点人员
	Dispute Kind = "dispute" // 矛盾纠纷
)

// Kinds lists every kind of subject.
var Kinds = [...]Kind{Person, Dispute}

// ParseKind parses a subject kind.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case Person, Dispute:
		return Kind(s), nil
	}
	return "", fmt.Errorf("unknown subject kind %q: want person or dispute", s)
}

// refPattern bounds what a subject reference may contain, so that it is safe in
// Redis key names, URLs and logs.
var refPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$`)

// SubjectID names a scored subject. A person's Ref is a keyed hash of their
// identity (never the ID number itself); a dispute's Ref is the id its source
// gave it (ledger number, case number).
type SubjectID struct {
	Kind Kind   `json:"kind"`
	Ref  string `json:"ref"`
}

// String returns "kind/ref".
func (s SubjectID) String() string { return string(s.Kind) + "/" + s.Ref }

// Validate reports whether the id is well-formed.
func (s SubjectID) Validate() error {
	if _, err := ParseKind(string(s.Kind)); err != nil {
		return err
	}
	if !refPattern.MatchString(s.Ref) {
		return fmt.Errorf("invalid subject reference: use 1-64 letters, digits, '.', '_' or '-'")
	}
	return nil
}

// RuleOutcome is what one rule did in an assessment.
type RuleOutcome struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`               // Chinese display name
	Points  float64 `json:"points"`             // points added to the score
	AtLeast *Level  `json:"at_least,omitempty"` // floor the rule imposes, if any
	Detail  string  `json:"detail,omitempty"`   // the values it saw, in Chinese, e.g. 近30天信访次数 3(阈值≥3)
	Error   string  `json:"error,omitempty"`    // evaluation error, if the rule failed
}

// AdjustmentKind says why a level differs from what the rules alone give.
type AdjustmentKind string

// The kinds of adjustment, in the order they apply.
const (
	Spread   AdjustmentKind = "spread"   // a linked subject's colour raised the floor
	Held     AdjustmentKind = "held"     // a fall is held back: cooldown, or sign-off needed
	Override AdjustmentKind = "override" // an officer set the level by hand
)

// Adjustment is one reason the level is not simply the rules' result.
type Adjustment struct {
	Kind   AdjustmentKind `json:"kind"`
	Level  Level          `json:"level"`
	Reason string         `json:"reason"` // in Chinese
	Until  *time.Time     `json:"until,omitempty"`
}

// Assessment is a subject's scored state: its level, its score and every
// rule's outcome, with the ruleset that produced it.
type Assessment struct {
	Subject        SubjectID     `json:"subject"`
	Unit           string        `json:"unit"`
	Level          Level         `json:"level"`
	Score          float64       `json:"score"`
	RulesLevel     Level         `json:"rules_level"` // the level from the rules alone, before adjustments
	Fired          []RuleOutcome `json:"fired"`
	NotFired       []string      `json:"not_fired,omitempty"` // ids of the rules that applied and did not fire
	Errors         []RuleOutcome `json:"errors,omitempty"`
	Adjustments    []Adjustment  `json:"adjustments,omitempty"`
	RulesetVersion string        `json:"ruleset_version"`
	RulesetHash    string        `json:"ruleset_hash,omitempty"`
	At             time.Time     `json:"assessed_at"`
	Signal         string        `json:"signal,omitempty"` // the signal that triggered it, "source:id"
}

// Explain returns the assessment in a form a person can read, e.g.
// "红色(得分 95): 扬言极端(近30天扬言信号次数 1,阈值>0) +45,至少橙色; 多次信访 +50".
func (a Assessment) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s(得分 %g)", a.Level.Chinese(), a.Score)
	if len(a.Fired) == 0 {
		b.WriteString(": 未触发任何规则")
	} else {
		b.WriteString(": ")
	}
	for i, r := range a.Fired {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.Name)
		if r.Detail != "" {
			b.WriteString("(" + r.Detail + ")")
		}
		fmt.Fprintf(&b, " %+g", r.Points)
		if r.AtLeast != nil {
			b.WriteString(",至少" + r.AtLeast.Chinese())
		}
	}
	for _, adj := range a.Adjustments {
		b.WriteString("; " + adj.Reason)
	}
	return b.String()
}
