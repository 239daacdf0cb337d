package schedule

import (
	"time"

	"fengqiao/risk"
)

// Daily is a unit's daily report (日报) for one day: the colours of its
// subtree's subjects and how they changed, the day's rises with their
// reasons, its alerts, its cases, and its child units' zero reports.
type Daily struct {
	Unit     string    `json:"unit"`
	UnitName string    `json:"unit_name"`
	Date     string    `json:"date"` // 2026-11-23
	From     time.Time `json:"from"` // the day the report covers: [from, to)
	To       time.Time `json:"to"`
	MadeAt   time.Time `json:"made_at"`

	Colours []ColourCount `json:"colours"` // blue to red, subjects at each colour now
	Rises   []Rise        `json:"rises"`   // subjects that rose to yellow or above during the day, newest first
	Alerts  AlertStats    `json:"alerts"`
	Cases   CaseStats     `json:"cases"`
	// ZeroReports are the child units' zero reports for the day's checkpoints.
	ZeroReports []ZeroReportRow `json:"zero_reports"`
	ZeroSummary ZeroSummary     `json:"zero_summary"`
}

// ColourCount is how many subjects are at a colour, and the change since
// the previous daily report (nil when there was none).
type ColourCount struct {
	Level    risk.Level `json:"level"`
	Persons  int        `json:"persons"`
	Disputes int        `json:"disputes"`
	Change   *int       `json:"change,omitempty"`
}

// Rise is a subject that rose during the day, with the engine's reasons.
type Rise struct {
	Subject  risk.SubjectID `json:"subject"`
	Name     string         `json:"name,omitempty"` // masked
	Unit     string         `json:"unit"`
	UnitName string         `json:"unit_name"`
	Level    risk.Level     `json:"level"`
	At       time.Time      `json:"at"`
	Reasons  string         `json:"reasons"`
}

// AlertStats are the day's alerts (预警) in the unit's subtree.
type AlertStats struct {
	Opened       int `json:"opened"`
	Acknowledged int `json:"acknowledged"`
	Escalated    int `json:"escalated"` // opened during the day and escalated at least once
	StillOpen    int `json:"still_open"`
	// MedianAckMinutes and MaxAckMinutes are the time-to-acknowledge of the
	// day's acknowledged alerts; zero when none was.
	MedianAckMinutes float64 `json:"median_ack_minutes"`
	MaxAckMinutes    float64 `json:"max_ack_minutes"`
}

// CaseStats are the day's cases (案件) in the unit's subtree.
type CaseStats struct {
	Registered int `json:"registered"`
	Closed     int `json:"closed"`
	Agreed     int `json:"agreed"` // of those closed
	Failed     int `json:"failed"` // of those closed
	Open       int `json:"open"`
	Overdue    int `json:"overdue"`
	// SuccessRate is agreed over closed (调处成功率); nil when none closed.
	SuccessRate *float64 `json:"success_rate,omitempty"`
}

// ZeroReportRow is one child unit's zero report at one checkpoint.
type ZeroReportRow struct {
	Unit       string     `json:"unit"`
	UnitName   string     `json:"unit_name"`
	Checkpoint string     `json:"checkpoint"`
	Status     Status     `json:"status"`
	FiledAt    *time.Time `json:"filed_at,omitempty"`
	Officer    string     `json:"officer,omitempty"`
	Incidents  int        `json:"incidents"`
}

// ZeroSummary counts the rows by status; Compliance is the share filed
// (on time or late) of those due, nil when none was due.
type ZeroSummary struct {
	Due        int      `json:"due"`
	Filed      int      `json:"filed"`
	FiledLate  int      `json:"filed_late"`
	Late       int      `json:"late"`
	Missing    int      `json:"missing"`
	Compliance *float64 `json:"compliance,omitempty"`
}

// Summarise counts rows by status.
func Summarise(rows []ZeroReportRow) ZeroSummary {
	var s ZeroSummary
	for _, r := range rows {
		switch r.Status {
		case Filed:
			s.Filed++
		case FiledLate:
			s.FiledLate++
		case Late:
			s.Late++
		case Missing:
			s.Missing++
		default:
			continue
		}
		s.Due++
	}
	if s.Due > 0 {
		c := float64(s.Filed+s.FiledLate) / float64(s.Due)
		s.Compliance = &c
	}
	return s
}
