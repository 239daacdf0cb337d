package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fengqiao/cases"
	"fengqiao/internal/api"
	"fengqiao/internal/auth"
	"fengqiao/internal/casestore"
	"fengqiao/internal/casework"
	"fengqiao/internal/config"
	"fengqiao/internal/scoring"
	"fengqiao/risk"
	"fengqiao/signals"
)

// forwardGroup is the consumer group that moves case events from the case
// outbox to the signal stream.
const forwardGroup = "forward"

// newCases loads the case policy and makes the workflow, its store, its
// metrics and the forwarder of its events to the engine.
func (a *App) newCases(cfg config.Config, now func() time.Time) error {
	policy, err := cases.LoadPolicy(cfg.CasePolicy, a.tree, cfg.Categories)
	if err != nil {
		return err
	}
	flow := &cases.Workflow{Policy: policy, Units: a.tree, Categories: cfg.Categories}
	if a.cal != nil {
		flow.Calendar = a.cal
	}
	store := casestore.New(a.rdb, a.tree)
	a.cases = &casework.Service{
		Store: store, Flow: flow, Pseudo: a.pseudo, Sealer: a.sealer, Subjects: levels{a.scorer}, Audit: caseAuditor{auditor{a.audit}},
		Validator: &signals.Validator{Categories: cfg.Categories, Now: now, KnownUnit: func(code string) bool { _, ok := a.tree.Unit(code); return ok }},
		Now:       now, Log: a.base.With("component", "cases"),
		Metrics: casework.NewMetrics(a.reg, store, cfg.Categories, now),
	}
	a.caseOutbox = &signals.Consumer{
		RDB: a.rdb, Stream: signals.Stream{Key: casestore.OutboxKey, DeadLetter: casestore.OutboxDeadKey, Owner: casestore.OutboxKey + ":owner"},
		Group: forwardGroup, Name: a.consumer.Name, Handler: casework.Forwarder{Signals: a.producer},
		Log: a.base.With("component", "case-events"), Now: now, Batch: 64, Block: a.consumer.Block,
		ClaimIdle: a.consumer.ClaimIdle, Attempts: 5, RetryDelay: 200 * time.Millisecond, Retention: 24 * time.Hour,
		Lease: 10 * time.Second, // case events in the order they happened
	}
	if err := a.caseOutbox.EnsureGroup(context.Background()); err != nil {
		return err
	}
	a.log.Info("case policy loaded", "types", len(policy.Types), "routes", len(policy.Routes), "auto_open", policy.AutoOpen.Enabled)
	return nil
}

// reportsAPI is the reports for the API, or nil when there are none.
func (a *App) reportsAPI() api.Reports {
	if a.reporting == nil {
		return nil
	}
	return a.reporting
}

// casesAPI is the workflow for the API, or nil when there is none.
func (a *App) casesAPI() api.Cases {
	if a.cases == nil {
		return nil
	}
	return a.cases
}

// SweepCases records every case clock newly past its due time (超期) and
// reports how many it found.
func (a *App) SweepCases(ctx context.Context) (int, error) {
	if a.cases == nil {
		return 0, nil
	}
	return a.cases.Sweep(ctx)
}

// caseAuditor writes case steps to the audit log as the actor's acts.
type caseAuditor struct{ auditor }

func (c caseAuditor) Record(ctx context.Context, by cases.Actor, action, subject, detail string) error {
	return c.auditor.Record(ctx, auth.Principal{TokenID: by.ID, Name: by.Name, Role: auth.Role(by.Role), Unit: by.Unit}, action, subject, detail)
}

// levels reads a subject's colour for the case workflow.
type levels struct{ scorer *scoring.Scorer }

func (l levels) Level(ctx context.Context, id risk.SubjectID) (risk.Level, bool, error) {
	s, err := l.scorer.Subject(ctx, id)
	if errors.Is(err, scoring.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return s.Assessment.Level, true, nil
}

// disputes tells the workflow what the signals say of a dispute, for a case
// the engine opens: its latest category, the largest amount named, and its
// persons.
type disputes struct{ scorer *scoring.Scorer }

func (d disputes) Dispute(ctx context.Context, ref string) (casework.DisputeFacts, error) {
	id := risk.SubjectID{Kind: risk.Dispute, Ref: ref}
	var f casework.DisputeFacts
	recent, err := d.scorer.Recent(ctx, id, 50)
	if err != nil {
		return f, fmt.Errorf("read the dispute's signals: %w", err)
	}
	for _, ev := range recent {
		if f.Category == "" && ev.Category != "" {
			f.Category = ev.Category
		}
		f.Amount = max(f.Amount, ev.Amount)
	}
	subj, err := d.scorer.Subject(ctx, id)
	if err != nil && !errors.Is(err, scoring.ErrNotFound) {
		return f, err
	}
	for _, l := range subj.Linked {
		name := l.Name
		if name == "" {
			name = "待核实"
		}
		f.Parties = append(f.Parties, cases.Party{Role: "当事人", Name: name, Person: l.Subject.Ref})
	}
	return f, nil
}
