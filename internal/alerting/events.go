package alerting

import (
	"context"
	"time"

	"fengqiao/alerts"
)

// eventsGroup is alerting's consumer group on the level-change stream.
const eventsGroup = "alerting"

// Consume reads level changes from the events stream in alerting's
// consumer group, so that several instances share them and each is handled
// once, and hands each to Handle. It returns when ctx ends.
func (m *Manager) Consume(ctx context.Context, name string, block, claimIdle time.Duration) {
	alerts.NewStream(m.rdb).Consume(ctx, eventsGroup, name, block, claimIdle, m.log, m.Handle)
}
