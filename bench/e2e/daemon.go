// Package e2e benchmarks riskd end to end: signals POSTed in batches over
// HTTP, appended to the stream, consumed, scored under the default ruleset,
// the level stored and the board indexed (and alert events enqueued on a
// rise). It measures the most signals per second the daemon sustains, the
// latency from POST to level stored at fractions of it, and compares with
// the same pipeline under a no-op ruleset (the ceiling), with a consumer
// that takes one message at a time (naive), and without metrics. It also
// measures what a subject costs in Redis, and riskd's resident memory with a
// million subjects in the store.
//
// The daemon runs in-process (as internal/app's tests run it) against a
// real redis-server started per measurement; the load generator shares the
// process and the machine's cores with it.
package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/bench/loadgen"
	"fengqiao/internal/app"
	"fengqiao/internal/config"
	"fengqiao/internal/redistest"
	"fengqiao/signals"
)

// Repo is the product's root, from this package's directory.
const Repo = "../.."

const (
	bootstrapToken = "bootstrap-admin-secret-for-the-benchmarks-0123456789"
	dataKeys       = "k1=YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="
	piiKey         = "bench-key-of-at-least-16-bytes"
)

// Mode is a variant of the pipeline.
type Mode struct {
	Name        string
	Noop        bool          // the no-op ruleset instead of the default one
	Batch       int64         // the consumer's batch; 0: riskd's own (64)
	MetricsOff  bool          // no consumer metrics and no scrapes
	ScrapeEvery time.Duration // with metrics on: how often /metrics is read (0: never)
	Shards      int           // stream_shards (0: riskd's default, one stream)
}

// Tracker notes, per signal, when its POST was sent and when its level was
// stored (the scorer returned). Signal ids are "<prefix>-<n>".
type Tracker struct {
	prefix  string
	sent    []atomic.Int64 // unix ns
	done    []atomic.Int64
	handled atomic.Int64
}

// NewTracker tracks signals 0 to n-1.
func NewTracker(prefix string, n int) *Tracker {
	return &Tracker{prefix: prefix + "-", sent: make([]atomic.Int64, n), done: make([]atomic.Int64, n)}
}

func (tr *Tracker) index(id string) (int, bool) {
	s, ok := strings.CutPrefix(id, tr.prefix)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && i < len(tr.done)
}

type timed struct {
	inner signals.Handler
	tr    *Tracker
}

func (h timed) Handle(ctx context.Context, rec signals.Record) error {
	err := h.inner.Handle(ctx, rec)
	if err == nil {
		h.done(&rec, time.Now())
	}
	return err
}

// timedBatch is timed for a handler that takes batches: each record of a
// batch is done when the batch is.
type timedBatch struct{ timed }

func (h timedBatch) HandleBatch(ctx context.Context, recs []signals.Record) error {
	err := h.inner.(signals.BatchHandler).HandleBatch(ctx, recs)
	if err == nil {
		now := time.Now()
		for i := range recs {
			h.done(&recs[i], now)
		}
	}
	return err
}

func (h timed) done(rec *signals.Record, at time.Time) {
	if i, ok := h.tr.index(rec.ID); ok && h.tr.done[i].CompareAndSwap(0, at.UnixNano()) {
		h.tr.handled.Add(1)
	}
}

// Daemon is riskd running in-process.
type Daemon struct {
	Base     string
	Redis    *redis.Client
	RedisPID int
	Tracker  *Tracker
	app      *app.App
	stop     func()
}

// StartDaemon starts riskd in mode m on a fresh redis-server, its handler
// timed by tr.
func StartDaemon(t testing.TB, m Mode, tr *Tracker) *Daemon {
	t.Helper()
	srv := redistest.Start(t)
	d := startDaemonOn(t, m, tr, srv.URL, "bench")
	d.Redis = srv.Client(t)
	d.RedisPID = redisPID(t, d.Redis)
	return d
}

// startDaemonOn starts riskd in mode m on the Redis at redisURL (any URL
// riskd takes, a cluster's included), as consumer, its handler timed by tr.
// Its Redis and RedisPID are left for the caller to set.
func startDaemonOn(t testing.TB, m Mode, tr *Tracker, redisURL, consumer string) *Daemon {
	t.Helper()
	cfg := config.Default()
	cfg.Consumer = consumer
	cfg.Jurisdiction = Repo + "/fixtures/jurisdiction.yaml"
	cfg.RulesDir = Repo + "/fixtures/rules"
	if m.Noop {
		dir, err := loadgen.WriteNoopRules(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg.RulesDir = dir
	}
	cfg.RedisURL = redisURL
	cfg.PIIKey = piiKey
	cfg.DataKeys = dataKeys
	cfg.BootstrapToken = bootstrapToken
	cfg.RateLimit = 0
	cfg.StreamShards = m.Shards
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log, time.Now)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	a.SetBenchOptions(app.BenchOptions{
		ConsumerBatch:     m.Batch,
		NoConsumerMetrics: m.MetricsOff,
		ConsumerBlock:     100 * time.Millisecond,
		WrapHandler: func(h signals.Handler) signals.Handler {
			if _, ok := h.(signals.BatchHandler); ok {
				return timedBatch{timed{h, tr}}
			}
			return timed{h, tr}
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	d := &Daemon{Base: "http://" + ln.Addr().String(), Tracker: tr, app: a}
	if !m.MetricsOff && m.ScrapeEvery > 0 {
		go scrape(ctx, d.Base+"/metrics", m.ScrapeEvery)
	}
	var once sync.Once
	d.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("riskd: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("riskd did not shut down")
			}
			a.Close()
		})
	}
	t.Cleanup(d.stop)
	return d
}

// Stop stops the daemon (also done when the test ends).
func (d *Daemon) Stop() { d.stop() }

func redisPID(t testing.TB, rdb *redis.Client) int {
	info, err := rdb.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ := strconv.Atoi(v)
			return pid
		}
	}
	return 0
}

// scrape reads url every interval, as Prometheus would, until ctx ends.
func scrape(ctx context.Context, url string, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
}
