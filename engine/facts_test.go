package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"fengqiao/risk"
	"fengqiao/rules"
)

// TestFeaturesMeanTheSame compares Features.Compute with refFacts, the
// computation as it was before it was compiled (one pass over the signals
// per feature, with time.Time comparisons), over random subjects whose
// signals sit on and around the windows' edges, under the default ruleset,
// leafRules, and features with more conditions than one mask word holds and
// filters no signal passes.
func TestFeaturesMeanTheSame(t *testing.T) {
	def, err := rules.LoadDir("../fixtures/rules")
	if err != nil {
		t.Fatal(err)
	}
	var wide []rules.Feature
	cats := []string{"婚姻家庭", "邻里", "劳动/欠薪", "土地承包/流转", "征地拆迁", "金融/涉众", ""}
	tags := []string{"三失一偏", "社区矫正", "刑释解矫", "信访重点人员", "生活失意", "心态失衡", "行为失常", "性格偏执", "精神障碍"}
	srcs := []string{"any", "grid_report", "petition", "hotline", "ledger", "case_event", "unknown"}
	maxes := []string{"party_count", "amount", "petition_level", "unknown"}
	flags := []string{"", "skip_level", "collective", "repeat", "unknown"}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 120 {
		f := rules.Feature{Name: fmt.Sprint("f", i), Window: rules.Duration(time.Duration(1+rng.IntN(100)) * day)}
		switch rng.IntN(4) {
		case 0:
			f.Count = srcs[rng.IntN(len(srcs))]
		case 1:
			f.DistinctDays = srcs[rng.IntN(len(srcs))]
		case 2:
			f.Max = maxes[rng.IntN(len(maxes))]
		}
		if rng.IntN(2) == 0 {
			f.Category = cats[rng.IntN(len(cats))]
		}
		if rng.IntN(3) == 0 {
			f.Tag = tags[rng.IntN(len(tags))] + fmt.Sprint(rng.IntN(3)) // mostly tags no signal has
			if rng.IntN(2) == 0 {
				f.Tag = tags[rng.IntN(len(tags))]
			}
		}
		if rng.IntN(4) == 0 {
			f.Keyword = []string{"threat", "mass", "self_harm", "other"}[rng.IntN(4)]
		}
		if rng.IntN(4) == 0 {
			f.Flag = flags[rng.IntN(len(flags))]
		}
		if rng.IntN(4) == 0 {
			f.CaseEvent = rules.CaseEvents[rng.IntN(len(rules.CaseEvents))]
		}
		wide = append(wide, f)
	}
	for _, tt := range []struct {
		name string
		fs   []rules.Feature
	}{
		{"default", def.Features},
		{"leaves", parseRules(t, leafRules).Features},
		{"wide", wide},
		{"none", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := NewFeatures(tt.fs)
			if tt.name == "wide" && p.words < 2 {
				t.Fatalf("%d mask words, want more than one", p.words)
			}
			rng := rand.New(rand.NewPCG(3, uint64(len(tt.name))))
			var x Facts // reused, as callers do
			for i := range 3000 {
				st := randomState(rng, i)
				if i%5 == 0 {
					manyCases(rng, &st)
				}
				jitter(rng, &st)
				p.Compute(&st, now, &x)
				want := refFacts(tt.fs, st.Events, now)
				if !sameFloats(x.Features, want.Features) || !slices.Equal(x.Tags, want.Tags) ||
					x.LedgerStatus != want.LedgerStatus || x.Cases != want.Cases {
					for j := range want.Features {
						if !sameFloats(x.Features[j:j+1], want.Features[j:j+1]) {
							t.Errorf("feature %+v: %v, want %v", tt.fs[j], x.Features[j], want.Features[j])
						}
					}
					t.Fatalf("subject %d:\ngot  %v %q %+v\nwant %v %q %+v", i, x.Tags, x.LedgerStatus, x.Cases,
						want.Tags, want.LedgerStatus, want.Cases)
				}
			}
		})
	}
}

// jitter moves some of st's signals a nanosecond or a second either side of
// a window's edge or of each other, gives some a NaN, negative or round
// amount, and one now and then the zero time.
func jitter(rng *rand.Rand, st *State) {
	for j := range st.Events {
		ev := &st.Events[j]
		switch rng.IntN(12) {
		case 0:
			ev.At = now.Add(-time.Duration(1+rng.IntN(100))*day + time.Duration(rng.IntN(3)-1))
		case 1:
			ev.At = now.Add(-time.Duration(1+rng.IntN(100))*day + time.Duration(rng.IntN(3)-1)*time.Second)
		case 2:
			ev.At = time.Time{}
		case 3:
			ev.Amount = math.NaN()
		case 4:
			ev.Amount = -ev.Amount
		case 5:
			ev.LedgerStatus = []string{"未化解", "已化解"}[rng.IntN(2)]
			if j > 0 {
				ev.At = st.Events[j-1].At
			}
		case 6:
			ev.At = ev.At.In(time.UTC)
		case 7, 8:
			ev.Amount = 100000 // a round amount, which rules compare with
		}
	}
}

// manyCases adds up to 80 case events over up to 40 cases, some at the same
// instant, past the number of cases Facts keeps in a slice.
func manyCases(rng *rand.Rand, st *State) {
	for j := range rng.IntN(80) {
		ev := Event{Key: fmt.Sprint("c:", j), Source: risk.CaseEvent, At: now.Add(-time.Duration(rng.IntN(10)) * time.Hour),
			CaseID: fmt.Sprint("K", rng.IntN(40)), CaseEvent: rules.CaseEvents[rng.IntN(len(rules.CaseEvents))],
			CaseState: []string{"registered", "closed", "failed", "archived", "mediating"}[rng.IntN(5)], CaseSeq: rng.IntN(3)}
		st.Events = append(st.Events, ev)
	}
	if st.Trigger != nil {
		st.Trigger = &st.Events[0]
	}
}

// sameFloats is slices.Equal with NaN equal to itself.
func sameFloats(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) })
}

func TestFeaturesAllocateNothing(t *testing.T) {
	e := loadDefault(t)
	st := benchState()
	var x Facts
	e.Features().Compute(&st, now, &x)
	if n := testing.AllocsPerRun(100, func() { e.Features().Compute(&st, now, &x) }); n != 0 {
		t.Errorf("Compute allocates %v times per run", n)
	}
	if e.Features().Len() != len(e.Ruleset().Features) || !reflect.DeepEqual(len(x.Features), len(e.Ruleset().Features)) {
		t.Errorf("%d features computed, %d declared", len(x.Features), len(e.Ruleset().Features))
	}
}

// refFacts is the computation of the facts as it was before Features: for
// each feature, one pass over the signals, each checked against the
// feature's filters and its window.
func refFacts(fs []rules.Feature, events []Event, now time.Time) Facts {
	var x Facts
	for i := range fs {
		f := &fs[i]
		since := now.Add(-time.Duration(f.Window))
		var v float64
		switch {
		case f.Count != "":
			for j := range events {
				if refMatches(f, &events[j], f.Count, since) {
					v++
				}
			}
		case f.DistinctDays != "":
			var days []int64
			for j := range events {
				if refMatches(f, &events[j], f.DistinctDays, since) {
					_, off := events[j].At.In(chinaTime).Zone()
					day := (events[j].At.Unix() + int64(off)) / 86400
					if !slices.Contains(days, day) {
						days = append(days, day)
					}
				}
			}
			v = float64(len(days))
		case f.Max != "":
			for j := range events {
				if refMatches(f, &events[j], "any", since) {
					v = max(v, refValue(&events[j], f.Max))
				}
			}
		}
		x.Features = append(x.Features, v)
	}
	last := map[string]*Event{}
	var ledgerAt time.Time
	for i := range events {
		ev := &events[i]
		for _, t := range ev.Tags {
			if !slices.Contains(x.Tags, t) {
				x.Tags = append(x.Tags, t)
			}
		}
		if ev.LedgerStatus != "" && !ev.At.Before(ledgerAt) {
			ledgerAt, x.LedgerStatus = ev.At, ev.LedgerStatus
		}
		if ev.CaseID != "" {
			if prev, ok := last[ev.CaseID]; !ok || ev.At.After(prev.At) || (ev.At.Equal(prev.At) && ev.CaseSeq >= prev.CaseSeq) {
				last[ev.CaseID] = ev
			}
		}
	}
	slices.Sort(x.Tags)
	for _, ev := range last {
		switch ev.CaseState {
		case "closed", "followed_up", "archived", "declined":
		default:
			x.Cases.Open++
		}
		switch {
		case ev.CaseEvent == "overdue" || ev.CaseEvent == "supervised":
			x.Cases.Overdue++
		case ev.CaseState == "failed":
			x.Cases.Failed++
		}
	}
	return x
}

func refMatches(f *rules.Feature, ev *Event, source string, since time.Time) bool {
	switch {
	case source == "any" || source == "":
		if ev.Source == risk.CaseEvent {
			return false
		}
	case string(ev.Source) != source:
		return false
	}
	if f.Category != "" && ev.Category != f.Category {
		return false
	}
	if f.Flag != "" {
		switch f.Flag {
		case "skip_level":
			if !ev.SkipLevel {
				return false
			}
		case "collective":
			if !ev.Collective {
				return false
			}
		case "repeat":
			if !ev.Repeat {
				return false
			}
		default:
			return false
		}
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

func refValue(ev *Event, field string) float64 {
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

// BenchmarkFeatures computes the facts of benchmark's subject under the
// default ruleset: compiled (Features.Compute) and as before (refFacts,
// which also allocates its result).
func BenchmarkFeatures(b *testing.B) {
	e := loadDefault(b)
	st := benchState()
	b.Run("compiled", func(b *testing.B) {
		var x Facts
		b.ReportAllocs()
		for b.Loop() {
			e.Features().Compute(&st, now, &x)
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			refFacts(e.Ruleset().Features, st.Events, now)
		}
	})
}
