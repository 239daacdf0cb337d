package scoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/engine"
	"fengqiao/risk"
)

// A shadow ruleset's results are kept apart from the live ones, under the
// candidate's content hash, so a new candidate starts with fresh counts.
func shadowHitsKey(hash string) string     { return "fq:{shadow}:hits:" + hash }
func shadowDisagreeKey(hash string) string { return "fq:{shadow}:disagree:" + hash }

// ShadowAssessment is what the shadow ruleset made of a subject.
type ShadowAssessment struct {
	Level       risk.Level `json:"level"`
	Score       float64    `json:"score"`
	Fired       []string   `json:"fired"`
	Explanation string     `json:"explanation"`
	Version     string     `json:"ruleset_version"`
	Hash        string     `json:"ruleset_hash"`
}

// shadow scores st with the shadow ruleset and records where it disagrees
// with the live assessment a, and each ruleset's rule hits. It acts on
// nothing: no level, no alert.
func (s *Scorer) shadow(ctx context.Context, sh *engine.Engine, st engine.State, a risk.Assessment, now time.Time) error {
	b := sh.Evaluate(st, now)
	hash := sh.Ruleset().Hash
	view := ShadowAssessment{Level: b.Level, Score: b.Score, Explanation: b.Explain(), Version: b.RulesetVersion, Hash: hash}
	for _, f := range b.Fired {
		view.Fired = append(view.Fired, f.ID)
	}
	js, _ := json.Marshal(view)
	cmp := "same"
	switch {
	case b.Level > a.Level:
		cmp = "higher"
	case b.Level < a.Level:
		cmp = "lower"
	}
	s.shadowDiffs.WithLabelValues(string(st.Subject.Kind), cmp).Inc()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, keysOf(st.Subject).state, "shadow", js)
		hits := shadowHitsKey(hash)
		p.HIncrBy(ctx, hits, "evaluations", 1)
		for _, f := range a.Fired {
			p.HIncrBy(ctx, hits, "live/"+f.ID, 1)
		}
		for _, f := range b.Fired {
			p.HIncrBy(ctx, hits, "shadow/"+f.ID, 1)
		}
		if cmp == "same" {
			p.ZRem(ctx, shadowDisagreeKey(hash), st.Subject.String())
		} else {
			p.ZAdd(ctx, shadowDisagreeKey(hash), redis.Z{Score: float64(now.UnixMilli()), Member: st.Subject.String()})
		}
		return nil
	})
	return err
}

// ShadowReport is how the shadow ruleset compares with the live one so far.
type ShadowReport struct {
	Evaluations  int64             `json:"evaluations"`
	Hits         []RuleHits        `json:"rule_hits"`
	Disagreeing  int               `json:"disagreeing"` // subjects in scope whose levels differ now
	Disagreement []ShadowDisagreed `json:"disagreements"`
}

// RuleHits counts how often a rule fired under each ruleset.
type RuleHits struct {
	Rule   string `json:"rule"`
	Live   int64  `json:"live"`
	Shadow int64  `json:"shadow"`
}

// ShadowDisagreed is a subject the two rulesets see differently.
type ShadowDisagreed struct {
	Subject risk.SubjectID   `json:"subject"`
	Unit    string           `json:"unit"`
	Live    risk.Level       `json:"live_level"`
	Shadow  ShadowAssessment `json:"shadow"`
	LiveWhy string           `json:"live_explanation"`
}

// Shadow reports the shadow ruleset with the given hash against the live
// one: rule hits, and up to limit subjects in scope that disagree, newest first.
func (s *Scorer) Shadow(ctx context.Context, hash string, inScope func(unit string) bool, limit int) (ShadowReport, error) {
	var rep ShadowReport
	hits, err := s.rdb.HGetAll(ctx, shadowHitsKey(hash)).Result()
	if err != nil {
		return rep, fmt.Errorf("read shadow hits: %w", err)
	}
	byRule := map[string]*RuleHits{}
	for k, v := range hits {
		n, _ := strconv.ParseInt(v, 10, 64)
		if k == "evaluations" {
			rep.Evaluations = n
			continue
		}
		side, rule, _ := strings.Cut(k, "/")
		h := byRule[rule]
		if h == nil {
			h = &RuleHits{Rule: rule}
			byRule[rule] = h
		}
		if side == "live" {
			h.Live = n
		} else {
			h.Shadow = n
		}
	}
	for _, h := range byRule {
		rep.Hits = append(rep.Hits, *h)
	}
	sort.Slice(rep.Hits, func(i, j int) bool { return rep.Hits[i].Rule < rep.Hits[j].Rule })
	members, err := s.rdb.ZRevRange(ctx, shadowDisagreeKey(hash), 0, -1).Result()
	if err != nil {
		return rep, fmt.Errorf("read shadow disagreements: %w", err)
	}
	rep.Disagreement = []ShadowDisagreed{}
	for _, m := range members {
		kind, ref, _ := strings.Cut(m, "/")
		id := risk.SubjectID{Kind: risk.Kind(kind), Ref: ref}
		h, err := s.rdb.HMGet(ctx, keysOf(id).state, "unit", "assessment", "shadow").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return rep, err
		}
		unit, _ := h[0].(string)
		if inScope != nil && !inScope(unit) {
			continue
		}
		rep.Disagreeing++
		if len(rep.Disagreement) >= limit {
			continue
		}
		var a risk.Assessment
		var sh ShadowAssessment
		raw, _ := h[1].(string)
		_ = json.Unmarshal([]byte(raw), &a)
		raw, _ = h[2].(string)
		_ = json.Unmarshal([]byte(raw), &sh)
		rep.Disagreement = append(rep.Disagreement, ShadowDisagreed{Subject: id, Unit: unit, Live: a.Level, Shadow: sh, LiveWhy: a.Explain()})
	}
	return rep, nil
}
