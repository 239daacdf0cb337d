package cases

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The roles that act on cases, as the access tokens name them.
const (
	RoleAdmin    = "admin"
	RoleDuty     = "duty"
	RoleMediator = "mediator"
	RoleReporter = "reporter"
	RoleSystem   = "system"
)

var (
	registrars  = []string{RoleReporter, RoleMediator, RoleDuty, RoleAdmin, RoleSystem}
	dispatchers = []string{RoleMediator, RoleDuty, RoleAdmin, RoleSystem}
	handlers    = []string{RoleMediator, RoleDuty, RoleAdmin}
	supervisors = []string{RoleDuty, RoleAdmin}
)

// Actor is who takes a step: their token, name, role and unit.
type Actor struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	Unit string `json:"unit"`
}

// Act is a step asked for, with what that step needs.
type Act struct {
	Action Action `json:"action"`
	Reason string `json:"reason,omitempty"`
	// Version, when set, is the version the caller read: the step is
	// refused if the case has changed since.
	Version      int           `json:"version,omitempty"`
	Redirect     string        `json:"redirect,omitempty"`   // decline
	Referral     string        `json:"referral,omitempty"`   // fail
	Assignment   *Assignment   `json:"assignment,omitempty"` // assign; approve an escalation
	Session      *Session      `json:"session,omitempty"`
	Agreement    *Agreement    `json:"agreement,omitempty"`
	Confirmation *Confirmation `json:"confirmation,omitempty"`
	FollowUp     *FollowUp     `json:"follow_up,omitempty"`
	Documents    []string      `json:"documents,omitempty"` // file
	Days         int           `json:"days,omitempty"`      // request_extension
	Batch        string        `json:"-"`                   // archive: set by the reconciliation batch
}

// Event is one entry of a case's append-only history: who did what, when,
// from which state to which, why, and every field it changed.
type Event struct {
	Seq    int       `json:"seq"` // the case's version after the step
	Action Action    `json:"action"`
	At     time.Time `json:"at"`
	By     Actor     `json:"by"`
	From   State     `json:"from,omitempty"`
	To     State     `json:"to"`
	Reason string    `json:"reason,omitempty"`
	// Signal is the case event the engine scores (e.g. mediation_failed,
	// reopened); empty for steps the engine need not know of.
	Signal  string   `json:"signal,omitempty"`
	Changes []Change `json:"changes,omitempty"`
}

// Change is one field a step changed, with its values before and after.
type Change struct {
	Field string          `json:"field"`
	Old   json.RawMessage `json:"old,omitempty"`
	New   json.RawMessage `json:"new,omitempty"`
}

// Workflow applies steps to cases under a policy.
type Workflow struct {
	Policy     *Policy
	Units      Units
	Calendar   Calendar // nil: Monday to Friday
	Categories []string
}

// scope is whose subtree a step may be taken from.
type scope int

const (
	dispatch  scope = iota + 1 // the registering unit's: it dispatches the case
	handle                     // the handling unit's
	supervise                  // strictly above the handling unit
	either                     // the registering or the handling unit's
)

// transition is one row of the workflow's table.
type transition struct {
	action  Action
	chinese string
	from    []State
	to      State // "": the state does not change
	roles   []string
	scope   scope
	signal  string
	apply   func(w *Workflow, c *Case, a *Act, by Actor, now time.Time) error
}

var working = []State{Accepted, Assigned, Signed, Mediating}

// table is the workflow: for each action, the states it may be taken from,
// the state it leads to, who may take it, and its guard and effect.
var table []transition

func init() {
	table = []transition{
		{Accept, "受理", []State{Registered}, Accepted, dispatchers, dispatch, "accepted", (*Workflow).accept},
		{Decline, "不予受理", []State{Registered}, Declined, dispatchers, dispatch, "declined", (*Workflow).decline},
		{Assign, "交办", []State{Accepted, Returned}, Assigned, dispatchers, dispatch, "assigned", (*Workflow).assign},
		{Return, "退回", []State{Assigned, Signed}, Returned, handlers, handle, "returned", (*Workflow).giveBack},
		{Sign, "签收", []State{Assigned}, Signed, handlers, handle, "signed", (*Workflow).sign},
		{RecordSession, "记录调解", []State{Signed, Mediating}, Mediating, handlers, handle, "session", (*Workflow).session},
		{Agree, "达成协议", []State{Mediating}, Agreed, handlers, handle, "agreement", (*Workflow).agree},
		{Fail, "调解不成", []State{Mediating}, Failed, handlers, handle, "mediation_failed", (*Workflow).fail},
		{Confirm, "司法确认", []State{Agreed, Closed, FollowedUp}, "", handlers, handle, "confirmed", (*Workflow).confirm},
		{Close, "结案", []State{Agreed, Failed}, Closed, handlers, handle, "closed", (*Workflow).close},
		{Visit, "回访", []State{Closed, FollowedUp}, FollowedUp, handlers, handle, "followed_up", (*Workflow).visit},
		{Archive, "归档", []State{FollowedUp, Declined}, Archived, dispatchers, dispatch, "archived", (*Workflow).archive},
		{Suspend, "中止", working, Suspended, handlers, handle, "suspended", (*Workflow).suspend},
		{Resume, "恢复", []State{Suspended}, "", handlers, handle, "resumed", (*Workflow).resume},
		{RequestExtension, "申请延期", []State{Signed, Mediating, Suspended}, "", handlers, handle, "", (*Workflow).requestExtension},
		{RequestEscalation, "申请上交", []State{Accepted, Assigned, Signed, Mediating, Failed}, "", handlers, either, "", (*Workflow).requestEscalation},
		{Approve, "批准申请", pendable, "", supervisors, supervise, "", (*Workflow).approve},
		{Reject, "驳回申请", pendable, "", supervisors, supervise, "", (*Workflow).reject},
		{File, "归入卷宗", filable, "", append(slices.Clone(handlers), RoleSystem), either, "", (*Workflow).file},
	}
}

// pendable are the states a request may await a decision in; filable, the
// states documents may still be added in.
var (
	pendable = []State{Accepted, Assigned, Signed, Mediating, Failed, Suspended}
	filable  = []State{Registered, Accepted, Assigned, Returned, Signed, Mediating, Agreed, Failed, Closed, FollowedUp, Suspended}
)

// Actions lists every action a case may be acted on with (not Register,
// which creates one, nor MarkOverdue, which only the sweep takes).
func Actions() []Action {
	out := make([]Action, len(table))
	for i, t := range table {
		out[i] = t.action
	}
	return out
}

func transitionOf(a Action) (transition, bool) {
	for _, t := range table {
		if t.action == a {
			return t, true
		}
	}
	return transition{}, false
}

// TransitionError is a step the case's state does not allow. It names the
// state and the steps the caller may take instead.
type TransitionError struct {
	Action  Action
	State   State
	Allowed []Action
}

func (e *TransitionError) Error() string {
	names := make([]string, len(e.Allowed))
	for i, a := range e.Allowed {
		names[i] = string(a)
	}
	allowed := "none"
	if len(names) > 0 {
		allowed = strings.Join(names, ", ")
	}
	return fmt.Sprintf("a case that is %s (%s) does not allow the step %s (%s): the steps you may take now are: %s",
		e.State, e.State.Chinese(), e.Action, e.Action.Chinese(), allowed)
}

// ForbiddenError is a step the caller's role or unit may not take.
type ForbiddenError struct{ Message string }

func (e *ForbiddenError) Error() string { return e.Message }

// InvalidError is a step or a case whose content is wrong; Field names
// what to fix.
type InvalidError struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Message }

// BatchError is a reconciliation batch refused whole: each case that
// cannot be archived, and why.
type BatchError struct {
	Problems []BatchProblem
}

// BatchProblem is one case of a refused batch.
type BatchProblem struct {
	Number  string `json:"number"`
	Message string `json:"message"`
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("the batch is refused whole, nothing was archived: %d cases cannot be archived", len(e.Problems))
}

// ConflictError is a step taken on a version of the case that is no longer current.
type ConflictError struct{ Have, Want int }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("the case has changed since you read it (version %d, now %d): read it again and decide afresh", e.Want, e.Have)
}

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Allowed returns the steps by may take on c now, in table order. Guards
// that depend on what a step carries (a reason, a document list) are not
// checked here.
func (w *Workflow) Allowed(c *Case, by Actor) []Action {
	var out []Action
	for _, t := range table {
		if slices.Contains(t.from, c.State) && w.permitted(t, c, by) == nil && w.precondition(t, c) {
			out = append(out, t.action)
		}
	}
	return out
}

// precondition is what a step needs of the case itself beyond its state.
func (w *Workflow) precondition(t transition, c *Case) bool {
	switch t.action {
	case Approve, Reject:
		return c.Pending != nil
	case RequestExtension, RequestEscalation:
		return c.Pending == nil
	case Confirm:
		return c.Agreement != nil && c.Agreement.SeekConfirmation && c.Confirmation == nil
	}
	return true
}

func (w *Workflow) permitted(t transition, c *Case, by Actor) error {
	if !slices.Contains(t.roles, by.Role) {
		return &ForbiddenError{fmt.Sprintf("the role %s may not %s a case (%s)", by.Role, t.action, t.chinese)}
	}
	in := func(unit string) bool { return w.Units.Contains(by.Unit, unit) }
	switch t.scope {
	case dispatch:
		if !in(c.Unit) {
			return &ForbiddenError{"only the unit that registered the case, or one above it, may " + string(t.action) + " it"}
		}
	case handle:
		if !in(c.Handler()) {
			return &ForbiddenError{"only the handling unit, or one above it, may " + string(t.action) + " this case"}
		}
	case either:
		if !in(c.Handler()) && !in(c.Unit) {
			return &ForbiddenError{"only the registering or the handling unit, or one above them, may " + string(t.action) + " this case"}
		}
	case supervise:
		h := c.Handler()
		_, hasParent := w.Units.Parent(h)
		if !in(h) || (by.Unit == h && hasParent) {
			return &ForbiddenError{"a request is decided by a supervisor: a unit above the handling unit"}
		}
	}
	return nil
}

// Apply takes a step on c at now. On success c is the case after the step
// and the event records it; on failure c is unchanged.
func (w *Workflow) Apply(c *Case, a Act, by Actor, now time.Time) (Event, error) {
	t, ok := transitionOf(a.Action)
	if !ok {
		names := make([]string, 0, len(table))
		for _, t := range table {
			names = append(names, string(t.action))
		}
		return Event{}, invalid("action", "unknown step: want one of %s", strings.Join(names, ", "))
	}
	if a.Version != 0 && a.Version != c.Version {
		return Event{}, &ConflictError{Have: c.Version, Want: a.Version}
	}
	if !slices.Contains(t.from, c.State) {
		return Event{}, &TransitionError{Action: a.Action, State: c.State, Allowed: w.Allowed(c, by)}
	}
	if err := w.permitted(t, c, by); err != nil {
		return Event{}, err
	}
	if !w.precondition(t, c) {
		return Event{}, w.preconditionError(t, c, by)
	}
	a.Reason = strings.TrimSpace(a.Reason)
	if utf8.RuneCountInString(a.Reason) > 1000 {
		return Event{}, invalid("reason", "is longer than 1000 characters")
	}
	next := c.clone()
	from := c.State
	if t.to != "" {
		next.State = t.to
	}
	if err := t.apply(w, next, &a, by, now); err != nil {
		return Event{}, err
	}
	next.Version = c.Version + 1
	next.UpdatedAt = now
	ev := Event{Seq: next.Version, Action: a.Action, At: now, By: by, From: from, To: next.State,
		Reason: a.Reason, Signal: t.signal, Changes: diff(c, next)}
	if a.Action == Visit && next.State == Signed {
		ev.Signal = "reopened"
	}
	if a.Action == Approve && c.Pending != nil {
		ev.Signal = map[RequestKind]string{Extension: "extended", Escalation: "escalated"}[c.Pending.Kind]
	}
	*c = *next
	return ev, nil
}

func (w *Workflow) preconditionError(t transition, c *Case, by Actor) error {
	switch t.action {
	case Approve, Reject: // nothing awaits a decision
		return &TransitionError{Action: t.action, State: c.State, Allowed: w.Allowed(c, by)}
	case RequestExtension, RequestEscalation:
		return invalid("action", "a request (%s) already awaits a supervisor's decision", c.Pending.Kind)
	case Confirm:
		switch {
		case c.Agreement == nil || !c.Agreement.SeekConfirmation:
			return invalid("action", "the parties did not seek judicial confirmation of this agreement")
		default:
			return invalid("action", "the judicial confirmation is already recorded")
		}
	}
	return nil
}

// Register checks a new case and sets it up: registered, typed, with its
// acceptance clock running. Numbering it is the store's.
func (w *Workflow) Register(c *Case, by Actor, now time.Time) (Event, error) {
	if !slices.Contains(registrars, by.Role) {
		return Event{}, &ForbiddenError{"the role " + by.Role + " may not register cases"}
	}
	if err := w.checkNew(c); err != nil {
		return Event{}, err
	}
	if !w.Units.Contains(by.Unit, c.Unit) {
		return Event{}, &InvalidError{"unit", "is outside your jurisdiction: register cases for your own unit or the units under it"}
	}
	ct := w.Policy.TypeOf(c.Category)
	if c.Type != "" {
		t, ok := w.Policy.Type(c.Type)
		if !ok {
			return Event{}, invalid("type", "unknown case type %q", c.Type)
		}
		ct = t
	}
	c.Type = ct.ID
	c.State = Registered
	c.RegisteredAt, c.UpdatedAt, c.RegisteredBy = now, now, by.Name
	c.Version = 1
	c.Clocks = []Clock{w.clock(AcceptClock, now, ct.Accept)}
	return Event{Seq: 1, Action: Register, At: now, By: by, To: Registered, Signal: "registered"}, nil
}

func (w *Workflow) checkNew(c *Case) error {
	text := func(field, s string, max int, required bool) error {
		switch n := utf8.RuneCountInString(strings.TrimSpace(s)); {
		case n == 0 && required:
			return invalid(field, "is missing")
		case n > max:
			return invalid(field, "is longer than %d characters", max)
		}
		return nil
	}
	if _, ok := w.Units.Unit(c.Unit); !ok {
		return invalid("unit", "is not a unit of the jurisdiction: give its 12-digit code")
	}
	if _, ok := Channels[c.Channel]; !ok {
		return invalid("channel", "want one of %s", strings.Join(sortedKeys(Channels), ", "))
	}
	if !slices.Contains(w.Categories, c.Category) {
		return invalid("category", "is not a dispute category: want one of %s", strings.Join(w.Categories, ", "))
	}
	for _, f := range []struct {
		name, v  string
		max      int
		required bool
	}{{"summary", c.Summary, 2000, true}, {"claims", c.Claims, 2000, false}, {"external_id", c.ExternalID, 64, false}} {
		if err := text(f.name, f.v, f.max, f.required); err != nil {
			return err
		}
	}
	if c.Amount < 0 || c.Amount > 1e12 {
		return invalid("amount", "give the amount involved in yuan, 0 or more")
	}
	if len(c.Parties) == 0 {
		return invalid("parties", "give at least one party, with role and name")
	}
	if len(c.Parties) > 200 {
		return invalid("parties", "more than 200 parties: register a collective dispute with its representatives")
	}
	for i, p := range c.Parties {
		at := fmt.Sprintf("parties[%d].", i)
		if err := text(at+"role", p.Role, 20, true); err != nil {
			return err
		}
		if err := text(at+"name", p.Name, 50, true); err != nil {
			return err
		}
	}
	if len(c.Related) > 20 {
		return invalid("related", "link at most 20 related cases")
	}
	return nil
}

func (w *Workflow) clock(name ClockName, start time.Time, p Period) Clock {
	return Clock{Name: name, Start: start, Due: Deadline(start, p.Days, p.Working, w.Calendar),
		Days: p.Days, Working: p.Working, Basis: p.Basis}
}

// startClock starts a clock afresh, replacing one of the same name.
func (c *Case) startClock(k Clock) {
	if old := c.Clock(k.Name); old != nil {
		*old = k
		return
	}
	c.Clocks = append(c.Clocks, k)
}

// stopClock marks a running clock met at now.
func (c *Case) stopClock(name ClockName, now time.Time) {
	if k := c.Clock(name); k != nil && k.Met.IsZero() {
		k.Met, k.Paused = now, time.Time{}
	}
}

func (c *Case) dropClock(name ClockName) {
	c.Clocks = slices.DeleteFunc(c.Clocks, func(k Clock) bool { return k.Name == name })
}

func (w *Workflow) caseType(c *Case) CaseType {
	if t, ok := w.Policy.Type(c.Type); ok {
		return t
	}
	return w.Policy.TypeOf(c.Category)
}

func needReason(a *Act, what string) error {
	if a.Reason == "" {
		return invalid("reason", "is missing: say why %s", what)
	}
	return nil
}

func (w *Workflow) accept(c *Case, a *Act, by Actor, now time.Time) error {
	c.stopClock(AcceptClock, now)
	return nil
}

func (w *Workflow) decline(c *Case, a *Act, by Actor, now time.Time) error {
	if err := needReason(a, "the case is not accepted"); err != nil {
		return err
	}
	if _, ok := Redirects[a.Redirect]; !ok {
		return invalid("redirect", "say where the parties should go instead: one of %s", strings.Join(sortedKeys(Redirects), ", "))
	}
	c.Decline = &Declination{Reason: a.Reason, Redirect: a.Redirect}
	c.stopClock(AcceptClock, now)
	return nil
}

func (w *Workflow) assign(c *Case, a *Act, by Actor, now time.Time) error {
	as := a.Assignment
	if as == nil {
		return invalid("assignment", "is missing: give lead_unit, organisation and mediation_type")
	}
	if _, ok := w.Units.Unit(as.LeadUnit); !ok {
		return invalid("assignment.lead_unit", "is not a unit of the jurisdiction")
	}
	if !w.Units.Contains(by.Unit, as.LeadUnit) {
		return invalid("assignment.lead_unit", "is outside your jurisdiction: a case is assigned down, and goes up only by an approved escalation")
	}
	for i, u := range as.CoUnits {
		if _, ok := w.Units.Unit(u); !ok || u == as.LeadUnit {
			return invalid(fmt.Sprintf("assignment.co_units[%d]", i), "must be a unit of the jurisdiction other than the lead unit")
		}
	}
	if err := checkAssignment(as); err != nil {
		return err
	}
	ct := w.caseType(c)
	c.Assignment = &Assignment{LeadUnit: as.LeadUnit, CoUnits: slices.Clone(as.CoUnits), Organisation: strings.TrimSpace(as.Organisation),
		MediationType: as.MediationType, Docking: as.Docking, Mediators: slices.Clone(as.Mediators), AssignedAt: now, AssignedBy: by.Name}
	c.startClock(w.clock(SignClock, now, ct.Sign))
	c.startClock(w.clock(HandlingClock, now, ct.Handling))
	return nil
}

func checkAssignment(as *Assignment) error {
	if strings.TrimSpace(as.Organisation) == "" || utf8.RuneCountInString(as.Organisation) > 100 {
		return invalid("assignment.organisation", "name the mediation organisation, e.g. 枫桥镇人民调解委员会")
	}
	if !slices.Contains(MediationTypes, as.MediationType) {
		return invalid("assignment.mediation_type", "want one of %s", strings.Join(MediationTypes, ", "))
	}
	if as.Docking != "" && !slices.Contains(DockingTypes, as.Docking) {
		return invalid("assignment.docking", "want one of %s", strings.Join(DockingTypes, ", "))
	}
	if len(as.Mediators) > 20 {
		return invalid("assignment.mediators", "name at most 20 mediators")
	}
	return nil
}

func (w *Workflow) giveBack(c *Case, a *Act, by Actor, now time.Time) error {
	if err := needReason(a, "the assignment is wrong"); err != nil {
		return err
	}
	p := w.Policy.ReturnWithin
	until := Deadline(c.Assignment.AssignedAt, p.Days, p.Working, w.Calendar)
	if now.After(until) {
		return invalid("action", "an assignment may be returned only until %s (%d days after it was made): the case is yours; ask for an escalation if it is beyond your unit",
			until.In(beijing).Format("2006-01-02 15:04"), p.Days)
	}
	c.Returns = append(c.Returns, Sendback{Unit: c.Assignment.LeadUnit, Reason: a.Reason, At: now, By: by.Name})
	c.dropClock(SignClock)
	c.dropClock(HandlingClock)
	return nil
}

func (w *Workflow) sign(c *Case, a *Act, by Actor, now time.Time) error {
	c.Assignment.SignedAt, c.Assignment.SignedBy = now, by.Name
	c.stopClock(SignClock, now)
	return nil
}

func (w *Workflow) session(c *Case, a *Act, by Actor, now time.Time) error {
	s := a.Session
	switch {
	case s == nil:
		return invalid("session", "is missing: give date, place and mediators")
	case s.Date.IsZero() || s.Date.After(now.Add(time.Hour)):
		return invalid("session.date", "give when the session took place (not in the future)")
	case s.Date.Before(c.RegisteredAt.Add(-24 * time.Hour)):
		return invalid("session.date", "is before the case was registered")
	case strings.TrimSpace(s.Place) == "":
		return invalid("session.place", "is missing")
	case len(s.Mediators) == 0:
		return invalid("session.mediators", "name the mediators present")
	case utf8.RuneCountInString(s.Notes) > 5000:
		return invalid("session.notes", "is longer than 5000 characters")
	}
	c.Sessions = append(c.Sessions, *s)
	return nil
}

func (w *Workflow) agree(c *Case, a *Act, by Actor, now time.Time) error {
	ag := a.Agreement
	switch {
	case ag == nil || strings.TrimSpace(ag.Terms) == "":
		return invalid("agreement.terms", "give the terms agreed")
	case utf8.RuneCountInString(ag.Terms) > 5000:
		return invalid("agreement.terms", "is longer than 5000 characters")
	case !ag.PerformBy.IsZero() && ag.PerformBy.Before(now):
		return invalid("agreement.perform_by", "is in the past")
	}
	c.Agreement = &Agreement{Terms: ag.Terms, PerformBy: ag.PerformBy, SeekConfirmation: ag.SeekConfirmation, SignedAt: now}
	c.Outcome, c.Failure = Agreed, nil
	if ag.SeekConfirmation {
		c.startClock(w.clock(ConfirmationClock, now, w.Policy.Confirmation))
	}
	if !ag.PerformBy.IsZero() {
		c.startClock(Clock{Name: PerformanceClock, Start: now, Due: ag.PerformBy, Basis: "调解协议约定"})
	}
	return nil
}

func (w *Workflow) fail(c *Case, a *Act, by Actor, now time.Time) error {
	if err := needReason(a, "mediation failed"); err != nil {
		return err
	}
	if _, ok := Referrals[a.Referral]; !ok {
		return invalid("referral", "say where the dispute goes next: one of %s", strings.Join(sortedKeys(Referrals), ", "))
	}
	c.Failure = &Failure{Reason: a.Reason, Referral: a.Referral}
	c.Outcome = Failed
	return nil
}

func (w *Workflow) confirm(c *Case, a *Act, by Actor, now time.Time) error {
	cf := a.Confirmation
	switch {
	case cf == nil || strings.TrimSpace(cf.Court) == "":
		return invalid("confirmation.court", "name the court")
	case cf.Date.IsZero() || cf.Date.After(now.Add(time.Hour)):
		return invalid("confirmation.date", "give the date of the court's ruling (not in the future)")
	}
	if k := c.Clock(ConfirmationClock); k != nil && now.After(k.Due) && k.Met.IsZero() {
		return invalid("action", "the period for judicial confirmation ended on %s (%d days after the agreement, %s): the court no longer accepts the application",
			k.Due.In(beijing).Format("2006-01-02"), k.Days, k.Basis)
	}
	c.Confirmation = &Confirmation{Court: cf.Court, Date: cf.Date, Confirmed: cf.Confirmed, Reference: cf.Reference}
	c.stopClock(ConfirmationClock, now)
	return nil
}

func (w *Workflow) close(c *Case, a *Act, by Actor, now time.Time) error {
	var missing []string
	for _, doc := range w.Policy.Dossier[c.Outcome] {
		if !slices.Contains(c.Dossier, doc) {
			missing = append(missing, doc)
		}
	}
	if len(missing) > 0 {
		return invalid("dossier", "the dossier for a case %s is not complete: file %s first", c.Outcome.Chinese(), strings.Join(missing, ", "))
	}
	if len(c.Sessions) == 0 {
		return invalid("sessions", "no mediation session is recorded")
	}
	c.ClosedAt = now
	c.stopClock(HandlingClock, now)
	c.startClock(w.clock(FollowUpClock, now, w.caseType(c).FollowUp))
	return nil
}

func (w *Workflow) visit(c *Case, a *Act, by Actor, now time.Time) error {
	f := a.FollowUp
	switch {
	case f == nil || strings.TrimSpace(f.Method) == "":
		return invalid("follow_up.method", "say how the parties were visited, e.g. 电话 or 上门")
	case c.Outcome == Agreed && f.Performed == nil:
		return invalid("follow_up.performed", "say whether the agreement has been carried out")
	case utf8.RuneCountInString(f.Notes) > 2000:
		return invalid("follow_up.notes", "is longer than 2000 characters")
	}
	visit := *f
	if visit.Date.IsZero() || visit.Date.After(now) {
		visit.Date = now
	}
	if visit.By == "" {
		visit.By = by.Name
	}
	c.FollowUps = append(c.FollowUps, visit)
	c.stopClock(FollowUpClock, now)
	// Not yet carried out counts against the agreement only once its
	// performance deadline has passed (an agreement paid in instalments is
	// not broken by a visit before they are due).
	due := c.Agreement == nil || c.Agreement.PerformBy.IsZero() || now.After(c.Agreement.PerformBy)
	unperformed := f.Performed != nil && !*f.Performed && due
	if f.Performed != nil && *f.Performed {
		c.stopClock(PerformanceClock, now)
	}
	// Whether the parties sought judicial confirmation in time is known by
	// the visit: its clock has done its work.
	c.stopClock(ConfirmationClock, now)
	if !f.Satisfied || unperformed {
		// 重办: back to the handling unit, with a fresh handling clock.
		if a.Reason == "" {
			a.Reason = "回访不满意"
			if unperformed {
				a.Reason = "调解协议未履行"
			}
		}
		c.State, c.Outcome, c.ClosedAt = Signed, "", time.Time{}
		c.Reopened++
		c.dropClock(FollowUpClock)
		c.startClock(w.clock(HandlingClock, now, w.caseType(c).Handling))
	}
	return nil
}

func (w *Workflow) archive(c *Case, a *Act, by Actor, now time.Time) error {
	if a.Batch == "" {
		return invalid("batch", "cases are archived in a unit's reconciliation batch (对账销号)")
	}
	c.ArchiveBatch = a.Batch
	for i := range c.Clocks { // an archived case has no work left to be late with
		if c.Clocks[i].Met.IsZero() {
			c.Clocks[i].Met, c.Clocks[i].Paused = now, time.Time{}
		}
	}
	return nil
}

func (w *Workflow) suspend(c *Case, a *Act, by Actor, now time.Time) error {
	if err := needReason(a, "the case is suspended"); err != nil {
		return err
	}
	c.Resume = c.prev
	for i := range c.Clocks {
		if c.Clocks[i].Running() {
			c.Clocks[i].Paused = now
		}
	}
	return nil
}

func (w *Workflow) resume(c *Case, a *Act, by Actor, now time.Time) error {
	// The days of the suspension do not count (中止期间不计入办理期限):
	// each paused clock's due day moves by the days it was paused.
	for i := range c.Clocks {
		k := &c.Clocks[i]
		if !k.Paused.IsZero() && k.Met.IsZero() {
			k.Due = k.Due.AddDate(0, 0, daysBetween(k.Paused, now))
			k.Paused = time.Time{}
		}
	}
	c.State, c.Resume = c.Resume, ""
	return nil
}

// daysBetween counts the Beijing dates from a to b.
func daysBetween(a, b time.Time) int {
	da, db := a.In(beijing), b.In(beijing)
	ya := time.Date(da.Year(), da.Month(), da.Day(), 0, 0, 0, 0, time.UTC)
	yb := time.Date(db.Year(), db.Month(), db.Day(), 0, 0, 0, 0, time.UTC)
	return int(yb.Sub(ya) / (24 * time.Hour))
}

func (w *Workflow) requestExtension(c *Case, a *Act, by Actor, now time.Time) error {
	if err := needReason(a, "more time is needed"); err != nil {
		return err
	}
	ct := w.caseType(c)
	k := c.Clock(HandlingClock)
	if k == nil {
		return invalid("action", "the case has no handling clock to extend")
	}
	left := ct.ExtendMax - k.Extended
	switch {
	case ct.ExtendMax == 0:
		return invalid("days", "the handling period of a %s case is fixed (%s): it cannot be extended", ct.Name, ct.Handling.Basis)
	case a.Days < 1:
		return invalid("days", "give the days asked for, 1 or more")
	case a.Days > left:
		return invalid("days", "at most %d more days may be granted (%d in all for a %s case)", max(left, 0), ct.ExtendMax, ct.Name)
	}
	c.Pending = &Request{Kind: Extension, Days: a.Days, Reason: a.Reason, At: now, By: by.Name}
	return nil
}

func (w *Workflow) requestEscalation(c *Case, a *Act, by Actor, now time.Time) error {
	if err := needReason(a, "the case must go to the next tier"); err != nil {
		return err
	}
	if _, ok := w.Units.Parent(c.Handler()); !ok {
		return invalid("action", "the handling unit is the top of the jurisdiction: there is no tier to escalate to")
	}
	c.Pending = &Request{Kind: Escalation, Reason: a.Reason, At: now, By: by.Name}
	return nil
}

func (w *Workflow) approve(c *Case, a *Act, by Actor, now time.Time) error {
	req := c.Pending
	c.Pending = nil
	switch req.Kind {
	case Extension:
		k := c.Clock(HandlingClock)
		if k == nil {
			return invalid("action", "the case has no handling clock to extend")
		}
		k.Due = Deadline(k.Due, req.Days, k.Working, w.Calendar)
		k.Extended += req.Days
	case Escalation:
		parent, _ := w.Units.Parent(c.Handler())
		as := a.Assignment
		if as == nil {
			return invalid("assignment", "say who takes the case at %s: give organisation and mediation_type", parent.Name)
		}
		as.LeadUnit = parent.Code
		if err := checkAssignment(as); err != nil {
			return err
		}
		ct := w.caseType(c)
		c.Assignment = &Assignment{LeadUnit: parent.Code, Organisation: strings.TrimSpace(as.Organisation), MediationType: as.MediationType,
			Docking: as.Docking, Mediators: slices.Clone(as.Mediators), AssignedAt: now, AssignedBy: by.Name}
		c.State, c.Resume, c.Outcome, c.Failure = Assigned, "", "", nil
		c.Escalations++
		c.startClock(w.clock(SignClock, now, ct.Sign))
		c.startClock(w.clock(HandlingClock, now, ct.Handling))
	}
	return nil
}

func (w *Workflow) reject(c *Case, a *Act, by Actor, now time.Time) error {
	if err := needReason(a, "the request is refused"); err != nil {
		return err
	}
	c.Pending = nil
	return nil
}

func (w *Workflow) file(c *Case, a *Act, by Actor, now time.Time) error {
	if len(a.Documents) == 0 {
		return invalid("documents", "list the documents filed, e.g. 调解协议书")
	}
	for i, d := range a.Documents {
		d = strings.TrimSpace(d)
		if d == "" || utf8.RuneCountInString(d) > 50 {
			return invalid(fmt.Sprintf("documents[%d]", i), "give each document's name, at most 50 characters")
		}
		if !slices.Contains(c.Dossier, d) {
			c.Dossier = append(c.Dossier, d)
		}
	}
	return nil
}

// MarkOverdueEvent records that clocks have run past their due time: the
// supervision sweep's entry in the history, and the case event the engine
// scores. It changes nothing but the version.
func MarkOverdueEvent(c *Case, late []Clock, now time.Time) Event {
	names := make([]string, len(late))
	for i, k := range late {
		names[i] = k.Name.Chinese() + " " + k.Due.In(beijing).Format("2006-01-02")
	}
	c.Version++
	return Event{Seq: c.Version, Action: MarkOverdue, At: now, By: Actor{ID: "system", Name: "督办", Role: RoleSystem},
		From: c.State, To: c.State, Reason: "超过" + strings.Join(names, "、"), Signal: "overdue"}
}

// SuperviseEvent records a 督办 of an overdue clock, to unit; listed, a
// 挂牌督办 by the tier above the handling unit. It is the case event the
// engine scores as supervised.
func SuperviseEvent(c *Case, k Clock, listed bool, unit string, now time.Time) Event {
	c.Supervisions = append(c.Supervisions, Supervision{Clock: k.Name, Due: k.Due, Listed: listed, Unit: unit, At: now})
	c.Version++
	what := "督办"
	if listed {
		what = "挂牌督办"
	}
	return Event{Seq: c.Version, Action: Supervise, At: now, By: Actor{ID: "system", Name: "督办", Role: RoleSystem},
		From: c.State, To: c.State, Reason: fmt.Sprintf("%s: %s超期 (应于 %s 前)", what, k.Name.Chinese(), k.Due.In(beijing).Format("2006-01-02 15:04")),
		Signal: "supervised", Changes: []Change{{Field: "supervisions"}}}
}

// clone returns a deep copy of c, remembering its state for the steps that
// need it.
func (c *Case) clone() *Case {
	b, _ := json.Marshal(c)
	var out Case
	_ = json.Unmarshal(b, &out)
	out.prev = c.State
	return &out
}

// diff lists the top-level fields that differ between two versions of a case.
func diff(before, after *Case) []Change {
	var a, b map[string]json.RawMessage
	ba, _ := json.Marshal(before)
	bb, _ := json.Marshal(after)
	_ = json.Unmarshal(ba, &a)
	_ = json.Unmarshal(bb, &b)
	var out []Change
	for _, k := range sortedKeys(b) {
		if k == "version" || k == "updated_at" || k == "state" {
			continue
		}
		if string(a[k]) != string(b[k]) {
			out = append(out, Change{Field: k, Old: a[k], New: b[k]})
		}
	}
	for _, k := range sortedKeys(a) {
		if _, ok := b[k]; !ok {
			out = append(out, Change{Field: k, Old: a[k]})
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
