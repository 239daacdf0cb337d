package engine

import (
	"slices"
	"time"

	"fengqiao/risk"
	"fengqiao/rules"
)

// State is what the engine knows of a subject: the signals kept for it, and
// what stands outside the rules — its level so far, links, and any override.
type State struct {
	Subject  risk.SubjectID
	Unit     string
	Weak     bool
	Events   []Event
	Trigger  *Event     // the signal being processed, nil on a re-score
	Previous *Previous  // the level it had, nil for a new subject
	Links    []Link     // linked subjects whose colour spreads to this one
	Override *Override  // a level set by hand, if any
}

// Previous is a subject's standing level, which dampening compares against.
type Previous struct {
	Level     risk.Level
	RaisedAt  time.Time // when it rose to Level
	SignedOff bool      // an officer has signed off leaving Level (解除预警)
}

// Link is a linked subject and its level, e.g. the dispute a person is party to.
type Link struct {
	Subject risk.SubjectID
	Level   risk.Level
}

// Override is a level an authorised officer set by hand, with a reason, until
// it expires by itself.
type Override struct {
	Level   risk.Level
	Officer string
	Reason  string
	Until   time.Time
}

// Event is one signal as it bears on a subject: the facts rules count, without
// free text or personal data.
type Event struct {
	Key           string      `json:"key"` // "source:id", unique per signal
	Source        risk.Source `json:"source"`
	At            time.Time   `json:"at"`
	Unit          string      `json:"unit"`
	Category      string      `json:"category,omitempty"`
	Tags          []string    `json:"tags,omitempty"`
	Keywords      []string    `json:"keywords,omitempty"`
	PartyCount    int         `json:"party_count,omitempty"`
	Amount        float64     `json:"amount,omitempty"`
	PetitionLevel int         `json:"petition_level,omitempty"`
	SkipLevel     bool        `json:"skip_level,omitempty"`
	Collective    bool        `json:"collective,omitempty"`
	Repeat        bool        `json:"repeat,omitempty"`
	LedgerStatus  string      `json:"ledger_status,omitempty"`
	CaseID        string      `json:"case_id,omitempty"`
	CaseEvent     string      `json:"case_event,omitempty"`
	CaseState     string      `json:"case_state,omitempty"` // the case's state after the event
}

func (ev *Event) facts() SignalFacts {
	return SignalFacts{
		Source:        string(ev.Source),
		Category:      ev.Category,
		Tags:          ev.Tags,
		Keywords:      ev.Keywords,
		PartyCount:    ev.PartyCount,
		Amount:        ev.Amount,
		PetitionLevel: ev.PetitionLevel,
		SkipLevel:     ev.SkipLevel,
		Collective:    ev.Collective,
		Repeat:        ev.Repeat,
		LedgerStatus:  ev.LedgerStatus,
		CaseEvent:     ev.CaseEvent,
	}
}

func (ev *Event) flag(name string) bool {
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

func (ev *Event) value(field string) float64 {
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

// inWindow reports whether ev happened within window before now. Windows are
// half-open: an event exactly one window old has left it.
func inWindow(ev *Event, window rules.Duration, now time.Time) bool {
	return ev.At.After(now.Add(-time.Duration(window)))
}

// matches reports whether ev is in f's window and passes its filters.
func matches(f *rules.Feature, ev *Event, source string, now time.Time) bool {
	if !inWindow(ev, f.Window, now) {
		return false
	}
	if source != "" && source != "any" && string(ev.Source) != source {
		return false
	}
	if f.Category != "" && ev.Category != f.Category {
		return false
	}
	if f.Tag != "" && !slices.Contains(ev.Tags, f.Tag) {
		return false
	}
	if f.Keyword != "" && !slices.Contains(ev.Keywords, f.Keyword) {
		return false
	}
	if f.Flag != "" && !ev.flag(f.Flag) {
		return false
	}
	if f.CaseEvent != "" && ev.CaseEvent != f.CaseEvent {
		return false
	}
	return true
}

// chinaTime is UTC+8, where a "day" of reports begins and ends. A fixed zone
// keeps the engine free of the host's time zone database.
var chinaTime = time.FixedZone("CST", 8*60*60)

// scratch holds an evaluation's working memory, reused across evaluations so
// that steady-state evaluation allocates nothing.
type scratch struct {
	env  Env
	days []int64
	tags []string
	last map[string]*Event // latest event per case id
}

func (sc *scratch) computeFeatures(fs []rules.Feature, events []Event, now time.Time) {
	clear(sc.env.Features)
	for i := range fs {
		f := &fs[i]
		var v float64
		switch {
		case f.Count != "":
			for j := range events {
				if matches(f, &events[j], f.Count, now) {
					v++
				}
			}
		case f.DistinctDays != "":
			sc.days = sc.days[:0]
			for j := range events {
				if matches(f, &events[j], f.DistinctDays, now) {
					_, off := events[j].At.In(chinaTime).Zone()
					day := (events[j].At.Unix() + int64(off)) / 86400
					if !slices.Contains(sc.days, day) {
						sc.days = append(sc.days, day)
					}
				}
			}
			v = float64(len(sc.days))
		case f.Max != "":
			for j := range events {
				if matches(f, &events[j], "any", now) {
					v = max(v, events[j].value(f.Max))
				}
			}
		}
		sc.env.Features[f.Name] = v
	}
}

// subjectFacts fills the facts that are not declared features: tags seen,
// the latest ledger status, and the state of the subject's cases.
func (sc *scratch) subjectFacts(events []Event) {
	sc.tags = sc.tags[:0]
	clear(sc.last)
	var ledgerAt time.Time
	status := ""
	for i := range events {
		ev := &events[i]
		for _, t := range ev.Tags {
			if !slices.Contains(sc.tags, t) {
				sc.tags = append(sc.tags, t)
			}
		}
		if ev.LedgerStatus != "" && !ev.At.Before(ledgerAt) {
			ledgerAt, status = ev.At, ev.LedgerStatus
		}
		if ev.CaseID != "" {
			if prev, ok := sc.last[ev.CaseID]; !ok || !ev.At.Before(prev.At) {
				sc.last[ev.CaseID] = ev
			}
		}
	}
	slices.Sort(sc.tags)
	sc.env.Tags = sc.tags
	sc.env.Subject.LedgerStatus = status
	c := CaseFacts{}
	for _, ev := range sc.last {
		switch ev.CaseState {
		case "closed", "followed_up", "archived", "declined":
		default:
			c.Open++
		}
		switch {
		case ev.CaseEvent == "overdue" || ev.CaseEvent == "supervised":
			c.Overdue++
		case ev.CaseState == "failed":
			c.Failed++
		}
	}
	sc.env.Cases = c
}
