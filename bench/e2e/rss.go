package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/bench/loadgen"
	"fengqiao/internal/redistest"
	"fengqiao/signals"
)

// RSSResult is riskd's memory with many subjects in the store.
type RSSResult struct {
	Subjects            int
	IdleMB, PeakMB      float64 // riskd's RSS after start, and its peak (VmHWM) by the end
	EndMB               float64 // riskd's RSS at the end
	RedisMB             float64 // Redis's used_memory at the end
	RedisBytesPerSubj   float64 // used_memory growth from cloning, per cloned subject
	Rate, Sent          float64
	PopulateSecs, Drain float64
}

func (r RSSResult) String() string {
	return fields("subjects", r.Subjects, "riskd_rss_idle_mb", r.IdleMB, "riskd_rss_end_mb", r.EndMB, "riskd_rss_peak_mb", r.PeakMB,
		"redis_used_mb", r.RedisMB, "redis_bytes_per_subject", r.RedisBytesPerSubj, "signals_sent", r.Sent, "rate", r.Rate,
		"populate_s", r.PopulateSecs)
}

// riskd is the daemon as a process of its own, so that its RSS is its own.
type riskd struct {
	cmd  *exec.Cmd
	base string
}

// startRiskd builds cmd/riskd and runs it on redisURL.
func startRiskd(t testing.TB, redisURL string) *riskd {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "riskd")
	build := exec.Command("go", "build", "-o", bin, "./cmd/riskd")
	build.Dir = Repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build riskd: %v\n%s", err, out)
	}
	abs, _ := filepath.Abs(Repo)
	conf := filepath.Join(dir, "riskd.yaml")
	yaml := fmt.Sprintf("jurisdiction: %s\nrules_dir: %s\nrate_limit: 0\nlog_level: warn\nconsumer: bench\n",
		filepath.Join(abs, "fixtures/jurisdiction.yaml"), filepath.Join(abs, "fixtures/rules"))
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-config", conf, "-listen", addr)
	cmd.Env = append(os.Environ(), "REDIS_URL="+redisURL, "FENGQIAO_PII_KEY="+piiKey,
		"FENGQIAO_DATA_KEYS="+dataKeys, "FENGQIAO_BOOTSTRAP_TOKEN="+bootstrapToken)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	r := &riskd{cmd: cmd, base: "http://" + addr}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("riskd did not start listening")
	return nil
}

// rssMB is process pid's resident set, in MiB.
func rssMB(pid int) float64 { return float64(loadgen.RSSBytes(pid)) / (1 << 20) }

// peakMB is process pid's peak resident set (VmHWM), in MiB.
func peakMB(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), "kB"), &kb)
			return kb / 1024
		}
	}
	return 0
}

// drained waits until the engine's consumer group has handled every entry.
func drained(ctx context.Context, rdb *redis.Client, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		gs, err := rdb.XInfoGroups(ctx, signals.DefaultStream().Key).Result()
		if err == nil {
			for _, g := range gs {
				if g.Name == "engine" && g.Lag == 0 && g.Pending == 0 {
					return true
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// MeasureRSS runs riskd on a fresh Redis, as a process of its own (own) or
// in this one, scores seed real signals, clones those subjects
// until the store holds `subjects` of them (two persons to a dispute, under
// the references the workload's persons and disputes have), then sends
// signals over all of them at rate for dur and reads riskd's RSS.
func MeasureRSS(t testing.TB, subjects, seed int, rate float64, dur time.Duration, own bool) (RSSResult, error) {
	ctx := context.Background()
	var rdb *redis.Client
	var base string
	pid := os.Getpid()
	if own {
		srv := redistest.Start(t)
		rdb = srv.Client(t)
		d := startRiskd(t, srv.URL)
		base, pid = d.base, d.cmd.Process.Pid
	} else {
		d := StartDaemon(t, Mode{Name: "rss"}, NewTracker("X", 1))
		rdb, base = d.Redis, d.Base
	}
	res := RSSResult{Subjects: subjects}
	persons, disputes := subjects*2/3, subjects-subjects*2/3
	const seedPersons, seedDisputes = 1000, 500
	tr := NewTracker("RS", int(rate*dur.Seconds())+seed+10_000)
	seedW, err := loadgen.New(Repo+"/fixtures/jurisdiction.yaml", "RS", seedPersons, seedDisputes, 11)
	if err != nil {
		return res, err
	}
	dr := &Driver{Base: base, Tracker: tr, Workload: seedW, Batch: 50, client: newClient()}
	for first := 0; first < seed; first += dr.Batch {
		dr.next.Store(int64(first + dr.Batch))
		dr.post(ctx, first, dr.Batch, time.Now().UnixNano())
	}
	if err := dr.Err(); err != nil {
		return res, err
	}
	if !drained(ctx, rdb, 2*time.Minute) {
		return res, fmt.Errorf("the seed signals were not handled")
	}
	before, err := UsedMemory(ctx, rdb)
	if err != nil {
		return res, err
	}
	start := time.Now()
	pseudo, err := signals.NewPseudonymizer([]byte(piiKey))
	if err != nil {
		return res, err
	}
	cloned := 0
	if n, err := clone(ctx, rdb, "p", seedPersons, persons, func(i int) string { return pseudo.PersonRef(loadgen.IDNumber(i)) }); err != nil {
		return res, err
	} else {
		cloned += n
	}
	if n, err := clone(ctx, rdb, "d", seedDisputes, disputes, loadgen.DisputeID); err != nil {
		return res, err
	} else {
		cloned += n
	}
	res.PopulateSecs = time.Since(start).Seconds()
	after, err := UsedMemory(ctx, rdb)
	if err != nil {
		return res, err
	}
	if cloned > 0 {
		res.RedisBytesPerSubj = float64(after-before) / float64(cloned)
	}
	res.IdleMB = rssMB(pid)

	w, err := loadgen.New(Repo+"/fixtures/jurisdiction.yaml", "RS", persons, disputes, 12)
	if err != nil {
		return res, err
	}
	dr.Workload = w
	interval := time.Duration(float64(dr.Batch) / rate * float64(time.Second))
	t0 := time.Now()
	for k := 0; time.Since(t0) < dur; k++ {
		time.Sleep(time.Until(t0.Add(time.Duration(k) * interval)))
		first, ok := dr.take()
		if !ok {
			break
		}
		go dr.post(ctx, first, dr.Batch, time.Now().UnixNano())
	}
	res.Sent = float64(dr.next.Load() - int64(seed))
	res.Rate = res.Sent / time.Since(t0).Seconds()
	ds := time.Now()
	if !drained(ctx, rdb, 3*time.Minute) {
		return res, fmt.Errorf("the signals were not handled")
	}
	res.Drain = time.Since(ds).Seconds()
	res.EndMB, res.PeakMB = rssMB(pid), peakMB(pid)
	used, _ := UsedMemory(ctx, rdb)
	res.RedisMB = float64(used) / (1 << 20)
	return res, dr.Err()
}

// clone copies the state of the seed subjects of kind (refs 0 … seeds-1 of
// the workload's pool) to refs seeds … total-1, key by key (DUMP and
// RESTORE), with their entries in the counts index, and returns how many
// subjects it made.
func clone(ctx context.Context, rdb *redis.Client, kind string, seeds, total int, ref func(int) string) (int, error) {
	type tmpl struct {
		dumps   map[string]string
		counted string
		level   string
	}
	kindName := map[string]string{"p": "person", "d": "dispute"}[kind]
	var tmpls []tmpl
	for i := 0; i < seeds; i++ {
		r := ref(i)
		prefix := "fq:{" + kind + ":" + r + "}:"
		tm := tmpl{dumps: map[string]string{}}
		for _, k := range subjectKeys {
			if v, err := rdb.Dump(ctx, prefix+k).Result(); err == nil {
				tm.dumps[k] = v
			}
		}
		if tm.dumps["state"] == "" {
			continue // not named by any seed signal
		}
		tm.counted, _ = rdb.HGet(ctx, countedKey, kindName+"/"+r).Result()
		tm.level, _ = rdb.HGet(ctx, prefix+"state", "level").Result()
		tmpls = append(tmpls, tm)
	}
	if len(tmpls) == 0 {
		return 0, fmt.Errorf("no seed %s subjects to clone", kindName)
	}
	made := 0
	const chunk = 500
	for from := seeds; from < total; from += chunk {
		pipe := rdb.Pipeline()
		for i := from; i < min(from+chunk, total); i++ {
			tm := tmpls[i%len(tmpls)]
			r := ref(i)
			prefix := "fq:{" + kind + ":" + r + "}:"
			for k, v := range tm.dumps {
				pipe.RestoreReplace(ctx, prefix+k, 0, v)
			}
			if tm.counted != "" {
				pipe.HSet(ctx, countedKey, kindName+"/"+r, tm.counted)
			}
			if tm.level != "" && tm.level != "green" { // on the board of its level
				pipe.ZAdd(ctx, "fq:{board}:"+kindName+":"+tm.level, redis.Z{Score: float64(time.Now().UnixMilli()), Member: r})
			}
			made++
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return made, fmt.Errorf("clone %s subjects: %w", kindName, err)
		}
	}
	return made, nil
}
