package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"fengqiao/internal/redistest"
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func at(day, h, m int) time.Time { return time.Date(2026, 11, day, h, m, 0, 0, shanghai) }
func quiet() *slog.Logger        { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func client(t *testing.T) *redis.Client {
	t.Helper()
	return redistest.Start(t).Client(t)
}

// recorder is a job that records its firings.
type recorder struct {
	mu    sync.Mutex
	fires []time.Time
}

func (r *recorder) run(_ context.Context, f time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fires = append(r.fires, f)
	return nil
}

func (r *recorder) got() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.fires...)
}

func runner(t *testing.T, rdb *redis.Client, clk *clock, name string, jobs ...*Job) (*Runner, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := New(rdb, shanghai, clk.Now, name, quiet(), reg, jobs...)
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

func TestTwoInstancesRunAFiringOnce(t *testing.T) {
	rdb := client(t)
	clk := &clock{t: at(23, 7, 0)}
	rec := &recorder{}
	a, _ := runner(t, rdb, clk, "a", &Job{Name: "daily", Spec: "0 8 * * *", CatchUp: 7 * 24 * time.Hour, Run: rec.run})
	b, _ := runner(t, rdb, clk, "b", &Job{Name: "daily", Spec: "0 8 * * *", CatchUp: 7 * 24 * time.Hour, Run: rec.run})
	ctx := context.Background()
	a.Tick(ctx)
	b.Tick(ctx)
	if len(rec.got()) != 0 {
		t.Fatal("ran before its time")
	}
	clk.Set(at(23, 8, 0))
	var wg sync.WaitGroup
	for _, r := range []*Runner{a, b, a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); r.Tick(ctx) }()
	}
	wg.Wait()
	if got := rec.got(); len(got) != 1 || !got[0].Equal(at(23, 8, 0)) {
		t.Fatalf("fired %v, want once at 08:00 Beijing time", got)
	}
	if got := rec.got()[0].UTC().Hour(); got != 0 {
		t.Errorf("08:00 in Asia/Shanghai fired at %02d:00 UTC", got)
	}
}

// A restart after a missed 08:00 runs it once; firings within the catch-up
// window run oldest first, and older ones not at all.
func TestMissedFiringsRunAtStartUp(t *testing.T) {
	rdb := client(t)
	clk := &clock{t: at(20, 7, 0)}
	rec := &recorder{}
	job := func() *Job { return &Job{Name: "daily", Spec: "0 8 * * *", CatchUp: 48 * time.Hour, Run: rec.run} }
	first, _ := runner(t, rdb, clk, "a", job())
	first.Tick(context.Background())
	clk.Set(at(20, 8, 1))
	first.Tick(context.Background())

	// riskd is down from the 20th until the 24th at 09:30.
	clk.Set(at(24, 9, 30))
	again, _ := runner(t, rdb, clk, "a", job())
	again.Tick(context.Background())
	again.Tick(context.Background())
	want := []time.Time{at(20, 8, 0), at(23, 8, 0), at(24, 8, 0)} // the 21st and 22nd are past the 48 hours
	if got := rec.got(); len(got) != len(want) || !got[1].Equal(want[1]) || !got[2].Equal(want[2]) {
		t.Fatalf("fired %v, want %v", got, want)
	}

	// A job that covers everything each time runs only the latest missed firing.
	sweeps := &recorder{}
	clk.Set(at(24, 10, 0))
	s, _ := runner(t, rdb, clk, "a", &Job{Name: "sweep", Spec: "*/5 * * * *", Run: sweeps.run})
	s.Tick(context.Background())
	clk.Set(at(24, 13, 2))
	s.Tick(context.Background())
	if got := sweeps.got(); len(got) != 1 || !got[0].Equal(at(24, 13, 0)) {
		t.Errorf("sweep fired %v, want once, at 13:00", got)
	}
}

func TestFailuresAndPanicsAreRetried(t *testing.T) {
	rdb := client(t)
	clk := &clock{t: at(23, 7, 0)}
	calls := 0
	job := &Job{Name: "flaky", Spec: "0 8 * * *", CatchUp: 24 * time.Hour, Run: func(context.Context, time.Time) error {
		calls++
		switch calls {
		case 1:
			panic("boom")
		case 2:
			return errors.New("redis away")
		}
		return nil
	}}
	r, reg := runner(t, rdb, clk, "a", job)
	r.Tick(context.Background())
	clk.Set(at(23, 8, 0))
	for range 4 {
		r.Tick(context.Background())
	}
	if calls != 3 {
		t.Errorf("ran %d times, want 3: a panic and an error, each retried, then once done", calls)
	}
	if got := testutil.ToFloat64(r.runs.WithLabelValues("flaky", "failed")); got != 2 {
		t.Errorf("failed runs %v", got)
	}
	if got := testutil.ToFloat64(r.runs.WithLabelValues("flaky", "ok")); got != 1 {
		t.Errorf("ok runs %v", got)
	}
	n, err := testutil.GatherAndCount(reg, "fengqiao_job_last_success_timestamp_seconds")
	if err != nil || n != 1 {
		t.Errorf("last success series %d %v", n, err)
	}
	ts, _ := rdb.Get(context.Background(), keyOK+"flaky").Int64()
	if ts != at(23, 8, 0).Unix() {
		t.Errorf("last success %d", ts)
	}
}

// A job still running when the next tick comes is not started again.
func TestNoOverlap(t *testing.T) {
	rdb := client(t)
	clk := &clock{t: at(23, 7, 0)}
	started, release := make(chan struct{}), make(chan struct{})
	calls := 0
	job := &Job{Name: "slow", Spec: "*/5 * * * *", Run: func(context.Context, time.Time) error {
		calls++
		close(started)
		<-release
		return nil
	}}
	r, _ := runner(t, rdb, clk, "a", job)
	r.Tick(context.Background())
	clk.Set(at(23, 7, 5))
	done := make(chan struct{})
	go func() { r.Tick(context.Background()); close(done) }()
	<-started
	clk.Set(at(23, 7, 10))
	r.Tick(context.Background()) // skips the job: it is still running
	close(release)
	<-done
	if calls != 1 {
		t.Errorf("ran %d times", calls)
	}
}

func TestBadSpec(t *testing.T) {
	_, err := New(nil, shanghai, time.Now, "a", quiet(), prometheus.NewRegistry(), &Job{Name: "x", Spec: "at eight"})
	if err == nil || !strings.Contains(err.Error(), `job x: schedule "at eight"`) {
		t.Errorf("got %v", err)
	}
}
