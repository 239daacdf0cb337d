package casework

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"fengqiao/alerts"
	"fengqiao/cases"
	"fengqiao/internal/casestore"
	"fengqiao/jurisdiction"
	"fengqiao/risk"
)

// errBusy is a dispute whose cases another instance is deciding on: the
// event stays pending and is taken up again.
var errBusy = errors.New("another instance is opening a case for this dispute")

// Disputes tells what is known of a dispute subject, for a case the engine opens.
type Disputes interface {
	Dispute(ctx context.Context, ref string) (DisputeFacts, error)
}

// DisputeFacts is a dispute as its signals describe it.
type DisputeFacts struct {
	Category string
	Amount   float64
	Parties  []cases.Party // linked persons: role, masked name and keyed reference
}

// OnAlert opens a case for a dispute that rose to the policy's auto-open
// level with no open case: registered by the engine, accepted, and
// assigned by the routing table. It is idempotent per alert event.
func (s *Service) OnAlert(ctx context.Context, e alerts.Event, disputes Disputes) error {
	p := s.Flow.Policy.AutoOpen
	if !p.Enabled || e.Subject.Kind != risk.Dispute || !e.Rise() || e.To < p.AtLeast {
		return nil
	}
	h := sha256.Sum256([]byte(e.ID))
	ext := "alert-" + hex.EncodeToString(h[:10])
	// Two rises of one dispute handled at once on two instances would each
	// find no open case: one at a time decides.
	got, unlock, err := s.Store.Lock(ctx, e.Subject.Ref, 30*time.Second)
	if err != nil {
		return err
	}
	if !got {
		return errBusy
	}
	defer unlock()
	open, err := s.Store.OpenFor(ctx, e.Subject.Ref)
	if err != nil {
		return err
	}
	for _, n := range open {
		// An open case of the dispute's own stops here, unless it is the one
		// this event opened and a crash left before its assignment.
		c, err := s.Store.Get(ctx, n)
		if err != nil {
			return err
		}
		if c.ExternalID != ext || (c.State != cases.Registered && c.State != cases.Accepted) {
			return nil
		}
	}
	f, err := disputes.Dispute(ctx, e.Subject.Ref)
	if err != nil {
		return err
	}
	if f.Category == "" {
		f.Category = "其他"
	}
	route, ok := s.Flow.Policy.Route(s.Flow.Units, e.Unit, f.Category)
	if !ok {
		s.Log.Warn("no route for a dispute the engine raised: no case opened; add a route to the case policy", "unit", e.Unit, "category", f.Category)
		return nil
	}
	city, ok := s.Flow.Units.AncestorAt(e.Unit, jurisdiction.City)
	if !ok {
		return fmt.Errorf("unit %s has no city above it", e.Unit)
	}
	engine := cases.Actor{ID: "system", Name: "风险预警", Role: cases.RoleSystem, Unit: city.Code}
	if len(f.Parties) == 0 {
		f.Parties = []cases.Party{{Role: "当事人", Name: "待核实"}}
	}
	summary := fmt.Sprintf("纠纷风险升至%s, 自动立案。%s", e.To.Chinese(), e.Explanation)
	for utf8.RuneCountInString(summary) > 2000 {
		r := []rune(summary)
		summary = string(r[:1990]) + "…"
	}
	c := &cases.Case{Unit: e.Unit, Channel: "engine", Category: f.Category, Summary: summary, Amount: f.Amount,
		Parties: f.Parties, Dispute: e.Subject.Ref, ExternalID: ext}
	c, err = s.Register(ctx, c, engine)
	var dup *casestore.DuplicateError
	if errors.As(err, &dup) && c.State != cases.Registered && c.State != cases.Accepted {
		return nil
	}
	if err != nil && !errors.As(err, &dup) {
		return fmt.Errorf("open a case for dispute %s: %w", e.Subject.Ref, err)
	}
	// Accept and assign; after a crash between the steps, the next delivery
	// of the event takes the ones still missing.
	if c.State == cases.Registered {
		if c, _, err = s.Act(ctx, c.Number, cases.Act{Action: cases.Accept}, engine); err != nil {
			return err
		}
	}
	route.Mediators = nil
	_, _, err = s.Act(ctx, c.Number, cases.Act{Action: cases.Assign, Assignment: &route, Reason: "按分流规则自动交办"}, engine)
	return err
}
