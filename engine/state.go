package engine

import (
	"slices"
	"sort"
	"time"

	"fengqiao/risk"
	"fengqiao/rules"
)

// State is what the engine knows of a subject: the signals kept for it.
type State struct {
	Subject risk.SubjectID
	Unit    string
	Weak    bool
	Events  []Event
	Trigger *Event     // the signal being processed, nil on a re-score
	Floor   risk.Level // lowest level the subject may have, e.g. spread from a linked subject
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

// matches reports whether ev is in f's window and passes its filters.
func matches(f *rules.Feature, ev *Event, source string, now time.Time) bool {
	if !ev.At.After(now.Add(-time.Duration(f.Window))) {
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
	return true
}

func computeFeatures(fs []rules.Feature, events []Event, now time.Time) map[string]float64 {
	out := make(map[string]float64, len(fs))
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
			days := map[string]bool{}
			for j := range events {
				if matches(f, &events[j], f.DistinctDays, now) {
					days[events[j].At.In(chinaTime).Format(time.DateOnly)] = true
				}
			}
			v = float64(len(days))
		case f.Max != "":
			for j := range events {
				if matches(f, &events[j], "any", now) {
					v = max(v, events[j].value(f.Max))
				}
			}
		}
		out[f.Name] = v
	}
	return out
}

// chinaTime is UTC+8, where a "day" of reports begins and ends. A fixed zone
// keeps the engine free of the host's time zone database.
var chinaTime = time.FixedZone("CST", 8*60*60)

func distinctTags(events []Event) []string {
	var tags []string
	for i := range events {
		for _, t := range events[i].Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	sortStrings(tags)
	return tags
}

func sortStrings(s []string) { sort.Strings(s) }
