package scoring

import (
	"context"
	"sync"

	"fengqiao/risk"
	"fengqiao/rules"
)

// An assessment is stored without its not_fired list, two thirds of its
// bytes: the rules that applied to the subject and did not fire follow from
// the ruleset the assessment names by hash, and are derived when the subject
// is read.

// RulesetArchive finds a ruleset that was in force by its hash.
type RulesetArchive interface {
	Ruleset(ctx context.Context, hash string) (*rules.Ruleset, error)
}

// Archive lets the Scorer find the rulesets of assessments made under a
// ruleset no longer in force, to list the rules that did not fire. Without
// it, such an assessment is shown without that list.
func Archive(a RulesetArchive) Option {
	return func(s *Scorer) { s.archive = a }
}

// rulesets caches the archived rulesets the Scorer has read, by hash.
type rulesets struct {
	mu sync.Mutex
	m  map[string]*rules.Ruleset
}

// storable is a as stored: without its not_fired list.
func storable(a *risk.Assessment) *risk.Assessment {
	out := *a
	out.NotFired = nil
	return &out
}

// notFired lists the rules of a's ruleset that apply to its subject's kind
// and neither fired nor failed, in the ruleset's order, as the engine lists
// them; nil when the ruleset cannot be found.
func (s *Scorer) notFired(ctx context.Context, a *risk.Assessment) []string {
	rs := s.rulesetOf(ctx, a.RulesetHash, a.Unit)
	if rs == nil {
		return nil
	}
	done := make(map[string]bool, len(a.Fired)+len(a.Errors))
	for _, o := range a.Fired {
		done[o.ID] = true
	}
	for _, o := range a.Errors {
		done[o.ID] = true
	}
	var out []string
	for _, r := range rs.Rules {
		if r.Applies(a.Subject.Kind) && !done[r.ID] {
			out = append(out, r.ID)
		}
	}
	return out
}

// rulesetOf finds the ruleset with the hash: in force for the unit, the
// baseline, the shadow, or else in the archive.
func (s *Scorer) rulesetOf(ctx context.Context, hash, unit string) *rules.Ruleset {
	if hash == "" {
		return nil
	}
	for _, e := range []interface{ Ruleset() *rules.Ruleset }{s.rules.EngineFor(unit), s.rules.Engine()} {
		if rs := e.Ruleset(); rs.Hash == hash {
			return rs
		}
	}
	if sh := s.rules.Shadow(); sh != nil && sh.Ruleset().Hash == hash {
		return sh.Ruleset()
	}
	if s.archive == nil {
		return nil
	}
	s.archived.mu.Lock()
	defer s.archived.mu.Unlock()
	if rs, ok := s.archived.m[hash]; ok {
		return rs
	}
	rs, err := s.archive.Ruleset(ctx, hash)
	if err != nil {
		s.log.Warn("read an archived ruleset", "hash", hash, "err", err)
		return nil
	}
	if s.archived.m == nil {
		s.archived.m = map[string]*rules.Ruleset{}
	}
	s.archived.m[hash] = rs
	return rs
}
