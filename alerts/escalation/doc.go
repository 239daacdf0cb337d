// Package escalation decides whom an alert pages (告警分级推送), and when:
// the escalation policy (升级策略) that says, for each colour, which tiers of
// the jurisdiction are paged, through which channels, how soon they must
// acknowledge and how the alert climbs when they do not; the duty roster
// (值班表) that says who is on duty for a unit at a given moment; and the
// working-day calendar (法定节假日 and 调休) behind "by the next working
// morning".
//
// The package is pure: it reads files when asked to load them and does no
// other I/O. Delivery, the outbox, acknowledgements and the escalation
// timers belong to the packages that use it.
//
// All times of day are Beijing time (CST, UTC+8), whatever the location of
// the times passed in:
//
//   - the next working morning is 09:00 on the first working day after the
//     given instant's date, or 09:00 the same day if the instant falls
//     before 09:00 on a working day (Calendar.NextWorkingMorning);
//   - the day shift (白班) runs 08:00–20:00, the night shift (夜班) 20:00 to
//     08:00 the next morning and belongs to the date it starts on, and the
//     all-day shift (全天) covers the calendar day (Shift);
//   - quiet hours are read as Beijing times of day (QuietHours).
//
// Policy, calendar and roster files are loaded strictly, in the manner of
// the rules and jurisdiction files: unknown fields are refused, and every
// problem in a file is reported at once in a *LoadError, each with its file
// and line. Messages never quote a contact's details or a channel's
// settings, which may be phone numbers or keys.
package escalation
