package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

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
