package reporting

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fengqiao/schedule"
)

// Collector reports the zero reports of the latest checkpoint whose
// deadline has passed, read from Redis at each scrape, so that every
// instance reports the same and a restart loses nothing.
func (s *Service) Collector() prometheus.Collector { return zeroCollector{s} }

type zeroCollector struct{ s *Service }

var (
	zeroDesc = prometheus.NewDesc("fengqiao_zero_reports",
		"Units' zero reports (零报告) at the latest checkpoint past its deadline, by the units' tier and status (filed, filed_late, late, missing).",
		[]string{"tier", "status"}, nil)
	complianceDesc = prometheus.NewDesc("fengqiao_zero_report_compliance_ratio",
		"Share of the units of a tier that filed their zero report (on time or late) at the latest checkpoint past its deadline.",
		[]string{"tier"}, nil)
	checkpointDesc = prometheus.NewDesc("fengqiao_zero_report_checkpoint_deadline_timestamp_seconds",
		"The deadline of the checkpoint the zero-report gauges describe (Unix time).", nil, nil)
)

func (c zeroCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- zeroDesc
	ch <- complianceDesc
	ch <- checkpointDesc
}

func (c zeroCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := s.Now()
	var cp *schedule.Checkpoint
	for _, k := range s.Policy.Recent(now, 14, s.Calendar) {
		if !k.Deadline.After(now) {
			cp = &k
			break
		}
	}
	statuses := []schedule.Status{schedule.Filed, schedule.FiledLate, schedule.Late, schedule.Missing}
	counts := map[string]map[schedule.Status]int{}
	for _, t := range s.Policy.ZeroReport.Tiers {
		counts[t.String()] = map[schedule.Status]int{}
	}
	if cp != nil {
		filings, err := s.store.filings(ctx, cp.ID)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(zeroDesc, err)
			return
		}
		for _, u := range s.Units.Units() {
			if s.Policy.Reports(u) {
				counts[u.Tier.String()][schedule.StatusOf(*cp, filings[u.Code], now)]++
			}
		}
		ch <- prometheus.MustNewConstMetric(checkpointDesc, prometheus.GaugeValue, float64(cp.Deadline.Unix()))
	}
	for tier, byStatus := range counts {
		due := 0
		for _, st := range statuses {
			due += byStatus[st]
			ch <- prometheus.MustNewConstMetric(zeroDesc, prometheus.GaugeValue, float64(byStatus[st]), tier, string(st))
		}
		ratio := 1.0 // nothing due is full compliance
		if due > 0 {
			ratio = float64(byStatus[schedule.Filed]+byStatus[schedule.FiledLate]) / float64(due)
		}
		ch <- prometheus.MustNewConstMetric(complianceDesc, prometheus.GaugeValue, ratio, tier)
	}
}
