package eval

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"fengqiao/engine"
	"fengqiao/rules"
)

var (
	update  = flag.Bool("update", false, "TestSmokeGenerated: rewrite the generated rulesets and floors")
	summary = flag.Bool("summary", false, "TestSummary: time every implementation under every ruleset and print BENCH lines")
	rounds  = flag.Int("rounds", 3, "TestSummary: rounds of timings; the medians are printed")
)

// defaultRules is the product's default ruleset.
const defaultRules = "../../fixtures/rules/default.yaml"

type ruleset struct {
	name string // a key of Floors
	rs   *rules.Ruleset
}

// loadRulesets loads the default ruleset and the generated ones, with the
// rules package, as riskd loads rules.
func loadRulesets(tb testing.TB) []ruleset {
	tb.Helper()
	var out []ruleset
	for _, s := range []struct{ name, path string }{
		{"default", defaultRules},
		{"gen100", "testdata/gen100.yaml"},
		{"gen1000", "testdata/gen1000.yaml"},
	} {
		rs, err := rules.LoadFiles(s.path)
		if err != nil {
			tb.Fatalf("%s: %v", s.path, err)
		}
		out = append(out, ruleset{s.name, rs})
	}
	return out
}

// build makes every implementation (in the order of Names) for set, and
// fails unless each gives every subject of sts the score and level that
// fengqiao gives it, without a rule error.
func build(tb testing.TB, set ruleset, sts []engine.State) []Evaluator {
	tb.Helper()
	var impls []Evaluator
	for _, name := range Names {
		ev, err := New(name, set.rs, Floors[set.name])
		if err != nil {
			tb.Fatalf("%s: %s: %v", set.name, name, err)
		}
		impls = append(impls, ev)
	}
	for i := range sts {
		st := &sts[i]
		wantScore, wantLevel, err := impls[0].Evaluate(st, Now)
		if err != nil {
			tb.Fatalf("%s: subject %d: fengqiao: %v", set.name, i, err)
		}
		for j, ev := range impls[1:] {
			score, level, err := ev.Evaluate(st, Now)
			if err != nil || score != wantScore || level != wantLevel {
				tb.Fatalf("%s: subject %d (%s): %s gives score %v level %v (error %v); fengqiao %v %v",
					set.name, i, st.Subject, Names[j+1], score, level, err, wantScore, wantLevel)
			}
		}
	}
	return impls
}

// run times ev scoring st, after one evaluation that sizes its scratch.
func run(b *testing.B, ev Evaluator, st *engine.State) {
	ev.Evaluate(st, Now)
	b.ReportAllocs()
	for b.Loop() {
		ev.Evaluate(st, Now)
	}
}

// BenchmarkEval scores BenchSubject under each ruleset with each
// implementation (see Evaluator for what one op does), after checking that
// they all agree on its score and level.
func BenchmarkEval(b *testing.B) {
	st := BenchSubject()
	for _, set := range loadRulesets(b) {
		impls := build(b, set, []engine.State{st})
		for i, name := range Names {
			b.Run(fmt.Sprintf("rules=%d/%s", len(set.rs.Rules), name), func(b *testing.B) {
				run(b, impls[i], &st)
			})
		}
	}
}

// BenchmarkEvalVaried scores 256 random subjects (RandomSubject) in
// rotation, so that the values and the fired rules' details change from one
// op to the next, as they do when riskd scores a stream of subjects;
// BenchmarkEval scores the same subject again and again.
func BenchmarkEvalVaried(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	sts := make([]engine.State, 256)
	for i := range sts {
		sts[i] = RandomSubject(rng, i)
	}
	for _, set := range loadRulesets(b) {
		impls := build(b, set, sts)
		for i, name := range Names {
			b.Run(fmt.Sprintf("rules=%d/%s", len(set.rs.Rules), name), func(b *testing.B) {
				ev := impls[i]
				for j := range sts {
					ev.Evaluate(&sts[j], Now)
				}
				b.ReportAllocs()
				j := 0
				for b.Loop() {
					ev.Evaluate(&sts[j%len(sts)], Now)
					j++
				}
			})
		}
	}
}

// TestSummary times every implementation under every ruleset with
// testing.Benchmark, in rounds that alternate between them, and prints one
// line per ruleset with fengqiao's time and its ratio to each other
// implementation: the median over the rounds of the ratio within a round.
//
//	go test -count=1 -run TestSummary -v [-benchtime 1s] ./eval -summary [-rounds 3]
func TestSummary(t *testing.T) {
	if !*summary {
		t.Skip("times every implementation for a minute or two; run with -summary")
	}
	fmt.Printf("BENCH machine cpu=%q cores=%d GOMAXPROCS=%d go=%s/%s/%s\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	st := BenchSubject()
	for _, set := range loadRulesets(t) {
		impls := build(t, set, []engine.State{st})
		ns := make([][]float64, len(impls)) // per implementation, per round
		allocs := make([]int64, len(impls))
		for range *rounds {
			for i, ev := range impls {
				r := testing.Benchmark(func(b *testing.B) { run(b, ev, &st) })
				ns[i] = append(ns[i], float64(r.T.Nanoseconds())/float64(r.N))
				allocs[i] = r.AllocsPerOp()
			}
		}
		// ratio is fengqiao's time over implementation i's, within each round,
		// less the floor's time on both sides if minusFloor: the features and
		// the least the rules can cost, which every implementation pays.
		ratio := func(i int, minusFloor bool) float64 {
			floor := len(impls) - 1
			ratios := make([]float64, len(ns[0]))
			for r := range ratios {
				a, b := ns[0][r], ns[i][r]
				if minusFloor {
					a, b = a-ns[floor][r], b-ns[floor][r]
				}
				ratios[r] = a / b
			}
			return median(ratios)
		}
		n := len(set.rs.Rules)
		line := fmt.Sprintf("BENCH eval rules=%d fengqiao_ns=%.0f", n, median(ns[0]))
		times := fmt.Sprintf("BENCH eval rules=%d times", n)
		above := fmt.Sprintf("BENCH eval rules=%d minus_floor", n)
		for i, name := range Names {
			if i > 0 {
				line += fmt.Sprintf(" vs_%s=%.2f", name, ratio(i, false))
			}
			if i > 0 && i < len(Names)-1 {
				above += fmt.Sprintf(" vs_%s=%.2f", name, ratio(i, true))
			}
			times += fmt.Sprintf(" %s_ns=%.0f %s_allocs=%d", name, median(ns[i]), name, allocs[i])
		}
		fmt.Printf("%s allocs=%d\n%s\n%s\n", line, allocs[0], times, above)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// cpuModel is the CPU's name as /proc/cpuinfo gives it, if it does.
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// TestSmoke checks, under every ruleset, that every implementation agrees
// with fengqiao on BenchSubject and 300 random subjects, then runs each a few
// times, so that the benchmarks cannot rot unnoticed. It takes seconds.
func TestSmoke(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sts := []engine.State{BenchSubject()}
	for i := range 300 {
		sts = append(sts, RandomSubject(rng, i))
	}
	for _, set := range loadRulesets(t) {
		t.Run(set.name, func(t *testing.T) {
			impls := build(t, set, sts)
			st := BenchSubject()
			for i, ev := range impls {
				allocs := testing.AllocsPerRun(3, func() { ev.Evaluate(&st, Now) })
				t.Logf("%-9s %4.0f allocs/op", Names[i], allocs)
			}
			f := impls[0].(*Fengqiao)
			f.Evaluate(&st, Now)
			t.Logf("bench subject: score %g, level %s, %d of %d rules fired", f.a.Score, f.a.Level, len(f.a.Fired), len(set.rs.Rules))
			levels := map[string]int{}
			for i := range sts[1:] {
				_, level, _ := f.Evaluate(&sts[1+i], Now)
				levels[level.String()]++
			}
			t.Logf("random subjects' levels: %v", levels)
		})
	}
}

// TestSmokeGenerated checks that the generated files are what Generate and
// FeaturesGo write now; with -update it writes them.
func TestSmokeGenerated(t *testing.T) {
	base, err := rules.LoadFiles(defaultRules)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	if files["features_gen.go"], err = FeaturesGo(base); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{100, 1000} {
		y, src, err := Generate(base, n)
		if err != nil {
			t.Fatal(err)
		}
		files[fmt.Sprintf("testdata/gen%d.yaml", n)] = y
		files[fmt.Sprintf("floor_gen%d.go", n)] = src
	}
	for path, want := range files {
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not up to date: go test -count=1 -run TestSmokeGenerated ./eval -update", path)
		}
	}
}
