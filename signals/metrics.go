package signals

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"fengqiao/risk"
)

// Metrics counts what a Consumer does. It implements ConsumerMetrics.
type Metrics struct {
	processed    *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	latency      prometheus.Histogram
}

// NewMetrics registers the consumer's counters, pre-initialised for every source.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_signals_processed_total",
			Help: "Signals taken from the stream and scored, by source.",
		}, []string{"source"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_signals_dead_lettered_total",
			Help: "Signals moved to the dead-letter stream, by source and reason (undecodable, handler_failed).",
		}, []string{"source", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fengqiao_signal_ingest_latency_seconds",
			Help:    "Time from a signal's receipt by the API to its assessment by the engine.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
	}
	for _, s := range risk.Sources {
		m.processed.WithLabelValues(string(s))
		m.deadLettered.WithLabelValues(string(s), "handler_failed")
	}
	m.deadLettered.WithLabelValues("", "undecodable")
	reg.MustRegister(m.processed, m.deadLettered, m.latency)
	return m
}

// Processed counts a handled signal and observes its latency.
func (m *Metrics) Processed(source string, latency time.Duration) {
	m.processed.WithLabelValues(source).Inc()
	m.latency.Observe(latency.Seconds())
}

// DeadLettered counts a dead-lettered signal.
func (m *Metrics) DeadLettered(source, reason string) {
	m.deadLettered.WithLabelValues(source, reason).Inc()
}

// StreamCollector reports the stream's lag, pending entries and dead letters
// read from Redis at scrape time, so the figures are right across restarts and
// instances.
type StreamCollector struct {
	rdb     redis.UniversalClient
	shards  []Stream
	group   string
	lag     *prometheus.Desc
	pending *prometheus.Desc
	length  *prometheus.Desc
	dead    *prometheus.Desc
	up      *prometheus.Desc
}

// NewStreamCollector returns a collector for the stream read by group.
func NewStreamCollector(rdb redis.UniversalClient, group string, shards ...Stream) *StreamCollector {
	return &StreamCollector{
		rdb: rdb, shards: shards, group: group,
		lag:     prometheus.NewDesc("fengqiao_stream_lag_entries", "Signal stream entries not yet delivered to the consumer group.", nil, nil),
		pending: prometheus.NewDesc("fengqiao_stream_pending_entries", "Signal stream entries delivered but not yet acknowledged.", nil, nil),
		length:  prometheus.NewDesc("fengqiao_stream_length_entries", "Entries kept in the signal stream.", nil, nil),
		dead:    prometheus.NewDesc("fengqiao_dead_letter_entries", "Entries in the signal dead-letter stream.", nil, nil),
		up:      prometheus.NewDesc("fengqiao_redis_up", "Whether Redis answered the last scrape's stream queries (1) or not (0).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *StreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.pending
	ch <- c.length
	ch <- c.dead
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *StreamCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Summed over the shards: each shard is in a slot of its own, so each
	// is its own pipeline on a cluster.
	var lag, pending, length, dead int64
	seen := false
	for _, st := range c.shards {
		pipe := c.rdb.Pipeline()
		groups := pipe.XInfoGroups(ctx, st.Key)
		n := pipe.XLen(ctx, st.Key)
		d := pipe.XLen(ctx, st.DeadLetter)
		_, err := pipe.Exec(ctx)
		if err != nil && (groups.Err() != nil || n.Err() != nil || d.Err() != nil) {
			ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
			return
		}
		for _, g := range groups.Val() {
			if g.Name == c.group {
				lag, pending, seen = lag+g.Lag, pending+g.Pending, true
			}
		}
		length, dead = length+n.Val(), dead+d.Val()
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	if seen {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(lag))
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending))
	}
	ch <- prometheus.MustNewConstMetric(c.length, prometheus.GaugeValue, float64(length))
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(dead))
}
