// Package ruleset holds the live, compiled ruleset and swaps in a new one only
// when it loads and compiles completely: a bad ruleset never replaces a good
// one.
package ruleset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
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
	dirHash    string // the directory's hash when the ruleset in force was loaded
	onLoad     func(*engine.Engine)

	units        Units
	local        atomic.Pointer[[]localEngine]
	shadow       atomic.Pointer[engine.Engine]
	shadowDir    string
	shadowStatus ShadowStatus

	reloads    *prometheus.CounterVec
	lastLoad   prometheus.Gauge
	lastReload prometheus.Gauge // 1 if the last load or reload succeeded, 0 if it was refused
	ruleCount  prometheus.Gauge
}

// Load loads and compiles the ruleset in dir; it fails if the ruleset is bad.
func Load(dir string, log *slog.Logger, reg prometheus.Registerer, now func() time.Time, opts ...Option) (*Live, error) {
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
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fengqiao_rules_last_reload_successful",
			Help: "Whether the last ruleset load or reload succeeded (1) or was refused, leaving the ruleset before it in force (0).",
		}),
		ruleCount: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fengqiao_rules_loaded",
			Help: "Number of rules in the ruleset in force.",
		}),
	}
	l.reloads.WithLabelValues("success")
	l.reloads.WithLabelValues("failure")
	reg.MustRegister(l.reloads, l.lastLoad, l.lastReload, l.ruleCount)
	for _, o := range opts {
		o(l)
	}
	if err := l.Reload(); err != nil {
		return nil, err
	}
	return l, nil
}

// Status says which ruleset is in force and how the last reload went.
type Status struct {
	Overlays   []OverlayStatus `json:"overlays,omitempty"` // local rulesets (本地规则), one per overlay's unit
	Version    string          `json:"version"`
	Hash       string          `json:"hash"`
	LoadedAt   time.Time       `json:"loaded_at"`
	Rules      int             `json:"rules"`
	LastError  string          `json:"last_reload_error,omitempty"` // the last reload's problems, if it failed
	LastFailed time.Time       `json:"last_reload_failed_at,omitzero"`
}

// Status returns the ruleset in force and the last reload's outcome.
func (l *Live) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// OnLoad calls fn with each ruleset that comes into force — the baseline
// and each overlay's — from the current ones on, e.g. to archive them.
func (l *Live) OnLoad(fn func(*engine.Engine)) {
	l.mu.Lock()
	l.onLoad = fn
	l.mu.Unlock()
	fn(l.Engine())
	if locals := l.local.Load(); locals != nil {
		for _, le := range *locals {
			fn(le.e)
		}
	}
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
	unchanged := err == nil && (hash == l.dirHash || hash == l.failedHash)
	l.mu.Unlock()
	if err != nil || unchanged {
		return false
	}
	l.log.Info("rules directory changed; reloading", "dir", l.dir)
	_ = l.reload(hash)
	return true
}

// Engine returns the compiled baseline ruleset in force.
func (l *Live) Engine() *engine.Engine { return l.current.Load() }

// EngineFor returns the ruleset in force for a unit: the baseline under the
// overlays of the unit and its ancestors.
func (l *Live) EngineFor(unit string) *engine.Engine {
	best := l.current.Load()
	depth := -1
	if locals := l.local.Load(); locals != nil && l.units != nil {
		for _, le := range *locals {
			if le.depth > depth && l.units.Contains(le.unit, unit) {
				best, depth = le.e, le.depth
			}
		}
	}
	return best
}

// Reload loads the ruleset again. On any problem the ruleset in force stays
// and the error lists every problem.
func (l *Live) Reload() error { return l.reload("") }

func (l *Live) reload(hash string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, locals, err := compileSet(l.dir, l.units)
	if err != nil {
		l.reloads.WithLabelValues("failure").Inc()
		l.lastReload.Set(0)
		l.status.LastError, l.status.LastFailed, l.failedHash = err.Error(), l.now(), hash
		if old := l.current.Load(); old != nil {
			l.log.Error("ruleset reload failed; the previous ruleset stays in force", "version", old.Version(), "err", err)
		}
		return err
	}
	l.local.Store(&locals)
	prev := l.current.Swap(e)
	l.status = Status{Version: e.Version(), Hash: e.Ruleset().Hash, LoadedAt: l.now(), Rules: len(e.Ruleset().Rules)}
	for _, le := range locals {
		l.status.Overlays = append(l.status.Overlays, OverlayStatus{Unit: le.unit, Version: le.e.Version(), Hash: le.e.Ruleset().Hash, Rules: len(le.e.Ruleset().Rules)})
	}
	l.failedHash = ""
	l.dirHash, _ = rules.HashDir(l.dir)
	if l.onLoad != nil {
		l.onLoad(e)
		for _, le := range locals {
			l.onLoad(le.e)
		}
	}
	l.reloads.WithLabelValues("success").Inc()
	l.lastReload.Set(1)
	l.lastLoad.Set(float64(l.now().Unix()))
	l.ruleCount.Set(float64(len(e.Ruleset().Rules)))
	if prev == nil {
		l.log.Info("ruleset loaded", "version", e.Version(), "rules", len(e.Ruleset().Rules), "dir", l.dir)
	} else {
		l.log.Info("ruleset reloaded", "version", e.Version(), "previous", prev.Version(), "rules", len(e.Ruleset().Rules))
	}
	return nil
}

// Units is the jurisdiction, as far as overlays need it.
type Units interface {
	Contains(ancestor, code string) bool
	Known(code string) bool
}

// Option configures a Live ruleset.
type Option func(*Live)

// WithJurisdiction lets the ruleset's overlays (rules dir/overlays/*.yaml)
// apply to their units' subtrees. Without it only the baseline is loaded.
func WithJurisdiction(u Units) Option { return func(l *Live) { l.units = u } }

// OverlayStatus is one unit's local ruleset.
type OverlayStatus struct {
	Unit    string `json:"unit"`
	Version string `json:"version"`
	Hash    string `json:"hash"`
	Rules   int    `json:"rules"`
}

// localEngine is the ruleset in force in an overlay's unit's subtree.
type localEngine struct {
	unit  string
	depth int // how many overlays apply: the deepest that contains a unit wins
	e     *engine.Engine
}

// compileSet compiles the baseline and, for each overlay, the baseline under
// it and the overlays of its ancestors. Any problem anywhere refuses all.
func compileSet(dir string, units Units) (*engine.Engine, []localEngine, error) {
	base, err := compileDir(dir)
	if err != nil {
		return nil, nil, err
	}
	if units == nil {
		return base, nil, nil // overlays need the jurisdiction; riskd always gives it
	}
	overlays, err := rules.LoadOverlays(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("load overlays:\n%w", err)
	}
	var locals []localEngine
	var errs rules.Errors
	for _, o := range overlays {
		if !units.Known(o.Unit) {
			errs = append(errs, rules.Problem{File: o.File, Line: 1, Message: "unit " + o.Unit + " is not in the jurisdiction"})
			continue
		}
		var chain []*rules.Overlay
		for _, p := range overlays {
			if units.Contains(p.Unit, o.Unit) {
				chain = append(chain, p)
			}
		}
		// Outermost first: an ancestor's overlay contains more of the others' units.
		sort.SliceStable(chain, func(i, j int) bool {
			return units.Contains(chain[i].Unit, chain[j].Unit) && chain[i].Unit != chain[j].Unit
		})
		rs, err := rules.Apply(base.Ruleset(), chain)
		if err != nil {
			var probs rules.Errors
			if errors.As(err, &probs) {
				errs = append(errs, probs...)
				continue
			}
			return nil, nil, err
		}
		e, err := engine.Compile(rs)
		if err != nil {
			var probs rules.Errors
			if errors.As(err, &probs) {
				errs = append(errs, probs...)
				continue
			}
			return nil, nil, err
		}
		locals = append(locals, localEngine{unit: o.Unit, depth: len(chain), e: e})
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("overlays:\n%w", errs)
	}
	return base, locals, nil
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
