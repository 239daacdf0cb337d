package casework

import (
	"context"

	"fengqiao/signals"
)

// Appender stores signal records in the signal stream.
type Appender interface {
	Append(ctx context.Context, recs []signals.Record) ([]bool, error)
}

// Forwarder moves case events from the case outbox to the signal stream,
// where the engine scores them. The append is idempotent per event, so an
// entry delivered twice is counted once.
type Forwarder struct{ Signals Appender }

// Handle forwards one case event.
func (f Forwarder) Handle(ctx context.Context, r signals.Record) error {
	_, err := f.Signals.Append(ctx, []signals.Record{r})
	return err
}
