// Package alerts turns level rises into alert events for the duty officers
// (值班人员) of the jurisdiction. This file holds the alert event and its
// durable stream; escalation policy, routing, channels and acknowledgement
// build on it.
package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/risk"
)

// Event is a subject's level changing. A rise is what a duty officer must
// hear about; a fall is never paged, but resolves alerts above the new level.
type Event struct {
	// ID identifies the change: the same subject reaching the same level on the
	// same signal always has the same ID, so a redelivered signal can be
	// recognised and paged once.
	ID             string         `json:"id"`
	Subject        risk.SubjectID `json:"subject"`
	Unit           string         `json:"unit"`
	From           risk.Level     `json:"from"`
	To             risk.Level     `json:"to"`
	At             time.Time      `json:"at"`
	Signal         string         `json:"signal,omitempty"`
	Explanation    string         `json:"explanation"`
	RulesetVersion string         `json:"ruleset_version"`
}

// Rise reports whether the event is a rise (and so pages).
func (e Event) Rise() bool { return e.To > e.From }

// EventID returns the ID of a change of subject to level on signal.
func EventID(subject risk.SubjectID, to risk.Level, signal string) string {
	return subject.String() + "@" + to.String() + "/" + signal
}

// Title returns the event's one-line Chinese title, e.g.
// "风险升级: 人员 P1a2… 黄色→红色".
func (e Event) Title() string {
	kind := "人员"
	if e.Subject.Kind == risk.Dispute {
		kind = "纠纷"
	}
	return fmt.Sprintf("风险升级: %s %s %s→%s", kind, e.Subject.Ref, e.From.Chinese(), e.To.Chinese())
}

// Stream is the durable stream of alert events, read by the escalation side.
type Stream struct {
	rdb redis.UniversalClient
	key string
}

// NewStream returns the alert event stream.
func NewStream(rdb redis.UniversalClient) *Stream {
	return &Stream{rdb: rdb, key: "fq:{alerts}:events"} // alerting reads it as its EventsKey
}

// Publish appends an event.
func (s *Stream) Publish(ctx context.Context, e Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode alert event: %w", err)
	}
	err = s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.key, MaxLen: 1_000_000, Approx: true,
		Values: map[string]any{"e": b}}).Err()
	if err != nil {
		return fmt.Errorf("publish alert event: %w", err)
	}
	return nil
}

// Recent returns up to n of the latest events, newest first.
func (s *Stream) Recent(ctx context.Context, n int64) ([]Event, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, s.key, "+", "-", n).Result()
	if err != nil {
		return nil, fmt.Errorf("read alert events: %w", err)
	}
	out := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["e"].(string)
		var e Event
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}
