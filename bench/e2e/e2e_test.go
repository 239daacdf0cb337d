package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/bench/loadgen"
)

var (
	summary  = flag.Bool("summary", false, "TestSummary: run the end-to-end benchmarks (about 13 minutes) and print BENCH lines")
	duration = flag.Duration("duration", 60*time.Second, "TestSummary: how long each measured phase lasts")
	warmup   = flag.Duration("warm", 10*time.Second, "TestSummary: warm-up before a saturation phase is measured")
	subjects = flag.Int("subjects", 1_000_000, "TestSummary: subjects in the store for the RSS measurement")
	rounds   = flag.Int("metrics-rounds", 3, "TestSummary: pairs of saturation runs without and with metrics, alternating")
	metDur   = flag.Duration("metrics-duration", 20*time.Second, "TestSummary: how long each metrics run is measured")
	shards   = flag.Int("shards", 4, "TestSummary: a further saturation run with this many stream shards (0: none)")
	profiles = flag.String("profiles", "", "TestSummary: directory to write pprof -top text profiles to (e.g. ../../docs/profiles)")
)

// plan is what a run does.
type plan struct {
	warm, dur, fixedDur time.Duration
	batch               int // signals per POST
	senders, window     int // saturation: concurrent POSTs, signals outstanding
	persons, disputes   int // the workload's pools
	metricsRounds       int
	metricsDur          time.Duration // each metrics run's measured window
	scrape              time.Duration // how often /metrics is read with metrics on
	subjects            int
	rssRate             float64
	rssDur              time.Duration
	rssSeed             int  // signals scored before their subjects are cloned
	rssOwnProcess       bool // riskd built and run as a process of its own
	shards              int  // a further saturation run with this many stream shards (0: none)
	profiles            string
	memSample           int
}

// TestSmoke runs every part of the end-to-end benchmark for a moment, so that
// it cannot rot unnoticed. It takes about ten seconds; its numbers mean nothing.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	run(t, plan{warm: 150 * time.Millisecond, dur: 400 * time.Millisecond, fixedDur: 300 * time.Millisecond,
		batch: 20, senders: 4, window: 200, persons: 2000, disputes: 1000, metricsRounds: 1, metricsDur: 300 * time.Millisecond, scrape: 200 * time.Millisecond,
		subjects: 3000, rssSeed: 200, rssRate: 300, rssDur: 300 * time.Millisecond, shards: 4, memSample: 200}, "smoke: ")
}

// TestSummary is the full run, printing one BENCH line per measurement.
//
//	go test -count=1 -timeout 60m -run TestSummary -v ./e2e -summary [-duration 60s] [-subjects 1000000] [-profiles ../../docs/profiles]
func TestSummary(t *testing.T) {
	if !*summary {
		t.Skip("runs for about 13 minutes; run with -summary")
	}
	run(t, plan{warm: *warmup, dur: *duration, fixedDur: *duration, batch: 20, senders: 4, window: 4000,
		persons: 200_000, disputes: 100_000, metricsRounds: *rounds, metricsDur: *metDur, scrape: time.Second,
		subjects: *subjects, rssSeed: 5000, rssRate: 0, rssDur: 30 * time.Second, rssOwnProcess: true, shards: *shards,
		profiles: *profiles, memSample: 3000}, "")
}

func run(t *testing.T, p plan, label string) {
	ctx := context.Background()
	out := func(format string, a ...any) { fmt.Printf(label+format+"\n", a...) }
	out("BENCH machine %s redis=%s batch=%d", loadgen.Machine(), redisVersion(), p.batch)
	maxRun := func(name string, m Mode, profile string, dur time.Duration) (MaxResult, *Daemon, *Driver) {
		tr := NewTracker("E", 4_000_000)
		d := StartDaemon(t, m, tr)
		w, err := loadgen.New(Repo+"/fixtures/jurisdiction.yaml", "E", p.persons, p.disputes, 1)
		if err != nil {
			t.Fatal(err)
		}
		dr := NewDriver(d, w, p.batch)
		var stopProfile func()
		if profile != "" {
			stopProfile = startProfile(t, profile)
		}
		r, err := dr.Max(ctx, p.warm, dur, p.senders, p.window)
		if stopProfile != nil {
			stopProfile()
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		out("BENCH e2e_max mode=%s %s", name, fields("signals_per_s", r.Rate, "accepted_per_s", r.Accepted,
			"process_cores", r.Process, "redis_cores", r.Redis, "loadavg", r.Load))
		return r, d, dr
	}
	prof := func(name string) string {
		if p.profiles == "" {
			return ""
		}
		return filepath.Join(p.profiles, name)
	}

	// The pipeline as riskd runs it, metrics on and scraped.
	on := Mode{Name: "fengqiao", ScrapeEvery: p.scrape}
	fq, d, dr := maxRun("fengqiao", on, prof("e2e-fengqiao-cpu.txt"), p.dur)
	if p.profiles != "" {
		writeCommandStats(t, d.Redis, filepath.Join(p.profiles, "e2e-fengqiao-redis-commandstats.txt"), d.Tracker.handled.Load())
	}
	scrapeCPU, scrapeWall := scrapeCost(d.Base+"/metrics", d.RedisPID, 50)
	var lat [2]LatencyResult
	for i, frac := range []float64{0.5, 0.8} {
		r, err := dr.Fixed(ctx, frac*fq.Rate, p.fixedDur)
		if err != nil {
			t.Errorf("%.0f%% load: %v", frac*100, err)
		}
		lat[i] = r
		out("BENCH e2e_latency load=%.0f%% %s", frac*100, fields("offered_per_s", r.Offered, "handled_per_s", r.Rate,
			"p50_ms", r.P50, "p99_ms", r.P99, "p999_ms", r.P999, "max_ms", r.Max, "post_p50_ms", r.PostP50, "post_p99_ms", r.PostP99,
			"signals", r.Signals, "unfinished", r.Unfinished, "drain_s", r.DrainSeconds,
			"process_cores", r.Process, "redis_cores", r.Redis, "loadavg", r.Load))
	}
	var mems []SubjectMemory
	for _, kind := range []string{"p", "d"} {
		m, err := MeasureSubjects(ctx, d.Redis, kind, p.memSample)
		if err != nil {
			t.Error(err)
		}
		mems = append(mems, m)
		out("BENCH memory %s", m)
	}
	if st, seen, err := SignalMemory(ctx, d.Redis, 1); err == nil {
		out("BENCH memory per_signal stream_entry_bytes=%.0f seen_key_bytes=%.0f", st, seen)
	}
	d.Stop()

	once := func(name string, m Mode, profile string, dur time.Duration) MaxResult {
		r, d, _ := maxRun(name, m, profile, dur)
		d.Stop()
		return r
	}
	noop := once("noop", Mode{Name: "noop", Noop: true, ScrapeEvery: p.scrape}, prof("e2e-noop-cpu.txt"), p.dur)
	naive := once("naive", Mode{Name: "naive", Batch: 1, ScrapeEvery: p.scrape}, "", p.dur)
	if p.shards > 1 {
		once(fmt.Sprintf("fengqiao_shards%d", p.shards), Mode{Name: "shards", Shards: p.shards, ScrapeEvery: p.scrape}, "", p.dur)
	}

	var offs, ons []float64
	for range p.metricsRounds {
		off := once("metrics_off", Mode{Name: "metrics_off", MetricsOff: true}, "", p.metricsDur)
		on := once("metrics_on", on, "", p.metricsDur)
		offs, ons = append(offs, off.Rate), append(ons, on.Rate)
	}
	offM, onM := loadgen.Median(offs), loadgen.Median(ons)
	// What metrics cost, measured directly: the per-signal instrumentation
	// at the saturation rate, and the scrapes (riskd's and Redis's CPU per
	// scrape, at one a scrape interval), over the CPU the pipeline used.
	inst := instrumentCost()
	bound := 100 * (inst*1e-9*fq.Rate + scrapeCPU/p.scrape.Seconds()) / (fq.Process + fq.Redis)
	out("BENCH metrics %s", fields("on_signals_per_s", onM, "off_signals_per_s", offM, "ab_loss_pct", 100*(1-onM/offM),
		"rounds", p.metricsRounds, "instrument_ns_per_signal", inst, "scrape_cpu_ms", scrapeCPU*1000, "scrape_wall_ms", scrapeWall*1000,
		"scrape_every", p.scrape, "cost_pct_of_pipeline_cpu", bound))

	rssRate := p.rssRate
	if rssRate == 0 {
		rssRate = fq.Rate / 2
	}
	rss, err := MeasureRSS(t, p.subjects, p.rssSeed, rssRate, p.rssDur, p.rssOwnProcess)
	if err != nil {
		t.Error(err)
	}
	out("BENCH rss %s", rss)

	person := 0.0
	if len(mems) > 0 {
		person = mems[0].P50
	}
	// Kept up: the backlog left when the sending stopped drained within a
	// second or 5% of the phase; otherwise it grew, and the rate handled
	// while sending is what the daemon sustained.
	kept := func(r LatencyResult) string {
		if r.DrainSeconds <= 1+0.05*p.fixedDur.Seconds() {
			return "yes"
		}
		return fmt.Sprintf("no(%.0f_of_%.0f_per_s)", r.Rate, r.Offered)
	}
	out("BENCH e2e %s", fields("signals_per_s", fq.Rate, "p50_ms", lat[0].P50, "p99_ms", lat[0].P99, "p999_ms", lat[0].P999,
		"kept_up_at_50", kept(lat[0]), "p99_ms_at_80", lat[1].P99, "kept_up_at_80", kept(lat[1]),
		"vs_noop", fq.Rate/noop.Rate, "vs_naive", fq.Rate/naive.Rate, "metrics_cost_pct", bound, "metrics_ab_loss_pct", 100*(1-onM/offM),
		"person_bytes", person, "riskd_rss_mb_at_subjects", rss.PeakMB, "subjects", rss.Subjects))
}

func redisVersion() string {
	b, _ := exec.Command("redis-server", "--version").Output()
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v
		}
	}
	return "unknown"
}

// startProfile profiles this process's CPU until the returned function is
// called, which writes `go tool pprof -top` of it to path.
func startProfile(t *testing.T, path string) func() {
	raw := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		exe, _ := os.Executable()
		top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=60", exe, raw).CombinedOutput()
		if err != nil {
			t.Errorf("pprof: %v\n%s", err, top)
			return
		}
		cum, _ := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=60", exe, raw).CombinedOutput()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Error(err)
			return
		}
		text := "# go tool pprof -top (flat), then -top -cum: the benchmark process (riskd in-process and the load generator)\n\n" +
			string(top) + "\n\n" + string(cum)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// writeCommandStats writes Redis's command statistics, per signal handled.
func writeCommandStats(t *testing.T, rdb *redis.Client, path string, handled int64) {
	ctx := context.Background()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Error(err)
		return
	}
	var lines []string
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var calls, usec float64
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			var f float64
			fmt.Sscan(v, &f)
			switch k {
			case "calls":
				calls = f
			case "usec":
				usec = f
			}
		}
		lines = append(lines, fmt.Sprintf("%-22s calls_per_signal=%7.2f usec_per_call=%7.2f usec_per_signal=%7.2f",
			strings.TrimPrefix(name, "cmdstat_"), calls/float64(handled), usec/calls, usec/float64(handled)))
	}
	sort.Strings(lines)
	text := fmt.Sprintf("# INFO commandstats of the fengqiao saturation run's Redis (warm-up included), per signal handled (%d).\n"+
		"# Commands run by scripts are counted under their own names as well as under evalsha.\n\n%s\n", handled, strings.Join(lines, "\n"))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Error(err)
		return
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Error(err)
	}
}
