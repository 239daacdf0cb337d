package redisstate

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/assess"
	"fengqiao/engine"
	"fengqiao/internal/scoring"
	"fengqiao/risk"
	"fengqiao/rules"
	"fengqiao/signals"
)

// What internal/scoring keeps unexported, copied: the key layout, the caps
// and the tier subjects are counted at. TestSmoke checks that Naive leaves
// the store exactly as the Scorer does, so a change there shows.
const (
	maxEvents  = 5000
	historyLen = 1000
)

type keys struct{ idx, events, state, history, links string }

func keysOf(id risk.SubjectID) keys {
	tag := "fq:{" + string(id.Kind[0]) + ":" + id.Ref + "}:"
	return keys{idx: tag + "idx", events: tag + "events", state: tag + "state", history: tag + "history", links: tag + "links"}
}

func boardKey(k risk.Kind, l risk.Level) string { return "fq:{board}:" + string(k) + ":" + l.String() }

var (
	countsKey  = "fq:{board}:counts:" + scoring.DefaultCountTier.String()
	countedKey = "fq:{board}:counted:" + scoring.DefaultCountTier.String()
)

// Naive makes the same changes to the store as scoring.Scorer.Handle, for
// the same records and the same engine, but the way one would write it
// without scripts: one command, one round trip at a time. It is not atomic
// and does not retry: it is a yardstick, for a single writer.
type Naive struct {
	RDB    *redis.Client
	Engine *engine.Engine
	Alerts *alerts.Stream
	Now    func() time.Time
}

type naiveLink struct{ field, value string }

type naiveOutcome struct {
	level, prev risk.Level
	known       bool
}

func (o naiveOutcome) changed() bool { return !o.known || o.level != o.prev }

// Handle is Scorer.Handle without scripts.
func (n *Naive) Handle(ctx context.Context, rec signals.Record) error {
	e := n.Engine
	ev := assess.EventOf(&rec, e)
	var dispute *naiveOutcome
	if rec.DisputeID != "" {
		id := risk.SubjectID{Kind: risk.Dispute, Ref: rec.DisputeID}
		if len(rec.Persons) > 0 {
			fields := make([]any, 0, 2*len(rec.Persons))
			for _, p := range rec.Persons {
				fields = append(fields, p.Ref, "1")
			}
			if err := n.RDB.HSet(ctx, keysOf(id).links, fields...).Err(); err != nil {
				return err
			}
		}
		o, err := n.score(ctx, id, rec.Unit, "", false, "", &ev, naiveLink{})
		if err != nil {
			return err
		}
		dispute = &o
	}
	for _, p := range rec.Persons {
		id := risk.SubjectID{Kind: risk.Person, Ref: p.Ref}
		ln := naiveLink{}
		if dispute != nil {
			ln = naiveLink{rec.DisputeID, dispute.level.String()}
		}
		if _, err := n.score(ctx, id, rec.Unit, p.Name, p.Weak, p.Sealed, &ev, ln); err != nil {
			return err
		}
	}
	if dispute != nil && dispute.changed() && e.Ruleset().Spread.DisputeToPerson != nil {
		persons, err := n.RDB.HKeys(ctx, keysOf(risk.SubjectID{Kind: risk.Dispute, Ref: rec.DisputeID}).links).Result()
		if err != nil {
			return err
		}
		for _, ref := range persons {
			if slices.ContainsFunc(rec.Persons, func(p signals.PersonRef) bool { return p.Ref == ref }) {
				continue
			}
			id := risk.SubjectID{Kind: risk.Person, Ref: ref}
			h, err := n.RDB.HMGet(ctx, keysOf(id).state, "unit", "weak", "assessment").Result()
			if err != nil {
				return err
			}
			if a, _ := h[2].(string); a == "" {
				continue
			}
			unit, _ := h[0].(string)
			weak, _ := h[1].(string)
			if _, err := n.score(ctx, id, unit, "", weak == "true", "", nil, naiveLink{rec.DisputeID, dispute.level.String()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// score is the load script, the evaluation, the alert, the commit script
// and the index script of Scorer.score, command by command.
func (n *Naive) score(ctx context.Context, id risk.SubjectID, unit, name string, weak bool, sealed string, ev *engine.Event, ln naiveLink) (naiveOutcome, error) {
	r := n.RDB
	k := keysOf(id)
	now := n.Now()
	cutoff := now.Add(-time.Duration(rules.MaxRetention)).UnixMilli()
	// load
	if ev != nil {
		b, err := json.Marshal(ev)
		if err != nil {
			return naiveOutcome{}, err
		}
		if err := r.HSet(ctx, k.events, ev.Key, b).Err(); err != nil {
			return naiveOutcome{}, err
		}
		if err := r.ZAdd(ctx, k.idx, redis.Z{Score: float64(ev.At.UnixMilli()), Member: ev.Key}).Err(); err != nil {
			return naiveOutcome{}, err
		}
	}
	if ln.field != "" {
		if err := r.HSet(ctx, k.links, ln.field, ln.value).Err(); err != nil {
			return naiveOutcome{}, err
		}
	}
	old, err := r.ZRangeByScore(ctx, k.idx, &redis.ZRangeBy{Min: "-inf", Max: "(" + strconv.FormatInt(cutoff, 10)}).Result()
	if err != nil {
		return naiveOutcome{}, err
	}
	if len(old) > 0 {
		r.HDel(ctx, k.events, old...)
		r.ZRemRangeByScore(ctx, k.idx, "-inf", "("+strconv.FormatInt(cutoff, 10))
	}
	cnt, err := r.ZCard(ctx, k.idx).Result()
	if err != nil {
		return naiveOutcome{}, err
	}
	if cnt > maxEvents {
		over, _ := r.ZRange(ctx, k.idx, 0, cnt-maxEvents-1).Result()
		r.HDel(ctx, k.events, over...)
		r.ZRemRangeByRank(ctx, k.idx, 0, cnt-maxEvents-1)
	}
	var seq int64
	if ev != nil {
		seq, err = r.HIncrBy(ctx, k.state, "seq", 1).Result()
	} else {
		seq, err = r.HGet(ctx, k.state, "seq").Int64()
		if err == redis.Nil {
			err = nil
		}
	}
	if err != nil {
		return naiveOutcome{}, err
	}
	st, err := r.HMGet(ctx, k.state, "level", "raised_ms", "signed_off", "override", "unit").Result()
	if err != nil {
		return naiveOutcome{}, err
	}
	// HGETALL as the script sees it, in the hash's order (the order of a
	// person's disputes shows in its adjustments): RESP3 answers HGETALL with
	// a map, which loses it, so HSCAN, which gives a small hash whole.
	links, _, err := r.HScan(ctx, k.links, 0, "", 10_000).Result()
	if err != nil {
		return naiveOutcome{}, err
	}
	vals, err := r.HVals(ctx, k.events).Result()
	if err != nil {
		return naiveOutcome{}, err
	}
	str := func(i int) string { v, _ := st[i].(string); return v }
	s := engine.State{Subject: id, Unit: unit, Weak: weak, Trigger: ev}
	if home := str(4); home != "" {
		s.Unit = home
	}
	var prev *engine.Previous
	if l, err := risk.ParseLevel(str(0)); err == nil && str(0) != "" {
		ms, _ := strconv.ParseInt(str(1), 10, 64)
		prev = &engine.Previous{Level: l, RaisedAt: time.UnixMilli(ms), SignedOff: str(2) == "1"}
	}
	s.Previous = prev
	if o := str(3); o != "" {
		var ov scoring.Override
		if json.Unmarshal([]byte(o), &ov) == nil {
			eo := engine.Override(ov)
			s.Override = &eo
		}
	}
	if id.Kind == risk.Person {
		for i := 0; i+1 < len(links); i += 2 {
			if l, err := risk.ParseLevel(links[i+1]); err == nil {
				s.Links = append(s.Links, engine.Link{Subject: risk.SubjectID{Kind: risk.Dispute, Ref: links[i]}, Level: l})
			}
		}
	}
	for _, v := range vals {
		var e engine.Event
		if json.Unmarshal([]byte(v), &e) == nil {
			s.Events = append(s.Events, e)
		}
	}
	// evaluate, publish
	a := n.Engine.Evaluate(s, now)
	o := naiveOutcome{level: a.Level, known: prev != nil}
	if o.known {
		o.prev = prev.Level
	}
	rose := a.Level > o.prev
	if rose || (o.known && a.Level < o.prev) {
		cause := "rescore:" + strconv.FormatInt(now.UnixMilli(), 10)
		if ev != nil {
			cause = ev.Key
		}
		if err := n.Alerts.Publish(ctx, alerts.Event{ID: alerts.EventID(id, a.Level, cause), Subject: id, Unit: s.Unit,
			From: o.prev, To: a.Level, At: now, Signal: a.Signal, Explanation: a.Explain(), RulesetVersion: a.RulesetVersion}); err != nil {
			return o, err
		}
	}
	// commit: the assessment without not_fired, which is derived on reading
	stored := a
	stored.NotFired = nil
	b, err := json.Marshal(stored)
	if err != nil {
		return o, err
	}
	cur, err := r.HGet(ctx, k.state, "seq").Result()
	if err == redis.Nil {
		cur, err = "0", nil
	}
	if err != nil {
		return o, err
	}
	if cur != strconv.FormatInt(seq, 10) {
		return o, fmt.Errorf("%s changed while it was being scored", id)
	}
	prevLevel, err := r.HGet(ctx, k.state, "level").Result()
	if err != nil && err != redis.Nil {
		return o, err
	}
	at := strconv.FormatInt(a.At.UnixMilli(), 10)
	if err := r.HSet(ctx, k.state, "level", a.Level.String(), "assessment", b, "updated_ms", at, "unit", a.Unit, "weak", strconv.FormatBool(weak)).Err(); err != nil {
		return o, err
	}
	if name != "" {
		r.HSet(ctx, k.state, "name", name)
	}
	if sealed != "" {
		r.HSet(ctx, k.state, "sealed", sealed)
	}
	if rose {
		r.HSet(ctx, k.state, "raised_ms", at)
		r.HDel(ctx, k.state, "signed_off", "signoff")
	}
	if prevLevel != a.Level.String() {
		from := ""
		if prevLevel != "" {
			from = `"from":"` + prevLevel + `",`
		}
		r.RPush(ctx, k.history, `{"event":"level",`+from+historyTail(&a))
		r.LTrim(ctx, k.history, -historyLen, -1)
	}
	rev, err := r.HIncrBy(ctx, k.state, "rev", 1).Result()
	if err != nil {
		return o, err
	}
	// index
	raised := now
	if !rose && prev != nil {
		raised = prev.RaisedAt
	}
	member := id.String()
	field := string(id.Kind) + "/" + a.Level.String() + "/" + scoring.UnitAt(a.Unit, scoring.DefaultCountTier)
	was, err := r.HGet(ctx, countedKey, member).Result()
	if err != nil && err != redis.Nil {
		return o, err
	}
	oldField := ""
	if was != "" {
		revS, f, ok := strings.Cut(was, " ")
		if r0, _ := strconv.ParseInt(revS, 10, 64); r0 >= rev {
			return o, nil
		}
		if ok {
			oldField = f
		}
	}
	if oldField != field {
		if oldField != "" {
			r.HIncrBy(ctx, countsKey, oldField, -1)
		}
		r.HIncrBy(ctx, countsKey, field, 1)
	}
	r.HSet(ctx, countedKey, member, strconv.FormatInt(rev, 10)+" "+field)
	for _, l := range risk.Levels[1:] {
		if l != a.Level {
			r.ZRem(ctx, boardKey(id.Kind, l), id.Ref)
		}
	}
	if a.Level >= risk.Blue {
		r.ZAdd(ctx, boardKey(id.Kind, a.Level), redis.Z{Score: float64(raised.UnixMilli()), Member: id.Ref})
	}
	return o, nil
}

// historyTail is a level change's history entry as the scorer writes it
// (internal/scoring's historyEntry), less its opening and its "from".
func historyTail(a *risk.Assessment) string {
	b, _ := json.Marshal(struct {
		To          string `json:"to,omitempty"`
		At          int64  `json:"at"`
		Signal      string `json:"signal,omitempty"`
		Explanation string `json:"explanation,omitempty"`
	}{a.Level.String(), a.At.UnixMilli(), a.Signal, a.Explain()})
	return string(b[1:])
}
