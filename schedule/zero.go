package schedule

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"fengqiao/jurisdiction"
)

// Calendar tells working days from days off (weekends, public holidays and
// 调休 make-up workdays).
type Calendar interface {
	IsWorkday(t time.Time) (workday bool, warning string)
}

// weekdays is the calendar without a loaded year: Monday to Friday.
type weekdays struct{}

func (weekdays) IsWorkday(t time.Time) (bool, string) {
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday, ""
}

// Checkpoint is one deadline by which each unit of the policy's tiers must
// have filed its zero report: the daily deadline, or an extra checkpoint on
// a key period's day.
type Checkpoint struct {
	ID        string    `json:"id"` // "2026-11-23T16:00", in the policy's zone
	Date      string    `json:"date"`
	Deadline  time.Time `json:"deadline"`
	MissingAt time.Time `json:"missing_at"` // deadline + grace
	KeyPeriod string    `json:"key_period,omitempty"`
}

// Checkpoints returns a day's checkpoints, earliest first: none on a day
// off (when reports are for working days) outside key periods; the daily
// deadline; and on a key period's day, its extra checkpoints too.
func (p *Policy) Checkpoints(day time.Time, cal Calendar) []Checkpoint {
	z := p.ZeroReport
	kp, inKey := p.InKeyPeriod(day)
	if !inKey && z.Days == "working" {
		if cal == nil {
			cal = weekdays{}
		}
		if ok, _ := cal.IsWorkday(day); !ok {
			return nil
		}
	}
	times := []TimeOfDay{z.Deadline}
	if inKey {
		times = append(times, z.KeyPeriodCheckpoints...)
	}
	slices.SortFunc(times, func(a, b TimeOfDay) int { return a.Minutes - b.Minutes })
	out := make([]Checkpoint, len(times))
	for i, t := range times {
		d := t.On(day, p.loc)
		out[i] = Checkpoint{ID: d.Format("2006-01-02T15:04"), Date: d.Format("2006-01-02"), Deadline: d,
			MissingAt: d.Add(time.Duration(z.Grace)), KeyPeriod: kp.Name}
	}
	return out
}

// Checkpoint returns the checkpoint of an id ("2026-11-23T16:00"), if it is one.
func (p *Policy) Checkpoint(id string, cal Calendar) (Checkpoint, bool) {
	t, err := time.ParseInLocation("2006-01-02T15:04", id, p.loc)
	if err != nil {
		return Checkpoint{}, false
	}
	for _, c := range p.Checkpoints(t, cal) {
		if c.ID == id {
			return c, true
		}
	}
	return Checkpoint{}, false
}

// Open returns the checkpoint a report filed at now is for: the first of
// today's whose deadline has not passed, or, after the last, today's last
// (filed late). ok is false on a day without checkpoints.
func (p *Policy) Open(now time.Time, cal Calendar) (Checkpoint, bool) {
	cps := p.Checkpoints(now, cal)
	if len(cps) == 0 {
		return Checkpoint{}, false
	}
	for _, c := range cps {
		if !now.After(c.Deadline) {
			return c, true
		}
	}
	return cps[len(cps)-1], true
}

// Recent returns the checkpoints of the days back from now's (days of them,
// today included) whose deadlines have passed or are today, newest first.
func (p *Policy) Recent(now time.Time, days int, cal Calendar) []Checkpoint {
	var out []Checkpoint
	for i := range days {
		cps := p.Checkpoints(now.AddDate(0, 0, -i), cal)
		for j := len(cps) - 1; j >= 0; j-- {
			out = append(out, cps[j])
		}
	}
	return out
}

// Reports says whether a unit must file zero reports.
func (p *Policy) Reports(u jurisdiction.Unit) bool {
	return slices.Contains(p.ZeroReport.Tiers, u.Tier)
}

// ZeroReportFiling is a unit's zero report (零报告) for one checkpoint:
// either nothing major happened, or its incidents.
type ZeroReportFiling struct {
	Unit       string     `json:"unit"`
	Checkpoint string     `json:"checkpoint"`
	Nothing    bool       `json:"nothing"` // 无重大情况
	Incidents  []Incident `json:"incidents,omitempty"`
	Officer    string     `json:"officer"` // who signs it (签报人)
	Note       string     `json:"note,omitempty"`
	FiledAt    time.Time  `json:"filed_at"`
	FiledBy    string     `json:"filed_by"` // the token's name
	RevisedAt  *time.Time `json:"revised_at,omitempty"`
}

// Incident is one thing a zero report reports.
type Incident struct {
	Category string `json:"category,omitempty"`
	Summary  string `json:"summary"`
	Handled  bool   `json:"handled,omitempty"` // already settled on the spot
}

// Check says what is wrong with a filing, field by field, or nil.
func (f *ZeroReportFiling) Check() error {
	bad := func(field, msg string) error { return &FieldError{Field: field, Message: msg} }
	switch {
	case strings.TrimSpace(f.Officer) == "":
		return bad("officer", "is missing: name the officer who signs the report (签报人)")
	case utf8.RuneCountInString(f.Officer) > 30:
		return bad("officer", "is longer than 30 characters")
	case f.Nothing && len(f.Incidents) > 0:
		return bad("nothing", "a report of nothing major lists no incidents: send nothing: true, or the incidents")
	case !f.Nothing && len(f.Incidents) == 0:
		return bad("incidents", "report either nothing: true (无重大情况) or the incidents")
	case len(f.Incidents) > 100:
		return bad("incidents", "more than 100 incidents: send them as signals instead")
	case utf8.RuneCountInString(f.Note) > 1000:
		return bad("note", "is longer than 1000 characters")
	}
	for i, in := range f.Incidents {
		if s := strings.TrimSpace(in.Summary); s == "" || utf8.RuneCountInString(s) > 500 {
			return bad(fmt.Sprintf("incidents[%d].summary", i), "give a summary of at most 500 characters")
		}
	}
	return nil
}

// FieldError is what is wrong with one field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Status is where a unit stands for a checkpoint.
type Status string

// The statuses.
const (
	Pending   Status = "pending"    // not filed, the deadline not yet passed
	Filed     Status = "filed"      // filed by the deadline
	FiledLate Status = "filed_late" // filed after the deadline
	Late      Status = "late"       // not filed, past the deadline, within the grace (逾期)
	Missing   Status = "missing"    // not filed, past the grace (未报)
)

// Chinese names the status as officers say it.
func (s Status) Chinese() string {
	return map[Status]string{Pending: "待报", Filed: "已报", FiledLate: "迟报", Late: "逾期未报", Missing: "未报"}[s]
}

// StatusOf is a unit's status for a checkpoint at now, given its filing
// (nil: none).
func StatusOf(c Checkpoint, f *ZeroReportFiling, now time.Time) Status {
	switch {
	case f != nil && !f.FiledAt.After(c.Deadline):
		return Filed
	case f != nil:
		return FiledLate
	case !now.After(c.Deadline):
		return Pending
	case !now.After(c.MissingAt):
		return Late
	}
	return Missing
}
