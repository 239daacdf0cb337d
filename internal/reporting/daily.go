package reporting

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"fengqiao/alerts"
	"fengqiao/cases"
	"fengqiao/internal/alerting"
	"fengqiao/internal/casestore"
	"fengqiao/internal/scoring"
	"fengqiao/risk"
	"fengqiao/schedule"
)

// Board lists the subjects at a colour and above.
type Board interface {
	Board(ctx context.Context, q scoring.BoardQuery) ([]scoring.BoardEntry, int, error)
}

// AlertLister lists alerts.
type AlertLister interface {
	List(ctx context.Context, f alerting.Filter) ([]alerting.Alert, error)
}

// CaseLister lists cases.
type CaseLister interface {
	List(ctx context.Context, q casestore.Query) ([]*cases.Case, int, error)
}

// maxRises bounds the rises a daily report lists.
const maxRises = 50

// Build makes a unit's daily report for a date ("2026-11-23"), covering
// the 24 hours up to that day's report time (or up to now, before it).
// The colours are those of now: a past day's report, made late, shows
// the colours at the time it is made.
func (s *Service) Build(ctx context.Context, unit, date string) (*schedule.Daily, error) {
	u, ok := s.Units.Unit(unit)
	if !ok {
		return nil, &schedule.FieldError{Field: "unit", Message: "is not a unit of the jurisdiction"}
	}
	loc := s.Policy.Location()
	day, err := time.ParseInLocation("2006-01-02", date, loc)
	if err != nil {
		return nil, &schedule.FieldError{Field: "date", Message: "give the date as 2026-11-23"}
	}
	// A report covers the 24 hours up to its time of day, so that one day's
	// report begins where the day before's ended and nothing falls between.
	now := s.Now()
	to := s.Policy.DailyReport.At.On(day, loc)
	from := to.Add(-24 * time.Hour)
	if now.Before(to) {
		to = now
	}
	d := &schedule.Daily{Unit: u.Code, UnitName: u.Name, Date: date, From: from, To: to, MadeAt: now}
	inScope := func(code string) bool { return s.Units.Contains(u.Code, code) }
	within := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }

	if err := s.colours(ctx, d, inScope, within); err != nil {
		return nil, err
	}
	if s.Alerts != nil {
		as, err := s.Alerts.List(ctx, alerting.Filter{InScope: inScope, Limit: 5000})
		if err != nil {
			return nil, fmt.Errorf("read alerts: %w", err)
		}
		d.Alerts = alertStats(as, within)
	}
	if s.Cases != nil {
		cs, _, err := s.Cases.List(ctx, casestore.Query{Unit: u.Code, Limit: 100_000, Now: now})
		if err != nil {
			return nil, fmt.Errorf("read cases: %w", err)
		}
		d.Cases = caseStats(cs, within, now)
	}
	for _, cp := range s.Policy.Checkpoints(day, s.Calendar) {
		filings, err := s.store.filings(ctx, cp.ID)
		if err != nil {
			return nil, err
		}
		for _, r := range s.rows(s.Units.Subtree(u.Code), cp, filings, now) {
			if r.Unit == u.Code {
				continue // the unit's own report is not its children's compliance
			}
			row := schedule.ZeroReportRow{Unit: r.Unit, UnitName: r.Name, Checkpoint: cp.ID, Status: r.Status}
			if f := r.Filing; f != nil {
				t := f.FiledAt
				row.FiledAt, row.Officer, row.Incidents = &t, f.Officer, len(f.Incidents)
			}
			d.ZeroReports = append(d.ZeroReports, row)
		}
	}
	d.ZeroSummary = schedule.Summarise(d.ZeroReports)
	return d, nil
}

func (s *Service) colours(ctx context.Context, d *schedule.Daily, inScope func(string) bool, within func(time.Time) bool) error {
	if s.Board == nil {
		return nil
	}
	entries, _, err := s.Board.Board(ctx, scoring.BoardQuery{MinLevel: risk.Blue, InScope: inScope, Limit: 100_000})
	if err != nil {
		return fmt.Errorf("read the board: %w", err)
	}
	prev, err := s.store.daily(ctx, d.Unit, d.To.In(s.Policy.Location()).AddDate(0, 0, -1).Format("2006-01-02"))
	if err != nil && !errors.Is(err, ErrNoReport) {
		return err
	}
	for _, l := range []risk.Level{risk.Red, risk.Orange, risk.Yellow, risk.Blue} {
		c := schedule.ColourCount{Level: l}
		for _, e := range entries {
			if e.Level != l {
				continue
			}
			if e.Subject.Kind == risk.Person {
				c.Persons++
			} else {
				c.Disputes++
			}
		}
		if prev != nil {
			for _, p := range prev.Colours {
				if p.Level == l {
					ch := c.Persons + c.Disputes - p.Persons - p.Disputes
					c.Change = &ch
				}
			}
		}
		d.Colours = append(d.Colours, c)
	}
	for _, e := range entries {
		if e.Level >= risk.Yellow && within(e.RaisedAt) && len(d.Rises) < maxRises {
			unit, _ := s.Units.Unit(e.Unit)
			d.Rises = append(d.Rises, schedule.Rise{Subject: e.Subject, Name: e.Name, Unit: e.Unit, UnitName: unit.Name,
				Level: e.Level, At: e.RaisedAt, Reasons: e.Explanation})
		}
	}
	return nil
}

func alertStats(as []alerting.Alert, within func(time.Time) bool) schedule.AlertStats {
	var st schedule.AlertStats
	var acks []float64
	for _, a := range as {
		if a.Kind != "" {
			continue // notices (missing reports, 督办) are not risk alerts
		}
		if a.State == alerting.Open {
			st.StillOpen++
		}
		if within(a.OpenedAt) {
			st.Opened++
			if a.Step > 0 {
				st.Escalated++
			}
		}
		if a.AckedAt != nil && within(*a.AckedAt) {
			st.Acknowledged++
			acks = append(acks, a.AckedAt.Sub(a.OpenedAt).Minutes())
		}
	}
	if len(acks) > 0 {
		sort.Float64s(acks)
		st.MedianAckMinutes = acks[len(acks)/2]
		if len(acks)%2 == 0 {
			st.MedianAckMinutes = (acks[len(acks)/2-1] + acks[len(acks)/2]) / 2
		}
		st.MaxAckMinutes = acks[len(acks)-1]
	}
	return st
}

func caseStats(cs []*cases.Case, within func(time.Time) bool, now time.Time) schedule.CaseStats {
	var st schedule.CaseStats
	for _, c := range cs {
		if within(c.RegisteredAt) {
			st.Registered++
		}
		if !c.ClosedAt.IsZero() && within(c.ClosedAt) {
			st.Closed++
			switch c.Outcome {
			case cases.Agreed:
				st.Agreed++
			case cases.Failed:
				st.Failed++
			}
		}
		if c.Open() {
			st.Open++
		}
		if len(c.Overdue(now)) > 0 {
			st.Overdue++
		}
	}
	if st.Agreed+st.Failed > 0 {
		r := float64(st.Agreed) / float64(st.Agreed+st.Failed)
		st.SuccessRate = &r
	}
	return st
}

// Daily returns a stored daily report.
func (s *Service) Daily(ctx context.Context, unit, date string) (*schedule.Daily, error) {
	return s.store.daily(ctx, unit, date)
}

// MakeDaily is the daily-report job: for the date of the firing, each unit
// of the policy's tiers gets its report made, stored, and sent to its
// parent unit (the top unit's to itself). It is idempotent per date.
func (s *Service) MakeDaily(ctx context.Context, fire time.Time) error {
	date := fire.In(s.Policy.Location()).Format("2006-01-02")
	var errs []error
	for _, u := range s.Units.Units() {
		if !slices.Contains(s.Policy.DailyReport.Tiers, u.Tier) {
			continue
		}
		d, err := s.Build(ctx, u.Code, date)
		if err == nil {
			err = s.store.saveDaily(ctx, d)
		}
		if err == nil && s.Notifier != nil {
			err = s.Notifier.Notify(ctx, s.dailyNotice(d))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("daily report of %s: %w", u.Code, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) dailyNotice(d *schedule.Daily) alerts.Notice {
	to := d.Unit
	if p, ok := s.Units.Parent(d.Unit); ok {
		to = p.Code
	}
	count := map[risk.Level]int{}
	for _, c := range d.Colours {
		count[c.Level] = c.Persons + c.Disputes
	}
	rate := "—"
	if c := d.ZeroSummary.Compliance; c != nil {
		rate = fmt.Sprintf("%.0f%%", *c*100)
	}
	return alerts.Notice{
		Key: "daily_report/" + d.Unit + "/" + d.Date, Kind: "daily_report", Ref: d.Unit + "/" + d.Date, Unit: d.Unit, Level: risk.Blue,
		Title: fmt.Sprintf("日报: %s %s", d.UnitName, d.Date),
		Explanation: fmt.Sprintf("红 %d, 橙 %d, 黄 %d, 蓝 %d; 新增升级 %d; 预警 %d 起(已签收 %d); 案件登记 %d, 结案 %d, 超期 %d; 零报告报送率 %s。",
			count[risk.Red], count[risk.Orange], count[risk.Yellow], count[risk.Blue], len(d.Rises), d.Alerts.Opened, d.Alerts.Acknowledged,
			d.Cases.Registered, d.Cases.Closed, d.Cases.Overdue, rate),
		Targets: []string{to}, Info: true,
	}
}
