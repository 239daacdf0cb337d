package app

import (
	"time"

	"fengqiao/signals"
)

// BenchOptions are knobs for the end-to-end benchmarks in bench/ (module
// fengqiao/bench). riskd never sets them; the zero value changes nothing.
type BenchOptions struct {
	// ConsumerBatch, when positive, is how many stream entries the signal
	// consumer reads at a time (riskd reads 64); 1 is the naive consumer
	// that takes one message at a time.
	ConsumerBatch int64
	// WrapHandler, when set, wraps the scorer as the consumer's handler, e.g.
	// to note when each signal's level has been stored.
	WrapHandler func(signals.Handler) signals.Handler
	// ConsumerBlock, when positive, is how long the consumer waits on an
	// empty stream (riskd waits a second), so that a benchmark's daemons
	// stop sooner.
	ConsumerBlock time.Duration
	// NoConsumerMetrics leaves out the consumer's per-signal metrics (the
	// processed counter and the ingest latency histogram).
	NoConsumerMetrics bool
}

// SetBenchOptions applies o to every signal consumer. Call it after New and
// before Run.
func (a *App) SetBenchOptions(o BenchOptions) {
	for _, c := range a.consumers {
		if o.ConsumerBatch > 0 {
			c.Batch = o.ConsumerBatch
		}
		if o.ConsumerBlock > 0 {
			c.Block = o.ConsumerBlock
		}
		if o.WrapHandler != nil {
			c.Handler = o.WrapHandler(c.Handler)
		}
		if o.NoConsumerMetrics {
			c.Metrics = nil
		}
	}
}
