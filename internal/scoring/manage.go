package scoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"fengqiao/engine"
	"fengqiao/risk"
)

// ErrInvalid matches every refused request to change a subject.
var ErrInvalid = errors.New("invalid request")

// InvalidError is a refused request to change a subject; its message says
// what to do.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, a ...any) error { return &InvalidError{fmt.Sprintf(format, a...)} }

// maxOverride bounds how long an override may last: it must be looked at again.
const maxOverride = 30 * 24 * time.Hour

// SetOverride sets a subject's level by hand until o.Until, recorded with
// the officer and reason, and scores the subject again.
func (s *Scorer) SetOverride(ctx context.Context, id risk.SubjectID, o engine.Override) (risk.Level, error) {
	now := s.now()
	switch {
	case !o.Level.Valid():
		return 0, invalid("level: give green, blue, yellow, orange or red")
	case strings.TrimSpace(o.Officer) == "" || utf8.RuneCountInString(o.Officer) > 50:
		return 0, invalid("officer: give the name of the officer who decides (1-50 characters)")
	case strings.TrimSpace(o.Reason) == "" || utf8.RuneCountInString(o.Reason) > 500:
		return 0, invalid("reason: say why the level is set by hand (1-500 characters)")
	case !o.Until.After(now):
		return 0, invalid("until: must be in the future")
	case o.Until.After(now.Add(maxOverride)):
		return 0, invalid("until: an override lasts at most 30 days; set it again if it must go on")
	}
	b, _ := json.Marshal(overrideOf(o))
	if err := s.record(ctx, id, "override", b, historyEntry{To: o.Level.String(), Officer: o.Officer, Reason: o.Reason}); err != nil {
		return 0, err
	}
	if err := s.rdb.ZAdd(ctx, overridesKey, redis.Z{Score: float64(o.Until.UnixMilli()), Member: id.String()}).Err(); err != nil {
		return 0, fmt.Errorf("note the override's end: %w", err)
	}
	return s.Rescore(ctx, id)
}

// Override is a level set by hand, as stored and shown.
type Override struct {
	Level   risk.Level `json:"level"`
	Officer string     `json:"officer"`
	Reason  string     `json:"reason"`
	Until   time.Time  `json:"until"`
}

func overrideOf(o engine.Override) Override { return Override(o) }

// ClearOverride ends an override before its time.
func (s *Scorer) ClearOverride(ctx context.Context, id risk.SubjectID, officer, reason string) (risk.Level, error) {
	if strings.TrimSpace(officer) == "" || strings.TrimSpace(reason) == "" {
		return 0, invalid("officer and reason: say who ends the override and why")
	}
	if err := s.record(ctx, id, "override_cleared", nil, historyEntry{Officer: officer, Reason: reason}); err != nil {
		return 0, err
	}
	s.rdb.ZRem(ctx, overridesKey, id.String())
	return s.Rescore(ctx, id)
}

// SignOff records an officer's sign-off (解除预警) that lets a subject leave
// its current level once the rules allow, and scores it again.
func (s *Scorer) SignOff(ctx context.Context, id risk.SubjectID, officer, reason string) (risk.Level, error) {
	if strings.TrimSpace(officer) == "" || utf8.RuneCountInString(officer) > 50 {
		return 0, invalid("officer: give the name of the officer who signs off (1-50 characters)")
	}
	if strings.TrimSpace(reason) == "" || utf8.RuneCountInString(reason) > 500 {
		return 0, invalid("reason: say why the warning can be lifted (1-500 characters)")
	}
	cur, err := s.Subject(ctx, id)
	if err != nil {
		return 0, err
	}
	d := s.rules.EngineFor(cur.Unit).Ruleset().Dampening
	if d.SignOff == nil || cur.Level < *d.SignOff {
		return 0, invalid("the subject is %s, which needs no sign-off to leave", cur.Level.Chinese())
	}
	so := SignOff{Officer: officer, Reason: reason, At: s.now(), Level: cur.Level}
	b, _ := json.Marshal(so)
	if err := s.record(ctx, id, "signoff", b, historyEntry{From: cur.Level.String(), Officer: officer, Reason: reason}); err != nil {
		return 0, err
	}
	return s.Rescore(ctx, id)
}

// record stores an override (field override), clears it (b nil), or stores
// a sign-off, and appends the act to the subject's history, in one step.
func (s *Scorer) record(ctx context.Context, id risk.SubjectID, event string, b []byte, entry historyEntry) error {
	k := keysOf(id)
	exists, err := s.rdb.HExists(ctx, k.state, "assessment").Result()
	if err != nil {
		return fmt.Errorf("read subject: %w", err)
	}
	if !exists {
		return ErrNotFound
	}
	entry.Event, entry.At = event, s.now().UnixMilli()
	e, err := json.Marshal(entry)
	if err != nil {
		return fmt.Errorf("encode history entry: %w", err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		switch event {
		case "override":
			p.HSet(ctx, k.state, "override", b)
		case "override_cleared":
			p.HDel(ctx, k.state, "override")
		case "signoff":
			p.HSet(ctx, k.state, "signed_off", "1", "signoff", b)
		}
		recordScript.Eval(ctx, p, []string{k.history}, e, historyLen) // EVAL, not EVALSHA: a transaction cannot load a missing script
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %s: %w", event, err)
	}
	return nil
}

// BoardEntry is one subject on the board.
type BoardEntry struct {
	Subject     risk.SubjectID `json:"subject"`
	Level       risk.Level     `json:"level"`
	Unit        string         `json:"unit"`
	Name        string         `json:"name,omitempty"` // masked
	RaisedAt    time.Time      `json:"raised_at"`
	Explanation string         `json:"explanation"`
}

// BoardQuery selects subjects from the board.
type BoardQuery struct {
	Kind     risk.Kind              // "" for both
	MinLevel risk.Level             // at least blue
	InScope  func(unit string) bool // e.g. the caller's unit subtree
	Offset   int
	Limit    int
}

// Board lists subjects at or above a level, newest rise first.
func (s *Scorer) Board(ctx context.Context, q BoardQuery) ([]BoardEntry, int, error) {
	kinds := risk.Kinds[:]
	if q.Kind != "" {
		kinds = []risk.Kind{q.Kind}
	}
	type cand struct {
		id    risk.SubjectID
		level risk.Level
		at    float64
	}
	var cands []cand
	pipe := s.rdb.Pipeline()
	type read struct {
		kind  risk.Kind
		level risk.Level
		cmd   *redis.ZSliceCmd
	}
	var reads []read
	for _, k := range kinds {
		for _, l := range risk.Levels[max(q.MinLevel, risk.Blue):] {
			reads = append(reads, read{k, l, pipe.ZRangeWithScores(ctx, boardKey(k, l), 0, -1)})
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("read the board: %w", err)
	}
	for _, r := range reads {
		for _, z := range r.cmd.Val() {
			ref, _ := z.Member.(string)
			cands = append(cands, cand{risk.SubjectID{Kind: r.kind, Ref: ref}, r.level, z.Score})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].at != cands[j].at {
			return cands[i].at > cands[j].at
		}
		return cands[i].id.String() < cands[j].id.String()
	})
	pipe = s.rdb.Pipeline()
	states := make([]*redis.SliceCmd, len(cands))
	for i, c := range cands {
		states[i] = pipe.HMGet(ctx, keysOf(c.id).state, "unit", "name", "assessment")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("read the board: %w", err)
	}
	var out []BoardEntry
	total := 0
	for i, c := range cands {
		v := states[i].Val()
		unit, _ := v[0].(string)
		if q.InScope != nil && !q.InScope(unit) {
			continue
		}
		total++
		if total <= q.Offset || len(out) >= q.Limit {
			continue
		}
		name, _ := v[1].(string)
		raw, _ := v[2].(string)
		var a risk.Assessment
		_ = json.Unmarshal([]byte(raw), &a)
		out = append(out, BoardEntry{Subject: c.id, Level: c.level, Unit: unit, Name: MaskName(name),
			RaisedAt: time.UnixMilli(int64(c.at)).UTC(), Explanation: a.Explain()})
	}
	return out, total, nil
}

// SweepResult counts what a re-score sweep did.
type SweepResult struct {
	Rescored int `json:"rescored"`
	Fell     int `json:"fell"`
}

// Sweep re-scores every subject above green and every subject whose override
// has ended, so that windows slide and overrides end on time even when no new
// signal arrives. It is idempotent and safe to run on several instances.
func (s *Scorer) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	now := s.now()
	ended, err := s.rdb.ZRangeByScore(ctx, overridesKey, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(now.UnixMilli())}).Result()
	if err != nil {
		return res, fmt.Errorf("read ended overrides: %w", err)
	}
	var ids []risk.SubjectID
	for _, m := range ended {
		kind, ref, _ := strings.Cut(m, "/")
		ids = append(ids, risk.SubjectID{Kind: risk.Kind(kind), Ref: ref})
	}
	// Disputes first: a dispute that falls lowers the floor of its persons.
	for _, k := range []risk.Kind{risk.Dispute, risk.Person} {
		for _, l := range risk.Levels[1:] {
			refs, err := s.rdb.ZRange(ctx, boardKey(k, l), 0, -1).Result()
			if err != nil {
				return res, fmt.Errorf("read the board: %w", err)
			}
			for _, ref := range refs {
				ids = append(ids, risk.SubjectID{Kind: k, Ref: ref})
			}
		}
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		before, err := s.rdb.HGet(ctx, keysOf(id).state, "level").Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		after, err := s.Rescore(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return res, err
		}
		res.Rescored++
		if b, _ := risk.ParseLevel(before); after < b {
			res.Fell++
		}
	}
	if len(ended) > 0 {
		s.rdb.ZRem(ctx, overridesKey, anySlice(ended)...)
	}
	return res, nil
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
