package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimScript takes up to ARGV[3] members of a schedule that are due (score
// ≤ ARGV[1]) and pushes each to ARGV[2], a lease: the instance that claimed
// it works on it; if it dies, the member comes due again when the lease
// ends. Atomic, so each due member goes to one instance.
var claimScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], m) end
return due
`)

func (m *Manager) claim(ctx context.Context, key string, now time.Time, n int) ([]string, error) {
	return claimScript.Run(ctx, m.rdb, []string{key}, now.UnixMilli(), now.Add(m.Lease).UnixMilli(), n).StringSlice()
}

// Tick does what is due at the manager's clock: it escalates alerts whose
// acknowledgement deadline has passed, and sends or retries notifications.
// riskd calls it every second; tests call it with a clock they set.
func (m *Manager) Tick(ctx context.Context) error {
	if err := m.upgrade(ctx); err != nil {
		m.log.Warn("index open alerts by colour", "err", err)
	}
	now := m.now()
	due, err := m.claim(ctx, keyDeadlines, now, 100)
	if err != nil {
		return fmt.Errorf("claim deadlines: %w", err)
	}
	for _, id := range due {
		if err := m.escalate(ctx, id, now); err != nil {
			m.log.Error("escalate alert", "alert", id, "err", err)
		}
	}
	for {
		ids, err := m.claim(ctx, keyOutbox, now, 50)
		if err != nil {
			return fmt.Errorf("claim notifications: %w", err)
		}
		for _, id := range ids {
			m.deliver(ctx, id, m.now()) // each at its own time: a slow channel ages the batch
		}
		if len(ids) < 50 {
			return nil
		}
	}
}

// escalate notifies the next unit up for an alert nobody acknowledged in
// time, as its frozen policy says, until the policy's steps run out.
func (m *Manager) escalate(ctx context.Context, id string, now time.Time) error {
	a, err := m.Get(ctx, id)
	if err != nil {
		return err
	}
	if a.State != Open || a.Step >= a.Policy.Times || len(a.Notified) == 0 {
		return m.rdb.ZRem(ctx, keyDeadlines, id).Err() // acknowledged, resolved, or no steps left
	}
	from := a.Notified[len(a.Notified)-1]
	next, ok := m.router.Escalate(from)
	if !ok {
		next = from // at the top: repeat to the same unit
	}
	step := a.Step + 1
	next.Step = step
	// The notice first: its id is fixed by the step, so if this instance
	// dies before the alert records the step, the next try writes the same
	// notice again, and no step is skipped.
	if err := m.enqueue(ctx, a, []Target{next}, false, now); err != nil {
		return err
	}
	a, err = m.update(ctx, id, func(a *Alert) error {
		if a.Step != step-1 || a.State != Open {
			return errBusy // another instance, or an acknowledgement, got there first
		}
		a.Step = step
		a.Notified = append(a.Notified, next)
		a.Deadline = now.Add(a.Policy.Every)
		return nil
	}, func(p redis.Pipeliner, a Alert) {
		p.ZAdd(ctx, keyDeadlines, redis.Z{Score: float64(a.Deadline.UnixMilli()), Member: id})
	})
	if errors.Is(err, errBusy) {
		return nil
	}
	if err != nil {
		return err
	}
	m.escalations.WithLabelValues(a.Level.String()).Inc()
	m.log.Warn("alert not acknowledged in time: escalated", "alert", id, "level", a.Level.String(), "step", a.Step, "to", next.Unit)
	return nil
}

// deliver tries one notification: sent, retried later with backoff, or,
// past GiveUp or on a permanent error, given up (and counted, so that the
// service's own alerting rules fire).
func (m *Manager) deliver(ctx context.Context, nid string, now time.Time) {
	b, err := m.rdb.Get(ctx, keyNote+nid).Bytes()
	if err != nil {
		m.rdb.ZRem(ctx, keyOutbox, nid)
		return
	}
	var n Notification
	if json.Unmarshal(b, &n) != nil || n.State != "pending" {
		m.rdb.ZRem(ctx, keyOutbox, nid)
		return
	}
	a, err := m.Get(ctx, n.AlertID)
	if err != nil {
		m.rdb.ZRem(ctx, keyOutbox, nid)
		return
	}
	if !n.Resolved && a.State != Open && n.Step > 0 && n.Refreshes == 0 {
		n.State, n.LastError = "failed", "the alert was acknowledged or resolved before this escalation went out"
		m.save(ctx, n, false, now)
		return
	}
	if n.Refreshes > 0 && a.State == Resolved {
		m.rdb.ZRem(ctx, keyOutbox, nid) // a refresh of an alert resolved since: the resolved notice said so
		return
	}
	n.Attempts++
	// A send must end well within the lease, or another instance, seeing the
	// lease run out, would send it again.
	sctx, cancel := context.WithTimeout(ctx, m.Lease/2)
	err = m.sender.Send(sctx, n, a)
	cancel()
	now = m.now()
	switch {
	case err == nil:
		n.State, n.LastError, n.SentAt = "sent", "", &now
		m.notified.WithLabelValues(n.Channel, "sent").Inc()
		m.save(ctx, n, false, now)
		if every := m.sender.Refresh(n.Channel); every > 0 && !n.Resolved && a.State != Resolved {
			m.refresh(ctx, n, now.Add(every))
		}
	case m.sender.Retryable(err) && now.Sub(n.Created) < m.GiveUp:
		n.LastError = err.Error()
		m.notified.WithLabelValues(n.Channel, "retry").Inc()
		m.save(ctx, n, true, now.Add(backoff(n.Attempts)))
	default:
		n.State, n.LastError = "failed", err.Error()
		m.notified.WithLabelValues(n.Channel, "failed").Inc()
		level := slog.LevelError // retried until GiveUp and still failing
		if !m.sender.Retryable(err) {
			level = slog.LevelDebug // refused at once (e.g. a channel not configured): the sender says so itself
		}
		m.log.Log(ctx, level, "notification given up", "alert", n.AlertID, "channel", n.Channel, "unit", n.Target.Unit, "attempts", n.Attempts, "err", err)
		m.save(ctx, n, false, now)
	}
}

// refresh schedules the same notice again for a channel that forgets alerts
// not re-sent (Alertmanager), for as long as the alert is not resolved.
func (m *Manager) refresh(ctx context.Context, n Notification, at time.Time) {
	base, _, _ := strings.Cut(n.ID, "#")
	n.Refreshes++
	n.ID = base + "#" + strconv.Itoa(n.Refreshes)
	n.Attempts, n.State, n.LastError, n.SentAt, n.Created = 0, "pending", "", nil, at
	b, _ := json.Marshal(n)
	_, err := m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, keyNote+n.ID, b, 0)
		p.ZAddNX(ctx, keyOutbox, redis.Z{Score: float64(at.UnixMilli()), Member: n.ID})
		return nil
	})
	if err != nil {
		m.log.Error("schedule a refresh", "id", n.ID, "err", err)
	}
}

// save stores a notification and either schedules its next attempt or
// takes it off the outbox.
func (m *Manager) save(ctx context.Context, n Notification, again bool, at time.Time) {
	b, _ := json.Marshal(n)
	_, err := m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, keyNote+n.ID, b, 0)
		if again {
			p.ZAdd(ctx, keyOutbox, redis.Z{Score: float64(at.UnixMilli()), Member: n.ID})
		} else {
			p.ZRem(ctx, keyOutbox, n.ID)
		}
		return nil
	})
	if err != nil {
		m.log.Error("save notification", "id", n.ID, "err", err)
	}
}

// backoff is the wait before attempt n+1: 5 s doubling to 10 minutes.
func backoff(attempts int) time.Duration {
	d := 5 * time.Second << min(attempts-1, 7)
	return min(d, 10*time.Minute)
}

// Run ticks every interval until ctx ends.
func (m *Manager) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Tick(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("alert tick", "err", err)
			}
		}
	}
}
