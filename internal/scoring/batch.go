package scoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/assess"
	"fengqiao/engine"
	"fengqiao/risk"
	"fengqiao/signals"
)

var _ signals.BatchHandler = (*Scorer)(nil)

// HandleBatch handles records as Handle would one after another, with the
// Redis work of many records sent together. It takes them in rounds: a round
// is a run of records that name no subject twice, none of whose persons a
// dispute earlier in the round could pass its level to, so that scoring them
// together leaves the store as scoring them in turn does. A round is three
// pipelines for its disputes (links and loads, commits, board) and three for
// its persons, whatever its length; then the other persons of its changed
// disputes are scored again with their disputes' new levels, in the records'
// order, together too. A subject another writer changed in between is
// scored again alone, as Handle retries it. With a shadow ruleset in force,
// or for a record that names a subject twice, it calls Handle.
//
// On an error some records may be handled and others not; handling them all
// again (Handle is idempotent) is safe.
func (s *Scorer) HandleBatch(ctx context.Context, recs []signals.Record) error {
	if s.rules.Shadow() != nil {
		for i := range recs {
			if err := s.Handle(ctx, recs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	persons, err := s.disputePersons(ctx, recs)
	if err != nil {
		return err
	}
	for start := 0; start < len(recs); {
		end := roundEnd(recs, start, persons)
		if end == start { // a record that names a subject twice
			if err := s.Handle(ctx, recs[start]); err != nil {
				return err
			}
			linkPersons(persons, &recs[start])
			start++
			continue
		}
		if err := s.round(ctx, recs[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// disputePersons reads the persons linked to each dispute the records name.
func (s *Scorer) disputePersons(ctx context.Context, recs []signals.Record) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	cmds := map[string]*redis.StringSliceCmd{}
	pipe := s.rdb.Pipeline()
	for i := range recs {
		d := recs[i].DisputeID
		if _, ok := cmds[d]; d != "" && !ok {
			cmds[d] = pipe.HKeys(ctx, keysOf(risk.SubjectID{Kind: risk.Dispute, Ref: d}).links)
		}
	}
	if len(cmds) == 0 {
		return out, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read disputes' persons: %w", err)
	}
	for d, c := range cmds {
		out[d] = map[string]bool{}
		for _, ref := range c.Val() {
			out[d][ref] = true
		}
	}
	return out, nil
}

// linkPersons notes that r's persons are linked to its dispute.
func linkPersons(persons map[string]map[string]bool, r *signals.Record) {
	if r.DisputeID == "" {
		return
	}
	if persons[r.DisputeID] == nil {
		persons[r.DisputeID] = map[string]bool{}
	}
	for _, p := range r.Persons {
		persons[r.DisputeID][p.Ref] = true
	}
}

// roundEnd returns the end of the round that begins at start: the first
// record that names a subject already in the round, or a person whom a
// dispute in the round may pass its level to. It returns start when the
// record at start names a subject twice. It notes the round's links in
// persons.
func roundEnd(recs []signals.Record, start int, persons map[string]map[string]bool) int {
	used := map[risk.SubjectID]bool{}
	reach := map[string]bool{} // persons a dispute in the round may spread to
	for i := start; i < len(recs); i++ {
		r := &recs[i]
		mine := make([]risk.SubjectID, 0, 1+len(r.Persons))
		if r.DisputeID != "" {
			mine = append(mine, risk.SubjectID{Kind: risk.Dispute, Ref: r.DisputeID})
		}
		for _, p := range r.Persons {
			if reach[p.Ref] {
				return i
			}
			mine = append(mine, risk.SubjectID{Kind: risk.Person, Ref: p.Ref})
		}
		for j, id := range mine {
			if used[id] || containsBefore(mine, j, id) {
				return i
			}
		}
		for _, id := range mine {
			used[id] = true
		}
		if r.DisputeID != "" {
			for ref := range persons[r.DisputeID] {
				reach[ref] = true
			}
			linkPersons(persons, r)
		}
	}
	return len(recs)
}

func containsBefore(ids []risk.SubjectID, j int, id risk.SubjectID) bool {
	for _, x := range ids[:j] {
		if x == id {
			return true
		}
	}
	return false
}

// round scores a round's records: their disputes, then their persons, then
// the disputes' spreads.
func (s *Scorer) round(ctx context.Context, recs []signals.Record) error {
	evs := make([]engine.Event, len(recs))
	evJSON := make([][]byte, len(recs)) // encoded once for the record's every subject
	engines := make([]*engine.Engine, len(recs))
	disputes := make([]*pass, len(recs)) // by record; nil for a record without a dispute
	var ds []*pass
	for i := range recs {
		r := &recs[i]
		e := s.rules.EngineFor(r.Unit)
		engines[i], evs[i] = e, assess.EventOf(r, e)
		b, err := json.Marshal(&evs[i])
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		evJSON[i] = b
		if r.DisputeID == "" {
			continue
		}
		p := &pass{id: risk.SubjectID{Kind: risk.Dispute, Ref: r.DisputeID}, e: e, unit: r.Unit, ev: &evs[i], evJSON: b}
		disputes[i] = p
		ds = append(ds, p)
	}
	links := func(pipe redis.Pipeliner) {
		for i := range recs {
			r := &recs[i]
			if r.DisputeID == "" || len(r.Persons) == 0 {
				continue
			}
			fields := make([]any, 0, 2*len(r.Persons))
			for _, p := range r.Persons {
				fields = append(fields, p.Ref, "1")
			}
			pipe.HSet(ctx, keysOf(disputes[i].id).links, fields...)
		}
	}
	if err := s.scoreAll(ctx, ds, links); err != nil {
		return err
	}
	var ps []*pass
	for i := range recs {
		r := &recs[i]
		for _, person := range r.Persons {
			p := &pass{id: risk.SubjectID{Kind: risk.Person, Ref: person.Ref}, e: engines[i], unit: r.Unit,
				who: identity{person.Name, person.Weak, person.Sealed}, ev: &evs[i], evJSON: evJSON[i]}
			if d := disputes[i]; d != nil {
				p.ln = link{r.DisputeID, d.o.level.String()}
			}
			ps = append(ps, p)
		}
	}
	if err := s.scoreAll(ctx, ps, nil); err != nil {
		return err
	}
	var spreads []*pass
	for i, d := range disputes {
		if d == nil || !d.o.changed() || d.e.Ruleset().Spread.DisputeToPerson == nil {
			continue
		}
		for _, ref := range d.snap.persons {
			if !named(&recs[i], ref) {
				spreads = append(spreads, &pass{id: risk.SubjectID{Kind: risk.Person, Ref: ref}, ln: link{d.id.Ref, d.o.level.String()}})
			}
		}
	}
	return s.spreadAll(ctx, spreads)
}

// spreadAll scores again, in order, persons whose dispute's level changed,
// each with the dispute's new level, as rescore does one at a time: in
// runs that name no person twice, one pipeline reads the persons and
// scoreAll scores them.
func (s *Scorer) spreadAll(ctx context.Context, ps []*pass) error {
	for len(ps) > 0 {
		n, seen := 0, map[string]bool{}
		for n < len(ps) && !seen[ps[n].id.Ref] {
			seen[ps[n].id.Ref] = true
			n++
		}
		run := ps[:n]
		ps = ps[n:]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(run))
		for i, p := range run {
			cmds[i] = pipe.HMGet(ctx, keysOf(p.id).state, "unit", "weak", "assessment")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("read subjects: %w", err)
		}
		known := run[:0]
		for i, p := range run {
			h := cmds[i].Val()
			if a, _ := h[2].(string); a == "" {
				continue // never scored: nothing to spread to
			}
			p.unit, _ = h[0].(string)
			weak, _ := h[1].(string)
			p.e, p.who = s.rules.EngineFor(p.unit), identity{weak: weak == "true"}
			known = append(known, p)
		}
		if err := s.scoreAll(ctx, known, nil); err != nil {
			return fmt.Errorf("spread: %w", err)
		}
	}
	return nil
}

func named(r *signals.Record, ref string) bool {
	for _, p := range r.Persons {
		if p.Ref == ref {
			return true
		}
	}
	return false
}

// scoreAll scores distinct subjects together: one pipeline of loads (after
// the commands of pre, if any), the evaluations and the alerts, one pipeline
// of commits, one of the board. A subject whose commit is stale is then
// scored again alone.
func (s *Scorer) scoreAll(ctx context.Context, ps []*pass, pre func(redis.Pipeliner)) error {
	if len(ps) == 0 && pre == nil {
		return nil
	}
	now := s.now()
	for _, p := range ps {
		p.now = now
	}
	loads := make([]*redis.Cmd, len(ps))
	err := s.pipelined(ctx, func(pipe redis.Pipeliner) error {
		if pre != nil {
			pre(pipe)
		}
		for i, p := range ps {
			keys, args, err := p.loadArgs()
			if err != nil {
				return err
			}
			loads[i] = pipe.EvalSha(ctx, loadScript.Hash(), keys, args...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update subjects' state: %w", err)
	}
	var changes []alerts.Event
	for i, p := range ps {
		res, err := loads[i].Slice()
		if err != nil {
			return fmt.Errorf("update subject state: %w", err)
		}
		p.snap = parseSnapshot(p.id, res)
		s.evaluate(p)
		if e, ok := p.change(cause(p.ev, now)); ok {
			changes = append(changes, e)
		}
	}
	if err := s.publishAll(ctx, changes); err != nil { // before the commits, as publish
		return err
	}
	commits := make([]*redis.Cmd, len(ps))
	err = s.pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, p := range ps {
			keys, args, err := p.commitArgs()
			if err != nil {
				return err
			}
			commits[i] = pipe.EvalSha(ctx, commitScript.Hash(), keys, args...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store assessments: %w", err)
	}
	var stale []*pass
	for i, p := range ps {
		rev, err := parseCommit(commits[i].Result())
		switch {
		case errors.Is(err, errStale):
			stale = append(stale, p)
		case err != nil:
			return err
		default:
			p.rev = rev
		}
	}
	err = s.pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, p := range ps {
			if p.rev > 0 {
				keys, args := s.indexArgs(p.id, p.a.Level, p.a.Unit, p.rev, p.raised())
				pipe.EvalSha(ctx, indexScript.Hash(), keys, args...)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update the board: %w", err)
	}
	for _, p := range ps {
		if p.rev > 0 {
			s.observe(p)
		}
	}
	for _, p := range stale {
		if _, err := s.retry(ctx, p, 1); err != nil {
			return fmt.Errorf("score %s: %w", p.id, err)
		}
	}
	return nil
}

// publishAll publishes events in order, in one round trip when the
// publisher takes batches.
func (s *Scorer) publishAll(ctx context.Context, events []alerts.Event) error {
	if bp, ok := s.alerts.(batchPublisher); ok {
		return bp.PublishAll(ctx, events)
	}
	for _, e := range events {
		if err := s.alerts.Publish(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// pipelined runs the commands fill queues in one pipeline. The scripts go by
// their hash; when Redis lacks one (after a restart or a failover) it loads
// them and runs the pipeline again, which each command allows: a link, a
// load, a commit and an index step each leave the same state when repeated.
func (s *Scorer) pipelined(ctx context.Context, fill func(redis.Pipeliner) error) error {
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		if err := fill(pipe); err != nil {
			return err
		}
		cmds, err := pipe.Exec(ctx)
		if err == nil || attempt > 0 || !noScript(cmds) {
			return err
		}
		for _, sc := range []*redis.Script{loadScript, commitScript, indexScript} {
			if err := sc.Load(ctx, s.rdb).Err(); err != nil {
				return fmt.Errorf("load scripts: %w", err)
			}
		}
	}
}

func noScript(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}
