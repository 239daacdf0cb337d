package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"fengqiao/cases"
	"fengqiao/internal/casestore"
	"fengqiao/signals"
)

// LoadDemoSignals sends the sample signals in dir (*.json, each one signal or
// an array) through the same validation as the API. Their times are shifted
// together so that the latest happened a few minutes ago: the samples keep
// their spacing and stay inside the rules' windows whatever today's date is.
func (a *App) LoadDemoSignals(ctx context.Context, dir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("no sample signals (*.json) in %s", dir)
	}
	sort.Strings(files)
	var all []signals.Signal
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, fmt.Errorf("read sample signals: %w", err)
		}
		sigs, err := signals.Decode(b)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, sigs...)
	}
	var latest time.Time
	for _, s := range all {
		if s.OccurredAt.After(latest) {
			latest = s.OccurredAt
		}
	}
	now := a.now()
	shift := now.Add(-5 * time.Minute).Sub(latest)
	recs := make([]signals.Record, len(all))
	for i := range all {
		all[i].OccurredAt = all[i].OccurredAt.Add(shift)
		if errs := a.api.Validator.Validate(&all[i], ""); len(errs) > 0 {
			return 0, fmt.Errorf("sample signal %s: %w", all[i].Key(), &signals.ValidationError{Errors: errs})
		}
		recs[i] = a.pseudo.Record(&all[i], now)
	}
	fresh, err := a.producer.Append(ctx, recs)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range fresh {
		if f {
			n++
		}
	}
	return n, nil
}

// LoadDemoCases registers the sample cases in file and takes each one's
// steps, as the city's demo administrator, so that the workflow has cases
// in every stage to look at. Registering them again is a no-op.
func (a *App) LoadDemoCases(ctx context.Context, file string) (int, error) {
	if a.cases == nil {
		return 0, errors.New("sample cases need a case policy (case_policy)")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("read sample cases: %w", err)
	}
	var samples []struct {
		Case  cases.Case  `json:"case"`
		Steps []cases.Act `json:"steps"`
	}
	if err := json.Unmarshal(b, &samples); err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	demo := cases.Actor{ID: "demo", Name: "演示管理员", Role: cases.RoleAdmin, Unit: a.tree.Root().Code}
	n := 0
	for i, s := range samples {
		c, err := a.cases.Register(ctx, &s.Case, demo)
		var dup *casestore.DuplicateError
		if errors.As(err, &dup) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("%s: sample %d: %w", file, i+1, err)
		}
		for _, act := range s.Steps {
			if act.Session != nil && act.Session.Date.IsZero() {
				act.Session.Date = a.now()
			}
			if _, _, err := a.cases.Act(ctx, c.Number, act, demo); err != nil {
				return n, fmt.Errorf("%s: sample %d: step %s: %w", file, i+1, act.Action, err)
			}
		}
		n++
	}
	return n, nil
}
