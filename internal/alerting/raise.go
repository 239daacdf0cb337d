package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/risk"
)

// Raise opens an alert for a notice of the schedules (a missing zero
// report, a 督办, a reminder) and sends it to the duty officers of its
// target units through the channels the policy gives its colour. The same
// key raises one alert, however often it is raised. A notice that is Info
// is delivered and closed at once: nothing to acknowledge. Notices do not
// escalate by the policy's deadlines: whoever raises them repeats them
// (Remind) or closes them (CloseNotice).
func (m *Manager) Raise(ctx context.Context, n alerts.Notice) (Alert, error) {
	now := m.now()
	id := alertID("notice/" + n.Key)
	var p Snapshot
	var ok bool
	if lc, has := m.router.(interface {
		LevelChannels(risk.Level) (Snapshot, bool)
	}); has {
		p, ok = lc.LevelChannels(n.Level)
	} else {
		p, _, ok = m.router.Route(n.Level, n.Unit, now)
	}
	channels := p.Channels
	if !ok || len(channels) == 0 {
		m.log.Warn("the escalation policy pages no one at a notice's colour: it is recorded, not sent", "kind", n.Kind, "level", n.Level.String())
	}
	a := Alert{ID: id, Event: "notice/" + n.Key, Subject: risk.SubjectID{Kind: risk.Kind(n.Kind), Ref: n.Ref}, Kind: n.Kind,
		Title: n.Title, Unit: n.Unit, Level: n.Level, State: Open, OpenedAt: now, Explanation: n.Explanation,
		Policy: Snapshot{Tiers: p.Tiers, Channels: channels, AckWithin: p.AckWithin}}
	for _, u := range n.Targets {
		a.Notified = append(a.Notified, Target{Unit: u, Tier: m.tierOf(u), Channels: channels})
	}
	if n.Info {
		a.State, a.ResolvedBy, a.ResolvedAt, a.ResolveReason = Resolved, "system", &now, "通知, 无需签收"
	}
	b, _ := json.Marshal(a)
	created, err := m.rdb.SetNX(ctx, keyAlert+id, b, 0).Result()
	if err != nil {
		return Alert{}, fmt.Errorf("raise a notice: %w", err)
	}
	if !created {
		// Raised before: finish what a crash may have left undone. Every
		// step is idempotent.
		if a, err = m.Get(ctx, id); err != nil {
			return Alert{}, err
		}
	}
	opened := redis.Z{Score: float64(a.OpenedAt.UnixMilli()), Member: id}
	_, err = m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, keyAll, opened)
		if a.State != Resolved {
			p.ZAdd(ctx, keyOpen, opened)
			p.ZAdd(ctx, keyOpenAt+a.Level.String(), opened)
		}
		return nil
	})
	if err != nil {
		return Alert{}, fmt.Errorf("index a notice: %w", err)
	}
	if !created && a.State == Resolved && !n.Info {
		return a, nil
	}
	return a, m.enqueue(ctx, a, a.Notified, false, a.OpenedAt)
}

// tierOf names a unit's tier for a target, from the router's jurisdiction.
func (m *Manager) tierOf(unit string) string {
	if t, ok := m.router.(interface{ TierOf(string) string }); ok {
		return t.TierOf(unit)
	}
	return ""
}

// Remind sends the notice raised under key to its targets again, as
// reminder round (1, 2, …): once per round, and only while it is open and
// unacknowledged.
func (m *Manager) Remind(ctx context.Context, key string, round int) error {
	a, err := m.Get(ctx, alertID("notice/"+key))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil || a.State != Open || round < 1 {
		return err
	}
	targets := make([]Target, len(a.Notified))
	for i, t := range a.Notified {
		t.Step = round
		targets[i] = t
	}
	return m.enqueue(ctx, a, targets, false, m.now())
}

// CloseNotice resolves the notice raised under key, if it is open, and
// tells its targets if tell is set (a report that came), not if the
// notice has only lapsed (a day's report never filed).
func (m *Manager) CloseNotice(ctx context.Context, key, reason string, tell bool) error {
	id := alertID("notice/" + key)
	a, err := m.Get(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && a.State == Resolved) {
		return nil
	}
	if err != nil {
		return err
	}
	return m.resolveTelling(ctx, id, "system", reason, m.now(), tell)
}
