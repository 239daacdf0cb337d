package e2e

import (
	"io"
	"net/http"
	"os"
	"time"

	"fengqiao/bench/loadgen"

	"github.com/prometheus/client_golang/prometheus"
)

// instrumentCost is what riskd's per-signal instrumentation costs, in ns per
// signal, measured on metrics shaped like riskd's: the API's accepted
// counter, the consumer's processed counter and latency histogram, and per
// subject (2.1 to a signal in the workload) the scorer's evaluation counter,
// its timing histogram and the two clock reads around the evaluation. The
// scorer's and the API's metrics cannot be turned off, so the end-to-end
// comparison leaves them on both sides; this is their cost.
func instrumentCost() float64 {
	accepted := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "a"}, []string{"source", "duplicate"})
	processed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "p"}, []string{"source"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "l", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}})
	evals := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "e"}, []string{"kind"})
	evalSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "s", Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10)})
	const n = 200_000
	start := time.Now()
	for range n {
		accepted.WithLabelValues("grid_report", "false").Inc()
		processed.WithLabelValues("grid_report").Inc()
		latency.Observe(0.003)
	}
	perSignal := float64(time.Since(start).Nanoseconds()) / n
	start = time.Now()
	for range n {
		t := time.Now()
		evalSeconds.Observe(time.Since(t).Seconds())
		evals.WithLabelValues("person").Inc()
	}
	perSubject := float64(time.Since(start).Nanoseconds()) / n
	return perSignal + 2.1*perSubject
}

// scrapeCost reads url n times in a row and returns the CPU seconds one
// scrape costs riskd's process and Redis together, and its wall time.
func scrapeCost(url string, redisPID, n int) (cpu, wall float64) {
	self0, r0, t0 := loadgen.CPUSeconds(os.Getpid()), loadgen.CPUSeconds(redisPID), time.Now()
	for range n {
		resp, err := http.Get(url)
		if err != nil {
			return 0, 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	self1, r1 := loadgen.CPUSeconds(os.Getpid()), loadgen.CPUSeconds(redisPID)
	return (self1 - self0 + r1 - r0) / float64(n), time.Since(t0).Seconds() / float64(n)
}
