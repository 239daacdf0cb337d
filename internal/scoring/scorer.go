package scoring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/engine"
	"fengqiao/risk"
	"fengqiao/rules"
	"fengqiao/signals"
)

// Rules gives the compiled ruleset in force.
type Rules interface {
	Engine() *engine.Engine
}

// AlertPublisher receives level rises.
type AlertPublisher interface {
	Publish(ctx context.Context, e alerts.Event) error
}

// Scorer handles signal records: it adds each to its subjects' state,
// evaluates the rules and stores the assessment, raising an alert event on a
// rise. Handling is idempotent: a redelivered record adds nothing, changes no
// level and raises nothing new.
type Scorer struct {
	rdb    redis.UniversalClient
	rules  Rules
	alerts AlertPublisher
	now    func() time.Time
	log    *slog.Logger

	evaluations *prometheus.CounterVec
	evalSeconds prometheus.Histogram
	changes     *prometheus.CounterVec
}

// NewScorer returns a Scorer and registers its metrics.
func NewScorer(rdb redis.UniversalClient, rules Rules, pub AlertPublisher, now func() time.Time, log *slog.Logger, reg prometheus.Registerer) *Scorer {
	s := &Scorer{
		rdb: rdb, rules: rules, alerts: pub, now: now, log: log,
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_evaluations_total",
			Help: "Subject evaluations, by subject kind.",
		}, []string{"kind"}),
		evalSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fengqiao_rule_evaluation_seconds",
			Help:    "Time to evaluate the ruleset over one subject (no I/O).",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10),
		}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_level_changes_total",
			Help: "Subject level changes, by subject kind and direction (rise, fall).",
		}, []string{"kind", "direction"}),
	}
	for _, k := range risk.Kinds {
		s.evaluations.WithLabelValues(string(k))
		s.changes.WithLabelValues(string(k), "rise")
		s.changes.WithLabelValues(string(k), "fall")
	}
	reg.MustRegister(s.evaluations, s.evalSeconds, s.changes)
	return s
}

// Handle scores every subject a record concerns.
func (s *Scorer) Handle(ctx context.Context, rec signals.Record) error {
	e := s.rules.Engine()
	ev := eventOf(&rec, e)
	for _, id := range rec.Subjects() {
		name := ""
		for _, p := range rec.Persons {
			if p.Ref == id.Ref {
				name = p.Name
			}
		}
		if _, err := s.score(ctx, e, id, rec.Unit, name, rec.Weak(id), &ev); err != nil {
			return fmt.Errorf("score %s: %w", id, err)
		}
	}
	return nil
}

// score adds ev (if any) to a subject and scores it, retrying when another
// writer changed the subject in between.
func (s *Scorer) score(ctx context.Context, e *engine.Engine, id risk.SubjectID, unit, name string, weak bool, ev *engine.Event) (risk.Assessment, error) {
	keep := time.Duration(rules.MaxRetention) // not the ruleset's longest window: a later ruleset may look further back
	add := ev
	for attempt := 0; ; attempt++ {
		now := s.now()
		snap, err := s.load(ctx, id, add, now, keep)
		if err != nil {
			return risk.Assessment{}, err
		}
		start := time.Now()
		a := e.Evaluate(engine.State{Subject: id, Unit: unit, Weak: weak, Events: snap.events, Trigger: ev}, now)
		s.evalSeconds.Observe(time.Since(start).Seconds())
		s.evaluations.WithLabelValues(string(id.Kind)).Inc()
		for _, re := range a.Errors {
			s.log.Warn("rule failed", "rule", re.ID, "subject", id.String(), "err", re.Error)
		}
		prev, known := risk.Level(0), snap.prev != ""
		if known {
			prev, _ = risk.ParseLevel(snap.prev)
		}
		if a.Level > prev {
			// Publish before committing: if the commit is lost the signal is
			// redelivered and the same event (same ID) published again, which
			// the alert side recognises; a lost alert could not be recovered.
			err := s.alerts.Publish(ctx, alerts.Event{
				ID: alerts.EventID(id, a.Level, a.Signal), Subject: id, Unit: unit,
				From: prev, To: a.Level, At: now, Signal: a.Signal,
				Explanation: a.Explain(), RulesetVersion: a.RulesetVersion,
			})
			if err != nil {
				return a, err
			}
		}
		err = s.commit(ctx, snap, a, name, weak)
		if errors.Is(err, errStale) && attempt < 10 {
			add = nil // already recorded; just score again
			continue
		}
		if err != nil {
			return a, err
		}
		switch {
		case a.Level > prev:
			s.changes.WithLabelValues(string(id.Kind), "rise").Inc()
		case a.Level < prev:
			s.changes.WithLabelValues(string(id.Kind), "fall").Inc()
		}
		if known && a.Level != prev {
			s.log.Info("level changed", "subject", id.String(), "from", prev.String(), "to", a.Level.String(), "signal", a.Signal)
		}
		return a, nil
	}
}

func eventOf(r *signals.Record, e *engine.Engine) engine.Event {
	ev := engine.Event{
		Key: r.Key(), Source: r.Source, At: r.OccurredAt, Unit: r.Unit, Category: r.Category,
		Tags: r.Tags, Keywords: e.MatchKeywords(r.Summary), PartyCount: r.PartyCount, Amount: r.Amount,
	}
	if p := r.Petition; p != nil {
		ev.PetitionLevel, ev.SkipLevel, ev.Collective, ev.Repeat = p.Rank, p.SkipLevel, p.Collective, p.Repeat
	}
	return ev
}

// Rescore scores a subject again without a new signal, so that evidence that
// has aged out of its windows lowers the level. A fall is recorded in the
// history, never paged.
func (s *Scorer) Rescore(ctx context.Context, id risk.SubjectID) (risk.Assessment, error) {
	cur, err := s.Subject(ctx, id)
	if err != nil {
		return risk.Assessment{}, err
	}
	return s.score(ctx, s.rules.Engine(), id, cur.Unit, "", cur.Weak, nil)
}
