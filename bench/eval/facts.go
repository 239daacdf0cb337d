package eval

import (
	"slices"
	"time"

	"fengqiao/engine"
	"fengqiao/risk"
)

// Facts are what the rules read about one subject, as the peers and the
// floor see them. Compute fills them with the engine's own computation
// ((*engine.Features).Compute, which EvaluateInto runs too), so that every
// implementation pays the same for the features and differs only in how it
// evaluates the rules. It converts what the engine counts as an int to a
// float64, as the peers see numbers; the features are float64 already.
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

	facts engine.Facts // the engine's, reused
}

// Compute fills x for st at time now with the features p (the ruleset's,
// compiled with engine.NewFeatures), reusing x's memory.
func (x *Facts) Compute(p *engine.Features, st *engine.State, now time.Time) {
	f := &x.facts
	p.Compute(st, now, f)
	x.Kind, x.Unit, x.Weak, x.Signals = st.Subject.Kind, st.Unit, st.Weak, float64(len(st.Events))
	x.Features, x.Tags, x.LedgerStatus = f.Features, f.Tags, f.LedgerStatus
	x.CasesOpen, x.CasesOverdue, x.CasesFailed = float64(f.Cases.Open), float64(f.Cases.Overdue), float64(f.Cases.Failed)
}

// hasTag reports whether the subject's signals carry tag.
func (x *Facts) hasTag(tag string) bool {
	return slices.Contains(x.Tags, tag)
}
