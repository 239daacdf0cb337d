// Package casestore keeps mediation cases in Redis: each case as one JSON
// document with its version, its append-only history as a stream, the
// indexes that list a unit's cases and find overdue clocks, and an outbox of
// the case events the engine scores. Every change of a case is one
// transaction over keys that share the {cases} hash tag, checked against
// the version it was read at.
package casestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/cases"
	"fengqiao/jurisdiction"
	"fengqiao/signals"
)

// Keys. They share one hash tag, so a case's change is one transaction in
// a Redis Cluster too.
const (
	prefix    = "fq:{cases}:"
	dueKey    = prefix + "due"     // zset "number/clock" → due time, running clocks only
	countKey  = prefix + "count"   // hash "state/tier" → cases
	flagKey   = prefix + "flagged" // set "number/clock/due": overdue clocks already reported
	OutboxKey = prefix + "outbox"  // stream of case-event records for the signal stream
	// OutboxDeadKey holds outbox entries that could not be forwarded.
	OutboxDeadKey = prefix + "outbox:dead"
)

func caseKey(number string) string    { return prefix + "case:" + number }
func historyKey(number string) string { return prefix + "history:" + number }
func unitKey(unit string) string      { return prefix + "unit:" + unit }
func seqKey(unit string, year int) string {
	return prefix + "seq:" + unit + ":" + strconv.Itoa(year)
}

// hashed keeps outside text (a dispute's ref, a caller's id) out of key names.
func hashed(kind, s string) string {
	h := sha256.Sum256([]byte(s))
	return prefix + kind + ":" + hex.EncodeToString(h[:12])
}

// ErrNotFound is a case number that no case has.
var ErrNotFound = errors.New("no such case")

// DuplicateError is a registration under an external id already used.
type DuplicateError struct{ Number string }

func (e *DuplicateError) Error() string {
	return "a case is already registered under this external_id: " + e.Number
}

// ErrRaced is a change that lost a race with another; the caller retries.
var ErrRaced = errors.New("the case changed while it was being saved")

// Units is the jurisdiction as the store needs it.
type Units interface {
	Unit(code string) (jurisdiction.Unit, bool)
	Ancestors(code string) []jurisdiction.Unit
}

// Store keeps cases in Redis.
type Store struct {
	rdb   redis.UniversalClient
	units Units
}

// New returns a Store.
func New(rdb redis.UniversalClient, units Units) *Store { return &Store{rdb: rdb, units: units} }

// NextNumber returns a new case number for a unit: its code, the year and a
// sequence within the unit and year, e.g. 990101100201-2026-00017.
func (s *Store) NextNumber(ctx context.Context, unit string, at time.Time) (string, error) {
	year := at.In(time.FixedZone("CST", 8*3600)).Year()
	n, err := s.rdb.Incr(ctx, seqKey(unit, year)).Result()
	if err != nil {
		return "", fmt.Errorf("number a case: %w", err)
	}
	return fmt.Sprintf("%s-%d-%05d", unit, year, n), nil
}

// Get reads a case.
func (s *Store) Get(ctx context.Context, number string) (*cases.Case, error) {
	b, err := s.rdb.Get(ctx, caseKey(number)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read case: %w", err)
	}
	var c cases.Case
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode case %s: %w", number, err)
	}
	return &c, nil
}

// ByExternalID returns the number of the case registered under a caller's
// own id in a unit, or "".
func (s *Store) ByExternalID(ctx context.Context, unit, id string) (string, error) {
	n, err := s.rdb.Get(ctx, hashed("ext", unit+"/"+id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return n, err
}

// Lock takes a short lock on a dispute's cases, for one instance at a time
// to decide whether to open one; it reports whether it got it, and unlock
// gives it back.
func (s *Store) Lock(ctx context.Context, dispute string, ttl time.Duration) (got bool, unlock func(), err error) {
	key := hashed("lock", dispute)
	got, err = s.rdb.SetNX(ctx, key, "1", ttl).Result()
	return got, func() { s.rdb.Del(context.WithoutCancel(ctx), key) }, err
}

// OpenFor returns the numbers of the open cases about a dispute.
func (s *Store) OpenFor(ctx context.Context, dispute string) ([]string, error) {
	return s.rdb.SMembers(ctx, hashed("dispute", dispute)).Result()
}

// Save writes a case after a step: the new document, the step's events in
// its history, their case-event records in the outbox, and the indexes. It
// fails with ErrRaced if the stored case is no longer at version was (zero:
// a new case, which must not exist yet).
func (s *Store) Save(ctx context.Context, was int, c *cases.Case, evs []cases.Event, recs []signals.Record) error {
	key := caseKey(c.Number)
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode case: %w", err)
	}
	keys := []string{key}
	ext := hashed("ext", c.Unit+"/"+c.ExternalID)
	if was == 0 && c.ExternalID != "" {
		keys = append(keys, ext)
	}
	err = s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		if len(keys) > 1 {
			if n, err := tx.Get(ctx, ext).Result(); err == nil {
				return &DuplicateError{Number: n}
			}
		}
		var old *cases.Case
		b, err := tx.Get(ctx, key).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			if was != 0 {
				return ErrNotFound
			}
		case err != nil:
			return err
		default:
			if was == 0 {
				return ErrRaced
			}
			old = new(cases.Case)
			if err := json.Unmarshal(b, old); err != nil {
				return fmt.Errorf("decode case %s: %w", c.Number, err)
			}
			if old.Version != was {
				return ErrRaced
			}
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, doc, 0)
			for _, ev := range evs {
				b, _ := json.Marshal(ev)
				p.XAdd(ctx, &redis.XAddArgs{Stream: historyKey(c.Number), Values: map[string]any{"e": b}})
			}
			for i := range recs {
				b, _ := json.Marshal(&recs[i])
				p.XAdd(ctx, &redis.XAddArgs{Stream: OutboxKey, Values: map[string]any{"r": b}})
			}
			s.index(ctx, p, old, c)
			return nil
		})
		return err
	}, keys...)
	if errors.Is(err, redis.TxFailedErr) {
		return ErrRaced
	}
	return err
}

// index moves a case's entries in the unit, due, count and dispute indexes
// from what they were for old (nil: a new case) to what they are for c.
func (s *Store) index(ctx context.Context, p redis.Pipeliner, old, c *cases.Case) {
	score := float64(c.RegisteredAt.Unix())
	now := s.unitsOf(c)
	if old != nil {
		for u := range s.unitsOf(old) {
			if !now[u] {
				p.ZRem(ctx, unitKey(u), c.Number)
			}
		}
		p.HIncrBy(ctx, countKey, s.countField(old), -1)
		for _, k := range cases.ClockNames {
			p.ZRem(ctx, dueKey, c.Number+"/"+string(k))
		}
		if old.Open() && !c.Open() {
			p.SRem(ctx, hashed("dispute", old.Dispute), c.Number)
		}
	}
	for u := range now {
		p.ZAdd(ctx, unitKey(u), redis.Z{Score: score, Member: c.Number})
	}
	p.HIncrBy(ctx, countKey, s.countField(c), 1)
	for _, k := range c.Clocks {
		if k.Running() {
			p.ZAdd(ctx, dueKey, redis.Z{Score: float64(k.Due.Unix()), Member: c.Number + "/" + string(k.Name)})
		}
	}
	if c.Open() {
		p.SAdd(ctx, hashed("dispute", c.Dispute), c.Number)
	}
	if old == nil && c.ExternalID != "" {
		p.Set(ctx, hashed("ext", c.Unit+"/"+c.ExternalID), c.Number, 0)
	}
}

// unitsOf is every unit whose subtree holds the case: the case's units and
// all their ancestors.
func (s *Store) unitsOf(c *cases.Case) map[string]bool {
	out := map[string]bool{}
	for _, u := range c.Units() {
		out[u] = true
		for _, a := range s.units.Ancestors(u) {
			out[a.Code] = true
		}
	}
	return out
}

// countField is the case's cell in the count of cases by state and the
// tier of the handling unit.
func (s *Store) countField(c *cases.Case) string {
	tier := "unknown"
	if u, ok := s.units.Unit(c.Handler()); ok {
		tier = u.Tier.String()
	}
	return string(c.State) + "/" + tier
}

// History returns a case's history, oldest first.
func (s *Store) History(ctx context.Context, number string) ([]cases.Event, error) {
	msgs, err := s.rdb.XRange(ctx, historyKey(number), "-", "+").Result()
	if err != nil {
		return nil, fmt.Errorf("read case history: %w", err)
	}
	out := make([]cases.Event, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["e"].(string)
		var ev cases.Event
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			return nil, fmt.Errorf("decode case history %s: %w", number, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// Query selects cases.
type Query struct {
	Unit     string // the subtree searched (required)
	State    cases.State
	Category string
	Mediator string
	Overdue  bool
	Open     *bool
	From, To time.Time // registered within, either may be zero
	Offset   int
	Limit    int
	Now      time.Time // for Overdue
}

// List returns the cases of a unit's subtree that match q, newest first,
// and how many match in all.
func (s *Store) List(ctx context.Context, q Query) ([]*cases.Case, int, error) {
	lo, hi := "-inf", "+inf"
	if !q.From.IsZero() {
		lo = strconv.FormatInt(q.From.Unix(), 10)
	}
	if !q.To.IsZero() {
		hi = strconv.FormatInt(q.To.Unix(), 10)
	}
	numbers, err := s.rdb.ZRevRangeByScore(ctx, unitKey(q.Unit), &redis.ZRangeBy{Min: lo, Max: hi}).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("list cases: %w", err)
	}
	var overdue map[string]bool
	if q.Overdue {
		if overdue, err = s.overdueNumbers(ctx, q.Now); err != nil {
			return nil, 0, err
		}
	}
	var out []*cases.Case
	total := 0
	for chunk := range slices.Chunk(numbers, 200) {
		keys := make([]string, len(chunk))
		for i, n := range chunk {
			keys[i] = caseKey(n)
		}
		vals, err := s.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, 0, fmt.Errorf("list cases: %w", err)
		}
		for _, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue
			}
			var c cases.Case
			if json.Unmarshal([]byte(str), &c) != nil || !q.match(&c, overdue) {
				continue
			}
			if total >= q.Offset && len(out) < q.Limit {
				out = append(out, &c)
			}
			total++
		}
	}
	return out, total, nil
}

func (q Query) match(c *cases.Case, overdue map[string]bool) bool {
	switch {
	case q.State != "" && c.State != q.State:
		return false
	case q.Category != "" && c.Category != q.Category:
		return false
	case q.Overdue && !overdue[c.Number]:
		return false
	case q.Open != nil && c.Open() != *q.Open:
		return false
	case q.Mediator != "":
		if c.Assignment == nil || !slices.Contains(c.Assignment.Mediators, q.Mediator) {
			return false
		}
	}
	return true
}

// Late is a running clock past its due time.
type Late struct {
	Number string
	Clock  cases.ClockName
	Due    time.Time
}

// Overdue returns every running clock due before now, most overdue first.
func (s *Store) Overdue(ctx context.Context, now time.Time) ([]Late, error) {
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, dueKey, &redis.ZRangeBy{Min: "-inf", Max: "(" + strconv.FormatInt(now.Unix(), 10)}).Result()
	if err != nil {
		return nil, fmt.Errorf("read overdue clocks: %w", err)
	}
	out := make([]Late, 0, len(zs))
	for _, z := range zs {
		m, _ := z.Member.(string)
		number, clock, _ := strings.Cut(m, "/")
		out = append(out, Late{Number: number, Clock: cases.ClockName(clock), Due: time.Unix(int64(z.Score), 0)})
	}
	return out, nil
}

func (s *Store) overdueNumbers(ctx context.Context, now time.Time) (map[string]bool, error) {
	late, err := s.Overdue(ctx, now)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(late))
	for _, l := range late {
		out[l.Number] = true
	}
	return out, nil
}

// Flag records that a clock's lateness has been reported, and reports
// whether it had not been before. A clock extended and late again is new.
func (s *Store) Flag(ctx context.Context, l Late) (bool, error) {
	n, err := s.rdb.SAdd(ctx, flagKey, l.Number+"/"+string(l.Clock)+"/"+strconv.FormatInt(l.Due.Unix(), 10)).Result()
	return n == 1, err
}

// Unflag forgets a report, so that a failed one is tried again.
func (s *Store) Unflag(ctx context.Context, l Late) error {
	return s.rdb.SRem(ctx, flagKey, l.Number+"/"+string(l.Clock)+"/"+strconv.FormatInt(l.Due.Unix(), 10)).Err()
}

// Counts returns the cases by state and the tier of their handling unit.
func (s *Store) Counts(ctx context.Context) (map[cases.State]map[string]int64, error) {
	m, err := s.rdb.HGetAll(ctx, countKey).Result()
	if err != nil {
		return nil, err
	}
	out := map[cases.State]map[string]int64{}
	for k, v := range m {
		state, tier, _ := strings.Cut(k, "/")
		n, _ := strconv.ParseInt(v, 10, 64)
		if out[cases.State(state)] == nil {
			out[cases.State(state)] = map[string]int64{}
		}
		out[cases.State(state)][tier] = n
	}
	return out, nil
}

// Batch is a unit's ledger reconciliation batch (对账销号): the cases it
// archived together.
type Batch struct {
	ID      string    `json:"id"`
	Unit    string    `json:"unit"`
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Numbers []string  `json:"numbers"`
}

func batchesKey(unit string) string { return prefix + "batches:" + unit }

// NextBatch returns a new batch id for a unit and day, e.g. 990101100000-20261122-1.
func (s *Store) NextBatch(ctx context.Context, unit string, at time.Time) (string, error) {
	day := at.In(time.FixedZone("CST", 8*3600)).Format("20060102")
	n, err := s.rdb.Incr(ctx, prefix+"batchseq:"+unit+":"+day).Result()
	if err != nil {
		return "", fmt.Errorf("number a batch: %w", err)
	}
	return fmt.Sprintf("%s-%s-%d", unit, day, n), nil
}

// SaveBatch records a batch under its unit.
func (s *Store) SaveBatch(ctx context.Context, b Batch) error {
	doc, _ := json.Marshal(b)
	return s.rdb.ZAdd(ctx, batchesKey(b.Unit), redis.Z{Score: float64(b.At.Unix()), Member: doc}).Err()
}

// Batches returns a unit's batches, newest first.
func (s *Store) Batches(ctx context.Context, unit string, n int64) ([]Batch, error) {
	vals, err := s.rdb.ZRevRange(ctx, batchesKey(unit), 0, n-1).Result()
	if err != nil {
		return nil, fmt.Errorf("read batches: %w", err)
	}
	out := make([]Batch, 0, len(vals))
	for _, v := range vals {
		var b Batch
		if json.Unmarshal([]byte(v), &b) == nil {
			out = append(out, b)
		}
	}
	return out, nil
}
