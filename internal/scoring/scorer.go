package scoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/assess"
	"fengqiao/engine"
	"fengqiao/jurisdiction"
	"fengqiao/risk"
	"fengqiao/signals"
)

// Rules gives the compiled ruleset in force, and the candidate scored in its
// shadow, if any (nil).
type Rules interface {
	Engine() *engine.Engine
	EngineFor(unit string) *engine.Engine // the baseline under the unit's overlays
	Shadow() *engine.Engine
}

// AlertPublisher receives level changes: rises, which page, and falls,
// which resolve alerts above the new level.
type AlertPublisher interface {
	Publish(ctx context.Context, e alerts.Event) error
}

// batchPublisher is an AlertPublisher that also takes many events at once,
// in order.
type batchPublisher interface {
	PublishAll(ctx context.Context, events []alerts.Event) error
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
	shadowDiffs *prometheus.CounterVec

	countTier jurisdiction.Tier   // the tier of the units subjects are counted by
	units     []jurisdiction.Unit // the jurisdiction's, for the counts' zero series

	archive  RulesetArchive // optional: rulesets no longer in force, for not_fired
	archived rulesets
}

// NewScorer returns a Scorer and registers its metrics, among them
// fengqiao_subjects, read from the store at each scrape.
func NewScorer(rdb redis.UniversalClient, rules Rules, pub AlertPublisher, now func() time.Time, log *slog.Logger, reg prometheus.Registerer, opts ...Option) *Scorer {
	s := &Scorer{
		rdb: rdb, rules: rules, alerts: pub, now: now, log: log, countTier: DefaultCountTier,
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
	s.shadowDiffs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fengqiao_shadow_evaluations_total",
		Help: "Evaluations by the shadow ruleset, by subject kind and how its level compares with the live one's (same, higher, lower).",
	}, []string{"kind", "shadow"})
	for _, k := range risk.Kinds {
		s.evaluations.WithLabelValues(string(k))
		s.changes.WithLabelValues(string(k), "rise")
		s.changes.WithLabelValues(string(k), "fall")
		for _, c := range []string{"same", "higher", "lower"} {
			s.shadowDiffs.WithLabelValues(string(k), c)
		}
	}
	for _, o := range opts {
		o(s)
	}
	reg.MustRegister(s.evaluations, s.evalSeconds, s.changes, s.shadowDiffs, newSubjectsCollector(rdb, s.countTier, s.units))
	return s
}

// Handle scores every subject a record concerns: its dispute first, so that
// the dispute's colour reaches its persons, then each person.
func (s *Scorer) Handle(ctx context.Context, rec signals.Record) error {
	e := s.rules.EngineFor(rec.Unit)
	ev := assess.EventOf(&rec, e)
	var dispute *outcome
	if rec.DisputeID != "" {
		id := risk.SubjectID{Kind: risk.Dispute, Ref: rec.DisputeID}
		if len(rec.Persons) > 0 {
			fields := make([]any, 0, 2*len(rec.Persons))
			for _, p := range rec.Persons {
				fields = append(fields, p.Ref, "1")
			}
			if err := s.rdb.HSet(ctx, keysOf(id).links, fields...).Err(); err != nil {
				return fmt.Errorf("link %s: %w", id, err)
			}
		}
		o, err := s.score(ctx, e, id, rec.Unit, identity{}, &ev, link{})
		if err != nil {
			return fmt.Errorf("score %s: %w", id, err)
		}
		dispute = &o
	}
	for _, p := range rec.Persons {
		id := risk.SubjectID{Kind: risk.Person, Ref: p.Ref}
		ln := link{}
		if dispute != nil {
			ln = link{rec.DisputeID, dispute.level.String()}
		}
		if _, err := s.score(ctx, e, id, rec.Unit, identity{p.Name, p.Weak, p.Sealed}, &ev, ln); err != nil {
			return fmt.Errorf("score %s: %w", id, err)
		}
	}
	if dispute != nil && dispute.changed() && e.Ruleset().Spread.DisputeToPerson != nil {
		return s.spread(ctx, rec.DisputeID, dispute.level, rec.Persons)
	}
	return nil
}

// spread passes a dispute's new level to its persons that the record did
// not name (those it named were scored with it already).
func (s *Scorer) spread(ctx context.Context, dispute string, level risk.Level, done []signals.PersonRef) error {
	persons, err := s.rdb.HKeys(ctx, keysOf(risk.SubjectID{Kind: risk.Dispute, Ref: dispute}).links).Result()
	if err != nil {
		return fmt.Errorf("read dispute %s persons: %w", dispute, err)
	}
	for _, ref := range persons {
		if slices.ContainsFunc(done, func(p signals.PersonRef) bool { return p.Ref == ref }) {
			continue
		}
		id := risk.SubjectID{Kind: risk.Person, Ref: ref}
		if _, err := s.rescore(ctx, id, link{dispute, level.String()}); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("spread to %s: %w", id, err)
		}
	}
	return nil
}

// maxStale bounds the retries of a scoring that keeps losing to other
// writers of the same subject; the random pauses make reaching it unlikely.
const maxStale = 50

// outcome is a scoring's result beside the level before it.
type outcome struct {
	level, prev risk.Level
	known       bool // the subject had been scored before
}

func (o outcome) changed() bool { return !o.known || o.level != o.prev }

// identity is what a signal says of who a person is; empty fields keep what
// is stored.
type identity struct {
	name   string
	weak   bool
	sealed string
}

// score adds ev (if any) and ln (if any) to a subject and scores it,
// retrying when another writer added an event in between.
func (s *Scorer) score(ctx context.Context, e *engine.Engine, id risk.SubjectID, unit string, who identity, ev *engine.Event, ln link) (outcome, error) {
	p := &pass{id: id, e: e, unit: unit, who: who, ev: ev, ln: ln}
	if ev != nil {
		b, err := json.Marshal(ev)
		if err != nil {
			return outcome{}, fmt.Errorf("encode event: %w", err)
		}
		p.evJSON = b
	}
	return s.retry(ctx, p, 0)
}

// retry scores p's subject from its attempt-th attempt: from the first, it
// adds p's event and link; from a later one, it only scores again.
func (s *Scorer) retry(ctx context.Context, p *pass, attempt int) (outcome, error) {
	why := cause(p.ev, s.now())
	for ; ; attempt++ {
		if attempt > 0 {
			p.evJSON, p.ln = nil, link{} // already recorded; just score again
		}
		if attempt > 3 { // a busy subject: step aside a moment, at random, so one writer wins
			time.Sleep(time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt-4, 4))))
		}
		p.now = s.now()
		keys, args, err := p.loadArgs()
		if err != nil {
			return outcome{}, err
		}
		res, err := loadScript.Run(ctx, s.rdb, keys, args...).Slice()
		if err != nil {
			return outcome{}, fmt.Errorf("update subject state: %w", err)
		}
		p.snap = parseSnapshot(p.id, res)
		s.evaluate(p)
		if err := s.publish(ctx, p, why); err != nil {
			return p.o, err
		}
		keys, args, err = p.commitArgs()
		if err != nil {
			return p.o, err
		}
		rev, err := parseCommit(commitScript.Run(ctx, s.rdb, keys, args...).Result())
		if errors.Is(err, errStale) && attempt < maxStale {
			continue
		}
		if err != nil {
			return p.o, err
		}
		if err := s.index(ctx, p.id, p.a.Level, p.a.Unit, rev, p.raised()); err != nil {
			return p.o, err
		}
		if sh := s.rules.Shadow(); sh != nil {
			if err := s.shadow(ctx, sh, p.st, p.a, p.now); err != nil {
				s.log.Warn("record the shadow assessment", "subject", p.id.String(), "err", err)
			}
		}
		s.observe(p)
		return p.o, nil
	}
}

// cause names a change of level in its alert event's ID: by its signal, or
// for a change with no signal behind it (a re-score, an override, a spread)
// by when it was first scored, so that the same subject rising the same way
// again later is a new change, and a retry the same one.
func cause(ev *engine.Event, now time.Time) string {
	if ev != nil {
		return ev.Key
	}
	return "rescore:" + strconv.FormatInt(now.UnixMilli(), 10)
}

// pass is one scoring of one subject: what it adds, what was read, and the
// assessment made of it.
type pass struct {
	id     risk.SubjectID
	e      *engine.Engine
	unit   string // the unit of the record, for a subject not yet scored
	who    identity
	ev     *engine.Event // the signal's event; nil for a re-score
	evJSON []byte        // ev to record, encoded; nil once recorded (or for a re-score)
	ln     link          // a link to record, if any

	now  time.Time
	snap snapshot
	st   engine.State
	a    risk.Assessment
	o    outcome
	rose bool
	rev  int64 // the commit's revision; 0 while not committed
}

// evaluate scores the subject as read into p.snap at p.now.
func (s *Scorer) evaluate(p *pass) {
	start := time.Now()
	home := p.unit
	if p.snap.unit != "" {
		home = p.snap.unit // a subject stays in the unit that first reported it
	}
	p.st = engine.State{Subject: p.id, Unit: home, Weak: p.who.weak, Events: p.snap.events, Trigger: p.ev,
		Previous: p.snap.previous, Links: p.snap.links, Override: p.snap.override}
	p.a = p.e.Evaluate(p.st, p.now)
	s.evalSeconds.Observe(time.Since(start).Seconds())
	s.evaluations.WithLabelValues(string(p.id.Kind)).Inc()
	for _, re := range p.a.Errors {
		s.log.Warn("rule failed", "rule", re.ID, "subject", p.id.String(), "err", re.Error)
	}
	p.o = outcome{level: p.a.Level, known: p.snap.previous != nil}
	if p.o.known {
		p.o.prev = p.snap.previous.Level
	}
	p.rose = p.a.Level > p.o.prev
}

// publish sends a change of level to the alerts. It runs before the commit:
// if the commit is lost the signal is redelivered and the same event (same
// ID) published again, which the alert side recognises; a lost alert could
// not be recovered. A fall is published too, so that alerts above it
// resolve; it is never paged.
func (s *Scorer) publish(ctx context.Context, p *pass, cause string) error {
	if e, ok := p.change(cause); ok {
		return s.alerts.Publish(ctx, e)
	}
	return nil
}

// change is the alert event of p's change of level, if it changed.
func (p *pass) change(cause string) (alerts.Event, bool) {
	if !p.rose && !(p.o.known && p.a.Level < p.o.prev) {
		return alerts.Event{}, false
	}
	return alerts.Event{
		ID: alerts.EventID(p.id, p.a.Level, cause), Subject: p.id, Unit: p.st.Unit,
		From: p.o.prev, To: p.a.Level, At: p.now, Signal: p.a.Signal,
		Explanation: p.a.Explain(), RulesetVersion: p.a.RulesetVersion,
	}, true
}

// raised is when the subject rose to its level, for the board.
func (p *pass) raised() time.Time {
	if !p.rose && p.snap.previous != nil {
		return p.snap.previous.RaisedAt
	}
	return p.now
}

// observe counts and logs a stored change of level.
func (s *Scorer) observe(p *pass) {
	switch {
	case p.a.Level > p.o.prev:
		s.changes.WithLabelValues(string(p.id.Kind), "rise").Inc()
	case p.a.Level < p.o.prev:
		s.changes.WithLabelValues(string(p.id.Kind), "fall").Inc()
	}
	if p.o.known && p.a.Level != p.o.prev {
		s.log.Info("level changed", "subject", p.id.String(), "from", p.o.prev.String(), "to", p.a.Level.String(), "signal", p.a.Signal)
	}
}

// Rescore scores a subject again without a new signal, so that evidence that
// has aged out of its windows lowers the level, an expired override ends and
// a sign-off takes effect. A fall is recorded in the history, never paged.
func (s *Scorer) Rescore(ctx context.Context, id risk.SubjectID) (risk.Level, error) {
	o, err := s.rescore(ctx, id, link{})
	return o.level, err
}

func (s *Scorer) rescore(ctx context.Context, id risk.SubjectID, ln link) (outcome, error) {
	h, err := s.rdb.HMGet(ctx, keysOf(id).state, "unit", "weak", "assessment").Result()
	if err != nil {
		return outcome{}, fmt.Errorf("read subject: %w", err)
	}
	if a, _ := h[2].(string); a == "" {
		return outcome{}, ErrNotFound
	}
	unit, _ := h[0].(string)
	weak, _ := h[1].(string)
	e := s.rules.EngineFor(unit)
	o, err := s.score(ctx, e, id, unit, identity{weak: weak == "true"}, nil, ln)
	if err == nil && id.Kind == risk.Dispute && o.changed() && e.Ruleset().Spread.DisputeToPerson != nil {
		err = s.spread(ctx, id.Ref, o.level, nil)
	}
	return o, err
}
