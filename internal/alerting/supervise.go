package alerting

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/risk"
)

// SupervisionPolicy is when alerts left unacknowledged are supervised.
type SupervisionPolicy struct {
	Level       risk.Level    // the colour of a 督办 notice
	ListedAfter time.Duration // still unacknowledged this long after its 督办: 挂牌督办
	ListedLevel risk.Level    // the colour of a 挂牌督办 notice
}

// Supervise raises 督办 for every alert about a subject left unacknowledged
// past its first deadline, to the alert's unit, and 挂牌督办, to the unit
// above it, for one still unacknowledged ListedAfter later; each is
// recorded on the alert. Escalation has told the tiers above already; this
// puts the lapse on the record and in front of the unit that owns it. It
// returns how many it raised, and is idempotent.
func (m *Manager) Supervise(ctx context.Context, p SupervisionPolicy) (int, error) {
	now := m.now()
	raised := 0
	for _, l := range risk.Levels[1:] {
		ids, err := m.rdb.ZRangeByScore(ctx, keyUnacked+l.String(), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10)}).Result()
		if err != nil {
			return raised, fmt.Errorf("read unacknowledged alerts: %w", err)
		}
		for _, id := range ids {
			did, err := m.supervise(ctx, id, p, now)
			if err != nil {
				return raised, err
			}
			if did {
				raised++
			}
		}
	}
	return raised, nil
}

func (m *Manager) supervise(ctx context.Context, id string, p SupervisionPolicy, now time.Time) (bool, error) {
	a, err := m.Get(ctx, id)
	if err != nil || a.State != Open || a.Kind != "" {
		return false, nil
	}
	var first *Supervision
	listed := false
	for i, s := range a.Supervisions {
		if s.Listed {
			listed = true
		} else {
			first = &a.Supervisions[i]
		}
	}
	to, level, isListed := a.Unit, p.Level, false
	switch {
	case first == nil:
	case !listed && now.Sub(first.At) >= p.ListedAfter:
		isListed, level = true, p.ListedLevel
		if up, ok := m.router.Escalate(Target{Unit: a.Unit}); ok {
			to = up.Unit
		}
	default:
		return false, nil
	}
	what, kind := "督办", "supervision"
	if isListed {
		what, kind = "挂牌督办", "listed_supervision"
	}
	n := alerts.Notice{
		Key: kind + "/alert/" + a.ID, Kind: kind, Ref: a.ID, Unit: a.Unit, Level: level,
		Title:       fmt.Sprintf("%s: %s预警 %s 逾期未签收", what, a.Level.Chinese(), a.Subject.Ref),
		Explanation: fmt.Sprintf("%s 发出的%s预警未在期限内签收。原因: %s", a.OpenedAt.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04"), a.Level.Chinese(), a.Explanation),
		Targets:     []string{to},
		Info:        true, // the alert itself stays open until acknowledged; the notice is on its record
	}
	if _, err := m.Raise(ctx, n); err != nil {
		return false, err
	}
	_, err = m.update(ctx, id, func(a *Alert) error {
		for _, s := range a.Supervisions {
			if s.Listed == isListed {
				return fmt.Errorf("%w: supervised already", ErrState)
			}
		}
		a.Supervisions = append(a.Supervisions, Supervision{Listed: isListed, Unit: to, At: now})
		return nil
	})
	if err != nil {
		return false, nil // supervised by another instance meanwhile, or no longer open
	}
	m.supervisions.WithLabelValues(kind).Inc()
	return true, nil
}
