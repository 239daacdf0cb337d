package alerting

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"fengqiao/risk"
)

// ChannelNamer is what the Router or the Sender may also be: it names the
// channels of the escalation policy in force. With it, each channel of the
// policy has its fengqiao_notifications_total series, at zero, for every
// result from the first scrape after the policy is loaded or reloaded,
// before anything is sent through it, so that rates over them are defined.
type ChannelNamer interface {
	ChannelNames() []string
}

// notifyResults are the results a notification attempt is counted under.
var notifyResults = []string{"sent", "retry", "failed"}

// notifications is the notification counter, which makes the series of the
// policy's channels before each collection. A channel dropped from the
// policy keeps its series: a counter that vanished would read as a reset.
type notifications struct {
	*prometheus.CounterVec
	channels func() []string // nil: only the channels used so far
}

func (n notifications) Collect(ch chan<- prometheus.Metric) {
	if n.channels != nil {
		for _, c := range n.channels() {
			for _, r := range notifyResults {
				n.WithLabelValues(c, r)
			}
		}
	}
	n.CounterVec.Collect(ch)
}

// collector reports the outbox and the open alerts, read from Redis at
// scrape time so the figures hold across restarts and instances.
func (m *Manager) collector() prometheus.Collector {
	return &gauges{m: m,
		depth: prometheus.NewDesc("fengqiao_outbox_depth",
			"Notifications waiting in the outbox, due or scheduled.", nil, nil),
		oldest: prometheus.NewDesc("fengqiao_outbox_oldest_age_seconds",
			"How long the notification due first has waited past its due time; 0 when none is due (notices held for quiet hours, retries backing off and refreshes are not due until their time).", nil, nil),
		open: prometheus.NewDesc("fengqiao_alerts_open",
			"Alerts not yet resolved (acknowledged or not), by colour, from the store.", []string{"level"}, nil),
		overdue: prometheus.NewDesc("fengqiao_alerts_unacknowledged_overdue",
			"Open alerts not acknowledged by their first acknowledgement deadline, escalated or not, by colour, from the store.", []string{"level"}, nil),
		due: prometheus.NewDesc("fengqiao_alert_escalations_due",
			"Unacknowledged alerts whose escalation is due but not yet made; riskd makes it within a second, so more than a moment means no instance runs the alert loop.", nil, nil),
	}
}

type gauges struct {
	m                                 *Manager
	depth, oldest, open, overdue, due *prometheus.Desc
}

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.depth
	ch <- g.oldest
	ch <- g.open
	ch <- g.overdue
	ch <- g.due
}

// Collect reads every figure in one round trip. When Redis does not answer
// it sends nothing: fengqiao_redis_up says why, and no series is better than
// a failed scrape or a false zero.
func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := strconv.FormatInt(g.m.now().UnixMilli(), 10)
	p := g.m.rdb.Pipeline()
	depth := p.ZCard(ctx, keyOutbox)
	first := p.ZRangeByScoreWithScores(ctx, keyOutbox, &redis.ZRangeBy{Min: "-inf", Max: now, Count: 1})
	due := p.ZCount(ctx, keyDeadlines, "-inf", now)
	levels := risk.Levels[1:]
	open := make([]*redis.IntCmd, len(levels))
	overdue := make([]*redis.IntCmd, len(levels))
	for i, l := range levels {
		open[i] = p.ZCard(ctx, keyOpenAt+l.String())
		overdue[i] = p.ZCount(ctx, keyUnacked+l.String(), "-inf", now)
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return
	}
	ch <- prometheus.MustNewConstMetric(g.depth, prometheus.GaugeValue, float64(depth.Val()))
	age := 0.0
	if f := first.Val(); len(f) == 1 {
		age = max(0, float64(g.m.now().UnixMilli())-f[0].Score) / 1000
	}
	ch <- prometheus.MustNewConstMetric(g.oldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(g.due, prometheus.GaugeValue, float64(due.Val()))
	for i, l := range levels {
		ch <- prometheus.MustNewConstMetric(g.open, prometheus.GaugeValue, float64(open[i].Val()), l.String())
		ch <- prometheus.MustNewConstMetric(g.overdue, prometheus.GaugeValue, float64(overdue[i].Val()), l.String())
	}
}

// upgrade files the alerts opened before the indexes by colour existed in
// them, once per store: each index step is idempotent and checked against
// its alert, so instances doing it at once, or alerts changing meanwhile,
// do no harm.
func (m *Manager) upgrade(ctx context.Context) error {
	if m.indexed.Load() {
		return nil
	}
	done, err := m.rdb.Exists(ctx, keyIndexed).Result()
	if err != nil {
		return err
	}
	if done == 0 {
		ids, err := m.rdb.ZRange(ctx, keyOpen, 0, -1).Result()
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := m.index(ctx, id); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
		}
		if err := m.rdb.Set(ctx, keyIndexed, "1", 0).Err(); err != nil {
			return err
		}
		if len(ids) > 0 {
			m.log.Info("open alerts indexed by colour", "alerts", len(ids))
		}
	}
	m.indexed.Store(true)
	return nil
}
