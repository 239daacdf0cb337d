package casework

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fengqiao/cases"
	"fengqiao/internal/casestore"
	"fengqiao/jurisdiction"
)

// Metrics counts the workflow's steps. No label carries a case number, a
// person or a unit: only actions, channels, outcomes, categories (a
// configured list) and clock names.
type Metrics struct {
	steps         *prometheus.CounterVec
	registrations *prometheus.CounterVec
	closed        *prometheus.CounterVec
	toClose       *prometheus.HistogramVec
	reopened      prometheus.Counter
	escalated     prometheus.Counter
	late          *prometheus.CounterVec
	supervisions  *prometheus.CounterVec
}

// NewMetrics registers the workflow's metrics, and a collector that reads
// the cases by state and the overdue clocks from the store at each scrape,
// so that they are right across restarts and instances.
func NewMetrics(reg prometheus.Registerer, store *casestore.Store, categories []string, now func() time.Time) *Metrics {
	m := &Metrics{
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_case_steps_total", Help: "Steps taken on mediation cases, by action (register, accept, assign, sign, session, agree, fail, close, follow_up, archive…).",
		}, []string{"action"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_cases_registered_total", Help: "Cases registered, by channel (walk_in, grid, hotline, petition, police, court, procuratorate, engine).",
		}, []string{"channel"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_cases_closed_total", Help: "Cases closed, by outcome (agreed, failed) and dispute category; agreed over all is the mediation success rate (调处成功率).",
		}, []string{"outcome", "category"}),
		toClose: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fengqiao_case_time_to_close_seconds", Help: "Time from a case's registration to its closing, by outcome.",
			Buckets: []float64{86400, 3 * 86400, 7 * 86400, 15 * 86400, 30 * 86400, 60 * 86400, 90 * 86400, 180 * 86400},
		}, []string{"outcome"}),
		reopened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fengqiao_cases_reopened_total", Help: "Cases reopened (重办) after an unsatisfied follow-up or an agreement not carried out.",
		}),
		escalated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fengqiao_case_escalations_total", Help: "Cases escalated (上交) to the next tier with a supervisor's approval; the policy wants few.",
		}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_case_clocks_overdue_total", Help: "Case clocks found past their deadline, by clock (accept, sign, handling, confirmation, performance, follow_up).",
		}, []string{"clock"}),
		supervisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fengqiao_case_supervisions_total", Help: "Overdue case clocks supervised, by kind: supervision (督办, to the handling unit) or listed_supervision (挂牌督办, by the tier above).",
		}, []string{"kind"}),
	}
	m.supervisions.WithLabelValues("supervision")
	m.supervisions.WithLabelValues("listed_supervision")
	for _, a := range append([]cases.Action{cases.Register, cases.MarkOverdue, cases.Supervise}, cases.Actions()...) {
		m.steps.WithLabelValues(string(a))
	}
	for ch := range cases.Channels {
		m.registrations.WithLabelValues(ch)
	}
	for _, o := range []cases.State{cases.Agreed, cases.Failed} {
		m.toClose.WithLabelValues(string(o))
		for _, c := range categories {
			m.closed.WithLabelValues(string(o), c)
		}
	}
	for _, k := range cases.ClockNames {
		m.late.WithLabelValues(string(k))
	}
	reg.MustRegister(m.steps, m.registrations, m.closed, m.toClose, m.reopened, m.escalated, m.late, m.supervisions,
		&collector{store: store, now: now})
	return m
}

func (m *Metrics) registered(c *cases.Case) {
	if m == nil {
		return
	}
	m.steps.WithLabelValues(string(cases.Register)).Inc()
	m.registrations.WithLabelValues(c.Channel).Inc()
}

func (m *Metrics) acted(before, c *cases.Case, ev cases.Event) {
	if m == nil {
		return
	}
	m.steps.WithLabelValues(string(ev.Action)).Inc()
	switch {
	case ev.Action == cases.Close:
		m.closed.WithLabelValues(string(c.Outcome), c.Category).Inc()
		m.toClose.WithLabelValues(string(c.Outcome)).Observe(c.ClosedAt.Sub(c.RegisteredAt).Seconds())
	case ev.Signal == "reopened":
		m.reopened.Inc()
	case ev.Signal == "escalated":
		m.escalated.Inc()
	}
}

func (m *Metrics) overdue(k cases.ClockName) {
	if m == nil {
		return
	}
	m.steps.WithLabelValues(string(cases.MarkOverdue)).Inc()
	m.late.WithLabelValues(string(k)).Inc()
}

// collector reads the business gauges from the store at each scrape.
type collector struct {
	store *casestore.Store
	now   func() time.Time
}

var (
	casesDesc = prometheus.NewDesc("fengqiao_cases", "Cases by state and the tier of their handling unit, from the store.",
		[]string{"state", "tier"}, nil)
	overdueDesc = prometheus.NewDesc("fengqiao_cases_overdue", "Case clocks now running past their deadline, by clock, from the store.",
		[]string{"clock"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- casesDesc
	ch <- overdueDesc
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.store.Counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(casesDesc, err)
		return
	}
	for _, s := range cases.States {
		for _, t := range []jurisdiction.Tier{jurisdiction.City, jurisdiction.County, jurisdiction.Township, jurisdiction.Village, jurisdiction.Grid} {
			ch <- prometheus.MustNewConstMetric(casesDesc, prometheus.GaugeValue, float64(counts[s][t.String()]), string(s), t.String())
		}
	}
	late, err := c.store.Overdue(ctx, c.now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(overdueDesc, err)
		return
	}
	n := map[cases.ClockName]int{}
	for _, l := range late {
		n[l.Clock]++
	}
	for _, k := range cases.ClockNames {
		ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(n[k]), string(k))
	}
}

func (m *Metrics) supervised(listed bool) {
	if m == nil {
		return
	}
	m.steps.WithLabelValues(string(cases.Supervise)).Inc()
	if listed {
		m.supervisions.WithLabelValues("listed_supervision").Inc()
	} else {
		m.supervisions.WithLabelValues("supervision").Inc()
	}
}
