package cases

import (
	"time"
)

// beijing is Beijing time (UTC+8, no daylight saving since 1991): the days
// that deadlines count are Beijing days.
var beijing = time.FixedZone("CST", 8*60*60)

// ClockName names one of a case's clocks (时限).
type ClockName string

// The clocks. Several run at once: a case agreed with judicial confirmation
// sought has its confirmation clock and its follow-up clock running together.
const (
	AcceptClock       ClockName = "accept"       // 受理时限: registration → accepted or declined
	SignClock         ClockName = "sign"         // 签收时限: assignment → signed for
	HandlingClock     ClockName = "handling"     // 办理时限: assignment → closed (办结)
	ConfirmationClock ClockName = "confirmation" // 司法确认申请期限: agreement → confirmation
	PerformanceClock  ClockName = "performance"  // 履行期限: agreement → performed, checked at follow-up
	FollowUpClock     ClockName = "follow_up"    // 回访时限: closed → followed up
)

// ClockNames are the clocks in the order a case meets them.
var ClockNames = []ClockName{AcceptClock, SignClock, HandlingClock, ConfirmationClock, PerformanceClock, FollowUpClock}

// Chinese returns the clock's name as officers say it.
func (n ClockName) Chinese() string {
	switch n {
	case AcceptClock:
		return "受理时限"
	case SignClock:
		return "签收时限"
	case HandlingClock:
		return "办理时限"
	case ConfirmationClock:
		return "司法确认申请期限"
	case PerformanceClock:
		return "协议履行期限"
	case FollowUpClock:
		return "回访时限"
	}
	return string(n)
}

// Clock is one deadline of a case: when it started, when it is due and on
// what legal basis (依据), whether it counts working days, and when it was
// met. A suspended case's clocks are paused and pushed back on resumption.
type Clock struct {
	Name     ClockName `json:"name"`
	Start    time.Time `json:"start"`
	Due      time.Time `json:"due"`
	Days     int       `json:"days"`
	Working  bool      `json:"working_days,omitempty"`
	Basis    string    `json:"basis,omitempty"`
	Extended int       `json:"extended_days,omitempty"` // days added by approved extensions
	Met      time.Time `json:"met,omitzero"`
	Paused   time.Time `json:"paused,omitzero"`
}

// Running reports whether the clock is still counting: not met, not paused.
func (k Clock) Running() bool { return k.Met.IsZero() && k.Paused.IsZero() }

// Overdue reports whether the clock is running past its due time at now.
func (k Clock) Overdue(now time.Time) bool { return k.Running() && now.After(k.Due) }

// Calendar tells working days from days off (weekends, public holidays and
// 调休 make-up workdays). The alerts' escalation calendar is one.
type Calendar interface {
	IsWorkday(t time.Time) (workday bool, warning string)
}

// weekdays is the plain calendar used when none is loaded: Monday to Friday.
type weekdays struct{}

func (weekdays) IsWorkday(t time.Time) (bool, string) {
	wd := t.In(beijing).Weekday()
	return wd != time.Saturday && wd != time.Sunday, ""
}

// Deadline returns when a period of days that starts at start ends: the end
// (24:00 Beijing time) of the days-th day after start's date. A period
// counted in working days skips days off; a period counted in calendar days
// whose last day is a day off runs to the end of the next working day, as
// Chinese procedural law counts periods (期间届满的最后一日是法定休假日的,
// 以法定休假日后的第一日为期间届满的日期). Zero days ends with start's own day.
func Deadline(start time.Time, days int, working bool, cal Calendar) time.Time {
	if cal == nil {
		cal = weekdays{}
	}
	s := start.In(beijing)
	day := time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, beijing)
	isWork := func(d time.Time) bool { ok, _ := cal.IsWorkday(d); return ok }
	if working {
		for n, i := 0, 0; n < days && i < 3*days+60; i++ {
			day = day.AddDate(0, 0, 1)
			if isWork(day) {
				n++
			}
		}
	} else {
		day = day.AddDate(0, 0, days)
		// Holidays last days, not months: the bound only stops a calendar
		// that has no working day at all.
		for i := 0; days > 0 && i < 60 && !isWork(day); i++ {
			day = day.AddDate(0, 0, 1)
		}
	}
	return day.AddDate(0, 0, 1).Add(-time.Second)
}
