package e2e

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/bench/loadgen"
	"fengqiao/internal/redistest"
)

// ClusterPlan is a saturation run on a Redis Cluster.
type ClusterPlan struct {
	Masters, Shards   int // the cluster's masters; stream_shards
	Warm, Dur         time.Duration
	Batch             int // signals per POST
	Senders, Window   int // concurrent POSTs, signals outstanding
	Persons, Disputes int // the workload's pools
}

// MeasureCluster starts a fresh Redis Cluster of p.Masters masters, starts
// instances riskd daemons in-process on it with stream_shards p.Shards (the
// instances share the shards out between them), and measures the most
// signals per second they sustain together with the harness's saturation
// driver, the POSTs spread over the instances batch by batch. Every signal
// sent is checked to have been handled (by one instance or the other).
func MeasureCluster(t testing.TB, p ClusterPlan, instances int) (MaxResult, error) {
	t.Helper()
	c := redistest.StartCluster(t, p.Masters)
	tr := NewTracker("C", 4_000_000)
	var bases []string
	for i := range instances {
		d := startDaemonOn(t, Mode{Name: "cluster", Shards: p.Shards}, tr, c.URL, fmt.Sprintf("bench-%d", i))
		bases = append(bases, d.Base)
	}
	var pids []int
	for _, addr := range c.Addrs {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		pids = append(pids, redisPID(t, rdb))
		rdb.Close()
	}
	w, err := loadgen.New(Repo+"/fixtures/jurisdiction.yaml", "C", p.Persons, p.Disputes, 1)
	if err != nil {
		return MaxResult{}, err
	}
	dr := &Driver{Base: bases[0], Bases: bases, Tracker: tr, Workload: w, Batch: p.Batch, RedisPIDs: pids, client: newClient()}
	r, err := dr.Max(context.Background(), p.Warm, p.Dur, p.Senders, p.Window)
	if err != nil {
		return r, err
	}
	// Max drained the backlog: every signal sent was handled once.
	if sent, handled := dr.next.Load(), tr.handled.Load(); handled != sent {
		return r, fmt.Errorf("%d signals sent, %d handled", sent, handled)
	}
	return r, nil
}

// RunCluster measures 1 and then 2 instances on a cluster and prints a
// BENCH line for each and one for the ratio.
func RunCluster(t *testing.T, p ClusterPlan, label string) {
	var rates [2]float64
	for i, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("instances=%d", n), func(t *testing.T) {
			r, err := MeasureCluster(t, p, n)
			if err != nil {
				t.Errorf("instances=%d: %v", n, err)
			}
			rates[i] = r.Rate
			fmt.Printf(label+"BENCH e2e_cluster instances=%d %s\n", n, fields("masters", p.Masters, "shards", p.Shards,
				"signals_per_s", r.Rate, "accepted_per_s", r.Accepted, "process_cores", r.Process, "redis_cores", r.Redis, "loadavg", r.Load))
		})
	}
	ratio := 0.0
	if rates[0] > 0 {
		ratio = rates[1] / rates[0]
	}
	fmt.Printf(label+"BENCH e2e_cluster scaling=%.2f masters=%d shards=%d cores=%d\n", ratio, p.Masters, p.Shards, runtime.NumCPU())
}
