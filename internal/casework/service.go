// Package casework runs the mediation workflow over the case store: it
// registers cases (sealing the parties' ID numbers and phones), takes steps
// with retries on concurrent changes, audits each, finds overdue clocks,
// archives in reconciliation batches, opens cases for disputes the engine
// raises, and forwards case events to the signal stream so that the
// dispute's colour reflects its case.
package casework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"fengqiao/cases"
	"fengqiao/internal/casestore"
	"fengqiao/risk"
	"fengqiao/signals"
)

// Subjects tells the dispute's colour, for the case's record.
type Subjects interface {
	Level(ctx context.Context, id risk.SubjectID) (risk.Level, bool, error)
}

// Sealer encrypts what must be read back: a party's ID number and phone.
type Sealer interface {
	Seal(plaintext string) string
}

// Auditor records each step in the tamper-evident audit log.
type Auditor interface {
	Record(ctx context.Context, by cases.Actor, action, subject, detail string) error
}

// Service is the mediation workflow over the store.
type Service struct {
	Store     *casestore.Store
	Flow      *cases.Workflow
	Pseudo    *signals.Pseudonymizer
	Validator *signals.Validator // checks the parties' ID numbers and phones
	Sealer    Sealer
	Subjects  Subjects // optional
	Audit     Auditor
	Now       func() time.Time
	Log       *slog.Logger
	Metrics   *Metrics // optional
}

// Identity is what is sealed for a party: the same shape the signals'
// persons are sealed in, so one reader opens both.
type Identity struct {
	IDNumber string `json:"id_number,omitempty"`
	Phone    string `json:"phone,omitempty"`
}

// Register checks a new case, numbers it, seals its parties' identities and
// stores it. A case registered again under the same external id is not
// registered twice: the first one is returned with a *casestore.DuplicateError.
func (s *Service) Register(ctx context.Context, c *cases.Case, by cases.Actor) (*cases.Case, error) {
	now := s.Now()
	if err := s.checkParties(c); err != nil {
		return nil, err
	}
	if d := strings.TrimSpace(c.Dispute); d != "" {
		if signals.MaskNumbers(d) != d {
			return nil, &cases.InvalidError{Field: "dispute", Message: "must not contain an ID number or phone number: use the ledger or case number"}
		}
		if (risk.SubjectID{Kind: risk.Dispute, Ref: d}).Validate() != nil {
			return nil, &cases.InvalidError{Field: "dispute", Message: "give the dispute's id as its signals give it (a ledger or case number): letters, digits, '.', '_' and '-', at most 64"}
		}
	}
	// Checked (role, unit, content) before an external id is looked up, so
	// that nobody learns of another unit's case by guessing its id.
	ev, err := s.Flow.Register(c, by, now)
	if err != nil {
		return nil, err
	}
	if c.ExternalID != "" {
		if n, err := s.Store.ByExternalID(ctx, c.Unit, c.ExternalID); err != nil {
			return nil, err
		} else if n != "" {
			return s.existing(ctx, n)
		}
	}
	maskCase(c)
	if c.Number, err = s.Store.NextNumber(ctx, c.Unit, now); err != nil {
		return nil, err
	}
	if c.Dispute == "" {
		c.Dispute = c.Number
	}
	if s.Subjects != nil {
		if l, ok, err := s.Subjects.Level(ctx, risk.SubjectID{Kind: risk.Dispute, Ref: c.Dispute}); err == nil && ok {
			c.ColourAtRegistration = &l
		}
	}
	s.seal(c)
	if err := s.Store.Save(ctx, 0, c, []cases.Event{ev}, s.records(c, ev)); err != nil {
		var dup *casestore.DuplicateError
		if errors.As(err, &dup) {
			return s.existing(ctx, dup.Number)
		}
		return nil, err
	}
	s.audit(ctx, by, c, ev)
	s.Metrics.registered(c)
	return c, nil
}

func (s *Service) existing(ctx context.Context, number string) (*cases.Case, error) {
	c, err := s.Store.Get(ctx, number)
	if err != nil {
		return nil, err
	}
	return c, &casestore.DuplicateError{Number: number}
}

// checkParties validates the parties' ID numbers and phones as the signals'
// persons are validated, without ever quoting them.
func (s *Service) checkParties(c *cases.Case) error {
	for i, p := range c.Parties {
		if p.IDNumber == "" && p.Phone == "" {
			continue
		}
		probe := signals.Signal{Persons: []signals.Person{{Name: p.Name, IDNumber: p.IDNumber, Phone: p.Phone}}}
		for _, fe := range s.Validator.Validate(&probe, "") {
			if rest, ok := strings.CutPrefix(fe.Field, "persons[0]."); ok {
				return &cases.InvalidError{Field: fmt.Sprintf("parties[%d].%s", i, rest), Message: fe.Message}
			}
		}
	}
	return nil
}

// seal replaces each party's ID number and phone by the person's keyed
// reference and the sealed identity.
func (s *Service) seal(c *cases.Case) {
	for i := range c.Parties {
		p := &c.Parties[i]
		p.Role, p.Name = strings.TrimSpace(p.Role), strings.TrimSpace(p.Name)
		switch {
		case p.IDNumber != "":
			p.Person = s.Pseudo.PersonRef(p.IDNumber)
		case p.Phone != "":
			p.Person, p.Weak = s.Pseudo.WeakRef(p.Name, p.Phone), true
		default:
			continue
		}
		b, _ := json.Marshal(Identity{IDNumber: strings.ToUpper(p.IDNumber), Phone: p.Phone})
		p.Sealed = s.Sealer.Seal(string(b))
		p.IDNumber, p.Phone = "", ""
	}
}

// Act takes a step on a case. A step that loses a race with another is
// taken again on the case as it now stands, unless the caller named the
// version it decided on.
func (s *Service) Act(ctx context.Context, number string, a cases.Act, by cases.Actor) (*cases.Case, cases.Event, error) {
	maskAct(&a)
	for attempt := 0; ; attempt++ {
		c, err := s.Store.Get(ctx, number)
		if err != nil {
			return nil, cases.Event{}, err
		}
		was := c.Version
		before := *c
		ev, err := s.Flow.Apply(c, a, by, s.Now())
		if err != nil {
			return &before, cases.Event{}, err
		}
		err = s.Store.Save(ctx, was, c, []cases.Event{ev}, s.records(c, ev))
		if errors.Is(err, casestore.ErrRaced) && a.Version == 0 && attempt < 5 {
			continue
		}
		if errors.Is(err, casestore.ErrRaced) {
			return nil, cases.Event{}, &cases.ConflictError{Have: was + 1, Want: was}
		}
		if err != nil {
			return nil, cases.Event{}, err
		}
		s.audit(ctx, by, c, ev)
		s.Metrics.acted(&before, c, ev)
		return c, ev, nil
	}
}

// Get returns a case and its history.
func (s *Service) Get(ctx context.Context, number string) (*cases.Case, []cases.Event, error) {
	c, err := s.Store.Get(ctx, number)
	if err != nil {
		return nil, nil, err
	}
	h, err := s.Store.History(ctx, number)
	return c, h, err
}

// Allowed is the steps an actor may take on a case now.
func (s *Service) Allowed(c *cases.Case, by cases.Actor) []cases.Action { return s.Flow.Allowed(c, by) }

// records turns a step into the case event the engine scores, if it is one:
// the case, the step and the states before and after, about the dispute and
// the parties known by reference.
func (s *Service) records(c *cases.Case, ev cases.Event) []signals.Record {
	if ev.Signal == "" {
		return nil
	}
	r := signals.Record{
		Source:     risk.CaseEvent,
		ID:         c.Number + "#" + strconv.Itoa(ev.Seq),
		OccurredAt: ev.At,
		ReceivedAt: ev.At,
		Unit:       c.Unit,
		DisputeID:  c.Dispute,
		// No category, amount or party count: a step of the workflow is not
		// another report of the dispute, and must not count as one.
		Case: &signals.CaseEvent{CaseID: c.Number, Event: ev.Signal, From: string(ev.From), To: string(ev.To), Seq: ev.Seq},
	}
	seen := map[string]bool{}
	for _, p := range c.Parties {
		if p.Person == "" || seen[p.Person] {
			continue
		}
		seen[p.Person] = true
		r.Persons = append(r.Persons, signals.PersonRef{Ref: p.Person, Sealed: p.Sealed, Weak: p.Weak,
			Name: signals.MaskNumbers(p.Name), Role: signals.MaskNumbers(p.Role)})
	}
	return []signals.Record{r}
}

func (s *Service) audit(ctx context.Context, by cases.Actor, c *cases.Case, ev cases.Event) {
	detail := fmt.Sprintf("%s: %s → %s", ev.Action.Chinese(), ev.From.Chinese(), ev.To.Chinese())
	if ev.From == "" {
		detail = fmt.Sprintf("%s: %s", ev.Action.Chinese(), ev.To.Chinese())
	}
	if ev.Reason != "" {
		detail += " (" + ev.Reason + ")"
	}
	if err := s.Audit.Record(ctx, by, "case."+string(ev.Action), "case/"+c.Number, detail); err != nil {
		s.Log.Error("audit a case step", "case_step", ev.Action, "err", err)
	}
}

// List returns the cases a query selects and how many match in all.
func (s *Service) List(ctx context.Context, q casestore.Query) ([]*cases.Case, int, error) {
	if q.Now.IsZero() {
		q.Now = s.Now()
	}
	return s.Store.List(ctx, q)
}

// Batches returns a unit's reconciliation batches, newest first.
func (s *Service) Batches(ctx context.Context, unit string, n int64) ([]casestore.Batch, error) {
	return s.Store.Batches(ctx, unit, n)
}

// maskCase and maskAct mask ID and phone numbers typed into free text, as
// signals' free text is masked: only the parties' own fields keep them,
// sealed.
func maskCase(c *cases.Case) {
	for _, p := range []*string{&c.Summary, &c.Claims, &c.ExternalID} {
		*p = signals.MaskNumbers(*p)
	}
	for i := range c.Parties {
		c.Parties[i].Name, c.Parties[i].Role = signals.MaskNumbers(c.Parties[i].Name), signals.MaskNumbers(c.Parties[i].Role)
	}
}

func maskAct(a *cases.Act) {
	m := signals.MaskNumbers
	list := func(ss []string) {
		for i := range ss {
			ss[i] = m(ss[i])
		}
	}
	a.Reason = m(a.Reason)
	list(a.Documents)
	if s := a.Session; s != nil {
		s.Place, s.Notes = m(s.Place), m(s.Notes)
		list(s.Mediators)
		list(s.Attendees)
	}
	if g := a.Agreement; g != nil {
		g.Terms = m(g.Terms)
	}
	if f := a.FollowUp; f != nil {
		f.Notes, f.By, f.Method = m(f.Notes), m(f.By), m(f.Method)
	}
	if cf := a.Confirmation; cf != nil {
		cf.Court, cf.Reference = m(cf.Court), m(cf.Reference)
	}
	if as := a.Assignment; as != nil {
		as.Organisation = m(as.Organisation)
		list(as.Mediators)
	}
}
