// Package redistest starts a real redis-server for tests that depend on Redis
// semantics (streams, consumer groups, scripts). Where redis-server is not on
// PATH the test is skipped with a hint, unless FENGQIAO_REQUIRE_REDIS=1, in
// which case it fails.
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process owned by one test.
type Server struct {
	Addr string
	URL  string
	stop func()
}

// Stop kills the server before the test ends, to see how its clients fare.
func (s *Server) Stop() { s.stop() }

// Start starts a redis-server on a free loopback port, with persistence off,
// and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("FENGQIAO_REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server is not on PATH and FENGQIAO_REQUIRE_REDIS=1: install it with apt-get install -y redis-server")
		}
		t.Skip("redis-server is not on PATH: install it (apt-get install -y redis-server) to run the tests that need real Redis")
	}
	var out bytes.Buffer
	for try := 0; try < 5; try++ {
		port := freePort(t)
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", t.TempDir())
		out.Reset()
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if waitReady(addr, 10*time.Second) {
			var once sync.Once
			stop := func() {
				once.Do(func() {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				})
			}
			t.Cleanup(stop)
			return &Server{Addr: addr, URL: "redis://" + addr + "/0", stop: stop}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait() // the port was taken between choosing and binding: try another
	}
	t.Fatalf("redis-server did not start:\n%s", out.String())
	return nil
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitReady polls until the server answers PING. Polling a starting process
// is the one wait a test cannot avoid; it ends as soon as the server is up.
func waitReady(addr string, limit time.Duration) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
