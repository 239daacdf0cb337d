// Package jobs runs riskd's scheduled jobs (定时任务): each on a cron
// schedule (robfig/cron/v3's parser, in an explicit time zone), each firing
// run once across every instance by claiming a per-fire key in Redis, a
// firing missed while riskd was down run at start-up, panics recovered,
// and no job overlapping itself. Time comes from an injected clock: Tick
// runs whatever is due at the clock's now, so tests drive it without
// waiting.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"
)

// Job is one scheduled job. Run does the work of one firing, identified by
// its scheduled time; it must be idempotent for that firing, since a firing
// whose instance died part-way is run again.
type Job struct {
	Name string
	Spec string // a cron spec: "0 8 * * *", "*/5 * * * *", "@hourly"
	// CatchUp is how far back missed firings are run at start-up, oldest
	// first; zero runs only the latest missed one (for jobs whose every run
	// covers everything, like a sweep).
	CatchUp time.Duration
	Run     func(ctx context.Context, fire time.Time) error

	schedule cron.Schedule
	running  sync.Mutex
}

// Runner runs jobs.
type Runner struct {
	rdb      redis.UniversalClient
	now      func() time.Time
	loc      *time.Location
	log      *slog.Logger
	instance string
	jobs     []*Job
	// Lease is how long a claimed firing is held before another instance
	// may take it over.
	Lease time.Duration

	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// Keys, under the {jobs} tag.
const (
	keyFire = "fq:{jobs}:fire:" // + job:unix: running:<instance> while held, done once run
	keyLast = "fq:{jobs}:last:" // + job: the latest firing run (unix seconds)
	keyOK   = "fq:{jobs}:ok:"   // + job: when it last succeeded (unix seconds)
)

// maxCatchUp bounds how many missed firings of one job are run at once.
const maxCatchUp = 400

// New returns a Runner for jobs in the time zone loc, and registers its metrics.
func New(rdb redis.UniversalClient, loc *time.Location, now func() time.Time, instance string, log *slog.Logger, reg prometheus.Registerer, jobs ...*Job) (*Runner, error) {
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	r := &Runner{rdb: rdb, now: now, loc: loc, log: log, instance: instance, jobs: jobs, Lease: 10 * time.Minute,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_job_runs_total", Help: "Scheduled job firings run by this instance, by task (the job's name; not job, which Prometheus keeps for the target) and result (ok, failed).",
		}, []string{"task", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fengqiao_job_duration_seconds", Help: "How long a scheduled job's firing took to run, by task (the job's name).",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 8),
		}, []string{"task"}),
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		s, err := parser.Parse(j.Spec)
		if err != nil {
			return nil, fmt.Errorf("job %s: schedule %q: %w", j.Name, j.Spec, err)
		}
		if seen[j.Name] {
			return nil, fmt.Errorf("job %s is defined twice", j.Name)
		}
		seen[j.Name] = true
		j.schedule = s
		r.runs.WithLabelValues(j.Name, "ok")
		r.runs.WithLabelValues(j.Name, "failed")
		r.duration.WithLabelValues(j.Name)
	}
	reg.MustRegister(r.runs, r.duration, &lastSuccess{r})
	return r, nil
}

// Run ticks every period until ctx ends. The first tick, at once, runs the
// firings missed while riskd was down.
func (r *Runner) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick runs every firing due by now that no instance has run: each job's
// firings after the latest one run, as its catch-up allows. Jobs run one
// after another; a job still running from an earlier tick is skipped.
func (r *Runner) Tick(ctx context.Context) {
	now := r.now().In(r.loc)
	for _, j := range r.jobs {
		if ctx.Err() != nil {
			return
		}
		if !j.running.TryLock() {
			continue // no overlapping runs of one job
		}
		if err := r.due(ctx, j, now); err != nil && ctx.Err() == nil {
			r.log.Error("scheduled job", "job", j.Name, "err", err)
		}
		j.running.Unlock()
	}
}

// due runs j's firings due by now.
func (r *Runner) due(ctx context.Context, j *Job, now time.Time) error {
	lastS, err := r.rdb.Get(ctx, keyLast+j.Name).Result()
	if errors.Is(err, redis.Nil) {
		// A job never run before starts from now: a new deployment does not
		// run a year of firings.
		return r.rdb.SetNX(ctx, keyLast+j.Name, now.Unix(), 0).Err()
	}
	if err != nil {
		return err
	}
	last, _ := strconv.ParseInt(lastS, 10, 64)
	from := time.Unix(last, 0).In(r.loc)
	if j.CatchUp > 0 && now.Sub(from) > j.CatchUp {
		from = now.Add(-j.CatchUp)
	}
	var fires []time.Time
	for f := j.schedule.Next(from); !f.After(now) && len(fires) < maxCatchUp; f = j.schedule.Next(f) {
		fires = append(fires, f)
	}
	if j.CatchUp == 0 && len(fires) > 1 {
		fires = fires[len(fires)-1:]
	}
	for _, f := range fires {
		if err := r.fire(ctx, j, f); err != nil {
			return err // a later firing waits: firings run in order
		}
	}
	return nil
}

// fire claims one firing and runs it. A firing already run, or held by
// another instance, is passed over.
func (r *Runner) fire(ctx context.Context, j *Job, f time.Time) error {
	key := keyFire + j.Name + ":" + strconv.FormatInt(f.Unix(), 10)
	got, err := r.rdb.SetNX(ctx, key, "running:"+r.instance, r.Lease).Result()
	if err != nil || !got {
		return err
	}
	// The claim is renewed while the firing runs, so that a long one is not
	// taken for a dead instance's and run again beside it.
	renew, stop := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		t := time.NewTicker(r.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-renew.Done():
				return
			case <-t.C:
				r.rdb.Expire(renew, key, r.Lease)
			}
		}
	}()
	start := time.Now()
	err = r.safely(ctx, j, f)
	stop()
	r.duration.WithLabelValues(j.Name).Observe(time.Since(start).Seconds())
	bg := context.WithoutCancel(ctx)
	if err != nil {
		r.runs.WithLabelValues(j.Name, "failed").Inc()
		r.rdb.Del(bg, key) // tried again at the next tick
		return fmt.Errorf("firing of %s: %w", f.Format(time.RFC3339), err)
	}
	r.runs.WithLabelValues(j.Name, "ok").Inc()
	_, err = r.rdb.TxPipelined(bg, func(p redis.Pipeliner) error {
		p.Set(bg, key, "done", 40*24*time.Hour)
		p.Set(bg, keyOK+j.Name, r.now().Unix(), 0)
		return nil
	})
	if err != nil {
		return err
	}
	return advance.Run(bg, r.rdb, []string{keyLast + j.Name}, f.Unix()).Err()
}

// advance moves a job's latest firing forward, never back.
var advance = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`)

// safely runs a firing, turning a panic into an error.
func (r *Runner) safely(ctx context.Context, j *Job, f time.Time) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("scheduled job panicked", "job", j.Name, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return j.Run(ctx, f)
}

// lastSuccess reports each job's last success from Redis, so that it is
// the same on every instance and survives restarts.
type lastSuccess struct{ r *Runner }

var lastDesc = prometheus.NewDesc("fengqiao_job_last_success_timestamp_seconds",
	"When each scheduled job last ran a firing successfully, on any instance (Unix time); 0 if never.", []string{"task"}, nil)

func (l *lastSuccess) Describe(ch chan<- *prometheus.Desc) { ch <- lastDesc }

func (l *lastSuccess) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	keys := make([]string, len(l.r.jobs))
	for i, j := range l.r.jobs {
		keys[i] = keyOK + j.Name
	}
	if len(keys) == 0 {
		return
	}
	vals, err := l.r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(lastDesc, err)
		return
	}
	for i, j := range l.r.jobs {
		var ts float64
		if s, ok := vals[i].(string); ok {
			ts, _ = strconv.ParseFloat(s, 64)
		}
		ch <- prometheus.MustNewConstMetric(lastDesc, prometheus.GaugeValue, ts, j.Name)
	}
}
