package eval

import (
	"slices"
	"time"

	"fengqiao/engine"
	"fengqiao/risk"
	"fengqiao/rules"
)

// Facts are what the rules read about one subject. The peers and the floor
// compute them once per evaluation with Compute, which follows the engine's
// own computation (computeFeatures and subjectFacts in engine/state.go, which
// are unexported) step by step, so that every implementation pays the same
// for the features and differs only in how it evaluates the rules. Compute
// is a little cheaper than the engine's: it does not also fill Env's
// features map.
//
// Every number is a float64, as the peers see numbers.
type Facts struct {
	Kind         risk.Kind
	Unit         string
	Weak         bool
	Signals      float64
	Features     []float64 // the ruleset's features, in its order (by name)
	Tags         []string  // every tag seen on the subject's signals, sorted
	LedgerStatus string    // the latest ledger status, "" if none
	CasesOpen    float64
	CasesOverdue float64
	CasesFailed  float64

	days []int64                  // scratch of distinct-days features
	last map[string]*engine.Event // scratch: latest event per case id
}

// chinaTime is UTC+8, where a day of reports begins and ends (as in the engine).
var chinaTime = time.FixedZone("CST", 8*60*60)

// Compute fills x for st at time now under the features fs, reusing x's memory.
func (x *Facts) Compute(fs []rules.Feature, st *engine.State, now time.Time) {
	x.Kind, x.Unit, x.Weak, x.Signals = st.Subject.Kind, st.Unit, st.Weak, float64(len(st.Events))
	if cap(x.Features) < len(fs) {
		x.Features = make([]float64, len(fs))
	}
	x.Features = x.Features[:len(fs)]
	for i := range fs {
		x.Features[i] = x.feature(&fs[i], st.Events, now)
	}
	x.subjectFacts(st.Events)
}

func (x *Facts) feature(f *rules.Feature, events []engine.Event, now time.Time) float64 {
	since := now.Add(-time.Duration(f.Window)) // windows are half-open
	var v float64
	switch {
	case f.Count != "":
		for j := range events {
			if matches(f, &events[j], f.Count, since) {
				v++
			}
		}
	case f.DistinctDays != "":
		x.days = x.days[:0]
		for j := range events {
			if matches(f, &events[j], f.DistinctDays, since) {
				_, off := events[j].At.In(chinaTime).Zone()
				day := (events[j].At.Unix() + int64(off)) / 86400
				if !slices.Contains(x.days, day) {
					x.days = append(x.days, day)
				}
			}
		}
		v = float64(len(x.days))
	case f.Max != "":
		for j := range events {
			if matches(f, &events[j], "any", since) {
				v = max(v, value(&events[j], f.Max))
			}
		}
	}
	return v
}

// matches reports whether ev is in f's window, which began at since, and
// passes its filters; the window is checked last, as in the engine.
func matches(f *rules.Feature, ev *engine.Event, source string, since time.Time) bool {
	switch {
	case source == "any" || source == "":
		if ev.Source == risk.CaseEvent { // "any" is any report, not a step of a case
			return false
		}
	case string(ev.Source) != source:
		return false
	}
	if f.Category != "" && ev.Category != f.Category {
		return false
	}
	if f.Flag != "" && !hasFlag(ev, f.Flag) {
		return false
	}
	if f.CaseEvent != "" && ev.CaseEvent != f.CaseEvent {
		return false
	}
	if f.Tag != "" && !slices.Contains(ev.Tags, f.Tag) {
		return false
	}
	if f.Keyword != "" && !slices.Contains(ev.Keywords, f.Keyword) {
		return false
	}
	return ev.At.After(since)
}

func hasFlag(ev *engine.Event, name string) bool {
	switch name {
	case "skip_level":
		return ev.SkipLevel
	case "collective":
		return ev.Collective
	case "repeat":
		return ev.Repeat
	}
	return false
}

func value(ev *engine.Event, field string) float64 {
	switch field {
	case "party_count":
		return float64(ev.PartyCount)
	case "amount":
		return ev.Amount
	case "petition_level":
		return float64(ev.PetitionLevel)
	}
	return 0
}

// subjectFacts fills the facts that are not declared features: tags seen,
// the latest ledger status, and the state of the subject's cases.
func (x *Facts) subjectFacts(events []engine.Event) {
	if x.last == nil {
		x.last = map[string]*engine.Event{}
	}
	x.Tags = x.Tags[:0]
	clear(x.last)
	var ledgerAt time.Time
	status := ""
	for i := range events {
		ev := &events[i]
		for _, t := range ev.Tags {
			if !slices.Contains(x.Tags, t) {
				x.Tags = append(x.Tags, t)
			}
		}
		if ev.LedgerStatus != "" && !ev.At.Before(ledgerAt) {
			ledgerAt, status = ev.At, ev.LedgerStatus
		}
		if ev.CaseID != "" {
			if prev, ok := x.last[ev.CaseID]; !ok || ev.At.After(prev.At) || (ev.At.Equal(prev.At) && ev.CaseSeq >= prev.CaseSeq) {
				x.last[ev.CaseID] = ev
			}
		}
	}
	slices.Sort(x.Tags)
	x.LedgerStatus = status
	x.CasesOpen, x.CasesOverdue, x.CasesFailed = 0, 0, 0
	for _, ev := range x.last {
		switch ev.CaseState {
		case "closed", "followed_up", "archived", "declined":
		default:
			x.CasesOpen++
		}
		switch {
		case ev.CaseEvent == "overdue" || ev.CaseEvent == "supervised":
			x.CasesOverdue++
		case ev.CaseState == "failed":
			x.CasesFailed++
		}
	}
}

// hasTag reports whether the subject's signals carry tag.
func (x *Facts) hasTag(tag string) bool {
	return slices.Contains(x.Tags, tag)
}
