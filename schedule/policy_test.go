package schedule_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fengqiao/jurisdiction"
	"fengqiao/risk"
	"fengqiao/schedule"
)

const fixturePolicy = "../fixtures/schedule/policy.yaml"

// goodPolicy is a valid policy that the validation tests change one line of.
const goodPolicy = `time_zone: Asia/Shanghai
zero_report:
  tiers: [township, village]
  deadline: "16:00"
  grace: 1h
  repeat: 2h
  days: working
  key_period_checkpoints: ["09:00"]
  alert_level: yellow
key_periods:
  - {name: 国庆节, from: 2026-10-01, to: 2026-10-08}
  - {name: 全市重要会议, from: 2026-12-07, to: 2026-12-11}
daily_report:
  at: "17:30"
  tiers: [township, county, city]
supervision:
  level: orange
  listed_after: 3d
  listed_level: red
`

// edit returns goodPolicy with old replaced by new, failing when old is not in it.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(goodPolicy, old) {
		t.Fatalf("goodPolicy has no %q", old)
	}
	return strings.Replace(goodPolicy, old, new, 1)
}

func TestFixturePolicy(t *testing.T) {
	p, err := schedule.LoadPolicy(fixturePolicy)
	if err != nil {
		t.Fatal(err)
	}
	z := p.ZeroReport
	if p.TimeZone != "Asia/Shanghai" || p.Location().String() != "Asia/Shanghai" {
		t.Errorf("time zone %q, location %v", p.TimeZone, p.Location())
	}
	if !slices.Equal(z.Tiers, []jurisdiction.Tier{jurisdiction.Township, jurisdiction.Village}) {
		t.Errorf("zero_report.tiers = %v", z.Tiers)
	}
	if z.Deadline.String() != "16:00" || z.Deadline.Minutes != 16*60 {
		t.Errorf("deadline = %v (%d minutes)", z.Deadline, z.Deadline.Minutes)
	}
	if time.Duration(z.Grace) != time.Hour || time.Duration(z.Repeat) != 2*time.Hour || z.Days != "working" {
		t.Errorf("grace %v, repeat %v, days %q", time.Duration(z.Grace), time.Duration(z.Repeat), z.Days)
	}
	if len(z.KeyPeriodCheckpoints) != 1 || z.KeyPeriodCheckpoints[0].String() != "09:00" || z.AlertLevel != risk.Yellow {
		t.Errorf("key_period_checkpoints %v, alert_level %v", z.KeyPeriodCheckpoints, z.AlertLevel)
	}
	var periods []string
	for _, k := range p.KeyPeriods {
		periods = append(periods, k.Name+" "+k.From.Format("2006-01-02")+".."+k.To.Format("2006-01-02"))
	}
	if want := []string{"国庆节 2026-10-01..2026-10-08", "全市重要会议 2026-12-07..2026-12-11"}; !slices.Equal(periods, want) {
		t.Errorf("key periods %q, want %q", periods, want)
	}
	d := p.DailyReport
	if d.At.String() != "17:30" || !slices.Equal(d.Tiers, []jurisdiction.Tier{jurisdiction.Township, jurisdiction.County, jurisdiction.City}) {
		t.Errorf("daily_report = %v %v", d.At, d.Tiers)
	}
	s := p.Supervision
	if s.Level != risk.Orange || time.Duration(s.ListedAfter) != 72*time.Hour || s.ListedLevel != risk.Red {
		t.Errorf("supervision = %v %v %v", s.Level, time.Duration(s.ListedAfter), s.ListedLevel)
	}
	// The fixture writes the defaults out: it must say what the defaults say.
	def, err := schedule.ParsePolicy([]byte(goodPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if p.Jobs != def.Jobs {
		t.Errorf("fixture jobs %+v, defaults %+v", p.Jobs, def.Jobs)
	}
}

func TestPolicyDefaults(t *testing.T) {
	p, err := schedule.ParsePolicy([]byte(`zero_report: {tiers: [village], deadline: "16:00", grace: 30m, repeat: 1h}
daily_report: {at: "17:30", tiers: [township]}
supervision: {listed_after: 2d}
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.TimeZone != "Asia/Shanghai" || p.Location() == nil || p.Location().String() != "Asia/Shanghai" {
		t.Errorf("time zone %q, location %v", p.TimeZone, p.Location())
	}
	if p.ZeroReport.Days != "working" {
		t.Errorf("days = %q, want working", p.ZeroReport.Days)
	}
	want := schedule.Jobs{ZeroReportCheck: "*/5 * * * *", CaseSweep: "*/5 * * * *", Supervision: "*/10 * * * *",
		Rescore: "17 * * * *", FollowUpReminders: "0 9 * * *"}
	if p.Jobs != want {
		t.Errorf("jobs = %+v, want %+v", p.Jobs, want)
	}
	if p.ZeroReport.AlertLevel != risk.Yellow || p.Supervision.Level != risk.Orange || p.Supervision.ListedLevel != risk.Red {
		t.Errorf("levels: alert %v, supervision %v, listed %v; want yellow, orange, red",
			p.ZeroReport.AlertLevel, p.Supervision.Level, p.Supervision.ListedLevel)
	}
	if len(p.KeyPeriods) != 0 || len(p.ZeroReport.KeyPeriodCheckpoints) != 0 {
		t.Errorf("key periods %v, checkpoints %v", p.KeyPeriods, p.ZeroReport.KeyPeriodCheckpoints)
	}

	// What the file gives is kept.
	p, err = schedule.ParsePolicy([]byte(edit(t, "time_zone: Asia/Shanghai", "time_zone: UTC") +
		"jobs: {zero_report_check: \"*/1 * * * *\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Location() != time.UTC || p.Jobs.ZeroReportCheck != "*/1 * * * *" || p.Jobs.CaseSweep != "*/5 * * * *" {
		t.Errorf("location %v, jobs %+v", p.Location(), p.Jobs)
	}
	p, err = schedule.ParsePolicy([]byte(edit(t, "alert_level: yellow", "alert_level: 蓝色")))
	if err != nil || p.ZeroReport.AlertLevel != risk.Blue {
		t.Errorf("alert_level 蓝色: %v, %v", p, err)
	}
}

// TestPolicyChecks changes one thing in a good policy at a time, and wants
// exactly the one message of its check.
func TestPolicyChecks(t *testing.T) {
	for _, tt := range []struct {
		name, old, new, want string
	}{
		{"time zone", "time_zone: Asia/Shanghai", "time_zone: Mars/Olympus",
			`time_zone: "Mars/Olympus" is not a time zone: give one such as Asia/Shanghai`},
		{"no zero report tiers", "tiers: [township, village]", "tiers: []",
			"zero_report.tiers: give the tiers whose units it concerns, e.g. [township, village]"},
		{"zero report tiers left out", "  tiers: [township, village]\n", "",
			"zero_report.tiers: give the tiers whose units it concerns, e.g. [township, village]"},
		{"zero report tier twice", "tiers: [township, village]", "tiers: [village, township, village]",
			"zero_report.tiers: village is listed twice"},
		{"no deadline", "  deadline: \"16:00\"\n", "",
			`zero_report.deadline is missing: give the daily time reports are due, e.g. "16:00"`},
		{"no grace", "  grace: 1h\n", "",
			"zero_report.grace: give how long a late report may still come before it is missing, 1m to 12h, e.g. 1h"},
		{"grace zero", "grace: 1h", "grace: 0s",
			"zero_report.grace: give how long a late report may still come before it is missing, 1m to 12h, e.g. 1h"},
		{"grace too long", "grace: 1h", "grace: 12h1m",
			"zero_report.grace: give how long a late report may still come before it is missing, 1m to 12h, e.g. 1h"},
		{"no repeat", "  repeat: 2h\n", "",
			"zero_report.repeat: give how often a missing report is alerted again, 10m to 24h, e.g. 2h"},
		{"repeat too often", "repeat: 2h", "repeat: 9m59s",
			"zero_report.repeat: give how often a missing report is alerted again, 10m to 24h, e.g. 2h"},
		{"repeat too seldom", "repeat: 2h", "repeat: 2d",
			"zero_report.repeat: give how often a missing report is alerted again, 10m to 24h, e.g. 2h"},
		{"days", "days: working", "days: weekdays",
			`zero_report.days: "weekdays": give working (working days only) or every (every day)`},
		{"checkpoint is the deadline", `key_period_checkpoints: ["09:00"]`, `key_period_checkpoints: ["16:00"]`,
			"zero_report.key_period_checkpoints: 16:00 is listed twice (the deadline counts)"},
		{"checkpoint twice", `key_period_checkpoints: ["09:00"]`, `key_period_checkpoints: ["09:00", "12:00", "09:00"]`,
			"zero_report.key_period_checkpoints: 09:00 is listed twice (the deadline counts)"},
		{"key period without name", "{name: 国庆节, ", "{name: \" \", ",
			"key_periods[0].name is missing, e.g. 国庆节"},
		{"key period without from", "from: 2026-12-07, ", "",
			"key_periods[1] (全市重要会议): give from and to as dates, e.g. 2026-10-01"},
		{"key period without to", ", to: 2026-10-08", "",
			"key_periods[0] (国庆节): give from and to as dates, e.g. 2026-10-01"},
		{"key period backwards", "to: 2026-10-08", "to: 2026-09-30",
			"key_periods[0] (国庆节): to is before from"},
		{"key period too long", "to: 2026-12-11", "to: 2027-03-10",
			"key_periods[1] (全市重要会议): lasts more than three months: a key period is days or weeks"},
		{"no daily report time", "  at: \"17:30\"\n", "",
			`daily_report.at is missing: give the time of day it is made, e.g. "17:30"`},
		{"no daily report tiers", "tiers: [township, county, city]", "tiers: []",
			"daily_report.tiers: give the tiers whose units it concerns, e.g. [township, village]"},
		{"daily report tier twice", "tiers: [township, county, city]", "tiers: [city, township, city]",
			"daily_report.tiers: city is listed twice"},
		{"no listed_after", "  listed_after: 3d\n", "",
			"supervision.listed_after: give how long overdue work may stay so after its 督办 before it is 挂牌督办, e.g. 3d"},
		{"listed_after zero", "listed_after: 3d", "listed_after: 0d",
			"supervision.listed_after: give how long overdue work may stay so after its 督办 before it is 挂牌督办, e.g. 3d"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := schedule.ParsePolicy([]byte(edit(t, tt.old, tt.new)))
			if err == nil || err.Error() != tt.want {
				t.Errorf("ParsePolicy = %v\nwant only %q", err, tt.want)
			}
			if p == nil {
				t.Error("ParsePolicy returned no policy with its problems")
			}
		})
	}
}

// TestPolicyBounds are the edges the checks let through.
func TestPolicyBounds(t *testing.T) {
	for _, tt := range [][2]string{
		{"grace: 1h", "grace: 12h"},
		{"grace: 1h", "grace: 1m"},
		{"repeat: 2h", "repeat: 10m"},
		{"repeat: 2h", "repeat: 24h"},
		{"repeat: 2h", "repeat: 1d"},
		{"days: working", "days: every"},
		{`key_period_checkpoints: ["09:00"]`, `key_period_checkpoints: ["09:00", "12:00", "20:00"]`},
		{`key_period_checkpoints: ["09:00"]`, `key_period_checkpoints: []`},
		{"alert_level: yellow", "alert_level: blue"},
		{"alert_level: yellow", "alert_level: red"},
		{"to: 2026-10-08", "to: 2026-10-01"},                                     // a one-day key period
		{"from: 2026-12-07, to: 2026-12-11", "from: 2026-12-07, to: 2027-03-09"}, // exactly 92 days
		{"listed_after: 3d", "listed_after: 1m"},
	} {
		if _, err := schedule.ParsePolicy([]byte(edit(t, tt[0], tt[1]))); err != nil {
			t.Errorf("%s: %v", tt[1], err)
		}
	}
}

func TestPolicyEveryProblemAtOnce(t *testing.T) {
	_, err := schedule.ParsePolicy([]byte("time_zone: Nowhere/Atall\nzero_report: {days: sometimes}\n"))
	want := []string{
		`time_zone: "Nowhere/Atall" is not a time zone: give one such as Asia/Shanghai`,
		"zero_report.tiers: give the tiers whose units it concerns, e.g. [township, village]",
		`zero_report.deadline is missing: give the daily time reports are due, e.g. "16:00"`,
		"zero_report.grace: give how long a late report may still come before it is missing, 1m to 12h, e.g. 1h",
		"zero_report.repeat: give how often a missing report is alerted again, 10m to 24h, e.g. 2h",
		`zero_report.days: "sometimes": give working (working days only) or every (every day)`,
		`daily_report.at is missing: give the time of day it is made, e.g. "17:30"`,
		"daily_report.tiers: give the tiers whose units it concerns, e.g. [township, village]",
		"supervision.listed_after: give how long overdue work may stay so after its 督办 before it is 挂牌督办, e.g. 3d",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("ParsePolicy = %v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

// TestPolicyDecodeErrors are the problems found while decoding, before the
// checks: the file is refused with the decoder's one message.
func TestPolicyDecodeErrors(t *testing.T) {
	for _, tt := range []struct{ name, data, want string }{
		{"empty", "", "the file is empty: give zero_report, daily_report and supervision"},
		{"comments only", "# nothing yet\n", "the file is empty: give zero_report, daily_report and supervision"},
		{"unknown field", goodPolicy + "reminders: true\n", "line 20: field reminders not found in type schedule.Policy"},
		{"unknown nested field", edit(t, "days: working", "weekdays: true"), "field weekdays not found in type schedule.ZeroReport"},
		{"time of day", edit(t, `deadline: "16:00"`, `deadline: "24:00"`), `"24:00" is not a time of day: write it as HH:MM, e.g. 16:00`},
		{"time of day without minutes", edit(t, `at: "17:30"`, `at: "17"`), `"17" is not a time of day: write it as HH:MM, e.g. 16:00`},
		{"time of day one-digit minutes", edit(t, `at: "17:30"`, `at: "17:3"`), `"17:3" is not a time of day: write it as HH:MM, e.g. 16:00`},
		{"duration", edit(t, "grace: 1h", "grace: an hour"), `"an hour" is not a duration: write e.g. 30m, 2h or 3d`},
		{"negative duration", edit(t, "grace: 1h", "grace: -1h"), `"-1h" is not a duration: write e.g. 30m, 2h or 3d`},
		{"date", edit(t, "from: 2026-10-01", "from: 2026-10-32"), `"2026-10-32" is not a date: write it as YYYY-MM-DD, e.g. 2026-10-01`},
		{"tier", edit(t, "tiers: [township, village]", "tiers: [township, hamlet]"), `unknown tier "hamlet" (want city, county, township, village or grid)`},
		{"level", edit(t, "level: orange", "level: purple"), `unknown level "purple": want one of green, blue, yellow, orange, red`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := schedule.ParsePolicy([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.HasPrefix(err.Error(), "yaml: ") {
				t.Errorf("ParsePolicy = %v\nwant %q", err, tt.want)
			}
			if p != nil {
				t.Errorf("a policy that does not decode gave %+v", p)
			}
		})
	}
}

// TestPolicyGreenIsRefused: an explicit green is refused, not taken for a
// colour left out.
func TestPolicyGreenIsRefused(t *testing.T) {
	_, err := schedule.ParsePolicy([]byte(edit(t, "alert_level: yellow", "alert_level: green")))
	if want := "zero_report.alert_level: give a colour that pages: blue, yellow, orange or red"; err == nil || err.Error() != want {
		t.Errorf("alert_level: green: %v, want %q", err, want)
	}
	_, err = schedule.ParsePolicy([]byte(edit(t, "level: orange", "level: green")))
	if want := "supervision.level: give a colour that pages: blue, yellow, orange or red"; err == nil || err.Error() != want {
		t.Errorf("supervision.level: green: %v, want %q", err, want)
	}
}

// TestPolicyLaxTimeOfDay: signed hours and minutes are refused.
func TestPolicyLaxTimeOfDay(t *testing.T) {
	for _, s := range []string{"16:+5", "+9:00", "-0:00"} {
		var tod schedule.TimeOfDay
		if err := tod.UnmarshalText([]byte(s)); err == nil {
			t.Errorf("%q was read as %v", s, tod)
		}
	}
}

func TestLoadPolicyErrors(t *testing.T) {
	_, err := schedule.LoadPolicy(filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), "load schedule policy: ") {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(edit(t, "days: working", "days: never")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = schedule.LoadPolicy(path)
	want := "schedule policy " + path + ":\n" + `zero_report.days: "never": give working (working days only) or every (every day)`
	if err == nil || err.Error() != want {
		t.Errorf("bad file: %v\nwant %q", err, want)
	}
}

func TestInKeyPeriod(t *testing.T) {
	p, err := schedule.LoadPolicy(fixturePolicy)
	if err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 9, 30, 23, 59, 59, 0, cst), ""},
		{time.Date(2026, 10, 1, 0, 0, 0, 0, cst), "国庆节"},
		{time.Date(2026, 9, 30, 16, 0, 0, 0, time.UTC), "国庆节"}, // 10-01 00:00 in Beijing
		{time.Date(2026, 10, 8, 23, 59, 59, 0, cst), "国庆节"},
		{time.Date(2026, 10, 9, 0, 0, 0, 0, cst), ""},
		{time.Date(2026, 12, 9, 12, 0, 0, 0, cst), "全市重要会议"},
		{time.Date(2026, 12, 11, 15, 59, 0, 0, time.UTC), "全市重要会议"}, // 23:59 in Beijing
		{time.Date(2026, 12, 11, 16, 0, 0, 0, time.UTC), ""},        // 12-12 00:00 in Beijing
		{time.Date(2026, 11, 23, 12, 0, 0, 0, cst), ""},
	} {
		k, ok := p.InKeyPeriod(tt.at)
		if k.Name != tt.want || ok != (tt.want != "") {
			t.Errorf("InKeyPeriod(%v) = %q, %v; want %q", tt.at, k.Name, ok, tt.want)
		}
	}
}

func TestTextForms(t *testing.T) {
	for _, tt := range []struct{ in, out string }{
		{"3d", "3d"}, {"90m", "1h30m0s"}, {"24h", "1d"}, {"0d", "0s"}, {"1h", "1h0m0s"},
	} {
		var d schedule.Duration
		if err := d.UnmarshalText([]byte(tt.in)); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if b, _ := d.MarshalText(); string(b) != tt.out {
			t.Errorf("Duration %s prints as %s, want %s", tt.in, b, tt.out)
		}
	}
	var tod schedule.TimeOfDay
	if err := tod.UnmarshalText([]byte("09:05")); err != nil || tod.Minutes != 9*60+5 {
		t.Errorf("09:05 = %v, %v", tod, err)
	}
	if b, _ := tod.MarshalText(); string(b) != "09:05" {
		t.Errorf("09:05 prints as %s", b)
	}
	if got := tod.On(time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC), time.FixedZone("CST", 8*3600)); got.Format(time.RFC3339) != "2026-11-23T09:05:00+08:00" {
		t.Errorf("On = %v", got)
	}
	var d schedule.Date
	if err := d.UnmarshalText([]byte("2026-10-01")); err != nil {
		t.Fatal(err)
	}
	if b, _ := d.MarshalText(); string(b) != "2026-10-01" {
		t.Errorf("date prints as %s", b)
	}
}

func TestPolicyBadJobSpecAndShortGrace(t *testing.T) {
	_, err := schedule.ParsePolicy([]byte(goodPolicy + "jobs: {rescore: \"every hour\"}\n"))
	if err == nil || !strings.Contains(err.Error(), `jobs.rescore: "every hour" is not a cron spec (minute hour day month weekday, e.g. "*/5 * * * *")`) {
		t.Errorf("bad cron spec: %v", err)
	}
	_, err = schedule.ParsePolicy([]byte(edit(t, "grace: 1h", "grace: 30s")))
	if err == nil || !strings.Contains(err.Error(), "zero_report.grace: give how long a late report may still come before it is missing, 1m to 12h") {
		t.Errorf("grace 30s: %v", err)
	}
}
