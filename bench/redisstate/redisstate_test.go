package redisstate

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/bench/loadgen"
	"fengqiao/internal/redistest"
)

var (
	summary  = flag.Bool("summary", false, "TestSummary: time the three ways on -signals signals and print the BENCH line")
	nSignals = flag.Int("signals", 20_000, "TestSummary: signals to send")
)

// TestSmoke checks that Naive changes the store exactly as the Scorer does,
// under the default ruleset (rises, alerts, spreads), then runs the three
// ways on a few hundred signals, so that the benchmark cannot rot unnoticed.
func TestSmoke(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	recs, err := Records(400, 120, 60, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	e, err := DefaultEngine()
	if err != nil {
		t.Fatal(err)
	}
	ra, rb := redistest.Start(t).Client(t), redistest.Start(t).Client(t)
	if _, err := Run(ctx, NewScorer(ra, e, clock), recs); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, &Naive{RDB: rb, Engine: e, Alerts: alerts.NewStream(rb), Now: clock}, recs); err != nil {
		t.Fatal(err)
	}
	da, err := Dump(ctx, ra)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Dump(ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	diffs := 0
	for k, v := range da {
		if db[k] != v && diffs < 5 {
			i := 0
			for i < len(v) && i < len(db[k]) && v[i] == db[k][i] {
				i++
			}
			from := max(i-100, 0)
			t.Errorf("%s differs at byte %d:\n scorer …%.300s\n naive  …%.300s", k, i, v[from:], db[k][min(from, len(db[k])):])
			diffs++
		}
	}
	if len(da) != len(db) {
		t.Errorf("the scorer left %d keys, naive %d", len(da), len(db))
	}
	alertsN, _ := ra.XLen(ctx, "fq:{alerts}:events").Result()
	t.Logf("%d keys alike, %d alert events", len(da), alertsN)
	if alertsN == 0 {
		t.Error("no alert events: the smoke workload should raise some")
	}
	if _, err := exec.LookPath("redis-benchmark"); err != nil {
		t.Skip("redis-benchmark is not on PATH (it comes with redis-server, e.g. apt-get install redis-tools)")
	}
	r := measure(t, 600, 300, 150, 2000)
	fmt.Println("smoke:", r.line())
}

// TestSummary times the three ways and prints one BENCH line.
//
//	go test -count=1 -run TestSummary -v ./redisstate -summary [-signals 20000]
func TestSummary(t *testing.T) {
	if !*summary {
		t.Skip("times the Redis state update three ways for a minute; run with -summary")
	}
	fmt.Printf("BENCH machine %s redis=%s\n", loadgen.Machine(), redisVersion())
	// Pools sized so that by the end a person has about 2.4 signals and a
	// dispute 3.6: subjects with a short history, as most are.
	r := measure(t, *nSignals, *nSignals/2, *nSignals/4, 20_000)
	fmt.Println(r.line())
	fmt.Println(r.detail())
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func redisVersion() string {
	out, _ := exec.Command("redis-server", "--version").Output()
	for _, f := range strings.Fields(string(out)) {
		if len(f) > 2 && f[:2] == "v=" {
			return f[2:]
		}
	}
	return "unknown"
}

type result struct {
	signals                  int
	fengqiao, naive, ceiling float64 // signals per second
	rttFengqiao, rttNaive    float64 // round trips per signal
	serverUsFengqiao         float64 // Redis's own time per signal (commandstats), µs
	rates                    map[string]float64
	mix                      Mix
	evalshaUsPerCall         float64
}

func (r result) line() string {
	return fmt.Sprintf("BENCH redis signals=%d fengqiao_signals_per_s=%.0f naive_signals_per_s=%.0f ceiling_signals_per_s=%.0f vs_naive=%.2f of_ceiling=%.2f round_trips_per_signal=%.1f naive_round_trips_per_signal=%.1f redis_us_per_signal=%.1f loadavg=%s",
		r.signals, r.fengqiao, r.naive, r.ceiling, r.fengqiao/r.naive, r.fengqiao/r.ceiling, r.rttFengqiao, r.rttNaive, r.serverUsFengqiao, loadAverage())
}

func (r result) detail() string {
	names := make([]string, 0, len(r.rates))
	for n := range r.rates {
		names = append(names, n)
	}
	sort.Strings(names)
	s := fmt.Sprintf("BENCH redis mix persons_per_signal=%.2f disputes_per_signal=%.2f hkeys_per_signal=%.2f evalsha_us_per_call=%.1f ceiling_rps:",
		float64(r.mix.Persons)/float64(r.mix.Signals), float64(r.mix.Disputes)/float64(r.mix.Signals),
		float64(r.mix.HKeys)/float64(r.mix.Signals), r.evalshaUsPerCall)
	for _, n := range names {
		s += fmt.Sprintf(" %s=%.0f", n, r.rates[n])
	}
	return s
}

// roundTrips counts the client's round trips: commands, and pipelines as one.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

// measure sends n signals over the pools through the Scorer and through
// Naive, each on a fresh redis-server, then runs the ceiling on a third.
func measure(t *testing.T, n, persons, disputes, minRequests int) result {
	t.Helper()
	ctx := context.Background()
	noop, err := Compile(loadgen.NoopRuleset)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	recs, err := Records(n, persons, disputes, 7, now)
	if err != nil {
		t.Fatal(err)
	}
	res := result{signals: n}

	fq := redistest.Start(t)
	rf := fq.Client(t)
	var rtF roundTrips
	rf.AddHook(&rtF)
	before, _ := CommandStats(ctx, rf)
	d, err := Run(ctx, NewScorer(rf, noop, time.Now), recs)
	if err != nil {
		t.Fatal(err)
	}
	after, err := CommandStats(ctx, rf)
	if err != nil {
		t.Fatal(err)
	}
	res.fengqiao = float64(n) / d.Seconds()
	res.rttFengqiao = float64(rtF.n.Load()) / float64(n)
	delta := func(cmd string, i int) float64 { return after[cmd][i] - before[cmd][i] }
	// Top-level commands only: those a script runs are counted under their own names too.
	res.serverUsFengqiao = (delta("evalsha", 1) + delta("hkeys", 1)) / float64(n)
	if c := delta("evalsha", 0); c > 0 {
		res.evalshaUsPerCall = delta("evalsha", 1) / c
	}
	res.mix = MixOf(recs, int(delta("hkeys", 0)))
	// The links HSET is the one top-level HSET per signal; its time is
	// mixed with the scripts' HSETs in the statistics, so it is left out
	// of redis_us_per_signal (a microsecond or so).
	sample, err := SampleFrom(ctx, rf, recs[len(recs)-1])
	if err != nil {
		t.Fatal(err)
	}

	nv := redistest.Start(t)
	rn := nv.Client(t)
	var rtN roundTrips
	rn.AddHook(&rtN)
	d, err = Run(ctx, &Naive{RDB: rn, Engine: noop, Alerts: alerts.NewStream(rn), Now: time.Now}, recs)
	if err != nil {
		t.Fatal(err)
	}
	res.naive = float64(n) / d.Seconds()
	res.rttNaive = float64(rtN.n.Load()) / float64(n)

	scripts, err := Scripts()
	if err != nil {
		t.Fatal(err)
	}
	cl := redistest.Start(t)
	res.ceiling, res.rates, err = Ceiling(ctx, cl.Client(t), cl.Addr, scripts, CeilingMix(res.mix, scriptSHAs(scripts), sample, persons, disputes, now), n, minRequests)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func scriptSHAs(src map[string]string) map[string]string {
	out := map[string]string{}
	for name, s := range src {
		out[name] = redis.NewScript(s).Hash()
	}
	return out
}
