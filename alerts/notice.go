package alerts

import "fengqiao/risk"

// Notice is an alert raised by the schedules rather than by a subject's
// level change: a unit's missing zero report (零报告未报), a case's 督办, a
// follow-up reminder, a daily report for the unit above. It reaches the
// duty officers of its target units through the channels the escalation
// policy gives its colour, by the same durable outbox as every alert.
type Notice struct {
	// Key makes raising idempotent: the same key raises one alert.
	Key string
	// Kind is what the notice is about: zero_report, supervision,
	// follow_up, daily_report.
	Kind string
	// Ref names the thing within its kind: "990101100201/2026-11-23T16:00",
	// a case number.
	Ref string
	// Unit is the unit the notice is about; the alert is visible in its
	// subtree and in its targets'.
	Unit string
	// Level is the colour whose channels carry it.
	Level       risk.Level
	Title       string
	Explanation string
	// Targets are the units whose duty officers are told.
	Targets []string
	// Info is a notice to read, not to acknowledge: it is delivered and
	// closed at once (a daily report, a reminder).
	Info bool
}
