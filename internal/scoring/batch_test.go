package scoring

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/engine"
	"fengqiao/risk"
	"fengqiao/rules"
	"fengqiao/signals"
)

// randomRecords draws records over small pools of persons and disputes, so
// that rounds end often, spreads reach persons named later, a record names a
// person twice now and then, and some records are delivered again.
func randomRecords(rng *rand.Rand, n int, now time.Time) []signals.Record {
	summaries := []string{"扬言报复", "邻里噪音纠纷", "讨薪未果", "土地承包边界争议", "邻里纠纷", "楼上漏水", "宅基地界址", "赡养费纠纷"}
	sources := []risk.Source{risk.GridReport, risk.Hotline, risk.GridReport, risk.Ledger, risk.Hotline}
	out := make([]signals.Record, 0, n)
	for i := 0; len(out) < n; i++ {
		if i > 10 && rng.IntN(12) == 0 { // a redelivery
			out = append(out, out[rng.IntN(len(out))])
			continue
		}
		r := signals.Record{
			Source: sources[rng.IntN(len(sources))], ID: fmt.Sprintf("R-%d", i),
			OccurredAt: now.Add(-time.Duration(rng.IntN(90*24)) * time.Hour), ReceivedAt: now,
			Unit: "990101100201", Category: "婚姻家庭", Summary: summaries[rng.IntN(len(summaries))],
		}
		if r.Source == risk.Ledger {
			r.LedgerStatus = []string{"未化解", "化解中", "已化解"}[rng.IntN(3)]
		}
		if rng.IntN(5) > 0 {
			r.DisputeID = fmt.Sprintf("TZ-%d", rng.IntN(15))
		}
		for range rng.IntN(4) {
			ref := fmt.Sprintf("P%024d", rng.IntN(40))
			r.Persons = append(r.Persons, signals.PersonRef{Ref: ref, Name: "张国强"})
		}
		if len(r.Persons) == 0 && r.DisputeID == "" {
			r.DisputeID = "TZ-0"
		}
		out = append(out, r)
	}
	return out
}

// dump is every key of a store with its contents.
func dump(t *testing.T, rdb redis.UniversalClient) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		var v any
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "hash":
			v = rdb.HGetAll(ctx, k).Val()
		case "zset":
			v = rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
		case "list":
			v = rdb.LRange(ctx, k, 0, -1).Val()
		default:
			v = typ
		}
		out[k] = fmt.Sprint(v)
	}
	return out
}

func eventsOf(r *recorder) []string {
	out := make([]string, len(r.events))
	for i, e := range r.events {
		out[i] = fmt.Sprintf("%s %s %s→%s %s", e.ID, e.Subject, e.From, e.To, e.Explanation)
	}
	slices.Sort(out)
	return out
}

// HandleBatch leaves the store as Handle does record by record, and raises
// the same alert events, whatever the batches.
func TestHandleBatchIsHandleInTurn(t *testing.T) {
	e := compile(t, "../../fixtures/rules")
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			one, oneAlerts, clk := newScorer(t, e)
			many, manyAlerts, _ := newScorer(t, e)
			rng := rand.New(rand.NewPCG(seed, 7))
			recs := randomRecords(rng, 300, clk.Now())
			ctx := context.Background()
			for i := range recs {
				if err := one.Handle(ctx, recs[i]); err != nil {
					t.Fatal(err)
				}
			}
			for start := 0; start < len(recs); {
				end := min(len(recs), start+1+rng.IntN(64))
				if err := many.HandleBatch(ctx, recs[start:end]); err != nil {
					t.Fatal(err)
				}
				start = end
			}
			want, got := dump(t, one.rdb), dump(t, many.rdb)
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s:\n one by one %s\n batched    %s", k, v, got[k])
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s only when batched", k)
				}
			}
			if w, g := eventsOf(oneAlerts), eventsOf(manyAlerts); !slices.Equal(w, g) {
				t.Errorf("alert events differ:\n one by one %s\n batched    %s", strings.Join(w, "\n"), strings.Join(g, "\n"))
			}
			levels := map[string]int{}
			for k, v := range want {
				if strings.HasSuffix(k, ":state") && strings.Contains(v, "level:") {
					levels[strings.SplitN(strings.SplitN(v, "level:", 2)[1], " ", 2)[0]]++
				}
			}
			t.Logf("%d keys, %d alert events, levels %v", len(want), len(oneAlerts.events), levels)
		})
	}
}

// After Redis forgets its scripts (a restart, a failover), a batch loads
// them again and goes on.
func TestHandleBatchReloadsScripts(t *testing.T) {
	s, _, clk := newScorer(t, compile(t, "../../fixtures/rules"))
	ctx := context.Background()
	recs := randomRecords(rand.New(rand.NewPCG(1, 2)), 20, clk.Now())
	if err := s.HandleBatch(ctx, recs[:10]); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.HandleBatch(ctx, recs[10:]); err != nil {
		t.Fatalf("after SCRIPT FLUSH: %v", err)
	}
	if n := s.rdb.Keys(ctx, "fq:{p:*}:state").Val(); len(n) == 0 {
		t.Error("no person scored")
	}
}

type archiveFunc func(ctx context.Context, hash string) (*rules.Ruleset, error)

func (f archiveFunc) Ruleset(ctx context.Context, hash string) (*rules.Ruleset, error) {
	return f(ctx, hash)
}

// An assessment is stored without not_fired, which is derived on reading,
// from the ruleset in force or, for an older one, from the archive.
func TestNotFiredIsDerivedOnReading(t *testing.T) {
	e := compile(t, "../../fixtures/rules")
	s, _, clk := newScorer(t, e)
	ctx := context.Background()
	recs := randomRecords(rand.New(rand.NewPCG(3, 4)), 40, clk.Now())
	if err := s.HandleBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, r := range recs {
		for _, id := range r.Subjects() {
			raw := s.rdb.HGet(ctx, keysOf(id).state, "assessment").Val()
			if strings.Contains(raw, "not_fired") {
				t.Fatalf("stored with not_fired: %s", raw)
			}
			got, err := s.Subject(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			// What the engine lists, scoring the same state again.
			st := engine.State{Subject: id, Unit: got.Unit, Weak: got.Weak, Events: mustRecent(t, s, id)}
			for _, l := range got.Linked {
				if l.Level != nil && id.Kind == risk.Person {
					st.Links = append(st.Links, engine.Link{Subject: l.Subject, Level: *l.Level})
				}
			}
			want := e.Evaluate(st, got.At)
			if !slices.Equal(got.NotFired, want.NotFired) || len(got.NotFired) == 0 {
				t.Errorf("%s: not_fired %v, want %v", id, got.NotFired, want.NotFired)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}

	// Under another ruleset, the archive gives the assessment's own.
	other := compile(t, "../../fixtures/rules")
	other.Ruleset().Hash = "another"
	s.rules = fixedRules{other}
	var asked []string
	s.archive = archiveFunc(func(_ context.Context, hash string) (*rules.Ruleset, error) {
		asked = append(asked, hash)
		return e.Ruleset(), nil
	})
	id := recs[0].Subjects()[0]
	for range 2 {
		got, err := s.Subject(ctx, id)
		if err != nil || len(got.NotFired) == 0 {
			t.Fatalf("from the archive: %v, %v", got.NotFired, err)
		}
	}
	if len(asked) != 1 || asked[0] != e.Ruleset().Hash {
		t.Errorf("archive asked for %v, want once for %s", asked, e.Ruleset().Hash)
	}
}

func mustRecent(t *testing.T, s *Scorer, id risk.SubjectID) []engine.Event {
	t.Helper()
	evs, err := s.Recent(context.Background(), id, maxEvents)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(evs) // oldest first, as scoring reads them
	return evs
}
