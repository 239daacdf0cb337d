// Package app wires riskd together: the store, the jurisdiction, the live
// ruleset, the signal stream and its consumer, the scorer and the HTTP API.
// It is the only package that imports all the others, so that tests can run
// the whole daemon in-process.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/alerts/escalation"
	"fengqiao/engine"
	"fengqiao/internal/alerting"
	"fengqiao/internal/api"
	"fengqiao/internal/audit"
	"fengqiao/internal/auth"
	"fengqiao/internal/casework"
	"fengqiao/internal/config"
	"fengqiao/internal/jobs"
	"fengqiao/internal/pii"
	"fengqiao/internal/reporting"
	"fengqiao/internal/ruleset"
	"fengqiao/internal/scoring"
	"fengqiao/jurisdiction"
	"fengqiao/signals"
)

// consumerGroup is the engine's consumer group on the signal stream.
const consumerGroup = "engine"

// App is a configured daemon.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	base     *slog.Logger // without a component, for the parts to add theirs
	now      func() time.Time
	reg      *prometheus.Registry
	rdb      redis.UniversalClient
	embedded *miniredis.Miniredis
	tree     *jurisdiction.Tree
	rules    *ruleset.Live
	producer *signals.Producer
	// consumers read the signal stream's shards; consumer is the first,
	// whose name and settings the other readers share.
	consumers []*signals.Consumer
	consumer  *signals.Consumer
	scorer    *scoring.Scorer
	api       *api.Server
	pseudo    *signals.Pseudonymizer
	archive   *ruleset.Archive
	alerting  *alerting.Manager // nil without an escalation policy
	cases     *casework.Service // nil without a case policy
	cal       *escalation.Calendar
	// caseOutbox forwards case events to the signal stream.
	caseOutbox *signals.Consumer
	reporting  *reporting.Service // nil without a schedule policy
	jobs       *jobs.Runner
	policies   *policyHolder
	tokens     *auth.Store
	audit      *audit.Log
	sealer     *pii.Sealer
	// DemoToken is the admin secret made for the embedded demo store, "" otherwise.
	DemoToken string
	// watchEvery is how often the rules directory is checked for changes.
	watchEvery time.Duration
}

// New builds the daemon from cfg. With no Redis URL it starts an embedded,
// in-process store that is not durable. now is the clock every deadline and
// window reads.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, now func() time.Time) (*App, error) {
	a := &App{cfg: cfg, log: log.With("component", "app"), base: log, now: now, reg: prometheus.NewRegistry(), watchEvery: 5 * time.Second}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()

	key := []byte(cfg.PIIKey)
	if cfg.RedisURL == "" {
		m, err := miniredis.Run()
		if err != nil {
			return nil, fmt.Errorf("start embedded store: %w", err)
		}
		a.embedded = m
		a.rdb = redis.NewClient(&redis.Options{Addr: m.Addr()})
		a.log.Warn("using the EMBEDDED in-process store: it is NOT durable, and everything is lost when riskd stops; set REDIS_URL to use a real Redis")
		if len(key) == 0 {
			key = make([]byte, 32)
			_, _ = rand.Read(key)
			a.log.Warn("no personal-data key given: using a random one for this run, so person references change on restart")
		}
	} else {
		rdb, where, err := connect(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		a.rdb = rdb
		if err := a.rdb.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("connect to Redis (%s): %w", where, err)
		}
		a.log.Info("using Redis", "at", where)
	}

	var err error
	if a.pseudo, err = signals.NewPseudonymizer(key); err != nil {
		return nil, err
	}
	if cfg.DataKeys != "" {
		if a.sealer, err = pii.ParseKeys(cfg.DataKeys); err != nil {
			return nil, err
		}
	} else {
		a.sealer = pii.NewRandom() // only the embedded store gets here: Validate requires keys with a real Redis
	}
	a.audit = audit.New(a.rdb, now)
	if a.tree, err = jurisdiction.Load(cfg.Jurisdiction); err != nil {
		return nil, fmt.Errorf("load jurisdiction:\n%w", err)
	}
	a.log.Info("jurisdiction loaded", "units", a.tree.Len(), "root", a.tree.Root().Name)
	if a.tokens, err = auth.NewStore(a.rdb, now, cfg.BootstrapToken, a.tree.Root().Code); err != nil {
		return nil, err
	}
	if a.embedded != nil && cfg.BootstrapToken == "" {
		_, a.DemoToken, err = a.tokens.Create(ctx, "演示管理员", auth.Admin, a.tree.Root().Code, "riskd")
		if err != nil {
			return nil, err
		}
	}
	if a.rules, err = ruleset.Load(cfg.RulesDir, log.With("component", "rules"), a.reg, now, ruleset.WithJurisdiction(units{a.tree})); err != nil {
		return nil, err
	}

	a.rules.SetShadowDir(cfg.ShadowRulesDir)
	a.archive = ruleset.NewArchive(a.rdb)
	a.rules.OnLoad(func(e *engine.Engine) {
		ctx := context.WithoutCancel(ctx)
		if err := a.archive.Save(ctx, e, now()); err != nil {
			a.log.Error("archive ruleset", "err", err)
		}
		rs := e.Ruleset()
		if err := (auditor{a.audit}).Record(ctx, systemPrincipal, "rules.load", "ruleset/"+rs.Hash,
			fmt.Sprintf("规则集 %s 生效 (%d 条规则)", rs.Version, len(rs.Rules))); err != nil {
			a.log.Error("audit a ruleset load", "err", err)
		}
	})

	shards := signals.ShardedStreams(cfg.StreamShards)
	a.producer = signals.NewProducer(a.rdb, time.Duration(cfg.SignalKeepDays)*24*time.Hour, shards...)
	a.scorer = scoring.NewScorer(a.rdb, a.rules, alerts.NewStream(a.rdb), now, log.With("component", "scoring"), a.reg, scoring.KnownUnits(a.tree.Units()), scoring.Archive(a.archive))
	name := cfg.Consumer
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	metrics := signals.NewMetrics(a.reg)
	for i, st := range shards {
		c := &signals.Consumer{
			RDB: a.rdb, Stream: st, Group: consumerGroup, Name: name, Handler: a.scorer,
			Log: log.With("component", "consumer"), Metrics: metrics,
			Now: now, Batch: 64, Block: time.Second, ClaimIdle: time.Minute, Attempts: 3,
			RetryDelay: 200 * time.Millisecond, Retention: time.Duration(cfg.StreamRetentionDays) * 24 * time.Hour,
			// One reader per shard, so each subject's signals are scored in
			// order; the shards shared out over the live instances.
			Lease: 10 * time.Second, Members: signals.MembersKey, Shard: i,
		}
		if err := c.EnsureGroup(ctx); err != nil {
			return nil, err
		}
		a.consumers = append(a.consumers, c)
	}
	a.consumer = a.consumers[0]
	a.reg.MustRegister(signals.NewStreamCollector(a.rdb, consumerGroup, shards...))

	if len(cfg.Calendars) > 0 {
		if a.cal, err = escalation.LoadCalendar(cfg.Calendars...); err != nil {
			return nil, fmt.Errorf("load the calendars:\n%w", err)
		}
	}
	if cfg.CasePolicy != "" {
		if err := a.newCases(cfg, now); err != nil {
			return nil, err
		}
	}
	if cfg.AlertPolicy != "" {
		if a.alerting, err = a.newAlerting(cfg, now); err != nil {
			return nil, err
		}
	}
	if err := a.newSchedules(cfg, now); err != nil {
		return nil, err
	}

	a.api = &api.Server{
		Signals: a.producer,
		Validator: &signals.Validator{
			KnownUnit:  func(code string) bool { _, ok := a.tree.Unit(code); return ok },
			Categories: cfg.Categories,
			Now:        now,
		},
		Pseudo:    a.pseudo,
		Subjects:  a.scorer,
		Rules:     a.rules,
		Archive:   a.archive,
		Units:     a.tree,
		Auth:      a.tokens,
		Tokens:    a.tokens,
		Audit:     auditor{a.audit},
		AuditLog:  a.audit,
		Recorded:  recorded{shards, a.rdb},
		Alerts:    a.alertsAPI(),
		Cases:     a.casesAPI(),
		Reports:   a.reportsAPI(),
		Sealer:    a.sealer,
		RateLimit: cfg.RateLimit,
		Gatherer:  a.reg,
		Log:       log.With("component", "api"),
		Now:       now,
		Checks: []api.Check{
			{Name: "redis", Fn: func(ctx context.Context) (string, error) { return "", a.rdb.Ping(ctx).Err() }},
			{Name: "rules", Fn: func(context.Context) (string, error) {
				if a.rules.Engine() == nil {
					return "", errors.New("no ruleset loaded")
				}
				st := a.rules.Status()
				detail := fmt.Sprintf("version %s (%s)", st.Version, st.Hash)
				if st.LastError != "" {
					detail += "; the last reload failed and the ruleset in force stays: " + st.LastError
				}
				return detail, nil
			}},
			{Name: "consumer", Fn: func(context.Context) (string, error) {
				for _, c := range a.consumers {
					if !c.Running() {
						return "", errors.New("the signal consumer of " + c.Stream.Key + " is not running")
					}
				}
				return "", nil
			}},
		},
	}
	if a.api.Console, err = a.newConsole(); err != nil {
		return nil, err
	}
	a.api.Register(a.reg)
	ok = true
	return a, nil
}

// Permissions is the API's route table: who may call what.
func (a *App) Permissions() map[string][]auth.Role { return a.api.Permissions() }

// Handler is the daemon's HTTP handler.
func (a *App) Handler() http.Handler { return a.api.Handler() }

// ReloadRules reloads the ruleset; a bad ruleset leaves the old one in force.
func (a *App) ReloadRules() error { return a.rules.Reload() }

// Embedded reports whether the daemon runs on the embedded store.
func (a *App) Embedded() bool { return a.embedded != nil }

// Run serves HTTP on ln and consumes signals until ctx is cancelled, then
// stops taking requests, finishes the work in hand and returns.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(a.consumers)+4)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		var cwg sync.WaitGroup
		for _, c := range a.consumers {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				if err := c.Run(ctx); err != nil {
					errc <- fmt.Errorf("consumer of %s: %w", c.Stream.Key, err)
				}
			}()
		}
		cwg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.rules.Watch(ctx, a.watchEvery)
	}()
	if a.cases != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := a.caseOutbox.Run(ctx); err != nil {
				errc <- fmt.Errorf("case events: %w", err)
			}
		}()
		go func() {
			defer wg.Done()
			alerts.NewStream(a.rdb).Consume(ctx, "cases", a.consumer.Name, a.consumer.Block, a.consumer.ClaimIdle,
				a.base.With("component", "cases"), func(ctx context.Context, e alerts.Event) error {
					return a.cases.OnAlert(ctx, e, disputes{a.scorer})
				})
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.jobs.Run(ctx, 10*time.Second)
	}()
	if a.alerting != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			a.alerting.Consume(ctx, a.consumer.Name, a.consumer.Block, a.consumer.ClaimIdle)
		}()
		go func() {
			defer wg.Done()
			a.alerting.Run(ctx, time.Second)
		}()
	}
	a.log.Info("riskd is serving", "addr", ln.Addr().String(), "ruleset", a.rules.Engine().Version())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		stop()
	}
	a.log.Info("shutting down: finishing requests and signals in hand")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		a.log.Error("http shutdown", "err", serr)
	}
	wg.Wait()
	return err
}

// Close releases the store.
func (a *App) Close() {
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
	if a.embedded != nil {
		a.embedded.Close()
	}
}

// systemPrincipal is riskd itself, for acts no token asked for.
var systemPrincipal = auth.Principal{TokenID: "system", Name: "riskd", Role: auth.System}

// auditor writes the API's and the daemon's acts to the audit log, masking
// anything in the free text that looks like an ID or phone number.
type auditor struct{ log *audit.Log }

func (a auditor) Record(ctx context.Context, p auth.Principal, action, subject, detail string) error {
	_, err := a.log.Append(ctx, audit.Entry{Actor: p.TokenID, Role: string(p.Role), Unit: p.Unit,
		Action: action, Subject: subject, Detail: signals.MaskNumbers(detail)})
	return err
}

// units adapts the jurisdiction tree to what overlays need.
type units struct{ *jurisdiction.Tree }

func (u units) Known(code string) bool { _, ok := u.Unit(code); return ok }

// recorded reads the signal stream for backtests.
type recorded struct {
	shards signals.Shards
	rdb    redis.UniversalClient
}

func (r recorded) Records(ctx context.Context) ([]signals.Record, error) {
	return r.shards.Records(ctx, r.rdb)
}
