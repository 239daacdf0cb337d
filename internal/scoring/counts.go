package scoring

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"fengqiao/jurisdiction"
	"fengqiao/risk"
)

// The subjects by kind, colour and unit are counted in Redis as they are
// scored, so that the gauge is one read at each scrape, the same on every
// instance and unchanged by a restart. The keys share the boards' {board}
// tag: the index step that moves a subject between boards moves its count
// in the same script.
//
// countedKey holds, per subject ("kind/ref"), the revision of the commit it
// was last indexed at and the counts field it is counted under; countsKey
// holds the counts by field "kind/level/unit". Both are named for the tier
// the units are counted at, so a change of tier starts apart rather than
// mixing codes of two tiers (Recount fills the new ones).
func countsKey(t jurisdiction.Tier) string  { return "fq:{board}:counts:" + t.String() }
func countedKey(t jurisdiction.Tier) string { return "fq:{board}:counted:" + t.String() }

// DefaultCountTier is the tier fengqiao_subjects counts subjects at: a city
// has a handful of counties, while townships, villages and grids would
// multiply the series by the hundred.
const DefaultCountTier = jurisdiction.County

// indexScript puts a subject on the board of its level (off the others) and
// moves its count, unless the subject was already indexed at this commit's
// revision or a later one: run again, or late, it changes nothing, so it is
// safe to repeat after a crash and between racing instances. It returns 1 if
// it applied. KEYS: counted, counts, the kind's boards blue…red. ARGV:
// "kind/ref", ref, revision, level (0 green … 4 red), counts field, raised
// at (ms).
var indexScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
local field = nil
if old then
  local sp = string.find(old, ' ', 1, true)
  if sp and tonumber(string.sub(old, 1, sp - 1)) >= tonumber(ARGV[3]) then return 0 end
  if sp then field = string.sub(old, sp + 1) end
end
if field ~= ARGV[5] then
  if field then redis.call('HINCRBY', KEYS[2], field, -1) end
  redis.call('HINCRBY', KEYS[2], ARGV[5], 1)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. ' ' .. ARGV[5])
local level = tonumber(ARGV[4])
for i = 1, 4 do
  if i ~= level then redis.call('ZREM', KEYS[2 + i], ARGV[2]) end
end
if level >= 1 then redis.call('ZADD', KEYS[2 + level], ARGV[6], ARGV[2]) end
return 1
`)

// index keeps the board and the counts in step with a subject's level, as
// of the commit with revision rev. It runs after every commit, whether the
// level changed or not: were an index step lost (a crash between the commit
// and it), the next scoring of the subject, a redelivery or a sweep, repairs
// it.
func (s *Scorer) index(ctx context.Context, id risk.SubjectID, level risk.Level, unit string, rev int64, raisedAt time.Time) error {
	keys, args := s.indexArgs(id, level, unit, rev, raisedAt)
	if err := indexScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("update the board: %w", err)
	}
	return nil
}

// indexArgs are the index script's keys and arguments.
func (s *Scorer) indexArgs(id risk.SubjectID, level risk.Level, unit string, rev int64, raisedAt time.Time) ([]string, []any) {
	keys := make([]string, 0, 2+len(risk.Levels)-1)
	keys = append(keys, countedKey(s.countTier), countsKey(s.countTier))
	for _, l := range risk.Levels[1:] {
		keys = append(keys, boardKey(id.Kind, l))
	}
	field := string(id.Kind) + "/" + level.String() + "/" + UnitAt(unit, s.countTier)
	return keys, []any{id.String(), id.Ref, rev, int(level), field, raisedAt.UnixMilli()}
}

// UnitAt is the code of the unit of the given tier that the unit with code
// lies in, read from the code itself: unit codes follow the statistical
// division code, whose leading digits name each tier's unit (two for the
// province, two more for the city, two for the county, three for the
// township, three for the village, three more for a grid), so the unit at a
// tier is the code's digits for that tier followed by zeros. For a unit
// above the tier, or under a city without counties, it is the lowest unit
// above the tier it lies in, as Tree.AncestorAt would be were it asked for
// the nearest tier the tree has. A code that is not a unit code is returned
// as it is.
func UnitAt(code string, t jurisdiction.Tier) string {
	if (len(code) != 12 && len(code) != 15) || strings.Trim(code, "0123456789") != "" {
		return code
	}
	var n int // the leading digits that name a unit of the tier
	switch t {
	case jurisdiction.City:
		n = 4
	case jurisdiction.County:
		n = 6
	case jurisdiction.Township:
		n = 9
	default: // a village, or a grid: a grid's code is its village's and three digits more
		n = 12
	}
	if n >= len(code) || t == jurisdiction.Grid {
		return code
	}
	return code[:n] + strings.Repeat("0", 12-n)
}

// Option configures a Scorer.
type Option func(*Scorer)

// CountTier sets the tier whose units fengqiao_subjects counts subjects by
// (DefaultCountTier, the county, without it); the label takes the tier's
// name. Every instance must count at the same tier.
func CountTier(t jurisdiction.Tier) Option {
	return func(s *Scorer) {
		if t.Valid() {
			s.countTier = t
		}
	}
}

// KnownUnits gives the jurisdiction's units, so that fengqiao_subjects has
// a series at zero for every kind and colour in each unit of the count tier
// from the start, before any subject there is scored.
func KnownUnits(units []jurisdiction.Unit) Option {
	return func(s *Scorer) { s.units = units }
}

// subjectsCollector reads the subjects by kind, colour and unit from the
// counts hash at each scrape: one HGETALL of at most kinds × colours × units
// fields, however many subjects there are.
type subjectsCollector struct {
	rdb   redis.UniversalClient
	tier  jurisdiction.Tier
	known []string // the tier's units, pre-initialised at zero
	desc  *prometheus.Desc
}

func newSubjectsCollector(rdb redis.UniversalClient, tier jurisdiction.Tier, units []jurisdiction.Unit) *subjectsCollector {
	c := &subjectsCollector{rdb: rdb, tier: tier,
		desc: prometheus.NewDesc("fengqiao_subjects",
			fmt.Sprintf("Subjects scored, by kind, colour and the %s their home unit lies in, from the store.", tier),
			[]string{"kind", "level", tier.String()}, nil)}
	for _, u := range units {
		if u.Tier == tier {
			c.known = append(c.known, u.Code)
		}
	}
	return c
}

func (c *subjectsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect sends every kind × colour for each known unit and each unit that
// has ever had a subject. When Redis does not answer it sends nothing:
// fengqiao_redis_up says why, and a scrape with no series is better than a
// failed scrape or a false zero.
func (c *subjectsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.rdb.HGetAll(ctx, countsKey(c.tier)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return
	}
	units := map[string]bool{}
	for _, u := range c.known {
		units[u] = true
	}
	n := map[string]float64{}
	for field, v := range counts {
		parts := strings.Split(field, "/")
		if len(parts) != 3 {
			continue
		}
		units[parts[2]] = true
		f, _ := strconv.ParseFloat(v, 64)
		n[field] = f
	}
	for u := range units {
		for _, k := range risk.Kinds {
			for _, l := range risk.Levels {
				field := string(k) + "/" + l.String() + "/" + u
				ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, n[field], string(k), l.String(), u)
			}
		}
	}
}

// Recount indexes every subject in the store again at its current level, as
// each scoring does: it fills the counts of subjects scored before they were
// counted (or before the count tier changed), and repairs any that drifted.
// It reads every subject's state, so it is for an upgrade or a repair, not
// for a schedule; it is safe while subjects are being scored, on any
// instance. It returns how many subjects it read.
func (s *Scorer) Recount(ctx context.Context) (int, error) {
	n := 0
	err := s.scanStates(ctx, func(ctx context.Context, key string) error {
		id, ok := subjectOfStateKey(key)
		if !ok {
			return nil
		}
		h, err := s.rdb.HMGet(ctx, key, "level", "unit", "rev", "raised_ms").Result()
		if err != nil {
			return fmt.Errorf("read subject: %w", err)
		}
		str := func(i int) string { v, _ := h[i].(string); return v }
		if str(0) == "" {
			return nil
		}
		l, err := risk.ParseLevel(str(0))
		if err != nil {
			return nil
		}
		rev, _ := strconv.ParseInt(str(2), 10, 64)
		n++
		return s.index(ctx, id, l, str(1), rev, millis(str(3)))
	})
	return n, err
}

// scanStates calls fn with the key of every subject's state, on every
// master of a cluster.
func (s *Scorer) scanStates(ctx context.Context, fn func(ctx context.Context, key string) error) error {
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, "fq:{[pd]:*}:state", 1000).Iterator()
		for it.Next(ctx) {
			if err := fn(ctx, it.Val()); err != nil {
				return err
			}
		}
		return it.Err()
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	}
	return scan(ctx, s.rdb)
}

// subjectOfStateKey reads a subject back from its state key (keysOf).
func subjectOfStateKey(key string) (risk.SubjectID, bool) {
	tag, ok := strings.CutPrefix(key, "fq:{")
	if !ok {
		return risk.SubjectID{}, false
	}
	tag, ok = strings.CutSuffix(tag, "}:state")
	if !ok || len(tag) < 3 || tag[1] != ':' {
		return risk.SubjectID{}, false
	}
	for _, k := range risk.Kinds {
		if k[0] == tag[0] {
			return risk.SubjectID{Kind: k, Ref: tag[2:]}, true
		}
	}
	return risk.SubjectID{}, false
}
