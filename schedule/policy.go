// Package schedule is the reporting calendar of the duty system (值班报告制度):
// when each unit must file its zero report (零报告) and what counts as late
// or missing, the key periods (重要时间节点) that make every day a reporting
// day with extra checkpoints, the daily report (日报) and its contents, the
// supervision of overdue work (督办, 挂牌督办), and the cron specs of the
// jobs that run them. It is pure: storage, delivery and the job runner are
// the callers'.
package schedule

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the time zones, on hosts without a tz database

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"fengqiao/jurisdiction"
	"fengqiao/risk"
)

// Policy is the schedules' configuration.
type Policy struct {
	// TimeZone is the zone of every time of day and cron spec (Asia/Shanghai
	// by default).
	TimeZone    string      `yaml:"time_zone"`
	ZeroReport  ZeroReport  `yaml:"zero_report"`
	KeyPeriods  []KeyPeriod `yaml:"key_periods"`
	DailyReport DailyReport `yaml:"daily_report"`
	Supervision Supervision `yaml:"supervision"`
	Jobs        Jobs        `yaml:"jobs"`

	loc *time.Location
}

// ZeroReport says who must file a zero report (零报告) and by when.
type ZeroReport struct {
	// Tiers are the tiers whose units must file, e.g. [township, village].
	Tiers []jurisdiction.Tier `yaml:"tiers"`
	// Deadline is the daily time of day by which the report is due, "16:00".
	Deadline TimeOfDay `yaml:"deadline"`
	// Grace is how long after a deadline a unit that has not filed is late
	// before it is missing (未报) and alerted.
	Grace Duration `yaml:"grace"`
	// Repeat is how often the alert of a missing report is sent again
	// while it stays missing and unacknowledged.
	Repeat Duration `yaml:"repeat"`
	// Days is "working" (working days only, by the holiday calendar) or
	// "every" (every day). Key periods make every day a reporting day.
	Days string `yaml:"days"`
	// KeyPeriodCheckpoints are extra deadlines on the days of key periods,
	// e.g. ["09:00"] for a morning report besides the afternoon one.
	KeyPeriodCheckpoints []TimeOfDay `yaml:"key_period_checkpoints"`
	// AlertLevel is the colour whose channels carry the alert of a missing
	// report (yellow by default).
	AlertLevel risk.Level `yaml:"alert_level"`
}

// KeyPeriod is a named date range of heightened vigilance (重要时间节点),
// e.g. the National Day holidays or a major meeting: every day in it is a
// reporting day, with the extra checkpoints.
type KeyPeriod struct {
	Name string `yaml:"name"`
	From Date   `yaml:"from"`
	To   Date   `yaml:"to"`
}

// DailyReport says when the daily report (日报) is made and for whom.
type DailyReport struct {
	At    TimeOfDay           `yaml:"at"`    // "17:30"
	Tiers []jurisdiction.Tier `yaml:"tiers"` // the units that get one, e.g. [township, county, city]
}

// Supervision says when overdue work is supervised (督办) and when it is
// put on the list (挂牌督办) of the next tier up.
type Supervision struct {
	// Level is the colour whose channels carry a 督办 notice to the handling unit.
	Level risk.Level `yaml:"level"`
	// ListedAfter is how long an item may stay overdue after its 督办
	// before it is 挂牌督办 by the next tier up.
	ListedAfter Duration `yaml:"listed_after"`
	// ListedLevel is the colour whose channels carry a 挂牌督办 notice.
	ListedLevel risk.Level `yaml:"listed_level"`
}

// Jobs are the cron specs of the scheduled jobs, in the policy's time zone.
type Jobs struct {
	ZeroReportCheck   string `yaml:"zero_report_check"`   // late and missing reports, their alerts
	CaseSweep         string `yaml:"case_sweep"`          // overdue case clocks (超期)
	Supervision       string `yaml:"supervision"`         // 督办 and 挂牌督办
	Rescore           string `yaml:"rescore"`             // windows aging out
	FollowUpReminders string `yaml:"follow_up_reminders"` // 回访 due soon or late
}

// DefaultJobs are the jobs' cron specs where no policy gives them.
func DefaultJobs() Jobs {
	var p Policy
	p.defaults()
	return p.Jobs
}

// defaults fills what the file leaves out.
func (p *Policy) defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&p.TimeZone, "Asia/Shanghai")
	def(&p.ZeroReport.Days, "working")
	def(&p.Jobs.ZeroReportCheck, "*/5 * * * *")
	def(&p.Jobs.CaseSweep, "*/5 * * * *")
	def(&p.Jobs.Supervision, "*/10 * * * *")
	def(&p.Jobs.Rescore, "17 * * * *")
	def(&p.Jobs.FollowUpReminders, "0 9 * * *")
}

// Location is the policy's time zone.
func (p *Policy) Location() *time.Location { return p.loc }

// LoadPolicy reads a schedule policy file.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load schedule policy: %w", err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("schedule policy %s:\n%w", path, err)
	}
	return p, nil
}

// ParsePolicy decodes and checks a policy; every problem is reported at once.
func ParsePolicy(data []byte) (*Policy, error) {
	// Colours left out are told from an explicit green by a value no
	// colour has.
	const unset = risk.Level(255)
	p := Policy{ZeroReport: ZeroReport{AlertLevel: unset}, Supervision: Supervision{Level: unset, ListedLevel: unset}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty: give zero_report, daily_report and supervision")
		}
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, c := range []struct {
		name  string
		level *risk.Level
		def   risk.Level
	}{
		{"zero_report.alert_level", &p.ZeroReport.AlertLevel, risk.Yellow},
		{"supervision.level", &p.Supervision.Level, risk.Orange},
		{"supervision.listed_level", &p.Supervision.ListedLevel, risk.Red},
	} {
		switch *c.level {
		case unset:
			*c.level = c.def
		case risk.Green:
			bad("%s: give a colour that pages: blue, yellow, orange or red", c.name)
		}
	}
	p.defaults()
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		bad("time_zone: %q is not a time zone: give one such as Asia/Shanghai", p.TimeZone)
	}
	p.loc = loc
	z := p.ZeroReport
	tiers := func(where string, ts []jurisdiction.Tier) {
		if len(ts) == 0 {
			bad("%s: give the tiers whose units it concerns, e.g. [township, village]", where)
		}
		for i, t := range ts {
			if slices.Contains(ts[:i], t) {
				bad("%s: %s is listed twice", where, t)
			}
		}
	}
	tiers("zero_report.tiers", z.Tiers)
	if !z.Deadline.set {
		bad("zero_report.deadline is missing: give the daily time reports are due, e.g. \"16:00\"")
	}
	if z.Grace < Duration(time.Minute) || z.Grace > Duration(12*time.Hour) {
		bad("zero_report.grace: give how long a late report may still come before it is missing, 1m to 12h, e.g. 1h")
	}
	if z.Repeat < Duration(10*time.Minute) || z.Repeat > Duration(24*time.Hour) {
		bad("zero_report.repeat: give how often a missing report is alerted again, 10m to 24h, e.g. 2h")
	}
	if z.Days != "working" && z.Days != "every" {
		bad("zero_report.days: %q: give working (working days only) or every (every day)", z.Days)
	}
	for i, c := range z.KeyPeriodCheckpoints {
		if c == z.Deadline || slices.Contains(z.KeyPeriodCheckpoints[:i], c) {
			bad("zero_report.key_period_checkpoints: %s is listed twice (the deadline counts)", c)
		}
	}
	for i, k := range p.KeyPeriods {
		where := fmt.Sprintf("key_periods[%d]", i)
		switch {
		case strings.TrimSpace(k.Name) == "":
			bad("%s.name is missing, e.g. 国庆节", where)
		case k.From.IsZero() || k.To.IsZero():
			bad("%s (%s): give from and to as dates, e.g. 2026-10-01", where, k.Name)
		case k.To.Before(k.From.Time):
			bad("%s (%s): to is before from", where, k.Name)
		case k.To.Sub(k.From.Time) > 92*24*time.Hour:
			bad("%s (%s): lasts more than three months: a key period is days or weeks", where, k.Name)
		}
	}
	if !p.DailyReport.At.set {
		bad("daily_report.at is missing: give the time of day it is made, e.g. \"17:30\"")
	}
	tiers("daily_report.tiers", p.DailyReport.Tiers)
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	for _, j := range []struct{ name, spec string }{
		{"zero_report_check", p.Jobs.ZeroReportCheck}, {"case_sweep", p.Jobs.CaseSweep}, {"supervision", p.Jobs.Supervision},
		{"rescore", p.Jobs.Rescore}, {"follow_up_reminders", p.Jobs.FollowUpReminders},
	} {
		if _, err := parser.Parse(j.spec); err != nil {
			bad("jobs.%s: %q is not a cron spec (minute hour day month weekday, e.g. \"*/5 * * * *\"): %v", j.name, j.spec, err)
		}
	}
	if p.Supervision.ListedAfter <= 0 {
		bad("supervision.listed_after: give how long overdue work may stay so after its 督办 before it is 挂牌督办, e.g. 3d")
	}
	return &p, errors.Join(errs...)
}

// InKeyPeriod returns the key period a day falls in, if any.
func (p *Policy) InKeyPeriod(day time.Time) (KeyPeriod, bool) {
	d := day.In(p.loc)
	date := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	for _, k := range p.KeyPeriods {
		if !date.Before(k.From.Time) && !date.After(k.To.Time) {
			return k, true
		}
	}
	return KeyPeriod{}, false
}

// TimeOfDay is a time of day, "16:00".
type TimeOfDay struct {
	Minutes int // since midnight
	set     bool
}

// UnmarshalText parses "HH:MM".
func (t *TimeOfDay) UnmarshalText(b []byte) error {
	h, m, ok := strings.Cut(string(b), ":")
	digits := func(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || !digits(h) || !digits(m) || err1 != nil || err2 != nil || hh > 23 || mm > 59 || len(h) > 2 || len(m) != 2 {
		return fmt.Errorf("%q is not a time of day: write it as HH:MM, e.g. 16:00", b)
	}
	*t = TimeOfDay{Minutes: hh*60 + mm, set: true}
	return nil
}

// MarshalText prints "HH:MM".
func (t TimeOfDay) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t.Minutes/60, t.Minutes%60) }

// On returns the time of day on a date, in loc.
func (t TimeOfDay) On(day time.Time, loc *time.Location) time.Time {
	d := day.In(loc)
	return time.Date(d.Year(), d.Month(), d.Day(), t.Minutes/60, t.Minutes%60, 0, 0, loc)
}

// Date is a calendar date, "2026-10-01".
type Date struct{ time.Time }

// UnmarshalText parses "YYYY-MM-DD".
func (d *Date) UnmarshalText(b []byte) error {
	t, err := time.Parse("2006-01-02", string(b))
	if err != nil {
		return fmt.Errorf("%q is not a date: write it as YYYY-MM-DD, e.g. 2026-10-01", b)
	}
	d.Time = t
	return nil
}

// MarshalText prints "YYYY-MM-DD".
func (d Date) MarshalText() ([]byte, error) { return []byte(d.Format("2006-01-02")), nil }

// Duration is a length of time: Go's form ("90m", "2h") or whole days ("3d").
type Duration time.Duration

// UnmarshalText parses a Duration.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days >= 0 && days <= 366 {
			*d = Duration(time.Duration(days) * 24 * time.Hour)
			return nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration: write e.g. 30m, 2h or 3d", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText prints a Duration.
func (d Duration) MarshalText() ([]byte, error) {
	if d%Duration(24*time.Hour) == 0 && d > 0 {
		return []byte(strconv.Itoa(int(time.Duration(d)/(24*time.Hour))) + "d"), nil
	}
	return []byte(time.Duration(d).String()), nil
}
