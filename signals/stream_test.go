package signals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/internal/redistest"
	"fengqiao/risk"
)

const testGroup = "engine"

// streamEnv is one test's Redis server, client and stream.
type streamEnv struct {
	ctx    context.Context
	rdb    *redis.Client
	stream Stream
}

func newStreamEnv(t *testing.T) *streamEnv {
	t.Helper()
	srv := redistest.Start(t)
	return &streamEnv{ctx: t.Context(), rdb: srv.Client(t), stream: DefaultStream()}
}

// records returns n distinct records of the given source, ids "<prefix>-1" …
func testRecords(t *testing.T, src risk.Source, prefix string, n int) []Record {
	t.Helper()
	p := testPseudonymizer(t)
	out := make([]Record, n)
	for i := range out {
		s := validSignal(src)
		s.ID = fmt.Sprintf("%s-%d", prefix, i+1)
		out[i] = p.Record(&s, received)
	}
	return out
}

func (e *streamEnv) producer() *Producer {
	return NewProducer(e.rdb, time.Hour, e.stream)
}

func (e *streamEnv) append(t *testing.T, recs ...Record) []bool {
	t.Helper()
	fresh, err := e.producer().Append(e.ctx, recs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return fresh
}

func (e *streamEnv) streamLen(t *testing.T, key string) int64 {
	t.Helper()
	n, err := e.rdb.XLen(e.ctx, key).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("XLEN %s: %v", key, err)
	}
	return n
}

func (e *streamEnv) pending(t *testing.T) int64 {
	t.Helper()
	p, err := e.rdb.XPending(e.ctx, e.stream.Key, testGroup).Result()
	if err != nil {
		t.Fatalf("XPENDING: %v", err)
	}
	return p.Count
}

// consumer returns a consumer named name with h as its handler, its group
// created.
func (e *streamEnv) consumer(t *testing.T, name string, h Handler) *Consumer {
	t.Helper()
	c := &Consumer{
		RDB: e.rdb, Stream: e.stream, Group: testGroup, Name: name, Handler: h,
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:   &recordingMetrics{},
		ClaimIdle: time.Minute, Attempts: 3,
	}
	if err := c.EnsureGroup(e.ctx); err != nil {
		t.Fatalf("EnsureGroup: %v", err)
	}
	return c
}

// deadLetters returns the dead-letter stream's entries.
func (e *streamEnv) deadLetters(t *testing.T) []redis.XMessage {
	t.Helper()
	msgs, err := e.rdb.XRange(e.ctx, e.stream.DeadLetter, "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE dead letters: %v", err)
	}
	return msgs
}

// recordingHandler records what it is handed and fails the first failures
// calls (all of them if failures < 0).
type recordingHandler struct {
	mu       sync.Mutex
	got      []Record
	calls    int
	failures int
	notify   chan Record // if set, receives each handled record
}

func (h *recordingHandler) Handle(_ context.Context, r Record) error {
	h.mu.Lock()
	h.calls++
	fail := h.failures < 0 || h.calls <= h.failures
	if !fail {
		h.got = append(h.got, r)
	}
	h.mu.Unlock()
	if fail {
		return errors.New("engine unavailable")
	}
	if h.notify != nil {
		h.notify <- r
	}
	return nil
}

func (h *recordingHandler) keys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var keys []string
	for _, r := range h.got {
		keys = append(keys, r.Key())
	}
	return keys
}

type recordingMetrics struct {
	mu           sync.Mutex
	processed    []string
	deadLettered []string
}

func (m *recordingMetrics) Processed(source string, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.processed = append(m.processed, source)
}

func (m *recordingMetrics) DeadLettered(source, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deadLettered = append(m.deadLettered, source+"/"+reason)
}

func keysOf(recs []Record) []string {
	var keys []string
	for _, r := range recs {
		keys = append(keys, r.Key())
	}
	return keys
}

func TestProducerAppend(t *testing.T) {
	e := newStreamEnv(t)
	recs := testRecords(t, risk.GridReport, "WG", 4)

	t.Run("new records are stored", func(t *testing.T) {
		if got := e.append(t, recs[0], recs[1]); !slices.Equal(got, []bool{true, true}) {
			t.Errorf("Append = %v, want [true true]", got)
		}
		if n := e.streamLen(t, e.stream.Key); n != 2 {
			t.Errorf("stream length = %d, want 2", n)
		}
	})

	t.Run("re-sending a record is a no-op", func(t *testing.T) {
		if got := e.append(t, recs[0]); !slices.Equal(got, []bool{false}) {
			t.Errorf("Append(duplicate) = %v, want [false]", got)
		}
		if n := e.streamLen(t, e.stream.Key); n != 2 {
			t.Errorf("stream length = %d, want still 2", n)
		}
	})

	t.Run("a batch with a duplicate stores the rest", func(t *testing.T) {
		if got := e.append(t, recs[2], recs[1], recs[3]); !slices.Equal(got, []bool{true, false, true}) {
			t.Errorf("Append = %v, want [true false true]", got)
		}
		if n := e.streamLen(t, e.stream.Key); n != 4 {
			t.Errorf("stream length = %d, want 4", n)
		}
	})

	t.Run("the same key twice in one batch is stored once", func(t *testing.T) {
		r := testRecords(t, risk.Hotline, "H", 1)[0]
		again := r
		again.Summary = "re-sent with changes"
		if got := e.append(t, r, again); !slices.Equal(got, []bool{true, false}) {
			t.Errorf("Append = %v, want [true false]", got)
		}
	})

	t.Run("same id from another source is not a duplicate", func(t *testing.T) {
		r := testRecords(t, risk.Ledger, "WG", 1)[0] // ledger:WG-1 vs grid_report:WG-1
		if got := e.append(t, r); !slices.Equal(got, []bool{true}) {
			t.Errorf("Append = %v, want [true]", got)
		}
	})

	t.Run("an empty batch stores nothing", func(t *testing.T) {
		before := e.streamLen(t, e.stream.Key)
		fresh, err := e.producer().Append(e.ctx, nil)
		if err != nil || len(fresh) != 0 {
			t.Errorf("Append(nil) = %v, %v", fresh, err)
		}
		if n := e.streamLen(t, e.stream.Key); n != before {
			t.Errorf("stream length %d, want %d", n, before)
		}
	})

	t.Run("entries hold the records in order", func(t *testing.T) {
		msgs, err := e.rdb.XRange(e.ctx, e.stream.Key, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, m := range msgs {
			var r Record
			if err := json.Unmarshal([]byte(m.Values["r"].(string)), &r); err != nil {
				t.Fatalf("entry %s: %v", m.ID, err)
			}
			keys = append(keys, r.Key())
		}
		want := []string{"grid_report:WG-1", "grid_report:WG-2", "grid_report:WG-3", "grid_report:WG-4", "hotline:H-1", "ledger:WG-1"}
		if !slices.Equal(keys, want) {
			t.Errorf("stream holds %v, want %v", keys, want)
		}
	})

	t.Run("signal keys are remembered for keep, under hashed names", func(t *testing.T) {
		keys, err := e.rdb.Keys(e.ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, k := range keys {
			if !strings.HasPrefix(k, "fq:{signals}:") {
				t.Errorf("key %q is outside the stream's hash tag", k)
			}
			if strings.Contains(k, "WG-") || strings.Contains(k, "grid_report") {
				t.Errorf("key %q names the signal in clear", k)
			}
			if strings.HasPrefix(k, "fq:{signals}:seen:") {
				seen++
				ttl, err := e.rdb.TTL(e.ctx, k).Result()
				if err != nil || ttl <= 0 || ttl > time.Hour {
					t.Errorf("TTL of %s = %v, %v; want at most an hour", k, ttl, err)
				}
			}
		}
		if seen != 6 {
			t.Errorf("%d seen keys, want 6", seen)
		}
	})
}

func TestProducerStoresNoPersonalNumbers(t *testing.T) {
	e := newStreamEnv(t)
	e.append(t, testRecords(t, risk.GridReport, "WG", 1)[0], testRecords(t, risk.Hotline, "H", 1)[0])
	msgs, err := e.rdb.XRange(e.ctx, e.stream.Key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		raw := m.Values["r"].(string)
		for _, secret := range []string{idA, phoneA, "13800138000"} {
			if strings.Contains(raw, secret) {
				t.Errorf("entry %s holds %s: %s", m.ID, secret, raw)
			}
		}
	}
}

func TestConsumerHandlesAndAcknowledges(t *testing.T) {
	e := newStreamEnv(t)
	h := &recordingHandler{}
	c := e.consumer(t, "a", h)
	recs := append(testRecords(t, risk.GridReport, "WG", 2), testRecords(t, risk.Petition, "XF", 1)...)
	e.append(t, recs...)

	n, err := c.ReadOnce(e.ctx, 0)
	if err != nil || n != 3 {
		t.Fatalf("ReadOnce = %d, %v; want 3", n, err)
	}
	if got, want := h.keys(), keysOf(recs); !slices.Equal(got, want) {
		t.Errorf("handled %v, want %v", got, want)
	}
	if h.got[2].Petition == nil || h.got[2].Petition.Rank != 4 {
		t.Errorf("the petition record arrived as %+v", h.got[2].Petition)
	}
	if p := e.pending(t); p != 0 {
		t.Errorf("%d entries pending after handling, want 0", p)
	}
	if m := c.Metrics.(*recordingMetrics); !slices.Equal(m.processed, []string{"grid_report", "grid_report", "petition"}) {
		t.Errorf("metrics processed %v", m.processed)
	}

	t.Run("nothing new: ReadOnce returns at once with 0", func(t *testing.T) {
		if n, err := c.ReadOnce(e.ctx, 0); n != 0 || err != nil {
			t.Errorf("ReadOnce = %d, %v; want 0, nil", n, err)
		}
		if len(h.keys()) != 3 {
			t.Errorf("a record was handled twice: %v", h.keys())
		}
	})

	t.Run("a batch size smaller than the backlog", func(t *testing.T) {
		e.append(t, testRecords(t, risk.Hotline, "H", 3)...)
		c.Batch = 2
		if n, err := c.ReadOnce(e.ctx, 0); n != 2 || err != nil {
			t.Errorf("first ReadOnce = %d, %v; want 2", n, err)
		}
		if n, err := c.ReadOnce(e.ctx, 0); n != 1 || err != nil {
			t.Errorf("second ReadOnce = %d, %v; want 1", n, err)
		}
	})

	t.Run("EnsureGroup twice is fine", func(t *testing.T) {
		if err := c.EnsureGroup(e.ctx); err != nil {
			t.Errorf("EnsureGroup: %v", err)
		}
	})
}

func TestConsumerRetriesThenDeadLetters(t *testing.T) {
	t.Run("a handler that fails once is retried", func(t *testing.T) {
		e := newStreamEnv(t)
		h := &recordingHandler{failures: 1}
		c := e.consumer(t, "a", h)
		e.append(t, testRecords(t, risk.Hotline, "H", 1)...)
		if n, err := c.ReadOnce(e.ctx, 0); n != 1 || err != nil {
			t.Fatalf("ReadOnce = %d, %v", n, err)
		}
		if h.calls != 2 || len(h.got) != 1 {
			t.Errorf("calls = %d, handled %d; want 2 calls, 1 handled", h.calls, len(h.got))
		}
		if n := e.streamLen(t, e.stream.DeadLetter); n != 0 {
			t.Errorf("%d dead letters, want 0", n)
		}
		if p := e.pending(t); p != 0 {
			t.Errorf("%d pending, want 0", p)
		}
	})

	t.Run("a handler that always fails sends the entry to the dead-letter stream", func(t *testing.T) {
		e := newStreamEnv(t)
		h := &recordingHandler{failures: -1}
		c := e.consumer(t, "a", h)
		rec := testRecords(t, risk.Hotline, "H", 1)[0]
		e.append(t, rec)
		entries, _ := e.rdb.XRange(e.ctx, e.stream.Key, "-", "+").Result()

		if n, err := c.ReadOnce(e.ctx, 0); n != 1 || err != nil {
			t.Fatalf("ReadOnce = %d, %v", n, err)
		}
		if h.calls != c.Attempts {
			t.Errorf("handler called %d times, want Attempts = %d", h.calls, c.Attempts)
		}
		dead := e.deadLetters(t)
		if len(dead) != 1 {
			t.Fatalf("%d dead letters, want 1", len(dead))
		}
		d := dead[0].Values
		if d["reason"] != "handler_failed" || d["entry"] != entries[0].ID || d["detail"] != "engine unavailable" {
			t.Errorf("dead letter = %v", d)
		}
		var back Record
		if err := json.Unmarshal([]byte(d["r"].(string)), &back); err != nil || back.Key() != rec.Key() {
			t.Errorf("the dead letter does not carry the record: %v, %v", back.Key(), err)
		}
		if p := e.pending(t); p != 0 {
			t.Errorf("%d pending, want 0: a dead-lettered entry is acknowledged", p)
		}
		if m := c.Metrics.(*recordingMetrics); !slices.Equal(m.deadLettered, []string{"hotline/handler_failed"}) {
			t.Errorf("metrics dead-lettered %v", m.deadLettered)
		}
	})

	t.Run("Attempts 0 means one attempt", func(t *testing.T) {
		e := newStreamEnv(t)
		h := &recordingHandler{failures: -1}
		c := e.consumer(t, "a", h)
		c.Attempts = 0
		e.append(t, testRecords(t, risk.Hotline, "H", 1)...)
		if _, err := c.ReadOnce(e.ctx, 0); err != nil {
			t.Fatal(err)
		}
		if h.calls != 1 || e.streamLen(t, e.stream.DeadLetter) != 1 {
			t.Errorf("calls = %d, dead letters = %d; want 1, 1", h.calls, e.streamLen(t, e.stream.DeadLetter))
		}
	})
}

func TestConsumerDeadLettersUndecodableEntries(t *testing.T) {
	e := newStreamEnv(t)
	h := &recordingHandler{}
	c := e.consumer(t, "a", h)
	good := testRecords(t, risk.Ledger, "TZ", 1)[0]
	garbage := []map[string]any{
		{"r": "not json"},
		{"r": `{"id":"no-source"}`},
		{"payload": "no r field"},
	}
	for i, values := range garbage {
		if err := e.rdb.XAdd(e.ctx, &redis.XAddArgs{Stream: e.stream.Key, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			e.append(t, good)
		}
	}
	n, err := c.ReadOnce(e.ctx, 0)
	if err != nil || n != 4 {
		t.Fatalf("ReadOnce = %d, %v; want 4", n, err)
	}
	if got := h.keys(); !slices.Equal(got, []string{good.Key()}) {
		t.Errorf("handled %v, want only the good record", got)
	}
	dead := e.deadLetters(t)
	if len(dead) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dead))
	}
	for _, d := range dead {
		if d.Values["reason"] != "undecodable" {
			t.Errorf("dead letter %v, want reason undecodable", d.Values)
		}
	}
	if dead[0].Values["r"] != "not json" {
		t.Errorf("the dead letter does not keep the entry as it was: %v", dead[0].Values)
	}
	if p := e.pending(t); p != 0 {
		t.Errorf("%d pending, want 0", p)
	}
	if m := c.Metrics.(*recordingMetrics); len(m.deadLettered) != 3 || m.deadLettered[0] != "/undecodable" {
		t.Errorf("metrics dead-lettered %v", m.deadLettered)
	}
}

// readWithoutAck reads up to count new entries as consumer name, as a
// consumer that crashes before acknowledging them would.
func (e *streamEnv) readWithoutAck(t *testing.T, name string, count int64) []string {
	t.Helper()
	res, err := e.rdb.XReadGroup(e.ctx, &redis.XReadGroupArgs{
		Group: testGroup, Consumer: name, Streams: []string{e.stream.Key, ">"}, Count: count, Block: -1,
	}).Result()
	if err != nil {
		t.Fatalf("XREADGROUP as %s: %v", name, err)
	}
	var ids []string
	for _, m := range res[0].Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

// age makes a pending entry look idle for the given time, as if its consumer
// had crashed that long ago, without waiting.
func (e *streamEnv) age(t *testing.T, owner, id string, idle time.Duration) {
	t.Helper()
	if err := e.rdb.Do(e.ctx, "XCLAIM", e.stream.Key, testGroup, owner, 0, id, "IDLE", idle.Milliseconds()).Err(); err != nil {
		t.Fatalf("XCLAIM IDLE: %v", err)
	}
}

func TestConsumerClaimsACrashedConsumersEntries(t *testing.T) {
	t.Run("entries pending past ClaimIdle are processed exactly once", func(t *testing.T) {
		e := newStreamEnv(t)
		recs := testRecords(t, risk.GridReport, "WG", 3)
		b := e.consumer(t, "b", &recordingHandler{})
		e.append(t, recs...)
		if ids := e.readWithoutAck(t, "a", 10); len(ids) != 3 {
			t.Fatalf("consumer a read %d entries, want 3", len(ids))
		}
		if p := e.pending(t); p != 3 {
			t.Fatalf("%d pending, want 3", p)
		}

		b.ClaimIdle = 0 // every pending entry is idle enough
		if err := b.claim(e.ctx); err != nil {
			t.Fatalf("claim: %v", err)
		}
		h := b.Handler.(*recordingHandler)
		if got := h.keys(); !slices.Equal(got, keysOf(recs)) {
			t.Errorf("b handled %v, want %v", got, keysOf(recs))
		}
		if p := e.pending(t); p != 0 {
			t.Errorf("%d pending after the claim, want 0", p)
		}
		if err := b.claim(e.ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := b.ReadOnce(e.ctx, 0); n != 0 || err != nil {
			t.Errorf("ReadOnce = %d, %v; want 0", n, err)
		}
		if len(h.keys()) != 3 {
			t.Errorf("b handled %d records, want each of the 3 once", len(h.keys()))
		}
	})

	t.Run("entries another consumer is still working on are left alone", func(t *testing.T) {
		e := newStreamEnv(t)
		b := e.consumer(t, "b", &recordingHandler{})
		e.append(t, testRecords(t, risk.GridReport, "WG", 2)...)
		ids := e.readWithoutAck(t, "a", 10)
		e.age(t, "a", ids[0], 2*time.Minute) // a crashed on the first; the second is fresh

		if err := b.claim(e.ctx); err != nil { // ClaimIdle is a minute
			t.Fatal(err)
		}
		if got := b.Handler.(*recordingHandler).keys(); !slices.Equal(got, []string{"grid_report:WG-1"}) {
			t.Errorf("b handled %v, want only the stale entry", got)
		}
		p, err := e.rdb.XPendingExt(e.ctx, &redis.XPendingExtArgs{Stream: e.stream.Key, Group: testGroup, Start: "-", End: "+", Count: 10}).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 1 || p[0].ID != ids[1] || p[0].Consumer != "a" {
			t.Errorf("pending = %+v, want only %s, still a's", p, ids[1])
		}
	})

	t.Run("a stale entry behind many fresh ones is still claimed", func(t *testing.T) {
		// XAUTOCLAIM looks at no more than 10×COUNT entries a call, and may
		// return none with more still to scan.
		e := newStreamEnv(t)
		b := e.consumer(t, "b", &recordingHandler{})
		b.Batch = 1
		e.append(t, testRecords(t, risk.GridReport, "WG", 15)...)
		ids := e.readWithoutAck(t, "a", 100)
		e.age(t, "a", ids[14], 2*time.Minute)

		if err := b.claim(e.ctx); err != nil {
			t.Fatal(err)
		}
		if got := b.Handler.(*recordingHandler).keys(); !slices.Equal(got, []string{"grid_report:WG-15"}) {
			t.Errorf("b handled %v, want the stale WG-15", got)
		}
	})
}

func TestConsumerRun(t *testing.T) {
	t.Run("handles what arrives and stops promptly when cancelled", func(t *testing.T) {
		e := newStreamEnv(t)
		h := &recordingHandler{notify: make(chan Record, 10)}
		c := e.consumer(t, "a", h)
		c.Block = 50 * time.Millisecond

		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()

		rec := testRecords(t, risk.Hotline, "H", 1)[0]
		e.append(t, rec)
		select {
		case r := <-h.notify:
			if r.Key() != rec.Key() {
				t.Errorf("handled %s, want %s", r.Key(), rec.Key())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not hand over the record")
		}
		if !c.Running() {
			t.Error("Running() = false while Run is reading")
		}

		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context was cancelled")
		}
		if c.Running() {
			t.Error("Running() = true after Run returned")
		}
		if p := e.pending(t); p != 0 {
			t.Errorf("%d pending, want 0", p)
		}
	})

	t.Run("the record in hand is finished and acknowledged", func(t *testing.T) {
		e := newStreamEnv(t)
		started, release := make(chan struct{}), make(chan struct{})
		c := e.consumer(t, "a", HandlerFunc(func(ctx context.Context, r Record) error {
			close(started)
			<-release
			return ctx.Err() // the handler's context outlives Run's
		}))
		c.Block = 50 * time.Millisecond
		e.append(t, testRecords(t, risk.Hotline, "H", 1)...)

		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("the handler was not called")
		}
		cancel()
		close(release)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context was cancelled")
		}
		if p := e.pending(t); p != 0 {
			t.Errorf("%d pending, want 0: the record in hand was not acknowledged", p)
		}
		if n := e.streamLen(t, e.stream.DeadLetter); n != 0 {
			t.Errorf("%d dead letters, want 0", n)
		}
	})

	t.Run("a crashed consumer's entries are claimed by Run", func(t *testing.T) {
		e := newStreamEnv(t)
		h := &recordingHandler{notify: make(chan Record, 10)}
		c := e.consumer(t, "b", h)
		c.Block = 50 * time.Millisecond
		e.append(t, testRecords(t, risk.Ledger, "TZ", 1)...)
		ids := e.readWithoutAck(t, "a", 10)
		e.age(t, "a", ids[0], time.Hour)

		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		select {
		case r := <-h.notify:
			if r.Key() != "ledger:TZ-1" {
				t.Errorf("handled %s", r.Key())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not claim the stale entry")
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return")
		}
	})
}

// HandlerFunc adapts a function to Handler (test-only).
type HandlerFunc func(ctx context.Context, r Record) error

func (f HandlerFunc) Handle(ctx context.Context, r Record) error { return f(ctx, r) }

// The retention policy bounds the stream only behind the consumer group: an
// entry not yet delivered, or delivered but not acknowledged, is never trimmed.
func TestTrimNeverDropsUnhandledEntries(t *testing.T) {
	e := newStreamEnv(t)
	e.append(t, testRecords(t, risk.GridReport, "T", 6)...)
	c := e.consumer(t, "b", &recordingHandler{})
	c.Batch, c.Retention = 2, 24*time.Hour
	later := time.Now().Add(48 * time.Hour) // every entry is past retention
	c.Now = func() time.Time { return later }

	// A consumer that crashed holding the first two entries.
	if err := e.rdb.XReadGroup(e.ctx, &redis.XReadGroupArgs{Group: testGroup, Consumer: "a",
		Streams: []string{e.stream.Key, ">"}, Count: 2, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.ReadOnce(e.ctx, 0); err != nil || n != 2 { // entries 3 and 4
		t.Fatalf("ReadOnce = %d, %v", n, err)
	}
	trim := func(want int64) {
		t.Helper()
		n, err := c.Trim(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("trimmed %d entries, want %d", n, want)
		}
	}
	trim(0) // 1-2 are pending, 5-6 undelivered: nothing before entry 1 may go
	c.ClaimIdle = 0
	if err := c.claim(e.ctx); err != nil {
		t.Fatal(err)
	}
	trim(4) // 1-4 handled; 5-6 not yet delivered
	if got := e.streamLen(t, e.stream.Key); got != 2 {
		t.Errorf("stream length %d, want 2", got)
	}
	if n, err := c.ReadOnce(e.ctx, 0); err != nil || n != 2 {
		t.Fatalf("ReadOnce = %d, %v", n, err)
	}
	trim(2)

	// Within retention, handled entries are kept for replay.
	e.append(t, testRecords(t, risk.GridReport, "U", 3)...)
	if _, err := c.ReadOnce(e.ctx, 0); err != nil {
		t.Fatal(err)
	}
	c.Now = time.Now
	trim(0)
}

// batchHandler is a recordingHandler that also takes batches, and fails the
// first batchFailures of them.
type batchHandler struct {
	recordingHandler
	batches       [][]string
	batchFailures int
}

func (h *batchHandler) HandleBatch(ctx context.Context, recs []Record) error {
	h.mu.Lock()
	h.batches = append(h.batches, keysOf(recs))
	fail := len(h.batches) <= h.batchFailures
	h.mu.Unlock()
	if fail {
		return errors.New("store unavailable")
	}
	for _, r := range recs {
		if err := h.Handle(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func TestConsumerHandsBatchesToABatchHandler(t *testing.T) {
	t.Run("one call for the batch, undecodable entries dead-lettered, all acknowledged", func(t *testing.T) {
		e := newStreamEnv(t)
		h := &batchHandler{}
		c := e.consumer(t, "a", h)
		recs := testRecords(t, risk.GridReport, "WG", 3)
		e.append(t, recs[:2]...)
		if err := e.rdb.XAdd(e.ctx, &redis.XAddArgs{Stream: e.stream.Key, Values: map[string]any{"r": "not json"}}).Err(); err != nil {
			t.Fatal(err)
		}
		e.append(t, recs[2])
		if n, err := c.ReadOnce(e.ctx, 0); n != 4 || err != nil {
			t.Fatalf("ReadOnce = %d, %v; want 4", n, err)
		}
		if len(h.batches) != 1 || !slices.Equal(h.batches[0], keysOf(recs)) {
			t.Errorf("batches %v, want one of %v", h.batches, keysOf(recs))
		}
		if n := e.streamLen(t, e.stream.DeadLetter); n != 1 {
			t.Errorf("%d dead letters, want 1", n)
		}
		if p := e.pending(t); p != 0 {
			t.Errorf("%d pending, want 0", p)
		}
		if m := c.Metrics.(*recordingMetrics); len(m.processed) != 3 {
			t.Errorf("metrics processed %v, want 3", m.processed)
		}
	})

	t.Run("a failed batch is handled again one at a time", func(t *testing.T) {
		e := newStreamEnv(t)
		h := &batchHandler{batchFailures: 1}
		h.failures = 1 // and the first record's first attempt fails too: it is retried
		c := e.consumer(t, "a", h)
		recs := testRecords(t, risk.Hotline, "H", 3)
		e.append(t, recs...)
		if n, err := c.ReadOnce(e.ctx, 0); n != 3 || err != nil {
			t.Fatalf("ReadOnce = %d, %v; want 3", n, err)
		}
		if got := h.keys(); !slices.Equal(got, keysOf(recs)) {
			t.Errorf("handled %v, want %v", got, keysOf(recs))
		}
		if p, d := e.pending(t), e.streamLen(t, e.stream.DeadLetter); p != 0 || d != 0 {
			t.Errorf("%d pending, %d dead letters; want 0, 0", p, d)
		}
	})
}
