package e2e

import (
	"flag"
	"testing"
	"time"
)

var (
	clusterDur  = flag.Duration("cluster-duration", 25*time.Second, "TestClusterSummary: how long each cluster saturation run is measured")
	clusterWarm = flag.Duration("cluster-warm", 10*time.Second, "TestClusterSummary: warm-up before a cluster saturation run is measured")
)

// TestSmokeCluster runs the cluster measurement (1 and 2 instances on a
// 3-master Redis Cluster) for a moment, so that it cannot rot unnoticed. It
// takes a few seconds; its numbers mean nothing.
func TestSmokeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	RunCluster(t, ClusterPlan{Masters: 3, Shards: 4, Warm: 300 * time.Millisecond, Dur: 700 * time.Millisecond,
		Batch: 20, Senders: 4, Window: 200, Persons: 2000, Disputes: 1000}, "smoke: ")
}

// TestClusterSummary measures the most signals per second riskd sustains on a
// 3-master Redis Cluster with stream_shards: 4, with one instance and with
// two sharing the shards, and prints their ratio (about 75 s with the
// defaults).
//
//	go test -count=1 -timeout 30m -run TestClusterSummary -v ./e2e -summary [-cluster-duration 25s]
func TestClusterSummary(t *testing.T) {
	if !*summary {
		t.Skip("runs for over a minute; run with -summary")
	}
	RunCluster(t, ClusterPlan{Masters: 3, Shards: 4, Warm: *clusterWarm, Dur: *clusterDur,
		Batch: 20, Senders: 4, Window: 4000, Persons: 200_000, Disputes: 100_000}, "")
}
