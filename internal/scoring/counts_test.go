package scoring

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"fengqiao/engine"
	"fengqiao/internal/redistest"
	"fengqiao/jurisdiction"
	"fengqiao/risk"
)

// instance is one riskd's scorer on a shared Redis, with its own registry
// (its own process, as far as metrics go).
type instance struct {
	s   *Scorer
	reg *prometheus.Registry
}

func newInstance(t *testing.T, rdb redis.UniversalClient, e *engine.Engine, clk *clock, opts ...Option) instance {
	t.Helper()
	reg := prometheus.NewRegistry()
	s := NewScorer(rdb, fixedRules{e}, &recorder{}, clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), reg, opts...)
	return instance{s, reg}
}

// gauge reads fengqiao_subjects from an instance's registry, by
// "kind/level/unit" (the unit label named for tier).
func (in instance) gauge(t *testing.T, tier jurisdiction.Tier) map[string]float64 {
	t.Helper()
	mfs, err := in.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "fengqiao_subjects" {
			continue
		}
		if mf.GetType() != dto.MetricType_GAUGE {
			t.Errorf("fengqiao_subjects is a %v", mf.GetType())
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if len(l) != 3 || l[tier.String()] == "" {
				t.Fatalf("labels %v, want kind, level and %s", l, tier)
			}
			out[l["kind"]+"/"+l["level"]+"/"+l[tier.String()]] = m.GetGauge().GetValue()
		}
	}
	return out
}

// truth counts the subjects in the store by reading every one's state: what
// the gauge must say.
func truth(t *testing.T, s *Scorer, tier jurisdiction.Tier) map[string]float64 {
	t.Helper()
	ctx := context.Background()
	out := map[string]float64{}
	err := s.scanStates(ctx, func(ctx context.Context, key string) error {
		id, ok := subjectOfStateKey(key)
		if !ok {
			return fmt.Errorf("state key %s names no subject", key)
		}
		h, err := s.rdb.HMGet(ctx, key, "level", "unit").Result()
		if err != nil {
			return err
		}
		lv, _ := h[0].(string)
		unit, _ := h[1].(string)
		out[string(id.Kind)+"/"+lv+"/"+UnitAt(unit, tier)]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameCounts compares the gauge with the truth: every subject counted once,
// under its level and unit, and every other series zero.
func sameCounts(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %s = %v, want %v", what, k, got[k], n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok && n != 0 {
			t.Errorf("%s: %s = %v, want 0", what, k, n)
		}
	}
}

// The counts follow every way a subject's level moves: first scored (at
// green too), rising, spread from its dispute, redelivered, overridden,
// swept down; and the board follows with them.
func TestSubjectCounts(t *testing.T) {
	s, _, clk := managed(t)
	in := instance{s: s}
	in.reg = prometheus.NewRegistry()
	in.reg.MustRegister(newSubjectsCollector(s.rdb, DefaultCountTier, nil))
	ctx := context.Background()
	check := func(what string, want map[string]float64) {
		t.Helper()
		got := in.gauge(t, jurisdiction.County)
		sameCounts(t, what, got, truth(t, s, jurisdiction.County))
		sameCounts(t, what+" (expected)", got, want)
	}
	at := clk.Now().Add(-time.Hour)
	// A dispute of two parties: the dispute is green, each person blue.
	if err := s.Handle(ctx, report("1", "TZ-1", []string{"Pa", "Pb"}, 2, at)); err != nil {
		t.Fatal(err)
	}
	check("first scored", map[string]float64{"dispute/green/990101000000": 1, "person/blue/990101000000": 2})
	// Redelivered: nothing moves.
	if err := s.Handle(ctx, report("1", "TZ-1", []string{"Pa", "Pb"}, 2, at)); err != nil {
		t.Fatal(err)
	}
	check("redelivered", map[string]float64{"dispute/green/990101000000": 1, "person/blue/990101000000": 2})
	// The dispute turns red and its persons orange; a person elsewhere is blue.
	if err := s.Handle(ctx, report("2", "TZ-1", nil, 40, at)); err != nil {
		t.Fatal(err)
	}
	r := report("3", "", []string{"Pc"}, 0, at)
	r.Unit = "990102001001"
	if err := s.Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	check("risen and spread", map[string]float64{"dispute/red/990101000000": 1, "person/orange/990101000000": 2, "person/blue/990102000000": 1})
	// An override moves one person by hand.
	if _, err := s.SetOverride(ctx, risk.SubjectID{Kind: risk.Person, Ref: "Pc"}, engine.Override{Level: risk.Yellow, Officer: "李明", Reason: "核实", Until: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	check("overridden", map[string]float64{"dispute/red/990101000000": 1, "person/orange/990101000000": 2, "person/yellow/990102000000": 1})
	// Evidence ages out, the override ends and the red dispute is signed
	// off (which brings its persons down with it): the sweep does the rest.
	clk.Add(31 * 24 * time.Hour)
	if _, err := s.SignOff(ctx, risk.SubjectID{Kind: risk.Dispute, Ref: "TZ-1"}, "张伟", "已化解"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	check("swept", map[string]float64{"dispute/green/990101000000": 1, "person/green/990101000000": 2, "person/green/990102000000": 1})
	if entries, total, err := s.Board(ctx, BoardQuery{MinLevel: risk.Blue, Limit: 10}); err != nil || total != 0 {
		t.Errorf("the board after the sweep: %d %+v %v", total, entries, err)
	}
}

// Two instances scoring the same subjects at once, with redeliveries, leave
// the counts exact; a restarted instance reads the same; and an index step
// that comes late (an older commit's) changes nothing.
func TestSubjectCountsAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/r.yaml", managedRules)
	e := compile(t, dir)
	srv := redistest.Start(t)
	clk := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	tree, err := jurisdiction.Load("../../fixtures/jurisdiction.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := newInstance(t, srv.Client(t), e, clk, KnownUnits(tree.Units()))
	b := newInstance(t, srv.Client(t), e, clk, KnownUnits(tree.Units()))
	ctx := context.Background()
	units := []string{"990101100201", "990102001001", "990103001001001"}
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for w, in := range []instance{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				// Both instances take signals of the same persons and disputes,
				// and each redelivers some of the other's.
				n, from := i, w
				if i%7 == 0 && i > 0 {
					n, from = i-1, 1-w // the other instance's signal, again
				}
				rec := report(fmt.Sprintf("%d-%d", from, n), fmt.Sprintf("TZ-%d", n%5), []string{fmt.Sprintf("P%d", n%9)}, 10*(n%5), clk.Now().Add(-time.Hour))
				rec.Unit = units[n%3]
				if err := in.s.Handle(ctx, rec); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	want := truth(t, a.s, jurisdiction.County)
	total := 0.0
	for _, n := range want {
		total += n
	}
	if total != 14 { // 9 persons, 5 disputes
		t.Fatalf("%v subjects in the store, want 14: %v", total, want)
	}
	sameCounts(t, "instance a", a.gauge(t, jurisdiction.County), want)
	sameCounts(t, "instance b", b.gauge(t, jurisdiction.County), want)

	// Every county of the jurisdiction has every kind and colour, at zero
	// where nobody is.
	got := a.gauge(t, jurisdiction.County)
	if len(got) != 3*len(risk.Kinds)*len(risk.Levels) {
		t.Errorf("%d series, want %d: %v", len(got), 3*len(risk.Kinds)*len(risk.Levels), got)
	}
	if n, ok := got["dispute/yellow/990103000000"]; !ok || n != 0 {
		t.Errorf("no zero series for 云岭县: %v", got)
	}

	// A restart: a new instance, and then a sweep on it, find the same.
	c := newInstance(t, srv.Client(t), e, clk)
	sameCounts(t, "restarted", c.gauge(t, jurisdiction.County), want)
	clk.Add(31 * 24 * time.Hour)
	if _, err := c.s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	want = truth(t, c.s, jurisdiction.County)
	sameCounts(t, "swept on the new instance", a.gauge(t, jurisdiction.County), want)

	// An index step of an older commit, arriving late, is ignored; the
	// current one repeated is a no-op.
	p := risk.SubjectID{Kind: risk.Person, Ref: "P1"}
	sub, err := c.s.Subject(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	stale := risk.Red
	if sub.Level == risk.Red {
		stale = risk.Blue
	}
	if err := c.s.index(ctx, p, stale, sub.Unit, 1, clk.Now()); err != nil {
		t.Fatal(err)
	}
	sameCounts(t, "after a late index step", c.gauge(t, jurisdiction.County), want)
	rev, _ := srv.Client(t).HGet(ctx, keysOf(p).state, "rev").Int64()
	if err := c.s.index(ctx, p, sub.Level, sub.Unit, rev, clk.Now()); err != nil {
		t.Fatal(err)
	}
	sameCounts(t, "after the index step repeated", c.gauge(t, jurisdiction.County), want)
	for _, l := range risk.Levels[1:] {
		_, err := srv.Client(t).ZScore(ctx, boardKey(risk.Person, l), "P1").Result()
		if on := err == nil; on != (l == sub.Level) {
			t.Errorf("P1 at %s: on the %s board: %v", sub.Level, l, on)
		}
	}
}

// Recount fills the counts of subjects scored before they were counted, and
// of another tier, from the subjects' states.
func TestRecount(t *testing.T) {
	s, _, clk := managed(t)
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		r := report(fmt.Sprint(i), "TZ-9", []string{fmt.Sprint("P", i)}, 10*i, clk.Now().Add(-time.Hour))
		if i == 3 {
			r.Unit = "990101101001"
		}
		if err := s.Handle(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// As after an upgrade: no counts at all, and no revision on the states.
	if err := s.rdb.Del(ctx, countsKey(jurisdiction.County), countedKey(jurisdiction.County)).Err(); err != nil {
		t.Fatal(err)
	}
	_ = s.scanStates(ctx, func(ctx context.Context, key string) error { return s.rdb.HDel(ctx, key, "rev").Err() })
	in := instance{s: s, reg: prometheus.NewRegistry()}
	in.reg.MustRegister(newSubjectsCollector(s.rdb, jurisdiction.County, nil))
	if got := in.gauge(t, jurisdiction.County); len(got) != 0 {
		t.Fatalf("counts before the recount: %v", got)
	}
	for range 2 { // twice: the second changes nothing
		if n, err := s.Recount(ctx); err != nil || n != 5 {
			t.Fatalf("Recount = %d, %v; want 5 subjects", n, err)
		}
		sameCounts(t, "recounted", in.gauge(t, jurisdiction.County), truth(t, s, jurisdiction.County))
	}
	// Scoring goes on from there.
	if err := s.Handle(ctx, report("9", "TZ-9", []string{"P0"}, 0, clk.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	sameCounts(t, "scored after the recount", in.gauge(t, jurisdiction.County), truth(t, s, jurisdiction.County))

	// Counting by township: a scorer of that tier, recounted.
	tw := newInstance(t, s.rdb, s.rules.Engine(), clk, CountTier(jurisdiction.Township))
	if _, err := tw.s.Recount(ctx); err != nil {
		t.Fatal(err)
	}
	got := tw.gauge(t, jurisdiction.Township)
	sameCounts(t, "by township", got, truth(t, s, jurisdiction.Township))
	if got["person/blue/990101101000"]+got["person/yellow/990101101000"]+got["person/orange/990101101000"]+got["person/red/990101101000"] != 1 {
		t.Errorf("by township: %v", got)
	}
}

// UnitAt reads from a code what the jurisdiction tree says.
func TestUnitAt(t *testing.T) {
	tree, err := jurisdiction.Load("../../fixtures/jurisdiction.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range tree.Units() {
		for tier := jurisdiction.City; tier <= jurisdiction.Grid; tier++ {
			got := UnitAt(u.Code, tier)
			if want, ok := tree.AncestorAt(u.Code, tier); ok && got != want.Code {
				t.Errorf("UnitAt(%s, %s) = %s, want %s", u.Code, tier, got, want.Code)
			}
			if _, ok := tree.Unit(got); !ok {
				t.Errorf("UnitAt(%s, %s) = %s, not a unit", u.Code, tier, got)
			}
		}
	}
	for code, want := range map[string]string{
		"990100101000": "990100000000", // a township straight under a city: the city
		"990100000000": "990100000000", // a unit above the tier: itself
		"x":            "x",
	} {
		if got := UnitAt(code, jurisdiction.County); got != want {
			t.Errorf("UnitAt(%s, county) = %s, want %s", code, got, want)
		}
	}
	if got := UnitAt("990101100201001", jurisdiction.Grid); got != "990101100201001" {
		t.Errorf("a grid at the grid tier: %s", got)
	}
	if got := UnitAt("990101100201001", jurisdiction.Village); got != "990101100201" {
		t.Errorf("a grid's village: %s", got)
	}
}
