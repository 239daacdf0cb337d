// Package assess holds what the live scorer and the backtest share: how a
// signal record becomes the engine's view of it. Keeping it in one place
// keeps a backtest's colours the colours riskd would give.
package assess

import (
	"fengqiao/engine"
	"fengqiao/signals"
)

// EventOf returns the facts of a record that rules count, matching its
// summary against e's keyword lists. The summary itself is not kept.
func EventOf(r *signals.Record, e *engine.Engine) engine.Event {
	ev := engine.Event{
		Key: r.Key(), Source: r.Source, At: r.OccurredAt, Unit: r.Unit, Category: r.Category,
		Tags: r.Tags, Keywords: e.MatchKeywords(r.Summary), PartyCount: r.PartyCount, Amount: r.Amount,
		LedgerStatus: r.LedgerStatus,
	}
	if p := r.Petition; p != nil {
		ev.PetitionLevel, ev.SkipLevel, ev.Collective, ev.Repeat = p.Rank, p.SkipLevel, p.Collective, p.Repeat
	}
	if c := r.Case; c != nil {
		ev.CaseID, ev.CaseEvent, ev.CaseState, ev.CaseSeq = c.CaseID, c.Event, c.To, c.Seq
	}
	return ev
}
