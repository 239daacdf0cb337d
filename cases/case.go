// Package cases is the mediation case (案件) and its workflow: the states a
// case passes through from registration (登记) to archive (归档), the one
// table of which actions each state allows and to whom, the statutory clocks
// (时限) that each step starts and stops, and the history every step appends
// to. It is pure: storage, HTTP and the engine are the callers' business.
//
// "统一受理、集中梳理、归口管理、依法处理、限期办理": every case gets one
// number, one responsible unit and a deadline.
package cases

import (
	"time"

	"fengqiao/risk"
)

// Case is one mediation case.
type Case struct {
	Number string `json:"number"` // case number (案件编号), unit-prefixed: 990101100000-2026-00017
	// Unit registered the case (登记单位); it dispatches it.
	Unit    string `json:"unit"`
	Channel string `json:"channel"` // how it came in (来源渠道), see Channels
	// Type is the case type (案件类型) that sets its clocks, from the policy.
	Type     string  `json:"type"`
	Category string  `json:"category"` // dispute category (纠纷类别)
	Summary  string  `json:"summary"`
	Claims   string  `json:"claims,omitempty"` // what the parties ask for (诉求)
	Amount   float64 `json:"amount,omitempty"` // amount involved (涉及金额), yuan
	Parties  []Party `json:"parties"`
	// Dispute is the dispute subject the case is about (its ref); the case's
	// events are scored on it.
	Dispute string `json:"dispute"`
	// ColourAtRegistration is the dispute's colour when it was registered.
	ColourAtRegistration *risk.Level `json:"colour_at_registration,omitempty"`
	Related              []string    `json:"related,omitempty"` // related case numbers (关联案件)
	ExternalID           string      `json:"external_id,omitempty"`

	State State `json:"state"`
	// Resume is the state a suspended case returns to.
	Resume State `json:"resume_state,omitempty"`

	Assignment *Assignment `json:"assignment,omitempty"`
	Sessions   []Session   `json:"sessions,omitempty"`
	// Outcome is how mediation ended: Agreed or Failed.
	Outcome   State        `json:"outcome,omitempty"`
	Decline   *Declination `json:"decline,omitempty"`
	Failure   *Failure     `json:"failure,omitempty"`
	Agreement *Agreement   `json:"agreement,omitempty"`
	// Confirmation is the court's judicial confirmation (司法确认) of the agreement.
	Confirmation *Confirmation `json:"confirmation,omitempty"`
	FollowUps    []FollowUp    `json:"follow_ups,omitempty"`
	Returns      []Sendback    `json:"returns,omitempty"` // assignments sent back (退回)
	Dossier      []string      `json:"dossier,omitempty"` // documents filed (卷宗材料)
	Clocks       []Clock       `json:"clocks,omitempty"`
	Pending      *Request      `json:"pending,omitempty"` // a request awaiting a supervisor
	Escalations  int           `json:"escalations,omitempty"`
	// Supervisions are the 督办 and 挂牌督办 of the case's overdue clocks.
	Supervisions []Supervision `json:"supervisions,omitempty"`
	Reopened     int           `json:"reopened,omitempty"` // times reopened (重办)
	ArchiveBatch string        `json:"archive_batch,omitempty"`

	RegisteredAt time.Time `json:"registered_at"`
	RegisteredBy string    `json:"registered_by"`
	UpdatedAt    time.Time `json:"updated_at"`
	ClosedAt     time.Time `json:"closed_at,omitzero"`
	Version      int       `json:"version"`

	prev State // the state before the step being applied
}

// Channels are how a case comes in (来源渠道).
var Channels = map[string]string{
	"walk_in":       "来访",
	"grid":          "网格上报",
	"hotline":       "12345热线",
	"petition":      "信访部门",
	"police":        "公安对接",
	"court":         "法院对接",
	"procuratorate": "检察院对接",
	"engine":        "风险预警",
}

// MediationTypes are the kinds of mediation (调解类型).
var MediationTypes = []string{"人民调解", "行政调解", "司法调解", "特邀调解", "律师调解", "联合调解"}

// DockingTypes are the dockings with other bodies (对接类型).
var DockingTypes = []string{"公调对接", "诉调对接", "检调对接", "访调对接"}

// Redirects are where a declined case is sent instead.
var Redirects = map[string]string{
	"litigation":            "诉讼",
	"arbitration":           "仲裁",
	"administrative_review": "行政复议",
	"petition":              "信访",
	"other":                 "其他途径",
}

// Referrals are where a failed mediation goes next.
var Referrals = map[string]string{
	"litigation":     "诉讼",
	"arbitration":    "仲裁",
	"administrative": "行政处理",
	"petition":       "信访",
	"other":          "其他途径",
}

// Party is a party to the case (当事人). The ID number and phone never stay
// here in clear: the store keeps only the person's keyed reference and the
// sealed identity.
type Party struct {
	Role     string `json:"role"` // 申请人, 被申请人, 第三人 …
	Name     string `json:"name"`
	IDNumber string `json:"id_number,omitempty"` // in requests only; cleared before storing
	Phone    string `json:"phone,omitempty"`     // in requests only; cleared before storing
	Person   string `json:"person,omitempty"`    // the person subject's ref
	Weak     bool   `json:"weak_identity,omitempty"`
	Sealed   string `json:"sealed,omitempty"` // the encrypted ID number and phone
}

// Assignment is who handles the case (交办): the lead unit (主办单位), any
// co-units (协办单位), the mediation organisation and its mediators.
type Assignment struct {
	LeadUnit      string    `json:"lead_unit"`
	CoUnits       []string  `json:"co_units,omitempty"`
	Organisation  string    `json:"organisation"` // e.g. 枫桥镇人民调解委员会
	MediationType string    `json:"mediation_type"`
	Docking       string    `json:"docking,omitempty"`
	Mediators     []string  `json:"mediators,omitempty"`
	AssignedAt    time.Time `json:"assigned_at"`
	AssignedBy    string    `json:"assigned_by"`
	SignedAt      time.Time `json:"signed_at,omitzero"`
	SignedBy      string    `json:"signed_by,omitempty"`
}

// Session is one mediation session (调解记录).
type Session struct {
	Date      time.Time `json:"date"`
	Place     string    `json:"place"`
	Mediators []string  `json:"mediators"`
	Attendees []string  `json:"attendees,omitempty"`
	Notes     string    `json:"notes,omitempty"`
}

// Declination is why a case was not accepted and where to go instead.
type Declination struct {
	Reason   string `json:"reason"`
	Redirect string `json:"redirect"`
}

// Failure is why mediation failed and where the dispute goes next.
type Failure struct {
	Reason   string `json:"reason"`
	Referral string `json:"referral"`
}

// Agreement is a mediation agreement (调解协议).
type Agreement struct {
	Terms string `json:"terms"`
	// PerformBy is when the agreement must be carried out (履行期限).
	PerformBy time.Time `json:"perform_by,omitzero"`
	// SeekConfirmation says the parties will apply for judicial confirmation.
	SeekConfirmation bool      `json:"seek_confirmation,omitempty"`
	SignedAt         time.Time `json:"signed_at"`
}

// Confirmation is a court's judicial confirmation (司法确认).
type Confirmation struct {
	Court     string    `json:"court"`
	Date      time.Time `json:"date"`
	Confirmed bool      `json:"confirmed"` // false: the court refused it
	Reference string    `json:"reference,omitempty"`
}

// FollowUp is a follow-up visit (回访).
type FollowUp struct {
	Date      time.Time `json:"date"`
	By        string    `json:"by"`
	Method    string    `json:"method"` // 电话, 上门 …
	Performed *bool     `json:"performed,omitempty"`
	Satisfied bool      `json:"satisfied"`
	Notes     string    `json:"notes,omitempty"`
}

// Sendback is an assignment sent back by the unit it was given to (退回).
type Sendback struct {
	Unit   string    `json:"unit"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
}

// Supervision is one 督办 of an overdue clock: to the handling unit, or,
// still overdue later, 挂牌督办 by the next tier up.
type Supervision struct {
	Clock  ClockName `json:"clock"`
	Due    time.Time `json:"due"` // the clock's due time when supervised
	Listed bool      `json:"listed,omitempty"`
	Unit   string    `json:"unit"` // who was told: the handling unit, or the one above it
	At     time.Time `json:"at"`
}

// Supervised returns the case's supervision of a clock at its due time, listed or not.
func (c *Case) Supervised(clock ClockName, due time.Time, listed bool) *Supervision {
	for i, s := range c.Supervisions {
		if s.Clock == clock && s.Due.Equal(due) && s.Listed == listed {
			return &c.Supervisions[i]
		}
	}
	return nil
}

// Request is something the handling unit asks a supervisor to approve.
type Request struct {
	Kind   RequestKind `json:"kind"`
	Days   int         `json:"days,omitempty"` // extension: days asked for
	Reason string      `json:"reason"`
	At     time.Time   `json:"at"`
	By     string      `json:"by"`
}

// RequestKind is what a request asks for.
type RequestKind string

// The kinds of request.
const (
	Extension  RequestKind = "extension"  // 延期
	Escalation RequestKind = "escalation" // 上交 to the next tier
)

// Open reports whether the case is still being worked: not declined,
// closed, followed up or archived.
func (c *Case) Open() bool {
	switch c.State {
	case Declined, Closed, FollowedUp, Archived:
		return false
	}
	return true
}

// Handler is the unit handling the case: the lead unit once assigned, the
// registering unit before.
func (c *Case) Handler() string {
	if c.Assignment != nil && c.Assignment.LeadUnit != "" {
		return c.Assignment.LeadUnit
	}
	return c.Unit
}

// Units are every unit the case concerns: the registering unit, the lead
// unit and the co-units. A case is visible in each of their subtrees.
func (c *Case) Units() []string {
	out := []string{c.Unit}
	if c.Assignment != nil {
		out = append(out, c.Assignment.LeadUnit)
		out = append(out, c.Assignment.CoUnits...)
	}
	return out
}

// Clock returns the case's clock of that name, or nil.
func (c *Case) Clock(name ClockName) *Clock {
	for i := range c.Clocks {
		if c.Clocks[i].Name == name {
			return &c.Clocks[i]
		}
	}
	return nil
}

// Overdue returns the clocks that are running past their due time at now.
func (c *Case) Overdue(now time.Time) []Clock {
	var out []Clock
	for _, k := range c.Clocks {
		if k.Overdue(now) {
			out = append(out, k)
		}
	}
	return out
}
