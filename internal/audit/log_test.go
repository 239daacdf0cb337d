package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"fengqiao/internal/redistest"
)

// clock is a clock the test sets.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLog(t *testing.T) (*Log, *redis.Client, *clock) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	c := &clock{t: t0}
	return New(rdb, c.Now), rdb, c
}

func ack(detail string) Entry {
	return Entry{Actor: "tok-1", Role: "officer", Unit: "990101100000", Action: ActionAlertAck, Subject: "person/P1", Detail: detail}
}

func mustAppend(t *testing.T, l *Log, e Entry) Entry {
	t.Helper()
	got, err := l.Append(context.Background(), e)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return got
}

func mustVerify(t *testing.T, l *Log) Report {
	t.Helper()
	r, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r
}

func TestAppendAndVerify(t *testing.T) {
	l, _, clk := newLog(t)
	if r := mustVerify(t, l); !r.OK || r.Entries != 0 {
		t.Fatalf("an empty log: %s", r)
	}
	var got []Entry
	for i := range 3 {
		e := ack(fmt.Sprintf("签收第 %d 条预警", i+1))
		e.Seq, e.Prev, e.Hash, e.At = 99, "forged", "forged", t0.Add(-time.Hour) // set by the log, not the caller
		got = append(got, mustAppend(t, l, e))
		clk.Add(1500 * time.Microsecond)
	}
	for i, e := range got {
		if e.Seq != int64(i+1) {
			t.Errorf("entry %d: seq %d", i, e.Seq)
		}
		if want := t0.Add(time.Duration(i) * 1500 * time.Microsecond).UTC(); !e.At.Equal(want) || e.At.Location() != time.UTC {
			t.Errorf("entry %d: at %v, want %v in UTC", i, e.At, want)
		}
		if e.Hash != e.ComputeHash() {
			t.Errorf("entry %d: the hash returned is not the entry's", i)
		}
		if want := strconv.FormatInt(e.At.UnixMilli(), 10) + "-"; !strings.HasPrefix(e.ID, want) {
			t.Errorf("entry %d: stream id %s, want the entry's millisecond %s…", i, e.ID, want)
		}
	}
	if got[0].Prev != "" || got[1].Prev != got[0].Hash || got[2].Prev != got[1].Hash {
		t.Error("the entries are not linked")
	}
	if got[0].ID != strconv.FormatInt(t0.UnixMilli(), 10)+"-0" || got[1].ID != strconv.FormatInt(t0.UnixMilli()+1, 10)+"-0" {
		t.Errorf("stream ids %s, %s", got[0].ID, got[1].ID)
	}
	if r := mustVerify(t, l); !r.OK || r.Entries != 3 || r.FirstBroken != nil {
		t.Errorf("Verify: %s", r)
	}
	var walked []Entry
	if err := l.Walk(context.Background(), func(e Entry) error { walked = append(walked, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(walked, got) {
		t.Errorf("Walk gave\n%+v\nwant\n%+v", walked, got)
	}
}

func TestAppendRefusesAnInvalidEntry(t *testing.T) {
	l, rdb, _ := newLog(t)
	_, err := l.Append(context.Background(), ack("回访电话 13900011037"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Append = %v, want ErrInvalid", err)
	}
	if n := rdb.XLen(context.Background(), streamKey).Val(); n != 0 {
		t.Errorf("%d entries written", n)
	}
}

func TestAClockBehindIsRecordedAsItIs(t *testing.T) {
	l, _, clk := newLog(t)
	a := mustAppend(t, l, ack("a"))
	clk.Add(-time.Minute) // this instance's clock is behind the last one's
	b := mustAppend(t, l, ack("b"))
	if want := a.At.Add(-time.Minute); !b.At.Equal(want) {
		t.Errorf("the second entry is at %v, want its clock's %v", b.At, want)
	}
	// Stream ids cannot go back: b's is one past a's.
	ms, seq, _ := splitID(b.ID)
	if wantMS, _, _ := splitID(a.ID); ms != wantMS || seq != 1 {
		t.Errorf("the second entry's id is %s after %s", b.ID, a.ID)
	}
	if r := mustVerify(t, l); !r.OK {
		t.Error(r)
	}
	for _, tc := range []struct {
		f    Filter
		want string
	}{
		{Filter{To: b.At}, "b"},
		{Filter{From: b.At}, "b a"},
		{Filter{From: b.At.Add(time.Nanosecond)}, "a"},
		{Filter{From: b.At, To: a.At.Add(-time.Nanosecond)}, "b"},
	} {
		got, err := l.List(context.Background(), tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if details(got) != tc.want {
			t.Errorf("List(from %v, to %v) = %q, want %q", tc.f.From, tc.f.To, details(got), tc.want)
		}
	}
}

func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	// Several riskd instances (one Log each) with several goroutines each:
	// instances contend through the compare-and-set, goroutines of one
	// instance take turns.
	srv := redistest.Start(t)
	const instances, workers, each = 4, 3, 20
	clk := &clock{t: t0}
	var wg sync.WaitGroup
	errs := make(chan error, instances*workers*each)
	for i := range instances {
		l := New(srv.Client(t), clk.Now)
		for w := range workers {
			wg.Go(func() {
				for n := range each {
					clk.Add(time.Millisecond / 3)
					e := ack(fmt.Sprintf("instance %d worker %d act %d", i, w, n))
					if _, err := l.Append(context.Background(), e); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	l := New(srv.Client(t), clk.Now)
	const total = instances * workers * each
	if r := mustVerify(t, l); !r.OK || r.Entries != total {
		t.Errorf("Verify: %s, want %d entries intact", r, total)
	}
	var seqs []int64
	seen := map[string]bool{}
	_ = l.Walk(context.Background(), func(e Entry) error {
		seqs = append(seqs, e.Seq)
		seen[e.Detail] = true
		return nil
	})
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("seq %d at position %d", s, i+1)
		}
	}
	if len(seqs) != total || len(seen) != total {
		t.Errorf("%d entries, %d distinct, want %d", len(seqs), len(seen), total)
	}
}

// rewrite rebuilds the stream as an intruder with access to Redis would:
// edit gets each entry's fields in order and returns the entries to write
// in its place (none to drop it). Ids are kept.
func rewrite(t *testing.T, rdb *redis.Client, edit func(seq int64, m redis.XMessage) []redis.XMessage) {
	t.Helper()
	ctx := context.Background()
	all, err := rdb.XRange(ctx, streamKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	rdb.Del(ctx, streamKey)
	for _, m := range all {
		seq, _ := strconv.ParseInt(m.Values["seq"].(string), 10, 64)
		for _, out := range edit(seq, m) {
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: streamKey, ID: out.ID, Values: out.Values}).Err(); err != nil {
				t.Fatalf("rewrite seq %d: %v", seq, err)
			}
		}
	}
}

// rehash recomputes the hash of the message's fields, as a careful intruder
// would.
func rehash(m redis.XMessage) {
	e, _ := entryOf(m)
	m.Values["hash"] = e.ComputeHash()
}

func TestVerifyFindsTampering(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, rdb *redis.Client, es []Entry)
		seq    int64
		id     func(es []Entry) string // the stream id the break names
		reason string
	}{
		{"a detail edited", func(t *testing.T, rdb *redis.Client, _ []Entry) {
			rewrite(t, rdb, func(seq int64, m redis.XMessage) []redis.XMessage {
				if seq == 3 {
					m.Values["detail"] = "未签收"
				}
				return []redis.XMessage{m}
			})
		}, 3, func(es []Entry) string { return es[2].ID }, "the entry was altered"},
		{"an actor edited and the hash recomputed", func(t *testing.T, rdb *redis.Client, _ []Entry) {
			rewrite(t, rdb, func(seq int64, m redis.XMessage) []redis.XMessage {
				if seq == 3 {
					m.Values["actor"] = "tok-2"
					rehash(m)
				}
				return []redis.XMessage{m}
			})
		}, 4, func(es []Entry) string { return es[3].ID }, "prev does not match the hash of seq 3"},
		{"an entry deleted", func(t *testing.T, rdb *redis.Client, es []Entry) {
			rdb.XDel(ctx, streamKey, es[2].ID)
		}, 4, func(es []Entry) string { return es[3].ID }, "seq 4 follows seq 2"},
		{"the first entry deleted", func(t *testing.T, rdb *redis.Client, es []Entry) {
			rdb.XDel(ctx, streamKey, es[0].ID)
		}, 2, func(es []Entry) string { return es[1].ID }, "the log begins at seq 2"},
		{"an entry inserted", func(t *testing.T, rdb *redis.Client, _ []Entry) {
			rewrite(t, rdb, func(seq int64, m redis.XMessage) []redis.XMessage {
				if seq == 2 {
					ms, n, _ := splitID(m.ID)
					return []redis.XMessage{m, {ID: fmt.Sprintf("%d-%d", ms, n+1), Values: m.Values}}
				}
				return []redis.XMessage{m}
			})
		}, 2, func(es []Entry) string { ms, n, _ := splitID(es[1].ID); return fmt.Sprintf("%d-%d", ms, n+1) }, "seq 2 follows seq 2: an entry was repeated or inserted"},
		{"the last entry deleted", func(t *testing.T, rdb *redis.Client, es []Entry) {
			rdb.XDel(ctx, streamKey, es[4].ID)
		}, 5, nil, "the log ends at seq 4 but its head records seq 5"},
		{"every entry deleted", func(t *testing.T, rdb *redis.Client, _ []Entry) {
			rdb.Del(ctx, streamKey)
		}, 1, nil, "the log is empty but its head records seq 5"},
		{"the last entry replaced, its hash recomputed", func(t *testing.T, rdb *redis.Client, _ []Entry) {
			rewrite(t, rdb, func(seq int64, m redis.XMessage) []redis.XMessage {
				if seq == 5 {
					m.Values["detail"] = "改写"
					rehash(m)
				}
				return []redis.XMessage{m}
			})
		}, 5, func(es []Entry) string { return es[4].ID }, "the last entry's hash is not the one its head records"},
		{"an entry appended behind the log's back", func(t *testing.T, rdb *redis.Client, es []Entry) {
			forged := Entry{Seq: 6, At: es[4].At, Actor: "tok-9", Action: ActionTokenCreate, Detail: "x", Prev: es[4].Hash}
			rdb.XAdd(ctx, &redis.XAddArgs{Stream: streamKey, Values: []any{"seq", "6", "at", formatAt(forged.At),
				"actor", forged.Actor, "role", "", "unit", "", "action", forged.Action, "subject", "", "detail", "x",
				"prev", forged.Prev, "hash", forged.ComputeHash()}})
		}, 6, func([]Entry) string { return "*" }, "entries after seq 5 were added behind the log's back"},
		{"the head deleted", func(t *testing.T, rdb *redis.Client, _ []Entry) {
			rdb.Del(ctx, headKey)
		}, 5, func(es []Entry) string { return es[4].ID }, "head (fq:{audit}:head) is missing"},
		{"an entry written by hand", func(t *testing.T, rdb *redis.Client, _ []Entry) {
			rewrite(t, rdb, func(seq int64, m redis.XMessage) []redis.XMessage {
				if seq == 2 {
					delete(m.Values, "at")
				}
				return []redis.XMessage{m}
			})
		}, 2, func(es []Entry) string { return es[1].ID }, "cannot be read (no time)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, rdb, clk := newLog(t)
			var es []Entry
			for i := range 5 {
				es = append(es, mustAppend(t, l, ack(fmt.Sprintf("act %d", i+1))))
				clk.Add(time.Second)
			}
			tc.tamper(t, rdb, es)
			r := mustVerify(t, l)
			if r.OK || r.FirstBroken == nil {
				t.Fatalf("the tampering went unseen: %s", r)
			}
			b := r.FirstBroken
			if b.Seq != tc.seq || !strings.Contains(b.Reason, tc.reason) {
				t.Errorf("broken at seq %d: %q; want seq %d: …%s…", b.Seq, b.Reason, tc.seq, tc.reason)
			}
			if tc.id == nil {
				return
			}
			if want := tc.id(es); want == "*" && b.StreamID == "" {
				t.Error("the break names no stream id")
			} else if want != "*" && b.StreamID != want {
				t.Errorf("the break names stream id %q, want %q", b.StreamID, want)
			}
		})
	}
}

func TestAppendRefusesWhenTheHeadIsGone(t *testing.T) {
	l, rdb, _ := newLog(t)
	mustAppend(t, l, ack("a"))
	rdb.Del(context.Background(), headKey)
	_, err := l.Append(context.Background(), ack("b"))
	if err == nil || !strings.Contains(err.Error(), "head is missing") {
		t.Fatalf("Append = %v, want a refusal naming the missing head", err)
	}
	if n := rdb.XLen(context.Background(), streamKey).Val(); n != 1 {
		t.Errorf("%d entries, want the one written before", n)
	}
}

func TestVerifyReadsPages(t *testing.T) {
	l, _, clk := newLog(t)
	const n = 2*pageSize + 7
	for i := range n {
		mustAppend(t, l, ack(strconv.Itoa(i)))
		if i%3 == 0 {
			clk.Add(time.Millisecond)
		}
	}
	if r := mustVerify(t, l); !r.OK || r.Entries != n {
		t.Errorf("Verify: %s, want %d entries intact", r, n)
	}
	// The oldest entries, found through pages of newer ones.
	got, err := l.List(context.Background(), Filter{Actor: "tok-1", To: t0.Add(time.Millisecond), Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if details(got) != "3 2 1 0" {
		t.Errorf("List to t0+1ms: %s", details(got))
	}
}

func details(es []Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Detail)
	}
	return strings.Join(s, " ")
}

func TestList(t *testing.T) {
	l, _, clk := newLog(t)
	for _, e := range []Entry{
		{Actor: "tok-1", Role: "officer", Unit: "990101100000", Action: ActionAlertAck, Subject: "person/P1", Detail: "a"},
		{Actor: "tok-2", Role: "admin", Unit: "990100000000", Action: ActionRulesLoad, Detail: "b"},
		{Actor: "tok-1", Role: "officer", Unit: "990101100000", Action: ActionPIIRead, Subject: "person/P2", Detail: "c"},
		{Actor: SystemActor, Action: ActionRulesLoad, Detail: "d"},
		{Actor: "tok-3", Role: "officer", Unit: "990101200000", Action: ActionCaseTransition, Subject: "TZ-1", Detail: "e"},
		{Actor: "tok-1", Role: "officer", Unit: "990101100000", Action: ActionAlertAck, Subject: "person/P2", Detail: "f"},
	} {
		mustAppend(t, l, e)
		clk.Add(time.Minute + time.Nanosecond)
	}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * (time.Minute + time.Nanosecond)) }
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		{"everything, newest first", Filter{}, "f e d c b a"},
		{"by actor", Filter{Actor: "tok-1"}, "f c a"},
		{"by unit", Filter{Unit: "990101100000"}, "f c a"},
		{"a unit is matched exactly, not as a prefix", Filter{Unit: "990101"}, ""},
		{"by subject", Filter{Subject: "person/P2"}, "f c"},
		{"by action", Filter{Action: ActionRulesLoad}, "d b"},
		{"from, inclusive", Filter{From: at(3)}, "f e d"},
		{"to, inclusive", Filter{To: at(1)}, "b a"},
		{"to, to the nanosecond", Filter{To: at(1).Add(-time.Nanosecond)}, "a"},
		{"from and to", Filter{From: at(1), To: at(4)}, "e d c b"},
		{"from after to", Filter{From: at(4), To: at(1)}, ""},
		{"a period with nothing", Filter{From: at(10)}, ""},
		{"limit", Filter{Limit: 2}, "f e"},
		{"everything at once", Filter{Actor: "tok-1", Unit: "990101100000", Subject: "person/P2", Action: ActionPIIRead, From: at(0), To: at(5), Limit: 10}, "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.List(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if details(got) != tc.want {
				t.Errorf("List = %q, want %q", details(got), tc.want)
			}
		})
	}
	for _, limit := range []int{-1, MaxLimit + 1} {
		if _, err := l.List(context.Background(), Filter{Limit: limit}); !errors.Is(err, ErrInvalid) {
			t.Errorf("List with limit %d = %v, want ErrInvalid", limit, err)
		}
	}
}

// TestEmbeddedStore runs the log on miniredis, the not-durable store of
// make run, so the demo daemon can audit too.
func TestEmbeddedStore(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	clk := &clock{t: t0}
	l := New(rdb, clk.Now)
	for i := range 3 {
		mustAppend(t, l, ack(strconv.Itoa(i)))
		clk.Add(time.Second)
	}
	if r := mustVerify(t, l); !r.OK || r.Entries != 3 {
		t.Errorf("Verify: %s", r)
	}
	got, err := l.List(context.Background(), Filter{From: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if details(got) != "2 1" {
		t.Errorf("List: %q", details(got))
	}
}
