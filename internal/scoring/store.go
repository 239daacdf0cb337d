// Package scoring keeps each subject's state in Redis and scores it: it is the
// signal stream's handler that feeds the engine and raises alert events, and
// it keeps the board of subjects above green, manual overrides and sign-offs.
package scoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/engine"
	"fengqiao/risk"
	"fengqiao/rules"
)

// maxEvents bounds the signals kept per subject; the oldest go first.
const maxEvents = 5000

// historyLen bounds the level history kept per subject.
const historyLen = 1000

// keys are a subject's Redis keys. They share the hash tag {k:ref}, so the
// scripts touch one slot: a person's ref is a keyed hash, never an ID number.
type keys struct{ idx, events, state, history, links string }

func keysOf(id risk.SubjectID) keys {
	tag := "fq:{" + string(id.Kind[0]) + ":" + id.Ref + "}:"
	return keys{idx: tag + "idx", events: tag + "events", state: tag + "state", history: tag + "history", links: tag + "links"}
}

// boardKey is the board of one kind at one level: refs scored by when they
// rose to it. All board keys share the hash tag {board}.
func boardKey(k risk.Kind, l risk.Level) string { return "fq:{board}:" + string(k) + ":" + l.String() }

// overridesKey lists subjects with an override, scored by its expiry, so the
// sweep can end each on time.
const overridesKey = "fq:{board}:overrides"

// loadScript records one event (unless ARGV[1] is empty: a re-score) and a
// link (unless ARGV[6] is empty), drops events older than the cutoff and
// beyond the cap, and returns {sequence, level, raised at, signed off,
// override, unit, link count, link pairs…, events…}. The sequence counts added
// events: a commit made from a view that has missed one is refused as stale.
// KEYS: idx, events, state, links. ARGV: event key, at (ms), event JSON,
// cutoff (ms), cap, link field, link value.
var loadScript = redis.NewScript(`
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[4], ARGV[6], ARGV[7]) end
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
local st = redis.call('HMGET', KEYS[3], 'level', 'raised_ms', 'signed_off', 'override', 'unit')
local links = redis.call('HGETALL', KEYS[4])
local out = {seq, st[1] or '', st[2] or '', st[3] or '', st[4] or '', st[5] or '', #links / 2}
for _, v in ipairs(links) do out[#out + 1] = v end
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do out[#out + 1] = v end
return out
`)

// historyScript is the Lua that keeps a subject's level history: a list of
// JSON entries, oldest first, capped at historyLen. A history written as a
// stream (before the list) is converted on the first append, entry by
// entry, so nothing is lost. appendHistory(key, entry, cap).
const historyScript = `
local function appendHistory(key, entry, cap)
  if redis.call('TYPE', key).ok == 'stream' then
    local old = redis.call('XRANGE', key, '-', '+')
    redis.call('DEL', key)
    for _, e in ipairs(old) do
      local t = {}
      for i = 1, #e[2], 2 do
        if e[2][i + 1] ~= '' then t[e[2][i]] = e[2][i + 1] end
      end
      if t.at then t.at = tonumber(t.at) end
      redis.call('RPUSH', key, cjson.encode(t))
    end
  end
  redis.call('RPUSH', key, entry)
  redis.call('LTRIM', key, -tonumber(cap), -1)
end
`

// commitScript writes an assessment if no event was added since it was read
// (the sequence still matches). On a rise it notes the time and forgets any
// sign-off; on any change it appends to the level history. It returns
// 'stale', or the previous level and the commit's revision, which orders the
// subject's commits for the index step. KEYS: state, history. ARGV: seq, level,
// assessment JSON, at (ms), unit, name, weak, the history entry's JSON after
// its "from" (see historyTail), history length, rose (1 or empty), sealed.
var commitScript = redis.NewScript(historyScript + `
if (redis.call('HGET', KEYS[1], 'seq') or '0') ~= ARGV[1] then return 'stale' end
local prev = redis.call('HGET', KEYS[1], 'level') or ''
redis.call('HSET', KEYS[1], 'level', ARGV[2], 'assessment', ARGV[3], 'updated_ms', ARGV[4], 'unit', ARGV[5], 'weak', ARGV[7])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'name', ARGV[6]) end
if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'sealed', ARGV[11]) end
if ARGV[10] == '1' then
  redis.call('HSET', KEYS[1], 'raised_ms', ARGV[4])
  redis.call('HDEL', KEYS[1], 'signed_off', 'signoff')
end
if prev ~= ARGV[2] then
  local from = ''
  if prev ~= '' then from = '"from":"' .. prev .. '",' end
  appendHistory(KEYS[2], '{"event":"level",' .. from .. ARGV[8], ARGV[9])
end
return {prev, redis.call('HINCRBY', KEYS[1], 'rev', 1)}
`)

// recordScript appends an entry to a subject's history. KEYS: history.
// ARGV: entry JSON, history length.
var recordScript = redis.NewScript(historyScript + `
appendHistory(KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// historyEntry is a history entry as stored: Change with the time in
// milliseconds and empty fields left out.
type historyEntry struct {
	Event       string `json:"event"`
	From        string `json:"from,omitempty"`
	To          string `json:"to,omitempty"`
	At          int64  `json:"at"`
	Signal      string `json:"signal,omitempty"`
	Officer     string `json:"officer,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Explanation string `json:"explanation,omitempty"`
}

// historyTail is a level change's history entry as JSON, less its opening
// and its "from", which only the commit script knows: the script writes
// {"event":"level","from":"<previous>", then this.
func historyTail(a *risk.Assessment) string {
	b, _ := json.Marshal(historyEntry{Event: "level", To: a.Level.String(), At: a.At.UnixMilli(), Signal: a.Signal, Explanation: a.Explain()})
	const head = `{"event":"level",`
	return string(b[len(head):])
}

var errStale = errors.New("subject changed while it was being scored")

// snapshot is a subject's state as read for scoring.
type snapshot struct {
	seq      int64
	prev     string // previous level name, "" for a new subject
	previous *engine.Previous
	override *engine.Override
	links    []engine.Link
	persons  []string // a dispute's persons
	events   []engine.Event
	unit     string // the subject's home unit, "" for a new subject
}

// link is a link to record while loading: field and value of the links hash.
type link struct{ field, value string }

// loadArgs are the load script's keys and arguments for p: record its event
// and link (if any), and read its state as of p.now.
func (p *pass) loadArgs() ([]string, []any, error) {
	keep := time.Duration(rules.MaxRetention) // not the ruleset's longest window: a later ruleset may look further back
	k := keysOf(p.id)
	args := []any{"", 0, "", p.now.Add(-keep).UnixMilli(), maxEvents, p.ln.field, p.ln.value}
	if p.evJSON != nil {
		args[0], args[1], args[2] = p.ev.Key, p.ev.At.UnixMilli(), p.evJSON
	}
	return []string{k.idx, k.events, k.state, k.links}, args, nil
}

// parseSnapshot reads the load script's answer for subject id.
func parseSnapshot(id risk.SubjectID, res []any) snapshot {
	str := func(i int) string {
		if i >= len(res) {
			return ""
		}
		v, _ := res[i].(string)
		return v
	}
	snap := snapshot{}
	if len(res) < 7 {
		return snap
	}
	snap.seq, _ = res[0].(int64)
	snap.prev = str(1)
	if l, err := risk.ParseLevel(snap.prev); err == nil && snap.prev != "" {
		ms, _ := strconv.ParseInt(str(2), 10, 64)
		snap.previous = &engine.Previous{Level: l, RaisedAt: time.UnixMilli(ms), SignedOff: str(3) == "1"}
	}
	if o := str(4); o != "" {
		var ov Override
		if json.Unmarshal([]byte(o), &ov) == nil {
			eo := engine.Override(ov)
			snap.override = &eo
		}
	}
	snap.unit = str(5)
	n, _ := res[6].(int64)
	i := 7
	for ; i < min(7+2*int(n), len(res)); i += 2 {
		switch id.Kind {
		case risk.Person: // a person's links are its disputes, with their levels
			if l, err := risk.ParseLevel(str(i + 1)); err == nil {
				snap.links = append(snap.links, engine.Link{Subject: risk.SubjectID{Kind: risk.Dispute, Ref: str(i)}, Level: l})
			}
		case risk.Dispute:
			snap.persons = append(snap.persons, str(i))
		}
	}
	for ; i < len(res); i++ {
		var e engine.Event
		if json.Unmarshal([]byte(str(i)), &e) == nil {
			snap.events = append(snap.events, e)
		}
	}
	return snap
}

// commitArgs are the commit script's keys and arguments for p's assessment.
func (p *pass) commitArgs() ([]string, []any, error) {
	b, err := json.Marshal(storable(&p.a))
	if err != nil {
		return nil, nil, fmt.Errorf("encode assessment: %w", err)
	}
	k := keysOf(p.id)
	rose := ""
	if p.rose {
		rose = "1"
	}
	return []string{k.state, k.history}, []any{p.snap.seq, p.a.Level.String(), b, p.a.At.UnixMilli(), p.a.Unit,
		p.who.name, strconv.FormatBool(p.who.weak), historyTail(&p.a), historyLen, rose, p.who.sealed}, nil
}

// parseCommit reads the commit script's answer: the commit's revision, or
// errStale.
func parseCommit(res any, err error) (int64, error) {
	if err != nil {
		return 0, fmt.Errorf("store assessment: %w", err)
	}
	if res == "stale" {
		return 0, errStale
	}
	out, _ := res.([]any)
	if len(out) != 2 {
		return 0, fmt.Errorf("store assessment: unexpected answer %v", res)
	}
	rev, _ := out[1].(int64)
	return rev, nil
}

// Subject is what is known of a subject, for the API.
type Subject struct {
	risk.Assessment
	Explanation string     `json:"explanation"`
	Name        string     `json:"name,omitempty"` // masked
	Weak        bool       `json:"weak_identity,omitempty"`
	Sealed      string     `json:"-"`       // encrypted ID number and phone, for the API to mask or reveal
	Signals     int64      `json:"signals"` // signals kept for it, within the longest window
	RaisedAt    *time.Time `json:"raised_at,omitempty"`
	Override    *Override  `json:"override,omitempty"`
	SignOff     *SignOff   `json:"signoff,omitempty"`
	Linked      []Linked   `json:"linked,omitempty"` // a person's disputes, or a dispute's persons
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Linked is a linked subject as shown beside another.
type Linked struct {
	Subject risk.SubjectID `json:"subject"`
	Unit    string         `json:"unit,omitempty"`
	Level   *risk.Level    `json:"level,omitempty"` // nil: not scored yet
	Name    string         `json:"name,omitempty"`  // masked
}

// SignOff is an officer's sign-off to let a subject leave a high level (解除预警).
type SignOff struct {
	Officer string     `json:"officer"`
	Reason  string     `json:"reason"`
	At      time.Time  `json:"at"`
	Level   risk.Level `json:"level"` // the level it lets the subject leave
}

// ErrNotFound is returned for a subject that has never been scored.
var ErrNotFound = errors.New("subject not found")

// Subject returns a subject's current assessment, with its links.
func (s *Scorer) Subject(ctx context.Context, id risk.SubjectID) (Subject, error) {
	k := keysOf(id)
	pipe := s.rdb.Pipeline()
	state := pipe.HGetAll(ctx, k.state)
	count := pipe.ZCard(ctx, k.idx)
	links := pipe.HGetAll(ctx, k.links)
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
	if out.NotFired == nil { // stored without it
		out.NotFired = s.notFired(ctx, &out.Assessment)
	}
	out.Explanation = out.Assessment.Explain()
	out.Name = MaskName(h["name"])
	out.Weak = h["weak"] == "true"
	out.Sealed = h["sealed"]
	out.Signals = count.Val()
	out.UpdatedAt = millis(h["updated_ms"])
	if h["raised_ms"] != "" {
		t := millis(h["raised_ms"])
		out.RaisedAt = &t
	}
	if h["override"] != "" {
		var o Override
		if json.Unmarshal([]byte(h["override"]), &o) == nil {
			out.Override = &o
		}
	}
	if h["signoff"] != "" {
		var so SignOff
		if json.Unmarshal([]byte(h["signoff"]), &so) == nil {
			out.SignOff = &so
		}
	}
	out.Linked, _ = s.linked(ctx, id, links.Val())
	return out, nil
}

// linked reads the level and name of each linked subject, so that a
// person's colour is visible on their disputes and the other way round.
func (s *Scorer) linked(ctx context.Context, id risk.SubjectID, links map[string]string) ([]Linked, error) {
	other := risk.Dispute
	if id.Kind == risk.Dispute {
		other = risk.Person
	}
	refs := sortedKeys(links)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(refs))
	for i, ref := range refs {
		cmds[i] = pipe.HMGet(ctx, keysOf(risk.SubjectID{Kind: other, Ref: ref}).state, "level", "name", "unit")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]Linked, len(refs))
	for i, ref := range refs {
		out[i].Subject = risk.SubjectID{Kind: other, Ref: ref}
		v := cmds[i].Val()
		if lv, _ := v[0].(string); lv != "" {
			if l, err := risk.ParseLevel(lv); err == nil {
				out[i].Level = &l
			}
		}
		if n, _ := v[1].(string); n != "" {
			out[i].Name = MaskName(n)
		}
		out[i].Unit, _ = v[2].(string)
	}
	return out, nil
}

// Change is one entry of a subject's history: a level change, an override
// set or cleared, or a sign-off.
type Change struct {
	Event       string    `json:"event"`          // level, override, override_cleared, signoff
	From        string    `json:"from,omitempty"` // "" for the first assessment
	To          string    `json:"to,omitempty"`
	At          time.Time `json:"at"`
	Signal      string    `json:"signal,omitempty"`
	Officer     string    `json:"officer,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Explanation string    `json:"explanation,omitempty"`
}

// History returns up to n of a subject's history entries, newest first.
func (s *Scorer) History(ctx context.Context, id risk.SubjectID, n int64) ([]Change, error) {
	key := keysOf(id).history
	raw, err := s.rdb.LRange(ctx, key, -n, -1).Result()
	if err != nil && strings.Contains(err.Error(), "WRONGTYPE") {
		return s.streamHistory(ctx, key, n) // not yet converted: nothing changed since the list came in
	}
	if err != nil {
		return nil, fmt.Errorf("read level history: %w", err)
	}
	out := make([]Change, 0, len(raw))
	for i := len(raw) - 1; i >= 0; i-- {
		var e historyEntry
		if json.Unmarshal([]byte(raw[i]), &e) != nil {
			continue
		}
		out = append(out, Change{Event: e.Event, From: e.From, To: e.To, At: time.UnixMilli(e.At).UTC(),
			Signal: e.Signal, Officer: e.Officer, Reason: e.Reason, Explanation: e.Explanation})
	}
	return out, nil
}

// streamHistory reads a history still kept as a stream.
func (s *Scorer) streamHistory(ctx context.Context, key string, n int64) ([]Change, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, key, "+", "-", n).Result()
	if err != nil {
		return nil, fmt.Errorf("read level history: %w", err)
	}
	out := make([]Change, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string { v, _ := m.Values[k].(string); return v }
		out = append(out, Change{Event: str("event"), From: str("from"), To: str("to"), At: millis(str("at")),
			Signal: str("signal"), Officer: str("officer"), Reason: str("reason"), Explanation: str("explanation")})
	}
	return out, nil
}

func millis(s string) time.Time {
	ms, _ := strconv.ParseInt(s, 10, 64)
	return time.UnixMilli(ms).UTC()
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

// Recent returns up to n of a subject's latest signal events, newest first.
func (s *Scorer) Recent(ctx context.Context, id risk.SubjectID, n int64) ([]engine.Event, error) {
	k := keysOf(id)
	fields, err := s.rdb.ZRevRange(ctx, k.idx, 0, n-1).Result()
	if err != nil || len(fields) == 0 {
		return nil, err
	}
	vals, err := s.rdb.HMGet(ctx, k.events, fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("read subject events: %w", err)
	}
	out := make([]engine.Event, 0, len(vals))
	for _, v := range vals {
		var ev engine.Event
		if str, ok := v.(string); ok && json.Unmarshal([]byte(str), &ev) == nil {
			out = append(out, ev)
		}
	}
	return out, nil
}
