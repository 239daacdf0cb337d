package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/risk"
)

// Router says who hears of an alert: it is the escalation policy, the duty
// roster and the jurisdiction, as the manager needs them.
type Router interface {
	// Route returns the policy for an alert at level in unit, and the units
	// whose duty officers hear of it first. ok is false when the policy
	// pages no one at that level.
	Route(level risk.Level, unit string, at time.Time) (p Snapshot, targets []Target, ok bool)
	// Escalate returns the next unit up from t, false at the top.
	Escalate(t Target) (Target, bool)
	// Deadline returns when an alert notified at from must be acknowledged.
	Deadline(p Snapshot, from time.Time) time.Time
	// Suppress is how long the same subject at the same colour is not paged again.
	Suppress() time.Duration
	// SendAt is when a notice of an alert at level may go out: now, or the
	// end of the policy's quiet hours for colours below its threshold.
	SendAt(level risk.Level, now time.Time) time.Time
}

// Sender delivers one notification. Retryable says whether a failure is
// worth trying again. Refresh says how often a channel wants an open alert
// sent again (Alertmanager forgets alerts not re-sent), zero for never.
type Sender interface {
	Send(ctx context.Context, n Notification, a Alert) error
	Retryable(err error) bool
	Refresh(channel string) time.Duration
}

// Manager runs alerts in Redis. Several instances may run at once: each due
// notification and deadline is claimed by one of them for a lease.
type Manager struct {
	rdb    redis.UniversalClient
	router Router
	sender Sender
	now    func() time.Time
	log    *slog.Logger
	// GiveUp is how long a notification is retried before it is given up.
	GiveUp time.Duration
	// Lease is how long a claimed notification or deadline is held.
	Lease time.Duration
	// contains says whether a unit is in another's subtree, for silences.
	contains Contains

	opened, notified, escalations, acks *prometheus.CounterVec
	supervisions                        *prometheus.CounterVec
	ackSeconds                          *prometheus.HistogramVec
	// channels names the escalation policy's channels, if the router or
	// the sender can (ChannelNamer), for the notifications' zero series.
	channels func() []string
	// indexed is set once the indexes by colour are known to hold every
	// open alert (see upgrade).
	indexed atomic.Bool
}

// Keys, all under the {alerts} tag.
const (
	keyAlert     = "fq:{alerts}:a:"        // + id: the alert, JSON
	keyAll       = "fq:{alerts}:all"       // every alert by opening time
	keyOpen      = "fq:{alerts}:open"      // unresolved alerts by opening time
	keyOpenAt    = "fq:{alerts}:open:"     // + level: unresolved alerts of that colour by opening time
	keyUnacked   = "fq:{alerts}:unacked:"  // + level: open, unacknowledged, unsilenced alerts of that colour by first deadline
	keyIndexed   = "fq:{alerts}:indexed"   // set once the indexes by colour hold every open alert
	keyBySubject = "fq:{alerts}:subject:"  // + subject: its unresolved alert's id
	keySuppress  = "fq:{alerts}:suppress:" // + subject/level: set while re-pages are suppressed
	keyDeadlines = "fq:{alerts}:deadlines" // open alerts by acknowledgement deadline
	keyOutbox    = "fq:{alerts}:outbox"    // notification ids by next attempt
	keyNote      = "fq:{alerts}:n:"        // + notification id: the notification, JSON
	keyDelivered = "fq:{alerts}:d:"        // + alert id: its notifications' ids by creation
	keySilences  = "fq:{alerts}:silences"  // id → silence, JSON
	keyLock      = "fq:{alerts}:lock:"     // + subject: held while one of its events is handled
)

// NewManager returns a Manager and registers its metrics.
func NewManager(rdb redis.UniversalClient, router Router, sender Sender, contains Contains, now func() time.Time, log *slog.Logger, reg prometheus.Registerer) *Manager {
	m := &Manager{rdb: rdb, router: router, sender: sender, contains: contains, now: now, log: log, GiveUp: 24 * time.Hour, Lease: time.Minute,
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_alerts_opened_total", Help: "Alerts opened, by colour, the tier first notified, and whether a silence held their notices.",
		}, []string{"level", "tier", "silenced"}),
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_notifications_total", Help: "Notification attempts, by channel and result (sent, retry, failed).",
		}, []string{"channel", "result"}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_alert_escalations_total", Help: "Escalations to the next unit up after a missed acknowledgement deadline, by colour.",
		}, []string{"level"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_alerts_acknowledged_total", Help: "Alerts acknowledged, by colour.",
		}, []string{"level"}),
		ackSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fengqiao_alert_ack_seconds", Help: "Time from an alert's opening to its acknowledgement, by colour.",
			Buckets: []float64{60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400},
		}, []string{"level"}),
	}
	m.supervisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fengqiao_alert_supervisions_total", Help: "Alerts left unacknowledged past their deadline and supervised, by kind: supervision (督办, to the alert's unit) or listed_supervision (挂牌督办, by the tier above).",
	}, []string{"kind"})
	m.supervisions.WithLabelValues("supervision")
	m.supervisions.WithLabelValues("listed_supervision")
	for _, c := range []any{router, sender} {
		if n, ok := c.(ChannelNamer); ok {
			m.channels = n.ChannelNames
			break
		}
	}
	for _, l := range risk.Levels[1:] {
		for _, tier := range []string{"grid", "village", "township", "county", "city"} {
			m.opened.WithLabelValues(l.String(), tier, "false")
			m.opened.WithLabelValues(l.String(), tier, "true")
		}
		m.escalations.WithLabelValues(l.String())
		m.acks.WithLabelValues(l.String())
		m.ackSeconds.WithLabelValues(l.String())
	}
	reg.MustRegister(m.supervisions)
	reg.MustRegister(m.opened, notifications{m.notified, m.channels}, m.escalations, m.acks, m.ackSeconds, m.collector())
	return m
}

// Handle takes one level change of a subject: a rise opens an alert (unless
// suppressed), superseding a lower one still open; a fall resolves alerts
// above the new level. It is idempotent per event.
func (m *Manager) Handle(ctx context.Context, e alerts.Event) error {
	// One event of a subject at a time, across instances: two rises handled
	// at once would both find no alert open and both open one.
	lock := keyLock + e.Subject.String()
	got, err := m.rdb.SetNX(ctx, lock, "1", 30*time.Second).Result()
	if err != nil {
		return fmt.Errorf("lock the subject's alerts: %w", err)
	}
	if !got {
		return errBusy // stays pending and is taken up again
	}
	defer m.rdb.Del(context.WithoutCancel(ctx), lock)
	now := m.now()
	cur, err := m.current(ctx, e.Subject)
	if err != nil {
		return err
	}
	if !e.Rise() {
		// A fall older than the open alert (a redelivered event) says
		// nothing about it.
		if cur != nil && cur.Level > e.To && !e.At.Before(cur.OpenedAt) {
			return m.resolve(ctx, cur.ID, "system", fmt.Sprintf("已降至%s", e.To.Chinese()), now)
		}
		return nil
	}
	id := alertID(e.ID)
	if cur != nil && cur.ID == id {
		return nil // a redelivered event
	}
	p, targets, ok := m.router.Route(e.To, e.Unit, now)
	if !ok {
		return nil // the policy pages no one at this colour
	}
	// The same subject at the same colour within the suppression time is
	// not paged again; a further rise is a new key and does page.
	if d := m.router.Suppress(); d > 0 {
		sup := keySuppress + e.Subject.String() + "/" + e.To.String()
		fresh, err := m.rdb.SetNX(ctx, sup, id, d).Result()
		if err != nil {
			return fmt.Errorf("check suppression: %w", err)
		}
		if !fresh {
			if owner, _ := m.rdb.Get(ctx, sup).Result(); owner != id {
				m.log.Info("alert suppressed: the same subject was paged at this colour recently", "subject", e.Subject.String(), "level", e.To.String())
				return nil
			}
		}
	}
	if cur != nil && cur.Level < e.To {
		if err := m.resolve(ctx, cur.ID, "system", fmt.Sprintf("升级为%s预警", e.To.Chinese()), now); err != nil {
			return err
		}
	}
	a := Alert{ID: id, Event: e.ID, Subject: e.Subject, Unit: e.Unit, Level: e.To, State: Open, OpenedAt: now,
		Explanation: e.Explanation, Policy: p}
	silence, err := m.silencing(ctx, a, now)
	if err != nil {
		return err
	}
	a.Silence = silence
	if silence == "" {
		// The deadline runs from when the notice may go out: not through
		// the night for a colour quiet hours hold back.
		a.Deadline = m.router.Deadline(p, m.router.SendAt(e.To, now))
		a.Notified = targets
	}
	// Every step below is idempotent, so a redelivered event after a crash
	// part-way completes the alert without doubling anything.
	b, _ := json.Marshal(a)
	created, err := m.rdb.SetNX(ctx, keyAlert+id, b, 0).Result()
	if err != nil {
		return fmt.Errorf("open alert: %w", err)
	}
	if !created {
		if a, err = m.Get(ctx, id); err != nil {
			return err
		}
		if a.State == Resolved {
			return nil
		}
	}
	if err := m.index(ctx, id); err != nil {
		return fmt.Errorf("index alert: %w", err)
	}
	if created {
		tier := ""
		if len(targets) > 0 {
			tier = targets[0].Tier
		}
		m.opened.WithLabelValues(a.Level.String(), tier, fmt.Sprint(a.Silence != "")).Inc()
	}
	if a.Silence != "" {
		return nil
	}
	return m.enqueue(ctx, a, a.Notified, false, a.OpenedAt)
}

// enqueue writes a notification for each target and channel to the outbox,
// before anything is sent: a channel outage or a crash loses nothing.
func (m *Manager) enqueue(ctx context.Context, a Alert, targets []Target, resolved bool, now time.Time) error {
	due := m.router.SendAt(a.Level, now)
	_, err := m.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, t := range targets {
			for _, ch := range t.Channels {
				n := Notification{ID: notificationID(a.ID, t.Step, t, ch, resolved), AlertID: a.ID, Step: t.Step,
					Target: t, Channel: ch, Resolved: resolved, Created: now, State: "pending"}
				b, _ := json.Marshal(n)
				pipe.SetNX(ctx, keyNote+n.ID, b, 0)
				pipe.ZAddNX(ctx, keyOutbox, redis.Z{Score: float64(due.UnixMilli()), Member: n.ID})
				pipe.ZAddNX(ctx, keyDelivered+a.ID, redis.Z{Score: float64(now.UnixMilli()), Member: n.ID})
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write to the outbox: %w", err)
	}
	return nil
}

// current returns the subject's unresolved alert, or nil.
func (m *Manager) current(ctx context.Context, s risk.SubjectID) (*Alert, error) {
	id, err := m.rdb.Get(ctx, keyBySubject+s.String()).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the subject's alert: %w", err)
	}
	a, err := m.Get(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && a.State == Resolved) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// errBusy means another instance is handling an event of the same subject.
var errBusy = errors.New("another event of this subject is being handled")

// ErrNotFound is returned for an unknown alert.
var ErrNotFound = errors.New("no such alert")

// ErrState is returned for an act the alert's state does not allow.
var ErrState = errors.New("not allowed in the alert's state")

// Get returns an alert.
func (m *Manager) Get(ctx context.Context, id string) (Alert, error) {
	b, err := m.rdb.Get(ctx, keyAlert+id).Bytes()
	if errors.Is(err, redis.Nil) {
		return Alert{}, ErrNotFound
	}
	if err != nil {
		return Alert{}, fmt.Errorf("read alert: %w", err)
	}
	var a Alert
	if err := json.Unmarshal(b, &a); err != nil {
		return Alert{}, fmt.Errorf("decode alert: %w", err)
	}
	return a, nil
}

// index files an alert that is not resolved under its subject and in the
// indexes of alerts, of open alerts (all, and by colour) and, while it waits
// for an acknowledgement by a deadline, of deadlines: the next one,
// which drives escalation, and the first one, which says how long it is
// overdue. It is checked against the alert in one transaction, so an
// acknowledgement or a resolution on another instance in between is not
// undone; and it is idempotent.
func (m *Manager) index(ctx context.Context, id string) error {
	for attempt := 0; attempt < 20; attempt++ {
		err := m.rdb.Watch(ctx, func(tx *redis.Tx) error {
			b, err := tx.Get(ctx, keyAlert+id).Bytes()
			if err != nil {
				return err
			}
			var a Alert
			if err := json.Unmarshal(b, &a); err != nil {
				return err
			}
			if a.State == Resolved {
				return nil
			}
			opened := redis.Z{Score: float64(a.OpenedAt.UnixMilli()), Member: id}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.ZAdd(ctx, keyAll, opened)
				p.ZAdd(ctx, keyOpen, opened)
				p.ZAdd(ctx, keyOpenAt+a.Level.String(), opened)
				p.Set(ctx, keyBySubject+a.Subject.String(), id, 0)
				if a.State == Open && a.Silence == "" && !a.Deadline.IsZero() { // silenced alerts and notices have none
					p.ZAdd(ctx, keyDeadlines, redis.Z{Score: float64(a.Deadline.UnixMilli()), Member: id})
					first := a.Deadline
					if a.Step > 0 {
						first = a.OpenedAt // escalated, so past its first deadline, which the alert no longer keeps
					}
					p.ZAddNX(ctx, keyUnacked+a.Level.String(), redis.Z{Score: float64(first.UnixMilli()), Member: id})
				}
				return nil
			})
			return err
		}, keyAlert+id)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		return err
	}
	return errors.New("the alert kept changing; try again")
}

// update changes an alert under optimistic locking, so an acknowledgement
// and an escalation racing on two instances do not overwrite each other.
// Each of also adds to the transaction that stores it, to keep indexes in
// step with the change.
func (m *Manager) update(ctx context.Context, id string, fn func(a *Alert) error, also ...func(p redis.Pipeliner, a Alert)) (Alert, error) {
	var out Alert
	for attempt := 0; attempt < 20; attempt++ {
		err := m.rdb.Watch(ctx, func(tx *redis.Tx) error {
			b, err := tx.Get(ctx, keyAlert+id).Bytes()
			if errors.Is(err, redis.Nil) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			var a Alert
			if err := json.Unmarshal(b, &a); err != nil {
				return err
			}
			if err := fn(&a); err != nil {
				return err
			}
			nb, _ := json.Marshal(a)
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, keyAlert+id, nb, 0)
				for _, f := range also {
					f(p, a)
				}
				return nil
			})
			out = a
			return err
		}, keyAlert+id)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		return out, err
	}
	return out, errors.New("the alert kept changing; try again")
}

// Acknowledge records that an officer has the alert in hand: escalation stops.
func (m *Manager) Acknowledge(ctx context.Context, id, by, note string) (Alert, error) {
	now := m.now()
	a, err := m.update(ctx, id, func(a *Alert) error {
		if a.State != Open {
			return fmt.Errorf("%w: it is %s", ErrState, a.State)
		}
		a.State, a.AckedBy, a.AckedAt, a.AckNote = Acknowledged, by, &now, note
		return nil
	}, func(p redis.Pipeliner, a Alert) {
		p.ZRem(ctx, keyDeadlines, id)
		p.ZRem(ctx, keyUnacked+a.Level.String(), id)
	})
	if err != nil {
		return a, err
	}
	m.acks.WithLabelValues(a.Level.String()).Inc()
	m.ackSeconds.WithLabelValues(a.Level.String()).Observe(now.Sub(a.OpenedAt).Seconds())
	return a, nil
}

// Resolve closes an alert by an officer's decision.
func (m *Manager) Resolve(ctx context.Context, id, by, reason string) (Alert, error) {
	if err := m.resolve(ctx, id, by, reason, m.now()); err != nil {
		return Alert{}, err
	}
	return m.Get(ctx, id)
}

func (m *Manager) resolve(ctx context.Context, id, by, reason string, now time.Time) error {
	return m.resolveTelling(ctx, id, by, reason, now, true)
}

// resolveTelling resolves an alert, and tells its targets if tell is set.
func (m *Manager) resolveTelling(ctx context.Context, id, by, reason string, now time.Time, tell bool) error {
	a, err := m.update(ctx, id, func(a *Alert) error {
		if a.State == Resolved {
			return fmt.Errorf("%w: it is already resolved", ErrState)
		}
		a.State, a.ResolvedBy, a.ResolvedAt, a.ResolveReason = Resolved, by, &now, reason
		return nil
	}, func(p redis.Pipeliner, a Alert) {
		p.ZRem(ctx, keyOpen, id)
		p.ZRem(ctx, keyOpenAt+a.Level.String(), id)
		p.ZRem(ctx, keyDeadlines, id)
		p.ZRem(ctx, keyUnacked+a.Level.String(), id)
	})
	if errors.Is(err, ErrState) && by == "system" {
		return nil
	}
	if err != nil {
		return err
	}
	if a.Silence == "" && a.State == Resolved && tell {
		return m.enqueue(ctx, a, a.Notified, true, now)
	}
	return nil
}

// Filter selects alerts.
type Filter struct {
	State    State
	MinLevel risk.Level
	InScope  func(unit string) bool
	Limit    int
}

// List returns alerts newest first.
func (m *Manager) List(ctx context.Context, f Filter) ([]Alert, error) {
	key := keyAll
	if f.State == Open || f.State == Acknowledged {
		key = keyOpen
	}
	ids, err := m.rdb.ZRevRange(ctx, key, 0, 4999).Result()
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	out := []Alert{}
	for _, id := range ids {
		a, err := m.Get(ctx, id)
		if err != nil {
			continue
		}
		if (f.State != "" && a.State != f.State) || a.Level < f.MinLevel || (f.InScope != nil && !f.InScope(a.Unit)) {
			continue
		}
		out = append(out, a)
		if f.Limit > 0 && len(out) >= f.Limit {
			break
		}
	}
	return out, nil
}

// Deliveries returns an alert's notifications, oldest first.
func (m *Manager) Deliveries(ctx context.Context, id string) ([]Notification, error) {
	ids, err := m.rdb.ZRange(ctx, keyDelivered+id, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	out := []Notification{}
	for _, nid := range ids {
		b, err := m.rdb.Get(ctx, keyNote+nid).Bytes()
		if err != nil {
			continue
		}
		var n Notification
		if json.Unmarshal(b, &n) == nil {
			out = append(out, n)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}
