package schedule_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"fengqiao/alerts/escalation"
	"fengqiao/jurisdiction"
	"fengqiao/schedule"
)

var cst = time.FixedZone("CST", 8*3600)

// at is a Beijing time on a day of 2026.
func at(month time.Month, day, hour, min int) time.Time {
	return time.Date(2026, month, day, hour, min, 0, 0, cst)
}

// fixtures loads the fixture policy, changed by the given old, new pairs,
// and the real 2026 calendar.
func fixtures(t *testing.T, edits ...string) (*schedule.Policy, schedule.Calendar) {
	t.Helper()
	b, err := os.ReadFile(fixturePolicy)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("the fixture policy has no %q", edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	p, err := schedule.ParsePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	cal, err := escalation.LoadCalendar("../fixtures/calendar/cn-calendar-2026.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p, cal
}

// ids lists checkpoints as "ID key-period".
func ids(cps []schedule.Checkpoint) []string {
	out := []string{}
	for _, c := range cps {
		s := c.ID
		if c.KeyPeriod != "" {
			s += " " + c.KeyPeriod
		}
		out = append(out, s)
	}
	return out
}

func TestCheckpoints(t *testing.T) {
	p, cal := fixtures(t)
	for _, tt := range []struct {
		name string
		day  time.Time
		want []string
	}{
		{"working day", at(11, 23, 10, 0), []string{"2026-11-23T16:00"}},
		{"working day, asked in UTC the evening before", time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC), []string{"2026-11-23T16:00"}},
		{"Saturday", at(11, 21, 10, 0), []string{}},
		{"Sunday", at(11, 22, 23, 59), []string{}},
		{"public holiday outside key periods", at(1, 1, 10, 0), []string{}},
		{"调休 make-up Saturday", at(10, 10, 10, 0), []string{"2026-10-10T16:00"}},
		{"调休 make-up Sunday", at(9, 20, 10, 0), []string{"2026-09-20T16:00"}},
		{"holiday in a key period", at(10, 3, 10, 0), []string{"2026-10-03T09:00 国庆节", "2026-10-03T16:00 国庆节"}},
		{"working day in a key period", at(10, 8, 10, 0), []string{"2026-10-08T09:00 国庆节", "2026-10-08T16:00 国庆节"}},
		{"the day after a key period", at(10, 9, 10, 0), []string{"2026-10-09T16:00"}},
		{"meeting week", at(12, 11, 10, 0), []string{"2026-12-11T09:00 全市重要会议", "2026-12-11T16:00 全市重要会议"}},
		{"Saturday after the meeting week", at(12, 12, 10, 0), []string{}},
	} {
		if got := ids(p.Checkpoints(tt.day, cal)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Checkpoints(%v) = %q, want %q", tt.name, tt.day, got, tt.want)
		}
	}

	c := p.Checkpoints(at(11, 23, 10, 0), cal)[0]
	if c.Date != "2026-11-23" || !c.Deadline.Equal(at(11, 23, 16, 0)) || !c.MissingAt.Equal(at(11, 23, 17, 0)) || c.KeyPeriod != "" {
		t.Errorf("checkpoint = %+v", c)
	}
	if c.Deadline.Location().String() != "Asia/Shanghai" {
		t.Errorf("deadline in %v, want the policy's zone", c.Deadline.Location())
	}
	k := p.Checkpoints(at(10, 3, 10, 0), cal)[0]
	if !k.Deadline.Equal(at(10, 3, 9, 0)) || !k.MissingAt.Equal(at(10, 3, 10, 0)) || k.Date != "2026-10-03" {
		t.Errorf("key period checkpoint = %+v", k)
	}

	// Several extra checkpoints come out in order, the deadline among them.
	p2, _ := fixtures(t, `key_period_checkpoints: ["09:00"]`, `key_period_checkpoints: ["20:00", "09:00"]`)
	want := []string{"2026-10-03T09:00 国庆节", "2026-10-03T16:00 国庆节", "2026-10-03T20:00 国庆节"}
	if got := ids(p2.Checkpoints(at(10, 3, 10, 0), cal)); !slices.Equal(got, want) {
		t.Errorf("three checkpoints: %q, want %q", got, want)
	}
	// The policy's own slice is not reordered by it.
	if got := p2.ZeroReport.KeyPeriodCheckpoints; got[0].String() != "20:00" || got[1].String() != "09:00" {
		t.Errorf("Checkpoints reordered the policy's key_period_checkpoints: %v", got)
	}
}

func TestCheckpointsEveryDay(t *testing.T) {
	p, cal := fixtures(t, "days: working", "days: every")
	for _, tt := range []struct {
		day  time.Time
		want []string
	}{
		{at(11, 21, 10, 0), []string{"2026-11-21T16:00"}},
		{at(11, 22, 10, 0), []string{"2026-11-22T16:00"}},
		{at(11, 23, 10, 0), []string{"2026-11-23T16:00"}},
		{at(1, 1, 10, 0), []string{"2026-01-01T16:00"}},
		{at(10, 3, 10, 0), []string{"2026-10-03T09:00 国庆节", "2026-10-03T16:00 国庆节"}},
	} {
		if got := ids(p.Checkpoints(tt.day, cal)); !slices.Equal(got, tt.want) {
			t.Errorf("Checkpoints(%v) = %q, want %q", tt.day, got, tt.want)
		}
	}
}

func TestOpen(t *testing.T) {
	p, cal := fixtures(t)
	for _, tt := range []struct {
		name string
		now  time.Time
		want string // "" for none
	}{
		{"morning of a working day", at(11, 23, 8, 0), "2026-11-23T16:00"},
		{"at the deadline", at(11, 23, 16, 0), "2026-11-23T16:00"},
		{"after the deadline: filed late", at(11, 23, 16, 1), "2026-11-23T16:00"},
		{"late evening", at(11, 23, 23, 59), "2026-11-23T16:00"},
		{"weekend", at(11, 22, 10, 0), ""},
		{"key period, before the first", at(10, 3, 8, 0), "2026-10-03T09:00"},
		{"key period, at the first", at(10, 3, 9, 0), "2026-10-03T09:00"},
		{"key period, between", at(10, 3, 9, 0).Add(time.Second), "2026-10-03T16:00"},
		{"key period, at the last", at(10, 3, 16, 0), "2026-10-03T16:00"},
		{"key period, after the last", at(10, 3, 18, 0), "2026-10-03T16:00"},
	} {
		c, ok := p.Open(tt.now, cal)
		if c.ID != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: Open(%v) = %q, %v; want %q", tt.name, tt.now, c.ID, ok, tt.want)
		}
	}
}

func TestRecent(t *testing.T) {
	p, cal := fixtures(t)
	for _, tt := range []struct {
		now  time.Time
		days int
		want []string
	}{
		{at(10, 9, 12, 0), 3, []string{"2026-10-09T16:00", "2026-10-08T16:00 国庆节", "2026-10-08T09:00 国庆节",
			"2026-10-07T16:00 国庆节", "2026-10-07T09:00 国庆节"}},
		{at(11, 23, 10, 0), 3, []string{"2026-11-23T16:00"}}, // today's, not yet due, then a weekend
		{at(11, 24, 10, 0), 2, []string{"2026-11-24T16:00", "2026-11-23T16:00"}},
		{at(11, 24, 10, 0), 1, []string{"2026-11-24T16:00"}},
		{at(11, 24, 10, 0), 0, []string{}},
	} {
		if got := ids(p.Recent(tt.now, tt.days, cal)); !slices.Equal(got, tt.want) {
			t.Errorf("Recent(%v, %d) = %q, want %q", tt.now, tt.days, got, tt.want)
		}
	}
	// 30 days back from 11-30 are November: 21 working days, no key period.
	if n := len(p.Recent(at(11, 30, 10, 0), 30, cal)); n != 21 {
		t.Errorf("Recent 30 days from 11-30 gave %d checkpoints, want 21", n)
	}
}

func TestCheckpointByID(t *testing.T) {
	p, cal := fixtures(t)
	for _, day := range []time.Time{at(11, 23, 0, 0), at(10, 3, 0, 0), at(10, 10, 0, 0), at(12, 7, 0, 0)} {
		for _, c := range p.Checkpoints(day, cal) {
			got, ok := p.Checkpoint(c.ID, cal)
			if !ok || got.ID != c.ID || got.Date != c.Date || !got.Deadline.Equal(c.Deadline) ||
				!got.MissingAt.Equal(c.MissingAt) || got.KeyPeriod != c.KeyPeriod {
				t.Errorf("Checkpoint(%q) = %+v, %v; want %+v", c.ID, got, ok, c)
			}
		}
	}
	for _, id := range []string{
		"",
		"2026-11-23T15:00",         // not a checkpoint's time
		"2026-11-23T09:00",         // 09:00 is a checkpoint in key periods only
		"2026-11-21T16:00",         // a Saturday
		"2026-10-01T18:00",         // a key period's day, not its time
		"2026-11-23 16:00",         // not the id's form
		"2026-11-23T16:00:00",      // nor this
		"2026-11-23T16:00+08:00",   // nor this
		"2026-11-23",               // a date
		"2026-02-30T16:00",         // no such day
		"2026-11-23T16:00\n",       // trailing junk
		"../../2026-11-23T16:00",   // path junk
		"2026-11-23T16:00; DROP x", // more junk
	} {
		if c, ok := p.Checkpoint(id, cal); ok {
			t.Errorf("Checkpoint(%q) = %+v, want none", id, c)
		}
	}
}

func TestStatusOf(t *testing.T) {
	p, cal := fixtures(t)
	c := p.Checkpoints(at(11, 23, 0, 0), cal)[0]
	filed := func(t time.Time) *schedule.ZeroReportFiling {
		return &schedule.ZeroReportFiling{Unit: "990101100201", Checkpoint: c.ID, Nothing: true, Officer: "陈立", FiledAt: t}
	}
	sec := time.Second
	for _, tt := range []struct {
		name string
		f    *schedule.ZeroReportFiling
		now  time.Time
		want schedule.Status
	}{
		{"not filed, morning", nil, at(11, 23, 9, 0), schedule.Pending},
		{"not filed, at the deadline", nil, c.Deadline, schedule.Pending},
		{"not filed, a second after the deadline", nil, c.Deadline.Add(sec), schedule.Late},
		{"not filed, at missing_at", nil, c.MissingAt, schedule.Late},
		{"not filed, a second after missing_at", nil, c.MissingAt.Add(sec), schedule.Missing},
		{"not filed, next day", nil, at(11, 24, 9, 0), schedule.Missing},
		{"filed in the morning", filed(at(11, 23, 9, 0)), at(11, 23, 9, 0), schedule.Filed},
		{"filed at the deadline", filed(c.Deadline), c.Deadline, schedule.Filed},
		{"filed at the deadline, seen next day", filed(c.Deadline), at(11, 24, 9, 0), schedule.Filed},
		{"filed a second after the deadline", filed(c.Deadline.Add(sec)), c.Deadline.Add(sec), schedule.FiledLate},
		{"filed at missing_at", filed(c.MissingAt), c.MissingAt, schedule.FiledLate},
		{"filed after missing_at", filed(c.MissingAt.Add(sec)), at(11, 24, 9, 0), schedule.FiledLate},
	} {
		if got := schedule.StatusOf(c, tt.f, tt.now); got != tt.want {
			t.Errorf("%s: StatusOf = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestStatusChinese(t *testing.T) {
	for s, want := range map[schedule.Status]string{
		schedule.Pending: "待报", schedule.Filed: "已报", schedule.FiledLate: "迟报",
		schedule.Late: "逾期未报", schedule.Missing: "未报", "other": "",
	} {
		if got := s.Chinese(); got != want {
			t.Errorf("%s.Chinese() = %q, want %q", s, got, want)
		}
	}
}

func TestFilingCheck(t *testing.T) {
	incidents := func(n int) []schedule.Incident {
		out := make([]schedule.Incident, n)
		for i := range out {
			out[i] = schedule.Incident{Summary: "村民因宅基地争吵, 已劝开"}
		}
		return out
	}
	long := func(n int) string { return strings.Repeat("调", n) }
	for _, tt := range []struct {
		name         string
		f            schedule.ZeroReportFiling
		field, issue string // "" for no problem
	}{
		{"nothing major", schedule.ZeroReportFiling{Officer: "陈立", Nothing: true}, "", ""},
		{"incidents", schedule.ZeroReportFiling{Officer: "陈立", Incidents: incidents(2), Note: "已报镇综治中心"}, "", ""},
		{"longest officer, note and summary", schedule.ZeroReportFiling{Officer: long(30), Note: long(1000),
			Incidents: append(incidents(99), schedule.Incident{Summary: long(500)})}, "", ""},
		{"no officer", schedule.ZeroReportFiling{Nothing: true}, "officer", "is missing: name the officer who signs the report (签报人)"},
		{"blank officer", schedule.ZeroReportFiling{Officer: " \t", Nothing: true}, "officer", "is missing: name the officer who signs the report (签报人)"},
		{"long officer", schedule.ZeroReportFiling{Officer: long(31), Nothing: true}, "officer", "is longer than 30 characters"},
		{"nothing with incidents", schedule.ZeroReportFiling{Officer: "陈立", Nothing: true, Incidents: incidents(1)},
			"nothing", "a report of nothing major lists no incidents: send nothing: true, or the incidents"},
		{"neither", schedule.ZeroReportFiling{Officer: "陈立"}, "incidents", "report either nothing: true (无重大情况) or the incidents"},
		{"too many incidents", schedule.ZeroReportFiling{Officer: "陈立", Incidents: incidents(101)},
			"incidents", "more than 100 incidents: send them as signals instead"},
		{"long note", schedule.ZeroReportFiling{Officer: "陈立", Nothing: true, Note: long(1001)}, "note", "is longer than 1000 characters"},
		{"empty summary", schedule.ZeroReportFiling{Officer: "陈立", Incidents: append(incidents(1), schedule.Incident{Summary: " "})},
			"incidents[1].summary", "give a summary of at most 500 characters"},
		{"long summary", schedule.ZeroReportFiling{Officer: "陈立", Incidents: []schedule.Incident{{Summary: long(501)}}},
			"incidents[0].summary", "give a summary of at most 500 characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Check()
			if tt.field == "" {
				if err != nil {
					t.Errorf("Check = %v, want none", err)
				}
				return
			}
			var fe *schedule.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Message != tt.issue {
				t.Fatalf("Check = %#v, want %s: %s", err, tt.field, tt.issue)
			}
			if err.Error() != tt.field+": "+tt.issue {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestSummarise(t *testing.T) {
	rows := func(ss ...schedule.Status) []schedule.ZeroReportRow {
		var out []schedule.ZeroReportRow
		for _, s := range ss {
			out = append(out, schedule.ZeroReportRow{Status: s})
		}
		return out
	}
	s := schedule.Summarise(rows(schedule.Filed, schedule.Filed, schedule.Filed, schedule.FiledLate,
		schedule.Late, schedule.Missing, schedule.Missing, schedule.Pending, "unknown"))
	if s.Due != 7 || s.Filed != 3 || s.FiledLate != 1 || s.Late != 1 || s.Missing != 2 {
		t.Errorf("Summarise = %+v", s)
	}
	if s.Compliance == nil || *s.Compliance != 4.0/7 {
		t.Errorf("compliance = %v, want 4/7", s.Compliance)
	}
	for _, rs := range [][]schedule.ZeroReportRow{nil, rows(schedule.Pending, schedule.Pending)} {
		if s := schedule.Summarise(rs); s != (schedule.ZeroSummary{}) {
			t.Errorf("Summarise(%v) = %+v, want nothing due and no compliance", rs, s)
		}
	}
	if s := schedule.Summarise(rows(schedule.Missing)); s.Compliance == nil || *s.Compliance != 0 {
		t.Errorf("all missing: compliance %v, want 0", s.Compliance)
	}
	if s := schedule.Summarise(rows(schedule.FiledLate)); s.Compliance == nil || *s.Compliance != 1 {
		t.Errorf("all filed late: compliance %v, want 1", s.Compliance)
	}
}

func TestReports(t *testing.T) {
	p, _ := fixtures(t)
	for tier, want := range map[jurisdiction.Tier]bool{
		jurisdiction.City: false, jurisdiction.County: false, jurisdiction.Township: true,
		jurisdiction.Village: true, jurisdiction.Grid: false,
	} {
		if got := p.Reports(jurisdiction.Unit{Code: "990101100201", Tier: tier}); got != want {
			t.Errorf("Reports(%v) = %v, want %v", tier, got, want)
		}
	}
}
