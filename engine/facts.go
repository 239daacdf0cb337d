package engine

import (
	"math/bits"
	"slices"
	"time"

	"fengqiao/risk"
	"fengqiao/rules"
)

// Facts are what a ruleset's rules read about one subject at one instant
// beyond the fields of its State: the values of the ruleset's declared
// features and the facts drawn from all of its signals. EvaluateInto computes
// them with (*Features).Compute before it runs the rules, and anyone who
// wants the same numbers (a benchmark, a report) can compute them the same
// way.
//
// A Facts is reused from one subject to the next: once it has seen a subject
// as large as the next one, computing allocates nothing.
type Facts struct {
	Features     []float64 // the ruleset's declared features, in the order of its Features
	Tags         []string  // every tag seen on the subject's signals, sorted, each once
	LedgerStatus string    // the latest ledger status (化解状态), "" if none
	Cases        CaseFacts // the subject's mediation cases by their latest state

	masks  []uint64          // per event, the conditions it meets (stride words, see Features)
	keys   []instant         // per event, its time
	days   []int64           // a distinct-days feature's days so far, but for recent
	recent [2]uint64         // and those of the 128 days up to today, today the lowest bit
	today  int64             // the day number of now, as addDay numbers days
	cases  []*Event          // latest event per case, while there are few cases
	last   map[string]*Event // latest event per case id, once there are many
}

// Features is a ruleset's declared features, compiled for computing them
// over a subject's signals. It is read-only once made, and safe for
// concurrent use.
//
// Each filter a feature can have (its source, category, flag, case event,
// tag, keyword and window) is a condition numbered across the ruleset.
// Compute goes over the signals once and notes in a bit mask which
// conditions each meets; a feature then counts (or takes the largest value
// or the distinct days of) the signals whose mask holds all of its
// conditions. However many features there are, each signal's strings are
// compared once with each value some feature filters on, and its time once
// with the start of each distinct window.
type Features struct {
	features []feature
	words    int // uint64 words per mask

	sources    []bitFor[risk.Source] // a report from this source
	anyReport  int                   // any report: not a step of a case; -1 if no feature asks
	categories []bitFor[string]
	caseEvents []bitFor[string]
	tags       []bitFor[string]
	keywords   []bitFor[string]
	skipLevel  int // flags, -1 if no feature asks
	collective int
	repeat     int
	windows    []bitFor[time.Duration] // the signal is in a window ending now
}

// bitFor is the condition that a signal's field equals value, numbered bit.
type bitFor[T comparable] struct {
	value T
	bit   int
}

// feature is one declared feature: what it computes and the conditions a
// signal must meet to count.
type feature struct {
	kind  featureKind
	field maxField // of a max feature
	need  []uint64 // the conditions, a mask of Features.words words
}

type featureKind uint8

const (
	zeroFeature  featureKind = iota // declares nothing to compute: always 0
	countFeature                    // count: the signals that match
	daysFeature                     // distinct_days: the days (UTC+8) with a signal that matches
	maxFeature                      // max: the largest value of field among the signals that match
)

type maxField uint8

const (
	noField maxField = iota // not a field a signal has: always 0
	partyCountField
	amountField
	petitionLevelField
)

// NewFeatures compiles the features fs (a ruleset's Features, in its order).
// A filter no signal can pass (an unknown flag, say; the rules package
// refuses those) makes a feature that is always 0, as it always was.
func NewFeatures(fs []rules.Feature) *Features {
	p := &Features{anyReport: -1, skipLevel: -1, collective: -1, repeat: -1}
	n := 0 // conditions numbered so far
	never := -1
	next := func() int { n++; return n - 1 }
	find := func(bits *[]bitFor[string], value string) int {
		for _, b := range *bits {
			if b.value == value {
				return b.bit
			}
		}
		b := next()
		*bits = append(*bits, bitFor[string]{value, b})
		return b
	}
	flag := func(bit *int) int {
		if *bit < 0 {
			*bit = next()
		}
		return *bit
	}
	conds := make([][]int, len(fs))
	for i := range fs {
		f := &fs[i]
		var c []int
		source := ""
		switch {
		case f.Count != "":
			p.features = append(p.features, feature{kind: countFeature})
			source = f.Count
		case f.DistinctDays != "":
			p.features = append(p.features, feature{kind: daysFeature})
			source = f.DistinctDays
		case f.Max != "":
			mf := noField
			switch f.Max {
			case "party_count":
				mf = partyCountField
			case "amount":
				mf = amountField
			case "petition_level":
				mf = petitionLevelField
			}
			p.features = append(p.features, feature{kind: maxFeature, field: mf})
			source = "any"
		default:
			p.features = append(p.features, feature{kind: zeroFeature})
			conds[i] = nil
			continue
		}
		// "any" is any report (grid reports, petitions, hotline calls, ledger
		// rows), not the case workflow's events: a step of a case is not
		// another report of the dispute, and only count: case_event counts those.
		if source == "any" {
			c = append(c, flag(&p.anyReport))
		} else {
			found := false
			for _, b := range p.sources {
				if string(b.value) == source {
					c, found = append(c, b.bit), true
					break
				}
			}
			if !found {
				b := next()
				p.sources = append(p.sources, bitFor[risk.Source]{risk.Source(source), b})
				c = append(c, b)
			}
		}
		if f.Category != "" {
			c = append(c, find(&p.categories, f.Category))
		}
		switch f.Flag {
		case "":
		case "skip_level":
			c = append(c, flag(&p.skipLevel))
		case "collective":
			c = append(c, flag(&p.collective))
		case "repeat":
			c = append(c, flag(&p.repeat))
		default: // no signal has it
			c = append(c, flag(&never))
		}
		if f.CaseEvent != "" {
			c = append(c, find(&p.caseEvents, f.CaseEvent))
		}
		if f.Tag != "" {
			c = append(c, find(&p.tags, f.Tag))
		}
		if f.Keyword != "" {
			c = append(c, find(&p.keywords, f.Keyword))
		}
		w := time.Duration(f.Window)
		j := slices.IndexFunc(p.windows, func(b bitFor[time.Duration]) bool { return b.value == w })
		if j < 0 {
			p.windows = append(p.windows, bitFor[time.Duration]{w, next()})
			j = len(p.windows) - 1
		}
		c = append(c, p.windows[j].bit)
		conds[i] = c
	}
	p.words = max(1, (n+63)/64)
	for i, c := range conds {
		need := make([]uint64, p.words)
		for _, b := range c {
			need[b/64] |= 1 << (b % 64)
		}
		p.features[i].need = need
	}
	return p
}

// Len is the number of features.
func (p *Features) Len() int { return len(p.features) }

// instant is a time as seconds and nanoseconds since 1970, which compare as
// time.Time's wall clock does, without its monotonic reading or location.
type instant struct {
	sec  int64
	nsec int32
}

func instantOf(t time.Time) instant { return instant{t.Unix(), int32(t.Nanosecond())} }

func (a instant) after(b instant) bool { return a.sec > b.sec || a.sec == b.sec && a.nsec > b.nsec }

// Compute fills x with the facts of st at time now: the features, in the
// order they were declared, and the tags, ledger status and cases of its
// signals. It reuses x's memory.
//
// Windows are half-open: a signal exactly one window old has left it. Times
// compare as instants (a monotonic clock reading, which stored signals do
// not have, is ignored).
func (p *Features) Compute(st *State, now time.Time, x *Facts) {
	events := st.Events
	if cap(x.Features) < len(p.features) {
		x.Features = make([]float64, len(p.features))
	}
	x.Features = x.Features[:len(p.features)]
	x.marks(p, events, now)
	for i := range p.features {
		f := &p.features[i]
		if p.words == 1 {
			x.Features[i] = x.feature1(f, events)
		} else {
			x.Features[i] = x.feature(f, events, p.words)
		}
	}
	x.subjectFacts(events)
}

// feature1 computes f when masks are one word each, the usual case.
func (x *Facts) feature1(f *feature, events []Event) float64 {
	need := f.need[0]
	masks := x.masks[:len(events)]
	switch f.kind {
	case countFeature:
		n := 0
		for _, m := range masks {
			n += b2i(m&need == need)
		}
		return float64(n)
	case daysFeature:
		x.days = x.days[:0]
		x.recent = [2]uint64{}
		keys := x.keys[:len(masks)]
		for j, m := range masks {
			if m&need == need {
				x.addDay(keys[j])
			}
		}
		return x.dayCount()
	case maxFeature:
		v := 0.0
		switch f.field { // a loop per field, so that the loop does not switch
		case partyCountField:
			for j, m := range masks {
				if m&need == need {
					v = max(v, float64(events[j].PartyCount))
				}
			}
		case amountField:
			for j, m := range masks {
				if m&need == need {
					v = max(v, events[j].Amount)
				}
			}
		case petitionLevelField:
			for j, m := range masks {
				if m&need == need {
					v = max(v, float64(events[j].PetitionLevel))
				}
			}
		}
		return v
	}
	return 0
}

// b2i is 1 for true and 0 for false, without a branch to mispredict.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// feature computes f over masks of any number of words.
func (x *Facts) feature(f *feature, events []Event, words int) float64 {
	v := 0.0
	x.days = x.days[:0]
	x.recent = [2]uint64{}
	for j := range events {
		m := x.masks[j*words : (j+1)*words]
		hit := true
		for w, n := range f.need {
			if m[w]&n != n {
				hit = false
				break
			}
		}
		if !hit {
			continue
		}
		switch f.kind {
		case countFeature:
			v++
		case daysFeature:
			x.addDay(x.keys[j])
		case maxFeature:
			v = max(v, events[j].value(f.field))
		}
	}
	if f.kind == daysFeature {
		v = x.dayCount()
	}
	return v
}

// addDay notes the day (UTC+8) of a signal at t: in x.recent if it is one
// of the 128 days up to today, the usual case, else in x.days.
func (x *Facts) addDay(t instant) {
	day := (t.sec + utc8) / 86400
	if back := x.today - day; back >= 0 && back < 128 {
		x.recent[back/64] |= 1 << uint(back%64)
		return
	}
	if !slices.Contains(x.days, day) {
		x.days = append(x.days, day)
	}
}

// dayCount is the number of distinct days addDay noted.
func (x *Facts) dayCount() float64 {
	return float64(bits.OnesCount64(x.recent[0]) + bits.OnesCount64(x.recent[1]) + len(x.days))
}

// utc8 is the offset of UTC+8, where a day of reports begins and ends.
const utc8 = 8 * 60 * 60

// marks notes which of p's conditions each event meets, and each event's time.
func (x *Facts) marks(p *Features, events []Event, now time.Time) {
	words := p.words
	n := len(events) * words
	if cap(x.masks) < n {
		x.masks = make([]uint64, n)
	}
	x.masks = x.masks[:n]
	clear(x.masks)
	if cap(x.keys) < len(events) {
		x.keys = make([]instant, len(events))
	}
	x.keys = x.keys[:len(events)]
	var since [8]instant // the windows' starts, most rulesets have few
	starts := since[:0]
	if len(p.windows) > len(since) {
		starts = make([]instant, 0, len(p.windows))
	}
	for _, w := range p.windows {
		starts = append(starts, instantOf(now.Add(-w.value)))
	}
	x.today = (now.Unix() + utc8) / 86400
	for j := range events {
		ev := &events[j]
		row := x.masks[j*words : (j+1)*words]
		var m0 uint64 // row[0], kept in a register
		set := func(bit int) {
			if bit < 64 {
				m0 |= 1 << uint(bit)
			} else {
				row[bit/64] |= 1 << uint(bit%64)
			}
		}
		at := instantOf(ev.At)
		x.keys[j] = at
		for k, w := range p.windows {
			if at.after(starts[k]) {
				set(w.bit)
			}
		}
		if p.anyReport >= 0 && ev.Source != risk.CaseEvent {
			set(p.anyReport)
		}
		for _, b := range p.sources {
			if ev.Source == b.value {
				set(b.bit)
				break
			}
		}
		if ev.Category != "" {
			for _, b := range p.categories {
				if same(ev.Category, b.value) {
					set(b.bit)
					break
				}
			}
		}
		if ev.SkipLevel && p.skipLevel >= 0 {
			set(p.skipLevel)
		}
		if ev.Collective && p.collective >= 0 {
			set(p.collective)
		}
		if ev.Repeat && p.repeat >= 0 {
			set(p.repeat)
		}
		if ev.CaseEvent != "" {
			for _, b := range p.caseEvents {
				if same(ev.CaseEvent, b.value) {
					set(b.bit)
					break
				}
			}
		}
		for _, t := range ev.Tags {
			for _, b := range p.tags {
				if same(t, b.value) {
					set(b.bit)
					break
				}
			}
		}
		for _, k := range ev.Keywords {
			for _, b := range p.keywords {
				if same(k, b.value) {
					set(b.bit)
					break
				}
			}
		}
		row[0] |= m0
	}
}

// same is a == b, comparing the last bytes before calling on the runtime to
// compare the rest: the tags, categories and words of a ruleset are mostly
// Chinese of four characters, all of the same length.
func same(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || a[len(a)-1] == b[len(a)-1]) && a == b
}

// value is the field of a max feature.
func (ev *Event) value(field maxField) float64 {
	switch field {
	case partyCountField:
		return float64(ev.PartyCount)
	case amountField:
		return ev.Amount
	case petitionLevelField:
		return float64(ev.PetitionLevel)
	}
	return 0
}

// subjectFacts fills the facts that are not declared features: tags seen,
// the latest ledger status, and the state of the subject's cases. It reads
// the events' times from x.keys.
func (x *Facts) subjectFacts(events []Event) {
	x.Tags = x.Tags[:0]
	x.cases = x.cases[:0]
	clear(x.last)
	ledgerAt := instantOf(time.Time{})
	status := ""
	for i := range events {
		ev := &events[i]
		for _, t := range ev.Tags {
			if !slices.Contains(x.Tags, t) {
				x.Tags = append(x.Tags, t)
			}
		}
		if ev.LedgerStatus != "" && !ledgerAt.after(x.keys[i]) {
			ledgerAt, status = x.keys[i], ev.LedgerStatus
		}
		if ev.CaseID != "" {
			x.noteCase(ev)
		}
	}
	slices.Sort(x.Tags)
	x.LedgerStatus = status
	c := CaseFacts{}
	count := func(ev *Event) {
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
	for _, ev := range x.cases {
		count(ev)
	}
	for _, ev := range x.last {
		count(ev)
	}
	x.Cases = c
}

// fewCases is how many cases subjectFacts looks up in a slice before it
// moves them to a map.
const fewCases = 16

// noteCase keeps ev if it is its case's latest event so far.
func (x *Facts) noteCase(ev *Event) {
	later := func(prev *Event) bool {
		return ev.At.After(prev.At) || (ev.At.Equal(prev.At) && ev.CaseSeq >= prev.CaseSeq)
	}
	for i, prev := range x.cases {
		if prev.CaseID == ev.CaseID {
			if later(prev) {
				x.cases[i] = ev
			}
			return
		}
	}
	if len(x.cases) < fewCases && len(x.last) == 0 {
		x.cases = append(x.cases, ev)
		return
	}
	if x.last == nil {
		x.last = map[string]*Event{}
	}
	if len(x.last) == 0 { // the cases move to the map
		for _, prev := range x.cases {
			x.last[prev.CaseID] = prev
		}
		x.cases = x.cases[:0]
	}
	if prev, ok := x.last[ev.CaseID]; !ok || later(prev) {
		x.last[ev.CaseID] = ev
	}
}
