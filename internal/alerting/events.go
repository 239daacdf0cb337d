package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
)

// EventsKey is the stream of level changes the scorer publishes.
const EventsKey = "fq:{alerts}:events"

const eventsGroup = "alerting"

// Consume reads level changes from the events stream in a consumer group,
// so that several instances share them and each is handled once, and
// hands each to Handle. An event a crashed instance held is taken over after
// claimIdle. It returns when ctx ends.
func (m *Manager) Consume(ctx context.Context, name string, block, claimIdle time.Duration) {
	for ctx.Err() == nil {
		err := m.rdb.XGroupCreateMkStream(ctx, EventsKey, eventsGroup, "0").Err()
		if err == nil || strings.Contains(err.Error(), "BUSYGROUP") {
			break
		}
		m.log.Error("alert events unavailable; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		var msgs []redis.XMessage
		if time.Since(lastClaim) > claimIdle/2 {
			lastClaim = time.Now()
			claimed, _, err := m.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: EventsKey, Group: eventsGroup,
				Consumer: name, MinIdle: claimIdle, Start: "0-0", Count: 100}).Result()
			if err == nil {
				msgs = claimed
			}
		}
		res, err := m.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: eventsGroup, Consumer: name,
			Streams: []string{EventsKey, ">"}, Count: 100, Block: block}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() == nil {
				m.log.Warn("read alert events", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		for _, s := range res {
			msgs = append(msgs, s.Messages...)
		}
		for _, msg := range msgs {
			m.handleMessage(context.WithoutCancel(ctx), msg)
		}
	}
}

func (m *Manager) handleMessage(ctx context.Context, msg redis.XMessage) {
	raw, _ := msg.Values["e"].(string)
	var e alerts.Event
	if err := json.Unmarshal([]byte(raw), &e); err != nil || e.ID == "" {
		m.log.Error("an alert event cannot be read; dropped", "entry", msg.ID)
		m.rdb.XAck(ctx, EventsKey, eventsGroup, msg.ID)
		return
	}
	if err := m.Handle(ctx, e); err != nil {
		m.log.Error("handle alert event; it stays pending and is retried", "entry", msg.ID, "err", err)
		return
	}
	m.rdb.XAck(ctx, EventsKey, eventsGroup, msg.ID)
}
