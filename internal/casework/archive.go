package casework

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"fengqiao/cases"
	"fengqiao/internal/casestore"
)

// ArchiveBatch archives a unit's cases together in one reconciliation batch
// (对账销号). Every case must be the unit's (registered in its subtree) and
// ready for the archive (followed up, or declined); otherwise nothing is
// archived and each problem is listed.
func (s *Service) ArchiveBatch(ctx context.Context, unit string, numbers []string, by cases.Actor) (casestore.Batch, error) {
	if _, ok := s.Flow.Units.Unit(unit); !ok {
		return casestore.Batch{}, &cases.InvalidError{Field: "unit", Message: "is not a unit of the jurisdiction"}
	}
	if !s.Flow.Units.Contains(by.Unit, unit) {
		return casestore.Batch{}, &cases.ForbiddenError{Message: "a unit's batch is reconciled by the unit or one above it"}
	}
	if len(numbers) == 0 || len(numbers) > 1000 {
		return casestore.Batch{}, &cases.InvalidError{Field: "numbers", Message: "list the 1 to 1000 case numbers the batch archives"}
	}
	now := s.Now()
	id, err := s.Store.NextBatch(ctx, unit, now)
	if err != nil {
		return casestore.Batch{}, err
	}
	type step struct {
		c   *cases.Case
		was int
		ev  cases.Event
	}
	var steps []step
	var problems []cases.BatchProblem
	for i, n := range numbers {
		if slices.Contains(numbers[:i], n) {
			problems = append(problems, cases.BatchProblem{Number: n, Message: "is listed twice"})
			continue
		}
		c, err := s.Store.Get(ctx, n)
		if errors.Is(err, casestore.ErrNotFound) {
			problems = append(problems, cases.BatchProblem{Number: n, Message: "no such case"})
			continue
		}
		if err != nil {
			return casestore.Batch{}, err
		}
		if !s.Flow.Units.Contains(unit, c.Unit) {
			problems = append(problems, cases.BatchProblem{Number: n, Message: "was not registered in this unit"})
			continue
		}
		was := c.Version
		ev, err := s.Flow.Apply(c, cases.Act{Action: cases.Archive, Batch: id}, by, now)
		if err != nil {
			problems = append(problems, cases.BatchProblem{Number: n, Message: err.Error()})
			continue
		}
		steps = append(steps, step{c, was, ev})
	}
	if len(problems) > 0 {
		return casestore.Batch{}, &cases.BatchError{Problems: problems}
	}
	b := casestore.Batch{ID: id, Unit: unit, At: now, By: by.Name, Numbers: numbers}
	if err := s.Store.SaveBatch(ctx, b); err != nil {
		return casestore.Batch{}, err
	}
	for _, st := range steps {
		if err := s.Store.Save(ctx, st.was, st.c, []cases.Event{st.ev}, s.records(st.c, st.ev)); err != nil {
			// Only a step taken at the same moment by someone else gets
			// here; the cases saved so far stay archived in this batch.
			return casestore.Batch{}, fmt.Errorf("archive case %s of batch %s: %w", st.c.Number, id, err)
		}
		s.audit(ctx, by, st.c, st.ev)
		s.Metrics.acted(nil, st.c, st.ev)
	}
	return b, nil
}
