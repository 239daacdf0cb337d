package escalation

import (
	"fmt"
	"slices"
	"time"

	"fengqiao/jurisdiction"
	"fengqiao/risk"
)

// Target is one unit to page about an alert: whom to reach there and
// through which channels.
type Target struct {
	Unit     jurisdiction.Unit      `json:"unit"`
	Tier     jurisdiction.Tier      `json:"tier"`
	Contacts []jurisdiction.Contact `json:"contacts"`
	Channels []string               `json:"channels"`
	// FromRoster is true when Contacts are the officers on duty by the
	// roster, and false when no one was rostered and they are the unit's
	// own contacts from the jurisdiction file.
	FromRoster bool `json:"from_roster"`
}

// Route returns whom to page about an alert of the given level for a
// subject in unit, at the instant at, by the policy p: for each tier the
// policy names for the level, lowest first, the unit's ancestor-or-self at
// that tier, staffed as Staff does.
//
// The warnings say what did not go to plan, one sentence each, for the
// log and for the caller to count: a tier skipped because it lies below the
// unit or above anything in the tree, a unit with no one rostered, a level
// the policy pages no one for, an unknown unit. If every tier is skipped,
// Route pages the subject's own unit (or, if the tiers all lie above the
// tree, its root) rather than no one, and warns. A nil roster rosters no
// one, so every target falls back to its unit's contacts.
func Route(level risk.Level, unit string, tree *jurisdiction.Tree, p *Policy, roster *Roster, at time.Time) ([]Target, []string) {
	if p == nil || tree == nil {
		return nil, []string{"no escalation policy or jurisdiction tree is loaded: nobody is paged"}
	}
	lp, ok := p.Levels[level]
	if !ok {
		return nil, []string{fmt.Sprintf("the escalation policy pages no one for %s (%s) alerts", level, level.Chinese())}
	}
	subject, ok := tree.Unit(unit)
	if !ok {
		return nil, []string{fmt.Sprintf("unit %s is not in the jurisdiction tree: nobody is paged", displayUnit(unit))}
	}
	var (
		targets []Target
		warns   []string
		below   bool // some tier was skipped for lying below the subject
	)
	for _, tier := range lp.Tiers {
		u, ok := tree.AncestorAt(unit, tier)
		if !ok {
			if subject.Tier.Above(tier) {
				below = true
				warns = append(warns, fmt.Sprintf("%s alert for %s: the %s tier lies below it, a %s: skipping that tier", level, subject.Name, tier, subject.Tier))
			} else {
				warns = append(warns, fmt.Sprintf("%s alert for %s: there is no %s at or above it: skipping that tier", level, subject.Name, tier))
			}
			continue
		}
		t, w := Staff(Target{Unit: u, Tier: u.Tier, Channels: slices.Clone(lp.Channels)}, roster, at)
		if w != "" {
			warns = append(warns, w)
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		u := tree.Root()
		if below {
			u = subject
		}
		warns = append(warns, fmt.Sprintf("%s alert for %s: no tier of the policy applies: paging %s instead", level, subject.Name, u.Name))
		t, w := Staff(Target{Unit: u, Tier: u.Tier, Channels: slices.Clone(lp.Channels)}, roster, at)
		if w != "" {
			warns = append(warns, w)
		}
		targets = append(targets, t)
	}
	return targets, warns
}

// Staff returns t with its Contacts set to the officers the roster has on
// duty for its unit at the instant at, and FromRoster true. If no one is
// rostered, the contacts are the unit's own from the jurisdiction file,
// FromRoster is false, and the warning says so, e.g. "no one rostered for
// 枫桥镇 on 2026-11-22 night: falling back to its contacts"; the shift named
// is the day or night shift that at falls in.
func Staff(t Target, roster *Roster, at time.Time) (Target, string) {
	if c := roster.OnDuty(t.Unit.Code, at); len(c) > 0 {
		t.Contacts, t.FromRoster = c, true
		return t, ""
	}
	date, shift := shiftAt(at)
	t.Contacts, t.FromRoster = slices.Clone(t.Unit.Contacts), false
	if len(t.Contacts) == 0 {
		return t, fmt.Sprintf("no one rostered for %s on %s %s, and it has no contacts: nobody is paged there", t.Unit.Name, date.Format(dateLayout), shift)
	}
	return t, fmt.Sprintf("no one rostered for %s on %s %s: falling back to its contacts", t.Unit.Name, date.Format(dateLayout), shift)
}

// Escalate returns the target an unacknowledged alert at target goes to
// next: the unit directly above target's, with the same channels. Its
// contacts are that unit's own from the jurisdiction file; pass it to Staff
// to page whoever is on duty when the escalation falls due. It returns
// false at the root, and for a unit not in tree.
func Escalate(target Target, tree *jurisdiction.Tree) (Target, bool) {
	if tree == nil {
		return Target{}, false
	}
	parent, ok := tree.Parent(target.Unit.Code)
	if !ok {
		return Target{}, false
	}
	return Target{
		Unit:     parent,
		Tier:     parent.Tier,
		Contacts: slices.Clone(parent.Contacts),
		Channels: slices.Clone(target.Channels),
	}, true
}

// displayUnit returns a unit code for a message: as is if it is plain
// digits, and quoted and shortened otherwise.
func displayUnit(code string) string {
	if code != "" && len(code) <= 15 && isDigits(code) {
		return code
	}
	return quote(code)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
