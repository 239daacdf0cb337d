package escalation_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fengqiao/alerts/escalation"
	"fengqiao/risk"
)

// checkLoadError fails unless err is a *LoadError whose problems each sit on
// one line of their own.
func checkLoadError(t *testing.T, err error) {
	t.Helper()
	var le *escalation.LoadError
	if !errors.As(err, &le) || len(le.Problems) == 0 {
		t.Fatalf("error is %T %v, want a *LoadError with problems", err, err)
	}
	for _, p := range le.Problems {
		if strings.ContainsAny(p.Message, "\r\n") || p.Line < 0 {
			t.Fatalf("bad problem %+v", p)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/policy/*.yaml")
	for _, s := range append(seeds, fixturePolicy) {
		f.Add(readFile(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := escalation.ParsePolicy("fuzz.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatal("a policy was returned with the error")
			}
			checkLoadError(t, err)
			return
		}
		if p.Version == "" || len(p.Levels) == 0 {
			t.Fatalf("a policy loaded without error is empty: %+v", p)
		}
		for level, lp := range p.Levels {
			if level == risk.Green || !level.Valid() || lp.Level != level {
				t.Fatalf("level %v holds %+v", level, lp)
			}
			if len(lp.Tiers) == 0 || len(lp.Channels) == 0 {
				t.Fatalf("level %v pages no one: %+v", level, lp)
			}
			for i, tier := range lp.Tiers {
				if !tier.Valid() || (i > 0 && !tier.Above(lp.Tiers[i-1])) {
					t.Fatalf("level %v tiers %v", level, lp.Tiers)
				}
			}
			for _, c := range lp.Channels {
				if _, ok := p.Channels[c]; !ok {
					t.Fatalf("level %v names channel %q, which is not defined", level, c)
				}
			}
			if !lp.AckWithin.NextWorkingMorning && lp.AckWithin.After <= 0 {
				t.Fatalf("level %v has no acknowledgement deadline", level)
			}
			if e := lp.Escalate; e.Times < 0 || (e.Times > 0 && (e.Every <= 0 || e.To != escalation.EscalateToParent)) {
				t.Fatalf("level %v escalation %+v", level, e)
			}
			if snap := p.Snapshot(level); !slices.Equal(snap.Tiers, lp.Tiers) {
				t.Fatalf("snapshot differs")
			}
		}
		if p.Suppress < 0 {
			t.Fatalf("suppress %v", p.Suppress)
		}
		if q := p.QuietHours; q != nil && (q.From == q.To || q.MinLevel == risk.Green) {
			t.Fatalf("quiet hours %+v", q)
		}
	})
}

func FuzzParseRoster(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/roster/*")
	for _, s := range append(seeds, fixtureRoster, fixtureCSV) {
		f.Add(filepath.Ext(s) == ".csv", readFile(f, s))
	}
	f.Fuzz(func(t *testing.T, csv bool, data []byte) {
		name := "fuzz.yaml"
		if csv {
			name = "fuzz.csv"
		}
		r, err := escalation.ParseRoster(name, data)
		if err != nil {
			checkLoadError(t, err)
			return
		}
		entries := r.Entries()
		if len(entries) == 0 {
			t.Fatal("a roster loaded without error is empty")
		}
		for _, e := range entries {
			if !e.Shift.Valid() || e.Contact.Name == "" || len(e.Date) != 10 {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}
