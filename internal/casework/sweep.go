package casework

import (
	"context"
	"errors"
	"fmt"

	"fengqiao/cases"
	"fengqiao/internal/casestore"
)

// Sweep finds the clocks that have run past their due time and, once for
// each, records 超期 in the case's history and sends the overdue case event
// to the engine. It returns how many it newly found. It is safe to run on
// several instances at once: each late clock is reported by one of them.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.Now()
	late, err := s.Store.Overdue(ctx, now)
	if err != nil {
		return 0, err
	}
	found := 0
	for _, l := range late {
		fresh, err := s.Store.Flag(ctx, l)
		if err != nil {
			return found, fmt.Errorf("flag an overdue clock: %w", err)
		}
		if !fresh {
			continue
		}
		if err := s.markOverdue(ctx, l); err != nil {
			_ = s.Store.Unflag(ctx, l)
			return found, err
		}
		found++
		s.Metrics.overdue(l.Clock)
	}
	return found, nil
}

func (s *Service) markOverdue(ctx context.Context, l casestore.Late) error {
	for attempt := 0; attempt < 5; attempt++ {
		c, err := s.Store.Get(ctx, l.Number)
		if errors.Is(err, casestore.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		k := c.Clock(l.Clock)
		if k == nil || !k.Overdue(s.Now()) {
			return nil // met or extended since
		}
		was := c.Version
		ev := cases.MarkOverdueEvent(c, []cases.Clock{*k}, s.Now())
		err = s.Store.Save(ctx, was, c, []cases.Event{ev}, s.records(c, ev))
		if errors.Is(err, casestore.ErrRaced) {
			continue
		}
		return err
	}
	return fmt.Errorf("mark case %s overdue: it kept changing", l.Number)
}
