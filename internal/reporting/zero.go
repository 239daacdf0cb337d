package reporting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/jurisdiction"
	"fengqiao/schedule"
)

// Units is the jurisdiction as reporting needs it.
type Units interface {
	Unit(code string) (jurisdiction.Unit, bool)
	Parent(code string) (jurisdiction.Unit, bool)
	Subtree(code string) []jurisdiction.Unit
	Contains(ancestor, code string) bool
	Units() []jurisdiction.Unit
}

// Notifier raises, repeats and closes notices to duty officers.
type Notifier interface {
	Notify(ctx context.Context, n alerts.Notice) error
	// Remind sends the notice raised under key again, as reminder round
	// (1, 2, …), unless it has been acknowledged or closed; once per round.
	Remind(ctx context.Context, key string, round int) error
	// Close resolves the notice raised under key, if there is one open,
	// telling its targets if tell is set.
	Close(ctx context.Context, key, reason string, tell bool) error
}

// Service runs zero reports and daily reports.
type Service struct {
	Policy   *schedule.Policy
	Calendar schedule.Calendar
	Units    Units
	Notifier Notifier // nil: no alerts
	Now      func() time.Time
	Log      *slog.Logger
	// Sources for the daily report.
	Board  Board
	Alerts AlertLister
	Cases  CaseLister

	store store
}

// New returns a Service over rdb; set the sources it reads before use.
func New(rdb redis.UniversalClient, p *schedule.Policy, cal schedule.Calendar, units Units, now func() time.Time, log *slog.Logger) *Service {
	return &Service{Policy: p, Calendar: cal, Units: units, Now: now, Log: log, store: store{rdb}}
}

// Filer is who files a report: a token's name and unit.
type Filer struct {
	Name string
	Unit string
}

// ForbiddenError is a filing for a unit outside the filer's jurisdiction.
type ForbiddenError struct{ Message string }

func (e *ForbiddenError) Error() string { return e.Message }

// File stores a unit's zero report. Without a unit it is the filer's own;
// without a checkpoint, the one open now. It returns the filing as stored,
// its status and its checkpoint, and closes the alert of a missing report.
func (s *Service) File(ctx context.Context, f schedule.ZeroReportFiling, by Filer) (schedule.ZeroReportFiling, schedule.Status, schedule.Checkpoint, error) {
	now := s.Now()
	var cp schedule.Checkpoint
	if f.Unit == "" {
		f.Unit = by.Unit
	}
	u, ok := s.Units.Unit(f.Unit)
	switch {
	case !ok:
		return f, "", cp, &schedule.FieldError{Field: "unit", Message: "is not a unit of the jurisdiction"}
	case !s.Units.Contains(by.Unit, f.Unit):
		return f, "", cp, &ForbiddenError{"a unit's zero report is filed by the unit or one above it"}
	case !s.Policy.Reports(u):
		return f, "", cp, &schedule.FieldError{Field: "unit", Message: fmt.Sprintf("%s is a %s unit, and the policy asks zero reports of %s units only", u.Name, u.Tier, tierList(s.Policy.ZeroReport.Tiers))}
	}
	if f.Checkpoint == "" {
		if cp, ok = s.Policy.Open(now, s.Calendar); !ok {
			return f, "", cp, &schedule.FieldError{Field: "checkpoint", Message: "today is not a reporting day: name the checkpoint the report is for, e.g. " + now.In(s.Policy.Location()).AddDate(0, 0, -1).Format("2006-01-02") + "T" + s.Policy.ZeroReport.Deadline.String()}
		}
		// On a day of several checkpoints, a report is for the earliest the
		// unit has not filed yet: a morning report filed at 09:30 is the
		// 09:00 one, late, not the afternoon's.
		for _, c := range s.Policy.Checkpoints(now, s.Calendar) {
			if c.Deadline.After(cp.Deadline) {
				break
			}
			filed, err := s.store.rdb.HExists(ctx, keyZero+c.ID, f.Unit).Result()
			if err != nil {
				return f, "", cp, fmt.Errorf("read zero reports: %w", err)
			}
			if !filed {
				cp = c
				break
			}
		}
	} else if cp, ok = s.Policy.Checkpoint(f.Checkpoint, s.Calendar); !ok {
		return f, "", cp, &schedule.FieldError{Field: "checkpoint", Message: "is not a reporting checkpoint: give one as 2026-11-23T16:00, on a reporting day at a deadline of the policy"}
	}
	if today, _ := s.Policy.Open(now, s.Calendar); cp.Deadline.After(now) && cp.ID != today.ID {
		return f, "", cp, &schedule.FieldError{Field: "checkpoint", Message: "is a later checkpoint: file today's first"}
	}
	if now.Sub(cp.Deadline) > 7*24*time.Hour {
		return f, "", cp, &schedule.FieldError{Field: "checkpoint", Message: "is more than 7 days past: it stays missing in the record"}
	}
	f.Checkpoint, f.FiledAt, f.FiledBy, f.RevisedAt = cp.ID, now, by.Name, nil
	f.Officer, f.Note = strings.TrimSpace(f.Officer), strings.TrimSpace(f.Note)
	if err := f.Check(); err != nil {
		return f, "", cp, err
	}
	f, err := s.store.file(ctx, f)
	if err != nil {
		return f, "", cp, err
	}
	if s.Notifier != nil {
		if err := s.Notifier.Close(ctx, zeroKey(f.Unit, cp.ID), "已报送零报告", true); err != nil {
			s.Log.Error("close the alert of a missing zero report; the next check closes it", "unit", f.Unit, "err", err)
		}
	}
	return f, schedule.StatusOf(cp, &f, now), cp, nil
}

func tierList(ts []jurisdiction.Tier) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.String()
	}
	return strings.Join(names, ", ")
}

func zeroKey(unit, checkpoint string) string { return "zero_report/" + unit + "/" + checkpoint }

// Row is one unit's zero report at a checkpoint.
type Row struct {
	Unit    string                     `json:"unit"`
	Name    string                     `json:"name"`
	Tier    string                     `json:"tier"`
	Parent  string                     `json:"parent"`
	Status  schedule.Status            `json:"status"`
	Chinese string                     `json:"status_chinese"`
	Filing  *schedule.ZeroReportFiling `json:"filing,omitempty"`
}

// Rollup counts a parent unit's reporting children by status: "枫桥镇: 12 村应报, 2 未报".
type Rollup struct {
	Unit      string `json:"unit"`
	Name      string `json:"name"`
	Due       int    `json:"due"`
	Filed     int    `json:"filed"`
	FiledLate int    `json:"filed_late"`
	Late      int    `json:"late"`
	Missing   int    `json:"missing"`
	Pending   int    `json:"pending"`
}

// Status returns, for a checkpoint (the one open now when empty), every
// reporting unit of a subtree with its status, and the roll-up per parent.
func (s *Service) Status(ctx context.Context, unit, checkpoint string) (schedule.Checkpoint, []Row, []Rollup, error) {
	now := s.Now()
	var cp schedule.Checkpoint
	var ok bool
	if checkpoint == "" {
		if cp, ok = s.Policy.Open(now, s.Calendar); !ok {
			recent := s.Policy.Recent(now, 7, s.Calendar)
			if len(recent) == 0 {
				return cp, nil, nil, &schedule.FieldError{Field: "checkpoint", Message: "no reporting checkpoint in the last 7 days"}
			}
			cp = recent[0]
		}
	} else if cp, ok = s.Policy.Checkpoint(checkpoint, s.Calendar); !ok {
		return cp, nil, nil, &schedule.FieldError{Field: "checkpoint", Message: "is not a reporting checkpoint: give one as 2026-11-23T16:00"}
	}
	filings, err := s.store.filings(ctx, cp.ID)
	if err != nil {
		return cp, nil, nil, err
	}
	rows := s.rows(s.Units.Subtree(unit), cp, filings, now)
	return cp, rows, rollup(rows, s.Units), nil
}

func (s *Service) rows(units []jurisdiction.Unit, cp schedule.Checkpoint, filings map[string]*schedule.ZeroReportFiling, now time.Time) []Row {
	var rows []Row
	for _, u := range units {
		if !s.Policy.Reports(u) {
			continue
		}
		st := schedule.StatusOf(cp, filings[u.Code], now)
		rows = append(rows, Row{Unit: u.Code, Name: u.Name, Tier: u.Tier.String(), Parent: u.Parent, Status: st,
			Chinese: st.Chinese(), Filing: filings[u.Code]})
	}
	return rows
}

func rollup(rows []Row, units Units) []Rollup {
	var out []Rollup
	at := map[string]int{}
	for _, r := range rows {
		i, ok := at[r.Parent]
		if !ok {
			p, _ := units.Unit(r.Parent)
			i = len(out)
			at[r.Parent] = i
			out = append(out, Rollup{Unit: r.Parent, Name: p.Name})
		}
		g := &out[i]
		g.Due++
		switch r.Status {
		case schedule.Filed:
			g.Filed++
		case schedule.FiledLate:
			g.FiledLate++
		case schedule.Late:
			g.Late++
		case schedule.Missing:
			g.Missing++
		case schedule.Pending:
			g.Pending++
		}
	}
	return out
}

// HistoryEntry is a unit's status at one past checkpoint.
type HistoryEntry struct {
	Checkpoint string          `json:"checkpoint"`
	Status     schedule.Status `json:"status"`
	FiledAt    *time.Time      `json:"filed_at,omitempty"`
}

// History is a unit's compliance over the last days: its status at each
// checkpoint, and the share of the due ones it filed (nil if none was due).
func (s *Service) History(ctx context.Context, unit string, days int) ([]HistoryEntry, *float64, error) {
	now := s.Now()
	var out []HistoryEntry
	due, filed := 0, 0
	for _, cp := range s.Policy.Recent(now, days, s.Calendar) {
		fs, err := s.store.filings(ctx, cp.ID)
		if err != nil {
			return nil, nil, err
		}
		f := fs[unit]
		e := HistoryEntry{Checkpoint: cp.ID, Status: schedule.StatusOf(cp, f, now)}
		if f != nil {
			t := f.FiledAt
			e.FiledAt = &t
		}
		out = append(out, e)
		if e.Status != schedule.Pending {
			due++
			if f != nil {
				filed++
			}
		}
	}
	if due == 0 {
		return out, nil, nil
	}
	c := float64(filed) / float64(due)
	return out, &c, nil
}

// Check is the zero-report job: for today's checkpoints past their grace,
// each unit still not filed is alerted to its
// duty officer and its parent unit's, reminded every repeat while it stays
// missing and unacknowledged, and closed once the report comes. It is
// idempotent: run it as often as liked.
func (s *Service) Check(ctx context.Context) error {
	if s.Notifier == nil {
		return nil
	}
	now := s.Now()
	var errs []error
	// A day's reports are chased that day; after it a report stays missing
	// in the record, and the daily reports say so, and its alert is closed.
	for _, cp := range s.Policy.Recent(now, 7, s.Calendar) {
		if sameDay(cp.Deadline, now, s.Policy.Location()) {
			continue
		}
		alerted, err := s.store.rdb.SMembers(ctx, keyAlerted+cp.ID).Result()
		if err != nil {
			return err
		}
		for _, u := range alerted {
			err := s.Notifier.Close(ctx, zeroKey(u, cp.ID), "当日未报, 已记入零报告台账", false)
			if err == nil { // closed: not looked at again
				err = s.store.rdb.SRem(ctx, keyAlerted+cp.ID, u).Err()
			}
			errs = append(errs, err)
		}
	}
	for _, cp := range s.Policy.Checkpoints(now, s.Calendar) {
		if !now.After(cp.MissingAt) {
			continue
		}
		filings, err := s.store.filings(ctx, cp.ID)
		if err != nil {
			return err
		}
		alerted, err := s.store.rdb.SMembers(ctx, keyAlerted+cp.ID).Result()
		if err != nil {
			return err
		}
		for _, u := range s.Units.Units() {
			if !s.Policy.Reports(u) {
				continue
			}
			key := zeroKey(u.Code, cp.ID)
			if filings[u.Code] != nil {
				if slices.Contains(alerted, u.Code) {
					errs = append(errs, s.Notifier.Close(ctx, key, "已报送零报告", true))
				}
				continue
			}
			errs = append(errs, s.missing(ctx, u, cp, now))
		}
	}
	return errors.Join(errs...)
}

const keyAlerted = "fq:{reports}:alerted:" // + checkpoint: units alerted for a missing report

func (s *Service) missing(ctx context.Context, u jurisdiction.Unit, cp schedule.Checkpoint, now time.Time) error {
	z := s.Policy.ZeroReport
	targets := []string{u.Code}
	parentName := ""
	if p, ok := s.Units.Parent(u.Code); ok {
		targets, parentName = append(targets, p.Code), p.Name
	}
	loc := s.Policy.Location()
	n := alerts.Notice{
		Key: zeroKey(u.Code, cp.ID), Kind: "zero_report", Ref: u.Code + "/" + cp.ID, Unit: u.Code, Level: z.AlertLevel,
		Title: fmt.Sprintf("零报告未报: %s %s", u.Name, cp.Deadline.In(loc).Format("01-02 15:04")),
		Explanation: fmt.Sprintf("%s应于 %s 前报送零报告, 逾期 %s 后仍未报送。请立即报送(无重大情况也须报送); 抄送%s。",
			u.Name, cp.Deadline.In(loc).Format("2006-01-02 15:04"), chineseDuration(time.Duration(z.Grace)), orDash(parentName)),
		Targets: targets,
	}
	if err := s.Notifier.Notify(ctx, n); err != nil {
		return fmt.Errorf("alert the missing zero report of %s: %w", u.Code, err)
	}
	if err := s.store.rdb.SAdd(ctx, keyAlerted+cp.ID, u.Code).Err(); err != nil {
		return err
	}
	s.store.rdb.Expire(ctx, keyAlerted+cp.ID, keep)
	if round := int(now.Sub(cp.MissingAt) / time.Duration(z.Repeat)); round > 0 {
		return s.Notifier.Remind(ctx, n.Key, round)
	}
	return nil
}

// chineseDuration writes 90m as 1小时30分钟.
func chineseDuration(d time.Duration) string {
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h > 0 && m > 0:
		return fmt.Sprintf("%d小时%d分钟", h, m)
	case h > 0:
		return fmt.Sprintf("%d小时", h)
	}
	return fmt.Sprintf("%d分钟", m)
}

func sameDay(a, b time.Time, loc *time.Location) bool {
	return a.In(loc).Format("2006-01-02") == b.In(loc).Format("2006-01-02")
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
