// Package scoring keeps each subject's state in Redis and scores it: it is the
// signal stream's handler that feeds the engine and raises alert events.
package scoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/engine"
	"fengqiao/risk"
)

// maxEvents bounds the signals kept per subject; the oldest go first.
const maxEvents = 5000

// historyLen bounds the level history kept per subject.
const historyLen = 1000

// keys are a subject's Redis keys. They share the hash tag {k:ref}, so the
// scripts touch one slot: a person's ref is a keyed hash, never an ID number.
type keys struct{ idx, events, state, history string }

func keysOf(id risk.SubjectID) keys {
	tag := "fq:{" + string(id.Kind[0]) + ":" + id.Ref + "}:"
	return keys{idx: tag + "idx", events: tag + "events", state: tag + "state", history: tag + "history"}
}

// addScript records one event (unless ARGV[1] is empty: a re-score), drops
// events older than the cutoff and beyond the cap, and returns {sequence,
// previous level, events…}. The sequence counts added events: a commit made
// from a view that has missed one is refused as stale.
// KEYS: idx, events, state. ARGV: event key, at (ms), event JSON, cutoff (ms), cap.
var addScript = redis.NewScript(`
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
local function drop(old)
  for i = 1, #old, 500 do
    redis.call('HDEL', KEYS[2], unpack(old, i, math.min(i + 499, #old)))
  end
end
drop(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4]))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
if n > tonumber(ARGV[5]) then
  drop(redis.call('ZRANGE', KEYS[1], 0, n - tonumber(ARGV[5]) - 1))
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - tonumber(ARGV[5]) - 1)
end
local seq = tonumber(redis.call('HGET', KEYS[3], 'seq') or '0')
if ARGV[1] ~= '' then seq = redis.call('HINCRBY', KEYS[3], 'seq', 1) end
local out = {seq, redis.call('HGET', KEYS[3], 'level') or ''}
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do out[#out + 1] = v end
return out
`)

// commitScript writes an assessment if no other writer has touched the
// subject since it was read (the sequence still matches), and appends to the
// level history when the level changed. It returns 'stale' or the previous
// level. KEYS: state, history. ARGV: seq, level, assessment JSON, at (ms),
// unit, name, weak, signal, explanation, history length.
var commitScript = redis.NewScript(`
if (redis.call('HGET', KEYS[1], 'seq') or '0') ~= ARGV[1] then return 'stale' end
local prev = redis.call('HGET', KEYS[1], 'level') or ''
redis.call('HSET', KEYS[1], 'level', ARGV[2], 'assessment', ARGV[3], 'updated_ms', ARGV[4], 'unit', ARGV[5], 'weak', ARGV[7])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'name', ARGV[6]) end
if prev ~= ARGV[2] then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[10], '*', 'from', prev, 'to', ARGV[2], 'at', ARGV[4], 'signal', ARGV[8], 'explanation', ARGV[9])
end
return prev
`)

var errStale = errors.New("subject changed while it was being scored")

type snapshot struct {
	seq    int64
	prev   string // previous level name, "" for a new subject
	events []engine.Event
}

func (s *Scorer) load(ctx context.Context, id risk.SubjectID, ev *engine.Event, now time.Time, keep time.Duration) (snapshot, error) {
	k := keysOf(id)
	args := []any{"", 0, "", now.Add(-keep).UnixMilli(), maxEvents}
	if ev != nil {
		b, err := json.Marshal(ev)
		if err != nil {
			return snapshot{}, fmt.Errorf("encode event: %w", err)
		}
		args[0], args[1], args[2] = ev.Key, ev.At.UnixMilli(), b
	}
	res, err := addScript.Run(ctx, s.rdb, []string{k.idx, k.events, k.state}, args...).Slice()
	if err != nil {
		return snapshot{}, fmt.Errorf("update subject state: %w", err)
	}
	snap := snapshot{}
	snap.seq, _ = res[0].(int64)
	snap.prev, _ = res[1].(string)
	for _, v := range res[2:] {
		var e engine.Event
		if str, ok := v.(string); ok && json.Unmarshal([]byte(str), &e) == nil {
			snap.events = append(snap.events, e)
		}
	}
	return snap, nil
}

func (s *Scorer) commit(ctx context.Context, snap snapshot, a risk.Assessment, name string, weak bool) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode assessment: %w", err)
	}
	k := keysOf(a.Subject)
	res, err := commitScript.Run(ctx, s.rdb, []string{k.state, k.history},
		snap.seq, a.Level.String(), b, a.At.UnixMilli(), a.Unit, name, strconv.FormatBool(weak), a.Signal, a.Explain(), historyLen).Text()
	if err != nil {
		return fmt.Errorf("store assessment: %w", err)
	}
	if res == "stale" {
		return errStale
	}
	return nil
}

// Subject is what is known of a subject, for the API.
type Subject struct {
	risk.Assessment
	Explanation string    `json:"explanation"`
	Name        string    `json:"name,omitempty"` // masked
	Weak        bool      `json:"weak_identity,omitempty"`
	Signals     int64     `json:"signals"` // signals kept for it, within the longest window
	UpdatedAt   time.Time `json:"updated_at"`
}

// ErrNotFound is returned for a subject that has never been scored.
var ErrNotFound = errors.New("subject not found")

// Subject returns a subject's current assessment.
func (s *Scorer) Subject(ctx context.Context, id risk.SubjectID) (Subject, error) {
	k := keysOf(id)
	pipe := s.rdb.Pipeline()
	state := pipe.HGetAll(ctx, k.state)
	count := pipe.ZCard(ctx, k.idx)
	if _, err := pipe.Exec(ctx); err != nil {
		return Subject{}, fmt.Errorf("read subject: %w", err)
	}
	h := state.Val()
	if h["assessment"] == "" {
		return Subject{}, ErrNotFound
	}
	var out Subject
	if err := json.Unmarshal([]byte(h["assessment"]), &out.Assessment); err != nil {
		return Subject{}, fmt.Errorf("decode subject: %w", err)
	}
	out.Explanation = out.Assessment.Explain()
	out.Name = MaskName(h["name"])
	out.Weak = h["weak"] == "true"
	out.Signals = count.Val()
	ms, _ := strconv.ParseInt(h["updated_ms"], 10, 64)
	out.UpdatedAt = time.UnixMilli(ms).UTC()
	return out, nil
}

// Change is one entry of a subject's level history.
type Change struct {
	From        string    `json:"from,omitempty"` // "" for the first assessment
	To          string    `json:"to"`
	At          time.Time `json:"at"`
	Signal      string    `json:"signal,omitempty"`
	Explanation string    `json:"explanation"`
}

// History returns up to n of a subject's level changes, newest first.
func (s *Scorer) History(ctx context.Context, id risk.SubjectID, n int64) ([]Change, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, keysOf(id).history, "+", "-", n).Result()
	if err != nil {
		return nil, fmt.Errorf("read level history: %w", err)
	}
	out := make([]Change, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string { v, _ := m.Values[k].(string); return v }
		ms, _ := strconv.ParseInt(str("at"), 10, 64)
		out = append(out, Change{From: str("from"), To: str("to"), At: time.UnixMilli(ms).UTC(),
			Signal: str("signal"), Explanation: str("explanation")})
	}
	return out, nil
}

// MaskName keeps a name's first character: "张三丰" → "张**".
func MaskName(name string) string {
	r := []rune(name)
	if len(r) <= 1 {
		return name
	}
	masked := make([]rune, len(r))
	masked[0] = r[0]
	for i := 1; i < len(r); i++ {
		masked[i] = '*'
	}
	return string(masked)
}
