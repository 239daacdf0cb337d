// Package ruleset holds the live, compiled ruleset and swaps in a new one only
// when it loads and compiles completely: a bad ruleset never replaces a good
// one.
package ruleset

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fengqiao/engine"
	"fengqiao/rules"
)

// Live is the ruleset in force.
type Live struct {
	dir        string
	log        *slog.Logger
	now        func() time.Time
	current    atomic.Pointer[engine.Engine]
	mu         sync.Mutex // one reload at a time; guards the fields below
	status     Status
	failedHash string // the directory's hash when a reload last failed, so Watch does not retry it
	onLoad     func(*engine.Engine)

	shadow       atomic.Pointer[engine.Engine]
	shadowDir    string
	shadowStatus ShadowStatus

	reloads   *prometheus.CounterVec
	lastLoad  prometheus.Gauge
	ruleCount prometheus.Gauge
}

// Load loads and compiles the ruleset in dir; it fails if the ruleset is bad.
func Load(dir string, log *slog.Logger, reg prometheus.Registerer, now func() time.Time) (*Live, error) {
	l := &Live{
		dir: dir, log: log, now: now,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_rules_reloads_total",
			Help: "Ruleset loads and reloads, by result (success, failure).",
		}, []string{"result"}),
		lastLoad: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fengqiao_rules_last_reload_success_timestamp_seconds",
			Help: "When the ruleset in force was loaded.",
		}),
		ruleCount: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fengqiao_rules_loaded",
			Help: "Number of rules in the ruleset in force.",
		}),
	}
	l.reloads.WithLabelValues("success")
	l.reloads.WithLabelValues("failure")
	reg.MustRegister(l.reloads, l.lastLoad, l.ruleCount)
	if err := l.Reload(); err != nil {
		return nil, err
	}
	return l, nil
}

// Status says which ruleset is in force and how the last reload went.
type Status struct {
	Version    string    `json:"version"`
	Hash       string    `json:"hash"`
	LoadedAt   time.Time `json:"loaded_at"`
	Rules      int       `json:"rules"`
	LastError  string    `json:"last_reload_error,omitempty"` // the last reload's problems, if it failed
	LastFailed time.Time `json:"last_reload_failed_at,omitzero"`
}

// Status returns the ruleset in force and the last reload's outcome.
func (l *Live) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// OnLoad calls fn with each ruleset that comes into force, from the current
// one on, e.g. to archive it.
func (l *Live) OnLoad(fn func(*engine.Engine)) {
	l.mu.Lock()
	l.onLoad = fn
	l.mu.Unlock()
	fn(l.Engine())
}

// Watch reloads the ruleset whenever the files in its directory change,
// checking every interval, until ctx ends. A changed ruleset that fails is
// reported and the one in force stays, as with any reload.
func (l *Live) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.check()
		}
	}
}

// check reloads the ruleset if its files changed since the last load or
// failed reload, and reports whether it tried.
func (l *Live) check() bool {
	hash, err := rules.HashDir(l.dir)
	l.mu.Lock()
	unchanged := err == nil && (hash == l.status.Hash || hash == l.failedHash)
	l.mu.Unlock()
	if err != nil || unchanged {
		return false
	}
	l.log.Info("rules directory changed; reloading", "dir", l.dir)
	_ = l.reload(hash)
	return true
}

// Engine returns the compiled ruleset in force.
func (l *Live) Engine() *engine.Engine { return l.current.Load() }

// Reload loads the ruleset again. On any problem the ruleset in force stays
// and the error lists every problem.
func (l *Live) Reload() error { return l.reload("") }

func (l *Live) reload(hash string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, err := compileDir(l.dir)
	if err != nil {
		l.reloads.WithLabelValues("failure").Inc()
		l.status.LastError, l.status.LastFailed, l.failedHash = err.Error(), l.now(), hash
		if old := l.current.Load(); old != nil {
			l.log.Error("ruleset reload failed; the previous ruleset stays in force", "version", old.Version(), "err", err)
		}
		return err
	}
	prev := l.current.Swap(e)
	l.status = Status{Version: e.Version(), Hash: e.Ruleset().Hash, LoadedAt: l.now(), Rules: len(e.Ruleset().Rules)}
	l.failedHash = ""
	if l.onLoad != nil {
		l.onLoad(e)
	}
	l.reloads.WithLabelValues("success").Inc()
	l.lastLoad.Set(float64(l.now().Unix()))
	l.ruleCount.Set(float64(len(e.Ruleset().Rules)))
	if prev == nil {
		l.log.Info("ruleset loaded", "version", e.Version(), "rules", len(e.Ruleset().Rules), "dir", l.dir)
	} else {
		l.log.Info("ruleset reloaded", "version", e.Version(), "previous", prev.Version(), "rules", len(e.Ruleset().Rules))
	}
	return nil
}

func compileDir(dir string) (*engine.Engine, error) {
	rs, err := rules.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load ruleset:\n%w", err)
	}
	e, err := engine.Compile(rs)
	if err != nil {
		return nil, fmt.Errorf("compile ruleset %s:\n%w", rs.Version, err)
	}
	return e, nil
}
