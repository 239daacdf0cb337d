// Package alerting runs the alerts' life: it opens an alert when a subject's
// colour rises, has the right duty officers notified through a durable
// outbox, escalates up the jurisdiction when nobody acknowledges in time,
// and resolves the alert when the subject falls or an officer says so.
// Alertmanager routes and groups but will not acknowledge or escalate; this
// package owns those.
package alerting

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"fengqiao/risk"
)

// State is where an alert is in its life.
type State string

// The states.
const (
	Open         State = "open"         // notified, waiting for an acknowledgement
	Acknowledged State = "acknowledged" // an officer has it in hand; no further escalation
	Resolved     State = "resolved"     // the subject fell below the alert's colour, or an officer closed it
)

// Alert is one alert (预警) about a subject at a colour.
type Alert struct {
	ID      string         `json:"id"`
	Event   string         `json:"event"` // the level change that opened it
	Subject risk.SubjectID `json:"subject"`
	// Kind is empty for an alert about a subject's colour, or a notice's
	// kind (zero_report, supervision, follow_up, daily_report); Title is a
	// notice's headline.
	Kind        string     `json:"kind,omitempty"`
	Title       string     `json:"title,omitempty"`
	Unit        string     `json:"unit"`
	Level       risk.Level `json:"level"`
	State       State      `json:"state"`
	OpenedAt    time.Time  `json:"opened_at"`
	Explanation string     `json:"explanation"`
	// Policy is the escalation policy for the alert's colour as it was when
	// the alert opened: a later edit does not change a running escalation.
	Policy        Snapshot   `json:"policy"`
	Step          int        `json:"step"`     // 0: first notice; n: the n-th escalation
	Deadline      time.Time  `json:"deadline"` // acknowledge by
	Notified      []Target   `json:"notified"` // every target notified, in order
	Silence       string     `json:"silence,omitempty"`
	AckedBy       string     `json:"acked_by,omitempty"`
	AckedAt       *time.Time `json:"acked_at,omitempty"`
	AckNote       string     `json:"ack_note,omitempty"`
	ResolvedBy    string     `json:"resolved_by,omitempty"`
	ResolvedAt    *time.Time `json:"resolved_at,omitempty"`
	ResolveReason string     `json:"resolve_reason,omitempty"`
	// Supervisions are the 督办 (to the alert's unit) and 挂牌督办 (by the
	// tier above) of an alert left unacknowledged past its deadline.
	Supervisions []Supervision `json:"supervisions,omitempty"`
}

// Supervision is one 督办 of an alert.
type Supervision struct {
	Listed bool      `json:"listed,omitempty"` // 挂牌督办
	Unit   string    `json:"unit"`             // who was told
	At     time.Time `json:"at"`
}

// Snapshot is the part of the escalation policy an alert keeps.
type Snapshot struct {
	Tiers     []string      `json:"tiers"`
	Channels  []string      `json:"channels"`
	AckWithin string        `json:"ack_within"` // a duration, or next_working_morning
	Every     time.Duration `json:"escalate_every"`
	Times     int           `json:"escalate_times"`
}

// Target is a unit whose duty officers hear of an alert.
type Target struct {
	Unit     string   `json:"unit"`
	Tier     string   `json:"tier"`
	Step     int      `json:"step"`
	Channels []string `json:"channels"`
}

// alertID derives an alert's id from the event that opened it, so that a
// redelivered event opens nothing new.
func alertID(event string) string {
	h := sha256.Sum256([]byte(event))
	return "A" + hex.EncodeToString(h[:8])
}

// Notification is one message to one target through one channel, kept in
// the outbox until it is delivered or given up.
type Notification struct {
	ID        string     `json:"id"` // also the receivers' idempotency key
	AlertID   string     `json:"alert_id"`
	Step      int        `json:"step"`
	Target    Target     `json:"target"`
	Channel   string     `json:"channel"`
	Resolved  bool       `json:"resolved,omitempty"` // a "resolved" notice
	Created   time.Time  `json:"created"`
	Attempts  int        `json:"attempts"`
	Refreshes int        `json:"refreshes,omitempty"` // how many times it was re-sent while the alert stayed open
	State     string     `json:"state"`               // pending, sent, failed
	LastError string     `json:"last_error,omitempty"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

func notificationID(alert string, step int, t Target, channel string, resolved bool) string {
	id := alert + "/" + strconv.Itoa(step) + "/" + t.Unit + "/" + channel
	if resolved {
		id += "/resolved"
	}
	return id
}

// Silence keeps alerts in a unit's subtree, up to a colour, from being
// notified until it ends. The alerts still open and show as silenced.
type Silence struct {
	ID      string     `json:"id"`
	Unit    string     `json:"unit"`
	UpTo    risk.Level `json:"up_to"` // silences alerts at this colour and below
	Until   time.Time  `json:"until"`
	Reason  string     `json:"reason"`
	By      string     `json:"by"`
	Created time.Time  `json:"created"`
}
