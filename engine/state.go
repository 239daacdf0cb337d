package engine

import (
	"math"
	"reflect"
	"time"

	"github.com/expr-lang/expr/vm"

	"fengqiao/risk"
)

// State is what the engine knows of a subject: the signals kept for it, and
// what stands outside the rules — its level so far, links, and any override.
type State struct {
	Subject  risk.SubjectID
	Unit     string
	Weak     bool
	Events   []Event
	Trigger  *Event    // the signal being processed, nil on a re-score
	Previous *Previous // the level it had, nil for a new subject
	Links    []Link    // linked subjects whose colour spreads to this one
	Override *Override // a level set by hand, if any
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
	CaseSeq       int         `json:"case_seq,omitempty"`   // orders a case's events of the same instant
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

// chinaTime is UTC+8, where a "day" of reports begins and ends. A fixed zone
// keeps the engine free of the host's time zone database.
var chinaTime = time.FixedZone("CST", 8*60*60)

// scratch holds an evaluation's working memory, reused across evaluations so
// that steady-state evaluation allocates nothing.
type scratch struct {
	env         Env
	envp        any      // &env, boxed once, for the programs over Env
	names       []string // the features' names, in the ruleset's order
	envFeatures bool     // env.Features holds this evaluation's features (see fillEnvFeatures)
	facts       Facts
	flat        map[string]any      // the flat environment (see compileFlat)
	held        []held              // per leaf of the engine, what flat holds
	details     []map[string]string // per rule, the detail texts built, by themselves
	memo        []detailMemo        // per rule, its last detail
	buf         []byte
	vm          vm.VM
}

// held is the value of one leaf in this evaluation, which native programs
// read, kept also so that a value is boxed again into the flat environment
// only when it changes.
type held struct {
	field    reflect.Value // the leaf's field in the scratch's env
	ok       bool          // the flat environment holds the leaf
	num      float64
	n        int64
	str      string
	ptr      uintptr
	len, cap int
	words    []string            // a set leaf's words
	set      map[string]struct{} // and the set itself
}

func (e *Engine) newScratch() *scratch {
	sc := &scratch{
		env:     Env{Features: make(map[string]float64, len(e.rs.Features))},
		names:   e.names,
		flat:    make(map[string]any, len(e.leaves)),
		held:    make([]held, len(e.leaves)),
		details: make([]map[string]string, len(e.compiled)),
		memo:    make([]detailMemo, len(e.compiled)),
		vm:      vm.VM{MemoryBudget: memoryBudget},
	}
	sc.envp = &sc.env
	env := reflect.ValueOf(&sc.env).Elem()
	for i, l := range e.leaves {
		if l.feature < 0 {
			sc.held[i].field = env.FieldByIndex(l.field)
		}
		if l.set {
			sc.held[i].set = map[string]struct{}{}
			sc.flat[l.name] = sc.held[i].set
		}
	}
	return sc
}

// fillFlat brings the flat environment up to date with env and the feature
// values.
func (sc *scratch) fillFlat(leaves []leaf) {
	for i := range leaves {
		l, h := &leaves[i], &sc.held[i]
		switch {
		case l.feature >= 0:
			v := sc.facts.Features[l.feature]
			if h.ok && math.Float64bits(v) == math.Float64bits(h.num) { // bit for bit: 0 is not -0
				continue
			}
			h.num = v
			switch {
			case !l.boxed:
			case l.whole:
				sc.flat[l.name] = int(v)
			default:
				sc.flat[l.name] = boxFloat(v)
			}
		case l.set:
			if h.ok && h.sameWords() {
				continue
			}
			h.words = h.words[:0]
			clear(h.set)
			for j := range h.field.Len() {
				w := h.field.Index(j).String()
				h.words = append(h.words, w)
				h.set[w] = struct{}{}
			}
		default:
			if !h.changed() && h.ok {
				continue
			}
			if l.boxed {
				sc.flat[l.name] = box(h.field)
			}
		}
		h.ok = true
	}
}

// changed reports whether the field differs from what h last saw, and
// remembers it.
func (h *held) changed() bool {
	v := h.field
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if s == h.str {
			return false
		}
		h.str = s
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := v.Int()
		if n == h.n {
			return false
		}
		h.n = n
	case reflect.Bool:
		n := int64(0)
		if v.Bool() {
			n = 1
		}
		if n == h.n {
			return false
		}
		h.n = n
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.Float64bits(f) == math.Float64bits(h.num) { // bit for bit: 0 is not -0
			return false
		}
		h.num = f
	case reflect.Slice: // the same memory is the same value
		p, n, c := v.Pointer(), v.Len(), v.Cap()
		if p == h.ptr && n == h.len && c == h.cap {
			return false
		}
		h.ptr, h.len, h.cap = p, n, c
	}
	return true
}

// sameWords reports whether a set leaf's field holds the words of its set.
func (h *held) sameWords() bool {
	if h.field.Len() != len(h.words) {
		return false
	}
	for j, w := range h.words {
		if h.field.Index(j).String() != w {
			return false
		}
	}
	return true
}

// box returns v as an any, the way a value of its type is boxed without
// reflection when that allocates less.
func box(v reflect.Value) any {
	switch v.Type() {
	case reflect.TypeFor[string]():
		return v.String()
	case reflect.TypeFor[int]():
		return int(v.Int())
	case reflect.TypeFor[bool]():
		return v.Bool()
	case reflect.TypeFor[float64]():
		return boxFloat(v.Float())
	}
	return v.Interface()
}

// counts are the small whole numbers, boxed once: most feature values are
// counts, and boxing a float64 otherwise allocates.
var counts = func() (c [256]any) {
	for i := range c {
		c[i] = float64(i)
	}
	return c
}()

func boxFloat(v float64) any {
	if v >= 0 && v < float64(len(counts)) && v == math.Trunc(v) && !math.Signbit(v) {
		return counts[int(v)]
	}
	return v
}

// fillEnvFeatures fills env's features map, which only the programs over Env
// read: the flat programs, which normally answer, read the features from the
// flat environment. So it is filled only when a program over Env is about to
// run, once per evaluation.
func (sc *scratch) fillEnvFeatures() {
	if sc.envFeatures {
		return
	}
	for i, name := range sc.names {
		sc.env.Features[name] = sc.facts.Features[i]
	}
	sc.envFeatures = true
}
