package redistest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of real redis-server processes, owned by one test.
type Cluster struct {
	Addrs []string
	// URL names the cluster as riskd's configuration does:
	// redis-cluster://host:port,host:port,…
	URL string
}

// StartCluster starts masters redis-server processes in cluster mode on
// free loopback ports, joins them with redis-cli --cluster create (no
// replicas), waits until the cluster is up, and stops them when the test
// ends. It skips or fails like Start when redis-server is missing.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	cli, cliErr := exec.LookPath("redis-cli")
	if err != nil || cliErr != nil {
		if os.Getenv("FENGQIAO_REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server and redis-cli are not on PATH and FENGQIAO_REQUIRE_REDIS=1: install them with apt-get install -y redis-server")
		}
		t.Skip("redis-server and redis-cli are not on PATH: install them (apt-get install -y redis-server) to run the cluster tests")
	}
	c := &Cluster{}
	var procs []*exec.Cmd
	var once sync.Once
	stop := func() {
		once.Do(func() {
			for _, p := range procs {
				_ = p.Process.Kill()
				_ = p.Wait()
			}
		})
	}
	t.Cleanup(stop)
	for len(c.Addrs) < masters {
		port := freePort(t)
		dir := t.TempDir()
		var out bytes.Buffer
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if !waitReady(addr, 10*time.Second) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			continue // the port was taken: try another
		}
		procs = append(procs, cmd)
		c.Addrs = append(c.Addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	defer client.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := client.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			// Every node must agree the cluster is up, and writes to every
			// slot range must go through.
			err = client.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
				mi, err := m.ClusterInfo(ctx).Result()
				if err == nil && !strings.Contains(mi, "cluster_state:ok") {
					err = fmt.Errorf("node %s: cluster not ok yet", m.Options().Addr)
				}
				return err
			})
			for i := 0; err == nil && i < 16; i++ {
				err = client.Set(ctx, fmt.Sprintf("redistest:{%d}", i), "1", time.Minute).Err()
			}
		}
		cancel()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not come up: %v\n%s", err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.URL = "redis-cluster://" + strings.Join(c.Addrs, ",")
	return c
}
