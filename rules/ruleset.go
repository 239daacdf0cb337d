// Package rules holds the ruleset's YAML format: its schema, strict loading and
// validation. Committee staff (政法委) edit these files; every problem is reported
// at once with file, line and rule id. Compiling the expressions is the engine's
// job; this package knows nothing of expr's runtime, Redis or HTTP.
package rules

import (
	"fmt"
	"sort"

	"fengqiao/risk"
)

// Ruleset is a loaded, validated set of rules.
type Ruleset struct {
	Version   string
	Levels    Thresholds
	Dampening Dampening
	Spread    Spread
	Keywords  map[string][]string // list name → words
	Features  []Feature           // sorted by name
	Rules     []Rule              // in file order
	Files     []string            // files it was loaded from
	Hash      string              // of the files' names and contents
	Sources   map[string][]byte   // the files' contents, by name
}

// Dampening holds falls back, so that a subject does not flap between colours:
// after a rise to a level, it may not fall from it before the level's cooldown
// has passed; and leaving SignOff or above needs an officer's sign-off
// (解除预警).
type Dampening struct {
	Cooldown [len(risk.Levels)]Duration
	SignOff  *risk.Level
}

// Spread carries risk between linked subjects.
type Spread struct {
	// DisputeToPerson, when set, makes each person in a dispute at least the
	// dispute's colour lowered by this many steps (0: the same colour).
	DisputeToPerson *int
}

// PersonFloor returns the lowest level a person in a dispute at level l may have.
func (s Spread) PersonFloor(l risk.Level) risk.Level {
	if s.DisputeToPerson == nil || int(l) < *s.DisputeToPerson {
		return risk.Green
	}
	return l - risk.Level(*s.DisputeToPerson)
}

// Thresholds are the minimum scores of each level above green.
type Thresholds struct {
	Blue   float64 `yaml:"blue"`
	Yellow float64 `yaml:"yellow"`
	Orange float64 `yaml:"orange"`
	Red    float64 `yaml:"red"`
}

// Band returns the level a score falls into.
func (t Thresholds) Band(score float64) risk.Level {
	switch {
	case score >= t.Red:
		return risk.Red
	case score >= t.Orange:
		return risk.Orange
	case score >= t.Yellow:
		return risk.Yellow
	case score >= t.Blue:
		return risk.Blue
	}
	return risk.Green
}

// Feature is a named fact about a subject that rules read as features.NAME:
// a count of its signals, a count of distinct days with signals, or the
// largest value of a field, over a sliding window, optionally filtered.
type Feature struct {
	Name         string
	Label        string   `yaml:"label"`         // Chinese, for explanations, e.g. 近30天信访次数
	CaseEvent    string   `yaml:"case_event"`    // only case events of this kind (see CaseEvents)
	Count        string   `yaml:"count"`         // source name or "any": number of matching signals
	DistinctDays string   `yaml:"distinct_days"` // source name or "any": number of distinct days with matching signals
	Max          string   `yaml:"max"`           // one of MaxFields: the largest value among matching signals
	Window       Duration `yaml:"window"`
	Category     string   `yaml:"category"` // only signals of this dispute category
	Tag          string   `yaml:"tag"`      // only signals carrying this tag
	Keyword      string   `yaml:"keyword"`  // only signals whose summary matched this keyword list
	Flag         string   `yaml:"flag"`     // only signals with this flag set (see Flags)
	Line         int      `yaml:"-"`
	File         string   `yaml:"-"`
}

// MaxFields are the signal fields a Max feature may read.
var MaxFields = []string{"party_count", "amount", "petition_level"}

// CaseEvents are the case workflow's events a feature may count.
var CaseEvents = []string{"registered", "accepted", "declined", "assigned", "returned", "signed", "session",
	"agreement", "mediation_failed", "confirmed", "closed", "followed_up", "reopened", "archived", "suspended",
	"resumed", "extended", "escalated", "overdue", "supervised"}

// Flags are the yes/no facts of a signal a feature may filter on.
var Flags = []string{"skip_level", "collective", "repeat"}

// Rule is one scoring rule.
type Rule struct {
	ID          string       `yaml:"id"`
	Name        string       `yaml:"name"` // Chinese display name
	AppliesTo   []risk.Kind  `yaml:"applies_to"`
	When        string       `yaml:"when"`     // expr condition, bool
	Score       string       `yaml:"score"`    // expr score, number
	AtLeast     *risk.Level  `yaml:"at_least"` // optional floor
	Tags        []string     `yaml:"tags"`
	Description string       `yaml:"description"`
	Pos         RulePosition `yaml:"-"`
}

// RulePosition locates a rule and its expressions in their file, so compile
// errors point at the line to fix.
type RulePosition struct {
	File      string
	Line      int
	WhenLine  int // first line of the when expression's text
	ScoreLine int
}

// Applies reports whether the rule scores subjects of kind k.
func (r Rule) Applies(k risk.Kind) bool {
	for _, a := range r.AppliesTo {
		if a == k {
			return true
		}
	}
	return false
}

// Feature returns the named feature.
func (rs *Ruleset) Feature(name string) (Feature, bool) {
	i := sort.Search(len(rs.Features), func(i int) bool { return rs.Features[i].Name >= name })
	if i < len(rs.Features) && rs.Features[i].Name == name {
		return rs.Features[i], true
	}
	return Feature{}, false
}

// MaxWindow returns the longest feature window: how long a subject's signals
// must be kept to evaluate this ruleset.
func (rs *Ruleset) MaxWindow() Duration {
	var m Duration
	for _, f := range rs.Features {
		if f.Window > m {
			m = f.Window
		}
	}
	return m
}

// Problem is one thing wrong with a rules file.
type Problem struct {
	File    string
	Line    int
	Rule    string // rule id, or "" when the problem is not inside a rule
	Message string
}

func (p Problem) String() string {
	s := p.File
	if p.Line > 0 {
		s += fmt.Sprintf(":%d", p.Line)
	}
	s += ": "
	if p.Rule != "" {
		s += "rule " + p.Rule + ": "
	}
	return s + p.Message
}

// Errors is every problem found in a ruleset, reported together so that an
// author fixes a file in one pass.
type Errors []Problem

func (e Errors) Error() string {
	s := ""
	for i, p := range e {
		if i > 0 {
			s += "\n"
		}
		s += p.String()
	}
	return s
}
