package app

import (
	"context"
	"fmt"
	"time"

	"fengqiao/alerts"
	"fengqiao/internal/alerting"
	"fengqiao/internal/casework"
	"fengqiao/internal/config"
	"fengqiao/internal/jobs"
	"fengqiao/internal/reporting"
	"fengqiao/schedule"
)

// newSchedules loads the reporting calendar, makes the zero and daily
// reports' service, and the runner of every scheduled job.
func (a *App) newSchedules(cfg config.Config, now func() time.Time) error {
	var policy *schedule.Policy
	if cfg.SchedulePolicy != "" {
		var err error
		if policy, err = schedule.LoadPolicy(cfg.SchedulePolicy); err != nil {
			return err
		}
		var cal schedule.Calendar
		if a.cal != nil {
			cal = a.cal
		}
		a.reporting = reporting.New(a.rdb, policy, cal, a.tree, now, a.base.With("component", "reports"))
		a.reporting.Board = a.scorer
		if a.alerting != nil {
			a.reporting.Alerts = a.alerting
			a.reporting.Notifier = notifier{a}
		}
		if a.cases != nil {
			a.reporting.Cases = a.cases
		}
		a.reg.MustRegister(a.reporting.Collector())
	}
	specs := schedule.Policy{}.Jobs
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return err
	}
	if policy != nil {
		specs, loc = policy.Jobs, policy.Location()
	} else {
		specs = schedule.DefaultJobs()
	}
	js := []*jobs.Job{
		{Name: "rescore", Spec: specs.Rescore, Run: func(ctx context.Context, _ time.Time) error {
			_, err := a.scorer.Sweep(ctx)
			return err
		}},
	}
	if a.cases != nil {
		js = append(js, &jobs.Job{Name: "case-overdue", Spec: specs.CaseSweep, Run: func(ctx context.Context, _ time.Time) error {
			_, err := a.cases.Sweep(ctx)
			return err
		}})
		if policy != nil && a.alerting != nil {
			js = append(js, &jobs.Job{Name: "follow-up-reminders", Spec: specs.FollowUpReminders, Run: func(ctx context.Context, _ time.Time) error {
				_, err := a.cases.RemindFollowUps(ctx, 2*24*time.Hour, policy.ZeroReport.AlertLevel, notifier{a})
				return err
			}})
		}
	}
	if policy != nil && a.alerting != nil {
		sup := casework.SupervisionPolicy{Level: policy.Supervision.Level, ListedAfter: time.Duration(policy.Supervision.ListedAfter),
			ListedLevel: policy.Supervision.ListedLevel}
		js = append(js, &jobs.Job{Name: "supervision", Spec: specs.Supervision, Run: func(ctx context.Context, _ time.Time) error {
			if a.cases != nil {
				if _, err := a.cases.Supervise(ctx, sup, notifier{a}); err != nil {
					return err
				}
			}
			_, err := a.alerting.Supervise(ctx, alerting.SupervisionPolicy(sup))
			return err
		}})
	}
	if a.reporting != nil {
		at := policy.DailyReport.At
		js = append(js,
			&jobs.Job{Name: "zero-report-check", Spec: specs.ZeroReportCheck, Run: func(ctx context.Context, _ time.Time) error {
				return a.reporting.Check(ctx)
			}},
			&jobs.Job{Name: "daily-report", Spec: fmt.Sprintf("%d %d * * *", at.Minutes%60, at.Minutes/60),
				CatchUp: 7 * 24 * time.Hour, Run: a.reporting.MakeDaily})
	}
	a.jobs, err = jobs.New(a.rdb, loc, now, a.consumer.Name, a.base.With("component", "jobs"), a.reg, js...)
	return err
}

// RunJobs runs every scheduled job due at the clock's now: what the job
// runner does every few seconds, for tests that move the clock.
func (a *App) RunJobs(ctx context.Context) { a.jobs.Tick(ctx) }

// notifier raises the schedules' notices as alerts.
type notifier struct{ a *App }

func (n notifier) Notify(ctx context.Context, no alerts.Notice) error {
	_, err := n.a.alerting.Raise(ctx, no)
	return err
}

func (n notifier) Remind(ctx context.Context, key string, round int) error {
	return n.a.alerting.Remind(ctx, key, round)
}

func (n notifier) Close(ctx context.Context, key, reason string, tell bool) error {
	return n.a.alerting.CloseNotice(ctx, key, reason, tell)
}
