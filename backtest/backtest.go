// Package backtest replays recorded signals through two rulesets and reports,
// before a candidate ruleset goes live (回测), how many subjects change colour,
// which way, which ones, and how often each rule fires under each. It scores
// as the live scorer does, without Redis: disputes first, then persons with
// their disputes' colours for spread.
package backtest

import (
	"cmp"
	"slices"
	"time"

	"fengqiao/assess"
	"fengqiao/engine"
	"fengqiao/risk"
	"fengqiao/rules"
	"fengqiao/signals"
)

// Replay scores every subject the records concern as the live scorer would
// if it re-scored them all at now, with no history: each subject's signals up
// to now (a signal sent twice counts once), disputes first, then each person
// with the levels of the disputes they were named in, so that spread applies.
// There is no previous level, hence no dampening, and no override; rules that
// read signal.* see an empty signal, as on a re-score.
func Replay(recs []signals.Record, e *engine.Engine, now time.Time) map[risk.SubjectID]risk.Assessment {
	subjects, order := gather(recs, e, now)
	out := make(map[risk.SubjectID]risk.Assessment, len(subjects))
	for _, kind := range []risk.Kind{risk.Dispute, risk.Person} { // disputes first: their colour spreads to persons
		for _, id := range order {
			if id.Kind != kind {
				continue
			}
			s := subjects[id]
			st := engine.State{Subject: id, Unit: s.unit, Weak: s.weak, Events: s.events}
			for _, d := range s.disputes {
				did := risk.SubjectID{Kind: risk.Dispute, Ref: d}
				st.Links = append(st.Links, engine.Link{Subject: did, Level: out[did].Level})
			}
			out[id] = e.Evaluate(st, now)
		}
	}
	return out
}

// subject is what the records say of one subject.
type subject struct {
	unit     string // of its latest signal
	unitAt   time.Time
	weak     bool
	events   []engine.Event
	disputes []string // for a person, the disputes named with them
}

// Replayed returns the records Replay counts at now: those that happened by
// then, each source:id once (the first).
func Replayed(recs []signals.Record, now time.Time) []signals.Record {
	seen := make(map[string]bool, len(recs))
	var out []signals.Record
	for _, r := range recs {
		if r.OccurredAt.After(now) || seen[r.Key()] {
			continue
		}
		seen[r.Key()] = true
		out = append(out, r)
	}
	return out
}

func gather(recs []signals.Record, e *engine.Engine, now time.Time) (map[risk.SubjectID]*subject, []risk.SubjectID) {
	recs = Replayed(recs, now)
	slices.SortStableFunc(recs, func(a, b signals.Record) int { return a.OccurredAt.Compare(b.OccurredAt) })
	subjects := map[risk.SubjectID]*subject{}
	var order []risk.SubjectID
	for i := range recs {
		r := &recs[i]
		ev := assess.EventOf(r, e)
		for _, id := range r.Subjects() {
			s, ok := subjects[id]
			if !ok {
				s = &subject{}
				subjects[id] = s
				order = append(order, id)
			}
			s.events = append(s.events, ev)
			if !r.OccurredAt.Before(s.unitAt) {
				s.unit, s.unitAt = r.Unit, r.OccurredAt
			}
			if id.Kind == risk.Person {
				s.weak = r.Weak(id)
				if r.DisputeID != "" && !slices.Contains(s.disputes, r.DisputeID) {
					s.disputes = append(s.disputes, r.DisputeID)
				}
			}
		}
	}
	return subjects, order
}

// Options tune Compare.
type Options struct {
	Top int // how many colour changes to list with both explanations
	// From and To are the rulesets compared, when known: they name the rules
	// and list those that fired for no one. Without them, the rules are those
	// the assessments mention.
	From, To *rules.Ruleset
}

// Report is what a candidate ruleset would change. Levels are written by
// their English names in JSON (green … red).
type Report struct {
	From     Ruleset   `json:"from"`
	To       Ruleset   `json:"to"`
	At       time.Time `json:"at"`      // when the subjects were scored; set by Run
	Signals  int       `json:"signals"` // replayed; set by Run
	Subjects []Count   `json:"subjects"`
	Raised   int       `json:"raised"`  // subjects whose colour rises
	Lowered  int       `json:"lowered"` // and falls
	// Transitions counts the subjects that change colour, per kind, from and to.
	Transitions []Transition `json:"transitions"`
	Levels      []LevelCount `json:"levels"` // subjects per kind and colour, old and new
	Rules       []RuleHits   `json:"rules"`
	Top         []Change     `json:"top"` // the largest changes, largest first
}

// Ruleset names one side of the comparison.
type Ruleset struct {
	Version string `json:"version"`
	Hash    string `json:"hash,omitempty"`
}

// Count is how many subjects of a kind were scored.
type Count struct {
	Kind  risk.Kind `json:"kind"`
	Count int       `json:"count"`
}

// Transition is how many subjects of a kind go from one colour to another.
type Transition struct {
	Kind  risk.Kind  `json:"kind"`
	From  risk.Level `json:"from"`
	To    risk.Level `json:"to"`
	Count int        `json:"count"`
}

// LevelCount is how many subjects of a kind are at a colour, old and new.
type LevelCount struct {
	Kind  risk.Kind  `json:"kind"`
	Level risk.Level `json:"level"`
	Old   int        `json:"old"`
	New   int        `json:"new"`
}

// RuleHits is how many subjects a rule fired for, old and new.
type RuleHits struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Status string `json:"status,omitempty"` // "added" or "removed" in the new ruleset
	Old    int    `json:"old"`
	New    int    `json:"new"`
}

// Change is one subject's change of colour, with both explanations.
type Change struct {
	Subject  risk.SubjectID `json:"subject"`
	Unit     string         `json:"unit"`
	From     risk.Level     `json:"from"`
	To       risk.Level     `json:"to"`
	OldScore float64        `json:"old_score"`
	NewScore float64        `json:"new_score"`
	Old      string         `json:"old_explanation"`
	New      string         `json:"new_explanation"`
}

// Run replays recs through both engines at now and compares the results.
func Run(recs []signals.Record, from, to *engine.Engine, now time.Time, top int) Report {
	r := Compare(Replay(recs, from, now), Replay(recs, to, now), Options{Top: top, From: from.Ruleset(), To: to.Ruleset()})
	r.At, r.Signals = now, len(Replayed(recs, now))
	return r
}

// Compare reports how the assessments of the same subjects differ between
// an old and a new ruleset. A subject missing on one side counts as green there.
func Compare(old, new map[risk.SubjectID]risk.Assessment, opt Options) Report {
	r := Report{From: side(old, opt.From), To: side(new, opt.To), Subjects: []Count{}, Transitions: []Transition{},
		Levels: []LevelCount{}, Rules: []RuleHits{}, Top: []Change{}}
	ids := subjectIDs(old, new)
	trans := map[Transition]int{}
	type kindLevel struct {
		kind  risk.Kind
		level risk.Level
	}
	levels := map[kindLevel]*LevelCount{}
	perKind := map[risk.Kind]int{}
	var changes []Change
	for _, id := range ids {
		a, b := old[id], new[id]
		perKind[id.Kind]++
		for _, side := range []struct {
			level risk.Level
			old   bool
		}{{a.Level, true}, {b.Level, false}} {
			k := kindLevel{id.Kind, side.level}
			if levels[k] == nil {
				levels[k] = &LevelCount{Kind: id.Kind, Level: side.level}
			}
			if side.old {
				levels[k].Old++
			} else {
				levels[k].New++
			}
		}
		if a.Level == b.Level {
			continue
		}
		trans[Transition{Kind: id.Kind, From: a.Level, To: b.Level}]++
		if b.Level > a.Level {
			r.Raised++
		} else {
			r.Lowered++
		}
		unit := b.Unit
		if unit == "" {
			unit = a.Unit
		}
		changes = append(changes, Change{Subject: id, Unit: unit, From: a.Level, To: b.Level, OldScore: a.Score, NewScore: b.Score,
			Old: a.Explain(), New: b.Explain()})
	}
	for _, k := range risk.Kinds {
		if perKind[k] > 0 {
			r.Subjects = append(r.Subjects, Count{k, perKind[k]})
		}
		for _, l := range risk.Levels {
			if lc := levels[kindLevel{k, l}]; lc != nil {
				r.Levels = append(r.Levels, *lc)
			} else if perKind[k] > 0 {
				r.Levels = append(r.Levels, LevelCount{Kind: k, Level: l})
			}
		}
	}
	for t, n := range trans {
		t.Count = n
		r.Transitions = append(r.Transitions, t)
	}
	slices.SortFunc(r.Transitions, func(a, b Transition) int {
		return cmp.Or(cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)), cmp.Compare(b.Count, a.Count),
			cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	slices.SortFunc(changes, func(a, b Change) int {
		return cmp.Or(cmp.Compare(distance(b), distance(a)), cmp.Compare(abs(b.NewScore-b.OldScore), abs(a.NewScore-a.OldScore)),
			cmp.Compare(kindRank(a.Subject.Kind), kindRank(b.Subject.Kind)), cmp.Compare(a.Unit, b.Unit), cmp.Compare(a.Subject.Ref, b.Subject.Ref))
	})
	if opt.Top > 0 && len(changes) > opt.Top {
		changes = changes[:opt.Top]
	} else if opt.Top <= 0 {
		changes = nil
	}
	r.Top = append(r.Top, changes...)
	r.Rules = ruleHits(ids, old, new, opt)
	return r
}

func side(as map[risk.SubjectID]risk.Assessment, rs *rules.Ruleset) Ruleset {
	if rs != nil {
		return Ruleset{rs.Version, rs.Hash}
	}
	for _, a := range as {
		return Ruleset{a.RulesetVersion, a.RulesetHash}
	}
	return Ruleset{}
}

func subjectIDs(old, new map[risk.SubjectID]risk.Assessment) []risk.SubjectID {
	ids := make([]risk.SubjectID, 0, len(new))
	for id := range new {
		ids = append(ids, id)
	}
	for id := range old {
		if _, ok := new[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b risk.SubjectID) int {
		return cmp.Or(cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)), cmp.Compare(a.Ref, b.Ref))
	})
	return ids
}

// kindRank puts persons before disputes, as the committee reads them.
func kindRank(k risk.Kind) int {
	if k == risk.Person {
		return 0
	}
	return 1
}

func distance(c Change) int {
	d := int(c.To) - int(c.From)
	if d < 0 {
		return -d
	}
	return d
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// ruleHits counts the subjects each rule fired for on each side, in the new
// ruleset's order, then the removed rules in the old one's.
func ruleHits(ids []risk.SubjectID, old, new map[risk.SubjectID]risk.Assessment, opt Options) []RuleHits {
	var order []string
	hits := map[string]*RuleHits{}
	note := func(id, name string) *RuleHits {
		h, ok := hits[id]
		if !ok {
			h = &RuleHits{ID: id}
			hits[id] = h
			order = append(order, id)
		}
		if h.Name == "" {
			h.Name = name
		}
		return h
	}
	for _, rs := range []*rules.Ruleset{opt.To, opt.From} {
		if rs != nil {
			for _, ru := range rs.Rules {
				note(ru.ID, ru.Name)
			}
		}
	}
	for _, id := range ids {
		for _, f := range old[id].Fired {
			note(f.ID, f.Name).Old++
		}
		for _, f := range new[id].Fired {
			note(f.ID, f.Name).New++
		}
		for _, a := range []risk.Assessment{old[id], new[id]} {
			for _, rid := range a.NotFired {
				note(rid, "")
			}
		}
	}
	if opt.From == nil || opt.To == nil {
		slices.Sort(order)
	}
	out := make([]RuleHits, 0, len(order))
	for _, id := range order {
		h := hits[id]
		if opt.From != nil && opt.To != nil {
			_, inOld := ruleIndex(opt.From, id)
			_, inNew := ruleIndex(opt.To, id)
			switch {
			case !inOld && inNew:
				h.Status = "added"
			case inOld && !inNew:
				h.Status = "removed"
			}
		}
		out = append(out, *h)
	}
	return out
}

func ruleIndex(rs *rules.Ruleset, id string) (int, bool) {
	i := slices.IndexFunc(rs.Rules, func(r rules.Rule) bool { return r.ID == id })
	return i, i >= 0
}
