package escalation_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fengqiao/alerts/escalation"
)

func TestIsWorkday(t *testing.T) {
	cal := loadCalendar(t)
	tests := []struct {
		date    string
		workday bool
		warns   bool
		why     string
	}{
		{"2026-09-30", true, false, "Wednesday before 国庆节"},
		{"2026-10-01", false, false, "国庆节, Thursday"},
		{"2026-10-03", false, false, "国庆节, Saturday"},
		{"2026-10-05", false, false, "国庆节, Monday"},
		{"2026-10-07", false, false, "国庆节, last day, Wednesday"},
		{"2026-10-08", true, false, "Thursday after 国庆节"},
		{"2026-10-10", true, false, "Saturday make-up workday for 国庆节"},
		{"2026-10-11", false, false, "Sunday"},
		{"2026-09-20", true, false, "Sunday make-up workday for 国庆节"},
		{"2026-11-21", false, false, "an ordinary Saturday"},
		{"2026-11-22", false, false, "an ordinary Sunday"},
		{"2026-11-23", true, false, "an ordinary Monday"},
		{"2027-01-04", true, true, "a Monday in 2027, which no file covers"},
		{"2027-01-02", false, true, "a Saturday in 2027"},
	}
	for _, tt := range tests {
		t.Run(tt.date, func(t *testing.T) {
			// Late in the evening in Beijing is still the same date, even
			// though it is the next day's morning nowhere near.
			d := at(t, tt.date+" 23:30")
			got, warning := cal.IsWorkday(d)
			if got != tt.workday {
				t.Errorf("IsWorkday(%s) = %v, want %v (%s)", tt.date, got, tt.workday, tt.why)
			}
			if (warning != "") != tt.warns {
				t.Errorf("IsWorkday(%s) warning = %q, want one: %v", tt.date, warning, tt.warns)
			}
			if tt.warns && !strings.Contains(warning, "2027") {
				t.Errorf("warning %q does not name the year", warning)
			}
			if cal.Covers(d) == tt.warns {
				t.Errorf("Covers(%s) = %v", tt.date, cal.Covers(d))
			}
		})
	}
	// A date is taken in Beijing time: 2026-09-30 16:30 UTC is 10-01 00:30 CST.
	if ok, _ := cal.IsWorkday(time.Date(2026, 9, 30, 16, 30, 0, 0, time.UTC)); ok {
		t.Error("IsWorkday read the date in UTC, not Beijing time")
	}
	var none *escalation.Calendar
	if ok, w := none.IsWorkday(at(t, "2026-10-01 10:00")); !ok || w == "" {
		t.Errorf("nil calendar: IsWorkday(国庆节 Thursday) = %v, %q; want true with a warning", ok, w)
	}
}

func TestNextWorkingMorning(t *testing.T) {
	cal := loadCalendar(t)
	tests := []struct {
		from, want string
		why        string
	}{
		{"2026-11-20 08:59", "2026-11-20 09:00", "Friday before 09:00: the same morning"},
		{"2026-11-20 09:00", "2026-11-23 09:00", "Friday at 09:00: Monday"},
		{"2026-11-20 18:00", "2026-11-23 09:00", "Friday evening: Monday"},
		{"2026-11-21 08:00", "2026-11-23 09:00", "Saturday before 09:00: not a working day"},
		{"2026-11-23 00:00", "2026-11-23 09:00", "Monday midnight"},
		{"2026-09-30 18:00", "2026-10-08 09:00", "the eve of 国庆节: after the holiday"},
		{"2026-09-30 08:00", "2026-09-30 09:00", "the morning before 国庆节"},
		{"2026-10-03 10:00", "2026-10-08 09:00", "in the holiday"},
		{"2026-10-09 18:00", "2026-10-10 09:00", "Friday before a make-up Saturday"},
		{"2026-09-18 18:00", "2026-09-20 09:00", "Friday before a make-up Sunday"},
		{"2026-12-31 18:00", "2027-01-01 09:00", "into 2027, uncovered: a plain Friday"},
	}
	for _, tt := range tests {
		got := cal.NextWorkingMorning(at(t, tt.from))
		if want := at(t, tt.want); !got.Equal(want) {
			t.Errorf("NextWorkingMorning(%s) = %v, want %s (%s)", tt.from, got, tt.want, tt.why)
		}
		if _, off := got.Zone(); off != 8*60*60 {
			t.Errorf("NextWorkingMorning(%s) is not in Beijing time: %v", tt.from, got)
		}
	}
}

func TestCalendarYears(t *testing.T) {
	cal, err := escalation.LoadCalendar(fixtureCalendar, "testdata/calendar/cn-calendar-2027-partial.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		date    string
		workday bool
	}{
		{"2026-12-31", false}, // 元旦 2027 starts in 2026
		{"2027-01-01", false},
		{"2027-01-04", true},
		{"2027-01-09", true}, // make-up Saturday
	}
	for _, tt := range tests {
		got, w := cal.IsWorkday(at(t, tt.date+" 12:00"))
		if got != tt.workday || w != "" {
			t.Errorf("IsWorkday(%s) = %v, %q; want %v", tt.date, got, w, tt.workday)
		}
	}
	if got, want := cal.NextWorkingMorning(at(t, "2026-12-30 18:00")), at(t, "2027-01-04 09:00"); !got.Equal(want) {
		t.Errorf("NextWorkingMorning over 元旦 = %v, want %v", got, want)
	}

	_, err = escalation.LoadCalendar(fixtureCalendar, fixtureCalendar)
	if err == nil || !strings.Contains(err.Error(), "year 2026 is already loaded from") {
		t.Errorf("loading 2026 twice: %v", err)
	}
	if _, err := escalation.LoadCalendar(); err == nil {
		t.Error("LoadCalendar() with no files succeeded")
	}
	if _, err := escalation.LoadCalendar("testdata/calendar/nope.yaml"); err == nil || errors.As(err, new(*escalation.LoadError)) {
		t.Errorf("a missing file: %v", err)
	}
}

func TestCalendarBadFiles(t *testing.T) {
	for _, path := range testdata(t, "calendar/*.bad.yaml") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := wantedProblems(t, path, readFile(t, path))
			cal, err := escalation.LoadCalendar(path)
			if cal != nil {
				t.Error("a calendar was returned with the error")
			}
			checkProblems(t, err, want)
		})
	}
}
