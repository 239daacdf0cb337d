// Package alerts turns level rises into alert events for the duty officers
// (值班人员) of the jurisdiction. This file holds the alert event and its
// durable stream; escalation policy, routing, channels and acknowledgement
// build on it.
package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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

// PublishAll appends events in order, in one round trip.
func (s *Stream) PublishAll(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for i := range events {
		b, err := json.Marshal(&events[i])
		if err != nil {
			return fmt.Errorf("encode alert event: %w", err)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.key, MaxLen: 1_000_000, Approx: true, Values: map[string]any{"e": b}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("publish alert events: %w", err)
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

// Consume reads the stream in a consumer group, so that several instances
// share the events and each is handled once, and hands each to handle. An
// event handle fails stays pending and is taken again after claimIdle, as
// is one a crashed instance held. An entry that cannot be decoded is
// logged and dropped. It returns when ctx ends.
func (s *Stream) Consume(ctx context.Context, group, name string, block, claimIdle time.Duration, log *slog.Logger, handle func(context.Context, Event) error) {
	for ctx.Err() == nil {
		err := s.rdb.XGroupCreateMkStream(ctx, s.key, group, "0").Err()
		if err == nil || strings.Contains(err.Error(), "BUSYGROUP") {
			break
		}
		log.Error("alert events unavailable; retrying", "err", err)
		pause(ctx, time.Second)
	}
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		var msgs []redis.XMessage
		if time.Since(lastClaim) > claimIdle/2 {
			lastClaim = time.Now()
			claimed, _, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: s.key, Group: group,
				Consumer: name, MinIdle: claimIdle, Start: "0-0", Count: 100}).Result()
			if err == nil {
				msgs = claimed
			}
		}
		res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: name,
			Streams: []string{s.key, ">"}, Count: 100, Block: block}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() == nil {
				log.Warn("read alert events", "err", err)
				pause(ctx, time.Second)
			}
			continue
		}
		for _, r := range res {
			msgs = append(msgs, r.Messages...)
		}
		for _, msg := range msgs {
			hctx := context.WithoutCancel(ctx)
			raw, _ := msg.Values["e"].(string)
			var e Event
			if err := json.Unmarshal([]byte(raw), &e); err != nil || e.ID == "" {
				log.Error("an alert event cannot be read; dropped", "entry", msg.ID)
				s.rdb.XAck(hctx, s.key, group, msg.ID)
				continue
			}
			if err := handle(hctx, e); err != nil {
				log.Error("handle alert event; it stays pending and is retried", "entry", msg.ID, "err", err)
				continue
			}
			s.rdb.XAck(hctx, s.key, group, msg.ID)
		}
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
