package scoring

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"fengqiao/backtest"
	"fengqiao/engine"
	"fengqiao/risk"
	"fengqiao/rules"
	"fengqiao/signals"
)

// A backtest gives the colours riskd would: the fixture signals scored live,
// one by one on real Redis and then re-scored at the backtest's time (without
// dampening, which a replay cannot know), match the replay subject by subject.
func TestBacktestMatchesTheLiveScorer(t *testing.T) {
	for _, dir := range []string{"../../fixtures/rules", "../../fixtures/rules-candidate"} {
		rs, err := rules.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		rs.Dampening = rules.Dampening{}
		e, err := engine.Compile(rs)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := os.ReadFile("../../fixtures/backtest/signals.jsonl")
		sigs, err := backtest.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		latest := backtest.Latest(sigs)
		p, _ := signals.NewPseudonymizer([]byte("0123456789abcdef0123"))
		recs, err := backtest.Records(sigs, &signals.Validator{KnownUnit: func(string) bool { return true }, Categories: signals.DefaultCategories, Now: func() time.Time { return latest }}, p)
		if err != nil {
			t.Fatal(err)
		}
		now := latest.Add(time.Minute)
		s, _, clk := newScorer(t, e)
		sorted := slices.Clone(recs)
		slices.SortStableFunc(sorted, func(a, b signals.Record) int { return a.OccurredAt.Compare(b.OccurredAt) })
		ctx := context.Background()
		for _, r := range sorted {
			clk.mu.Lock()
			clk.t = r.OccurredAt.Add(time.Second)
			clk.mu.Unlock()
			if err := s.Handle(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		clk.mu.Lock()
		clk.t = now
		clk.mu.Unlock()
		want := backtest.Replay(recs, e, now)
		for _, kind := range []risk.Kind{risk.Dispute, risk.Person} {
			for id := range want {
				if id.Kind == kind {
					if _, err := s.Rescore(ctx, id); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		n := 0
		for id, a := range want {
			got, err := s.Subject(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			n++
			if got.Level != a.Level || got.Score != a.Score {
				t.Errorf("%s %s: live %s %g, backtest %s %g\n live: %s\n back: %s", dir, id, got.Level, got.Score, a.Level, a.Score, got.Explanation, a.Explain())
			}
		}
		t.Logf("%s: %d subjects compared", dir, n)
	}
}
