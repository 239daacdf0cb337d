package casework

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"fengqiao/alerts"
	"fengqiao/cases"
	"fengqiao/internal/casestore"
	"fengqiao/risk"
)

// Notifier raises notices to duty officers.
type Notifier interface {
	Notify(ctx context.Context, n alerts.Notice) error
}

// SupervisionPolicy is when overdue clocks are supervised.
type SupervisionPolicy struct {
	Level       risk.Level    // the colour of a 督办 notice
	ListedAfter time.Duration // still overdue this long after its 督办: 挂牌督办
	ListedLevel risk.Level    // the colour of a 挂牌督办 notice
}

// Supervise raises 督办 for every overdue clock of a case not yet
// supervised, to the handling unit, and 挂牌督办, to the unit above it, for
// one still overdue ListedAfter after its 督办. Each is recorded on the case
// (its history, and the supervised case event the engine scores) and told
// through n. It returns how many it raised, and is idempotent.
func (s *Service) Supervise(ctx context.Context, p SupervisionPolicy, n Notifier) (int, error) {
	now := s.Now()
	late, err := s.Store.Overdue(ctx, now)
	if err != nil {
		return 0, err
	}
	raised := 0
	for _, l := range late {
		did, err := s.supervise(ctx, l, p, n, now)
		if err != nil {
			return raised, err
		}
		if did {
			raised++
		}
	}
	return raised, nil
}

func (s *Service) supervise(ctx context.Context, l casestore.Late, p SupervisionPolicy, n Notifier, now time.Time) (bool, error) {
	for attempt := 0; attempt < 5; attempt++ {
		c, err := s.Store.Get(ctx, l.Number)
		if errors.Is(err, casestore.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		k := c.Clock(l.Clock)
		if k == nil || !k.Overdue(now) {
			return false, nil
		}
		first := c.Supervised(k.Name, k.Due, false)
		listed, unit, level := false, c.Handler(), p.Level
		switch {
		case first == nil:
		case c.Supervised(k.Name, k.Due, true) == nil && now.Sub(first.At) >= p.ListedAfter:
			listed, level = true, p.ListedLevel
			if up, ok := s.Flow.Units.Parent(c.Handler()); ok {
				unit = up.Code
			}
		default:
			return false, nil
		}
		// Told first, then recorded: a crash in between tells again under
		// the same key, which raises nothing new.
		if err := n.Notify(ctx, s.supervisionNotice(c, *k, listed, unit, level)); err != nil {
			return false, fmt.Errorf("notify the 督办 of case %s: %w", c.Number, err)
		}
		was := c.Version
		ev := cases.SuperviseEvent(c, *k, listed, unit, now)
		err = s.Store.Save(ctx, was, c, []cases.Event{ev}, s.records(c, ev))
		if errors.Is(err, casestore.ErrRaced) {
			continue
		}
		if err != nil {
			return false, err
		}
		s.Metrics.supervised(listed)
		return true, nil
	}
	return false, fmt.Errorf("supervise case %s: it kept changing", l.Number)
}

func (s *Service) supervisionNotice(c *cases.Case, k cases.Clock, listed bool, unit string, level risk.Level) alerts.Notice {
	what, kind := "督办", "supervision"
	if listed {
		what, kind = "挂牌督办", "listed_supervision"
	}
	handler, _ := s.Flow.Units.Unit(c.Handler())
	return alerts.Notice{
		Key:  fmt.Sprintf("%s/%s/%s/%d", kind, c.Number, k.Name, k.Due.Unix()),
		Kind: kind, Ref: c.Number, Unit: c.Handler(), Level: level,
		Title: fmt.Sprintf("%s: 案件 %s %s超期", what, c.Number, k.Name.Chinese()),
		Explanation: fmt.Sprintf("%s(%s)承办的%s案件, %s应于 %s 前完成, 现已超期; 依据: %s。请即办理并报告进展。",
			handler.Name, orDash(orgOf(c)), c.Category, k.Name.Chinese(), k.Due.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04"), orDash(k.Basis)),
		// Delivered and put on the case's record, not held open as an
		// alert: the case itself is what is to be done.
		Targets: []string{unit}, Info: true,
	}
}

func orgOf(c *cases.Case) string {
	if c.Assignment != nil {
		return c.Assignment.Organisation
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// RemindFollowUps tells each handling unit of its closed cases whose
// follow-up (回访) is due within the next period or late: one notice per
// unit and day, listing them.
func (s *Service) RemindFollowUps(ctx context.Context, within time.Duration, level risk.Level, n Notifier) (int, error) {
	now := s.Now()
	due, err := s.Store.Overdue(ctx, now.Add(within))
	if err != nil {
		return 0, err
	}
	byUnit := map[string][]string{}
	for _, l := range due {
		if l.Clock != cases.FollowUpClock {
			continue
		}
		c, err := s.Store.Get(ctx, l.Number)
		if err != nil {
			if errors.Is(err, casestore.ErrNotFound) {
				continue
			}
			return 0, err
		}
		mark := ""
		if l.Due.Before(now) {
			mark = " (已超期)"
		}
		byUnit[c.Handler()] = append(byUnit[c.Handler()], fmt.Sprintf("%s 应于 %s 前回访%s", c.Number,
			l.Due.In(time.FixedZone("CST", 8*3600)).Format("01-02"), mark))
	}
	units := make([]string, 0, len(byUnit))
	for u := range byUnit {
		units = append(units, u)
	}
	sort.Strings(units)
	day := now.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	for _, u := range units {
		items := byUnit[u]
		err := n.Notify(ctx, alerts.Notice{Key: "follow_up/" + u + "/" + day, Kind: "follow_up", Ref: u + "/" + day, Unit: u,
			Level: level, Title: fmt.Sprintf("回访提醒: %d 件案件待回访", len(items)),
			Explanation: strings.Join(items, "; "), Targets: []string{u}, Info: true})
		if err != nil {
			return 0, err
		}
	}
	return len(units), nil
}
