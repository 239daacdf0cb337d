package reporting

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fengqiao/jurisdiction"
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
		"Share of the units of a tier that filed their zero report (by the deadline or after it) at the latest checkpoint past its deadline; 1 when none is due.",
		[]string{"tier"}, nil)
	countyComplianceDesc = prometheus.NewDesc("fengqiao_zero_report_county_compliance_ratio",
		"Share of the reporting units within each county (those whose code begins with the county's six digits) that filed their zero report (by the deadline or after it) at the latest checkpoint past its deadline; 1 when none is due.",
		[]string{"county"}, nil)
	checkpointDesc = prometheus.NewDesc("fengqiao_zero_report_checkpoint_deadline_timestamp_seconds",
		"The deadline of the checkpoint the zero-report gauges describe (Unix time).", nil, nil)
)

func (c zeroCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- zeroDesc
	ch <- complianceDesc
	ch <- countyComplianceDesc
	ch <- checkpointDesc
}

// countyDigits are the leading digits of a unit code that name its county
// (two for the province, two for the city, two for the county).
const countyDigits = 6

// countyOf is the code of the county a unit lies in, read from its code:
// the county's six digits followed by zeros. For a unit above the county
// tier, or under a city without counties, that is the city's code, the
// lowest unit above the county tier it lies in.
func countyOf(code string) string {
	if len(code) < jurisdiction.County.CodeLen() {
		return code
	}
	return code[:countyDigits] + strings.Repeat("0", jurisdiction.County.CodeLen()-countyDigits)
}

// tally counts reporting units by status.
type tally map[schedule.Status]int

// ratio is the share of the units due that filed, on time or late; 1 when
// none is due.
func (t tally) ratio() float64 {
	due := t[schedule.Filed] + t[schedule.FiledLate] + t[schedule.Late] + t[schedule.Missing]
	if due == 0 {
		return 1
	}
	return float64(t[schedule.Filed]+t[schedule.FiledLate]) / float64(due)
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
	byTier := map[string]tally{}
	for _, t := range s.Policy.ZeroReport.Tiers {
		byTier[t.String()] = tally{}
	}
	// Every county has its series from the start, at 1 while nothing is due.
	units := s.Units.Units()
	byCounty := map[string]tally{}
	for _, u := range units {
		if u.Tier == jurisdiction.County {
			byCounty[u.Code] = tally{}
		}
	}
	if cp != nil {
		filings, err := s.store.filings(ctx, cp.ID)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(zeroDesc, err)
			return
		}
		for _, u := range units {
			if !s.Policy.Reports(u) {
				continue
			}
			st := schedule.StatusOf(*cp, filings[u.Code], now)
			byTier[u.Tier.String()][st]++
			county := countyOf(u.Code)
			if byCounty[county] == nil {
				byCounty[county] = tally{} // a unit under no county: the city's
			}
			byCounty[county][st]++
		}
		ch <- prometheus.MustNewConstMetric(checkpointDesc, prometheus.GaugeValue, float64(cp.Deadline.Unix()))
	}
	for tier, t := range byTier {
		for _, st := range statuses {
			ch <- prometheus.MustNewConstMetric(zeroDesc, prometheus.GaugeValue, float64(t[st]), tier, string(st))
		}
		ch <- prometheus.MustNewConstMetric(complianceDesc, prometheus.GaugeValue, t.ratio(), tier)
	}
	for county, t := range byCounty {
		ch <- prometheus.MustNewConstMetric(countyComplianceDesc, prometheus.GaugeValue, t.ratio(), county)
	}
}
