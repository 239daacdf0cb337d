package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fengqiao/bench/loadgen"
	"fengqiao/signals"
)

// Driver sends signals to a daemon in batches, one POST per batch.
type Driver struct {
	Base     string
	Tracker  *Tracker
	Workload *loadgen.Workload
	Batch    int
	RedisPID int
	// Bases, if set, are several daemons' addresses, the POSTs spread over
	// them batch by batch (Base is then unused); RedisPIDs, if set, are the
	// redis-server processes whose CPU is counted (RedisPID is then unused).
	Bases     []string
	RedisPIDs []int
	client    *http.Client
	next      atomic.Int64 // the next signal's index
	failed    atomic.Int64 // POSTs not answered 202
	lastErr   atomic.Value
}

// NewDriver returns a driver for d.
func NewDriver(d *Daemon, w *loadgen.Workload, batch int) *Driver {
	return &Driver{Base: d.Base, Tracker: d.Tracker, Workload: w, Batch: batch, RedisPID: d.RedisPID, client: newClient()}
}

func newClient() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512}}
}

// post sends signals first … first+n-1 in one POST, noting sentNs as
// their sending time.
func (dr *Driver) post(ctx context.Context, first, n int, sentNs int64) {
	now := time.Now()
	sigs := make([]signals.Signal, n)
	for i := range sigs {
		sigs[i] = dr.Workload.Signal(first+i, now)
	}
	body, err := json.Marshal(sigs)
	if err != nil {
		dr.fail(err)
		return
	}
	for i := range n {
		dr.Tracker.sent[first+i].Store(sentNs)
	}
	base := dr.Base
	if len(dr.Bases) > 0 {
		base = dr.Bases[(first/max(n, 1))%len(dr.Bases)]
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/signals", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bootstrapToken)
	resp, err := dr.client.Do(req)
	if err != nil {
		dr.fail(err)
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		dr.fail(fmt.Errorf("POST signals: %d %.300s", resp.StatusCode, b))
	}
}

func (dr *Driver) fail(err error) {
	dr.failed.Add(1)
	dr.lastErr.Store(err.Error())
}

// Err is the last POST's failure, if any POST failed.
func (dr *Driver) Err() error {
	if dr.failed.Load() == 0 {
		return nil
	}
	return fmt.Errorf("%d POSTs failed; the last: %v", dr.failed.Load(), dr.lastErr.Load())
}

// take reserves the indices of the next batch; false when the tracker is full.
func (dr *Driver) take() (int, bool) {
	first := int(dr.next.Add(int64(dr.Batch))) - dr.Batch
	return first, first+dr.Batch <= len(dr.Tracker.sent)
}

// Drain waits until every signal sent has been handled, at most limit.
func (dr *Driver) Drain(limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if dr.Tracker.handled.Load() >= min(dr.next.Load(), int64(len(dr.Tracker.sent))) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// Usage is the CPU the daemon's process and redis-server used over a
// window, in cores, with the machine's load average at its end.
type Usage struct {
	Process, Redis, Load float64
}

type usageMark struct {
	at          time.Time
	self, redis float64
}

func (dr *Driver) mark() usageMark {
	redis := loadgen.CPUSeconds(dr.RedisPID)
	if len(dr.RedisPIDs) > 0 {
		redis = 0
		for _, pid := range dr.RedisPIDs {
			redis += loadgen.CPUSeconds(pid)
		}
	}
	return usageMark{time.Now(), loadgen.CPUSeconds(os.Getpid()), redis}
}

func (m usageMark) since(start usageMark) Usage {
	wall := m.at.Sub(start.at).Seconds()
	return Usage{Process: (m.self - start.self) / wall, Redis: (m.redis - start.redis) / wall, Load: loadAverage()}
}

func loadAverage() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}

// MaxResult is a saturation run: the rate the daemon sustained.
type MaxResult struct {
	Rate     float64 // signals handled per second over the measured window
	Accepted float64 // signals accepted per second over it
	Usage
}

// Max keeps up to window signals outstanding (sent, not yet handled) with
// senders concurrent POSTs, and measures the handling rate over dur after
// warm: the most the daemon sustains, ingest and scoring together. It then
// waits for the backlog to drain.
func (dr *Driver) Max(ctx context.Context, warm, dur time.Duration, senders, window int) (MaxResult, error) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				if dr.next.Load()-dr.Tracker.handled.Load() > int64(window) {
					time.Sleep(time.Millisecond)
					continue
				}
				first, ok := dr.take()
				if !ok {
					return
				}
				dr.post(ctx, first, dr.Batch, time.Now().UnixNano())
			}
		}()
	}
	time.Sleep(warm)
	h0, n0, u0 := dr.Tracker.handled.Load(), dr.next.Load(), dr.mark()
	time.Sleep(dur)
	h1, n1, u1 := dr.Tracker.handled.Load(), dr.next.Load(), dr.mark()
	stop.Store(true)
	wg.Wait()
	secs := u1.at.Sub(u0.at).Seconds()
	r := MaxResult{Rate: float64(h1-h0) / secs, Accepted: float64(n1-n0) / secs, Usage: u1.since(u0)}
	if int(n1)+dr.Batch > len(dr.Tracker.sent) {
		return r, fmt.Errorf("the tracker is too small for this rate: make it larger")
	}
	if !dr.Drain(2 * time.Minute) {
		return r, fmt.Errorf("the backlog did not drain")
	}
	return r, dr.Err()
}

// LatencyResult is a fixed-rate run.
type LatencyResult struct {
	Offered, Rate       float64 // signals per second sent, and handled while sending
	P50, P99, P999, Max float64 // milliseconds from POST to level stored
	Signals, Unfinished int
	DrainSeconds        float64 // after the last POST, until all was handled
	PostP50, PostP99    float64 // the POSTs' own latency, ms
	Usage
}

// Fixed sends rate signals per second for dur, a batch at a time on a fixed
// schedule that does not wait for answers (so that a slow daemon shows as
// latency, not as a lower rate), then waits for all to be handled. Each
// signal's latency runs from its batch's scheduled sending time to its
// level being stored.
func (dr *Driver) Fixed(ctx context.Context, rate float64, dur time.Duration) (LatencyResult, error) {
	interval := time.Duration(float64(dr.Batch) / rate * float64(time.Second))
	from := int(dr.next.Load())
	start := time.Now().Add(50 * time.Millisecond)
	var wg sync.WaitGroup
	var postMu sync.Mutex
	var posts []float64
	u0 := dr.mark()
	h0 := dr.Tracker.handled.Load()
	for k := 0; ; k++ {
		at := start.Add(time.Duration(k) * interval)
		if at.Sub(start) >= dur {
			break
		}
		time.Sleep(time.Until(at))
		first, ok := dr.take()
		if !ok {
			return LatencyResult{}, fmt.Errorf("the tracker is too small for this rate")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			dr.post(ctx, first, dr.Batch, at.UnixNano())
			d := float64(time.Since(at)) / 1e6
			postMu.Lock()
			posts = append(posts, d)
			postMu.Unlock()
		}()
	}
	sentEnd := time.Now()
	hEnd := dr.Tracker.handled.Load()
	u1 := dr.mark()
	wg.Wait()
	drained := dr.Drain(2 * time.Minute)
	to := int(dr.next.Load())
	r := LatencyResult{Offered: float64(to-from) / sentEnd.Sub(start).Seconds(),
		Rate:  float64(hEnd-h0) / sentEnd.Sub(start).Seconds(),
		Usage: u1.since(u0), DrainSeconds: time.Since(sentEnd).Seconds()}
	lat := make([]float64, 0, to-from)
	for i := from; i < to; i++ {
		s, d := dr.Tracker.sent[i].Load(), dr.Tracker.done[i].Load()
		if d == 0 || s == 0 {
			r.Unfinished++
			continue
		}
		lat = append(lat, float64(d-s)/1e6)
	}
	slices.Sort(lat)
	slices.Sort(posts)
	r.Signals = len(lat)
	r.P50, r.P99, r.P999 = loadgen.Percentile(lat, 50), loadgen.Percentile(lat, 99), loadgen.Percentile(lat, 99.9)
	if len(lat) > 0 {
		r.Max = lat[len(lat)-1]
	}
	r.PostP50, r.PostP99 = loadgen.Percentile(posts, 50), loadgen.Percentile(posts, 99)
	if !drained {
		return r, fmt.Errorf("the backlog did not drain: %d signals unfinished", r.Unfinished)
	}
	return r, dr.Err()
}

func (u Usage) String() string {
	return fmt.Sprintf("process_cores=%.2f redis_cores=%.2f loadavg=%.1f", u.Process, u.Redis, u.Load)
}

// fields formats key=value pairs.
func fields(kv ...any) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch v := kv[i+1].(type) {
		case float64:
			if v >= 100 {
				fmt.Fprintf(&b, "%s=%.0f", kv[i], v)
			} else {
				fmt.Fprintf(&b, "%s=%.2f", kv[i], v)
			}
		default:
			fmt.Fprintf(&b, "%s=%v", kv[i], v)
		}
	}
	return b.String()
}
