package signals

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/risk"
)

// A subject's records go to one shard; a batch spread over shards is stored
// whole, each record once, and read back in order across the shards.
func TestShards(t *testing.T) {
	e := newStreamEnv(t)
	shards := ShardedStreams(4)
	if len(shards) != 4 || shards[2].Key != "fq:{signals:2}:stream" || shards[2].Owner != "fq:{signals:2}:owner" {
		t.Fatalf("shards %+v", shards)
	}
	if one := ShardedStreams(1); len(one) != 1 || one[0] != DefaultStream() {
		t.Errorf("one shard is not the default stream: %+v", one)
	}
	recs := testRecords(t, risk.GridReport, "S", 40)
	for i := range recs {
		recs[i].DisputeID = "TZ-" + string(rune('A'+i%8))
		recs[i].ReceivedAt = received.Add(time.Duration(i) * time.Second)
	}
	used := map[string]bool{}
	for i := range recs {
		st := shards.For(&recs[i])
		used[st.Key] = true
		for j := range recs {
			if recs[j].DisputeID == recs[i].DisputeID && shards.For(&recs[j]) != st {
				t.Fatalf("records of dispute %s in two shards", recs[i].DisputeID)
			}
		}
	}
	if len(used) < 2 {
		t.Errorf("8 disputes all went to one of 4 shards")
	}
	p := NewProducer(e.rdb, time.Hour, shards...)
	fresh, err := p.Append(e.ctx, recs)
	if err != nil || slices.Contains(fresh, false) {
		t.Fatalf("append: %v %v", fresh, err)
	}
	again, err := p.Append(e.ctx, recs[:5])
	if err != nil || slices.Contains(again, true) {
		t.Errorf("a re-sent batch was stored again: %v %v", again, err)
	}
	got, err := shards.Records(e.ctx, e.rdb)
	if err != nil || len(got) != 40 {
		t.Fatalf("read back %d records: %v", len(got), err)
	}
	for i := range got {
		if got[i].ID != recs[i].ID {
			t.Fatalf("record %d is %s, want %s", i, got[i].ID, recs[i].ID)
		}
	}
}

// With a lease, one consumer at a time reads the stream; when it stops,
// another takes over and first handles what it left pending.
func TestLeaseOneReaderAtATime(t *testing.T) {
	e := newStreamEnv(t)
	ha, hb := &recordingHandler{}, &recordingHandler{}
	a, b := e.consumer(t, "a", ha), e.consumer(t, "b", hb)
	for _, c := range []*Consumer{a, b} {
		c.Lease, c.Block = 2*time.Second, 50*time.Millisecond
	}
	e.append(t, testRecords(t, risk.Hotline, "L", 3)...)
	owns, fresh, err := a.own(e.ctx)
	if err != nil || !owns || !fresh {
		t.Fatalf("a takes the lease: %v %v %v", owns, fresh, err)
	}
	if owns, _, _ := b.own(e.ctx); owns {
		t.Fatal("b took a lease a holds")
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	waitUntil(t, func() bool { return len(ha.keys()) == 3 })
	cancel()
	<-done // a gives the lease up as it stops
	e.append(t, testRecords(t, risk.Hotline, "M", 2)...)
	ctx2, cancel2 := context.WithCancel(e.ctx)
	defer cancel2()
	go func() { _ = b.Run(ctx2) }()
	waitUntil(t, func() bool { return len(hb.keys()) == 2 })
	if len(ha.keys()) != 3 {
		t.Errorf("a handled %v after it stopped", ha.keys())
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("waited in vain")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An owner that dies without giving up its lease is taken over when the
// lease runs out, and what it left pending is handled by the new owner.
func TestLeaseTakeOverFromTheDead(t *testing.T) {
	e := newStreamEnv(t)
	h := &recordingHandler{}
	c := e.consumer(t, "alive", h) // creates the group
	c.Lease, c.Block = 2*time.Second, 50*time.Millisecond
	e.append(t, testRecords(t, risk.Hotline, "D", 3)...)
	// "dead" took the lease, read every entry and died.
	if err := e.rdb.Set(e.ctx, e.stream.Owner, "dead", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rdb.XReadGroup(e.ctx, &redis.XReadGroupArgs{Group: testGroup, Consumer: "dead",
		Streams: []string{e.stream.Key, ">"}, Count: 10}).Result(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	waitUntil(t, func() bool { return len(h.keys()) == 3 })
	if n := e.pending(t); n != 0 {
		t.Errorf("%d entries still pending", n)
	}
}
