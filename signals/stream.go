package signals

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stream names the Redis keys of the signal stream. They share one hash tag,
// so the append script touches a single slot.
type Stream struct {
	Key        string // the stream itself
	DeadLetter string // signals that could not be processed, with the reason
	// Owner names which consumer reads the stream, for consumers with a
	// lease (see Consumer.Lease); it shares the stream's hash tag.
	Owner      string
	seenPrefix string // idempotency keys, one per signal key
}

// DefaultStream is the stream of a single-shard deployment.
func DefaultStream() Stream {
	return Stream{Key: "fq:{signals}:stream", DeadLetter: "fq:{signals}:dead", Owner: "fq:{signals}:owner", seenPrefix: "fq:{signals}:seen:"}
}

// MembersKey is the set of instances reading the signal stream's shards.
const MembersKey = "fq:{signals}:members"

// Shards are the signal stream's partitions. Each shard's keys share a hash
// tag of their own ({signals:3}), so on a Redis Cluster the shards spread
// over the nodes while each append stays one script in one slot.
type Shards []Stream

// ShardedStreams returns n shards; one shard is DefaultStream.
func ShardedStreams(n int) Shards {
	if n <= 1 {
		return Shards{DefaultStream()}
	}
	out := make(Shards, n)
	for i := range out {
		tag := "fq:{signals:" + strconv.Itoa(i) + "}:"
		out[i] = Stream{Key: tag + "stream", DeadLetter: tag + "dead", Owner: tag + "owner", seenPrefix: tag + "seen:"}
	}
	return out
}

// For returns the shard a record goes to: by its dispute, else its first
// person, else its own key, so that a subject's signals stay in one shard,
// in order.
func (s Shards) For(r *Record) Stream {
	if len(s) == 1 {
		return s[0]
	}
	key := r.DisputeID
	switch {
	case key != "":
		key = "d/" + key
	case len(r.Persons) > 0:
		key = "p/" + r.Persons[0].Ref
	default:
		key = r.Key()
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return s[h.Sum32()%uint32(len(s))]
}

// Records reads every record kept in every shard, oldest first.
func (s Shards) Records(ctx context.Context, rdb redis.UniversalClient) ([]Record, error) {
	var out []Record
	for _, st := range s {
		recs, err := st.Records(ctx, rdb)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	if len(s) > 1 {
		sort.SliceStable(out, func(i, j int) bool { return out[i].ReceivedAt.Before(out[j].ReceivedAt) })
	}
	return out, nil
}

func (s Stream) seenKey(signalKey string) string {
	h := sha256.Sum256([]byte(signalKey))
	return s.seenPrefix + hex.EncodeToString(h[:12])
}

// Producer appends records to the stream, once per signal key. It never
// trims the stream: Consumer.Trim does, and only behind the consumer group.
type Producer struct {
	rdb    redis.UniversalClient
	shards Shards
	keep   time.Duration // how long a signal key is remembered
}

// NewProducer returns a Producer onto the stream's shards (DefaultStream
// when none is given) that remembers signal keys for keep (at least a
// second).
func NewProducer(rdb redis.UniversalClient, keep time.Duration, shards ...Stream) *Producer {
	if len(shards) == 0 {
		shards = Shards{DefaultStream()}
	}
	return &Producer{rdb: rdb, shards: shards, keep: max(keep, time.Second)}
}

// appendScript adds each record whose key it has not seen, all in one atomic
// step, so a batch is stored whole or not at all and a re-sent signal is a
// no-op. KEYS: stream, seen keys…; ARGV: keep seconds, payloads….
var appendScript = redis.NewScript(`
local out = {}
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[1], '*', 'r', ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`)

// Append stores records and reports, for each, whether it was new (false: a
// duplicate of a signal already received). Each shard's records are stored
// by one script, whole or not at all; with several shards, a failure part-way
// leaves some shards' records stored, and sending the batch again stores the
// rest without doubling any.
func (p *Producer) Append(ctx context.Context, recs []Record) ([]bool, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	byShard := map[string][]int{}
	var order []Stream
	for i := range recs {
		st := p.shards.For(&recs[i])
		if _, ok := byShard[st.Key]; !ok {
			order = append(order, st)
		}
		byShard[st.Key] = append(byShard[st.Key], i)
	}
	fresh := make([]bool, len(recs))
	for _, st := range order {
		idx := byShard[st.Key]
		keys := make([]string, 0, len(idx)+1)
		args := make([]any, 0, len(idx)+1)
		keys = append(keys, st.Key)
		args = append(args, int64(p.keep/time.Second))
		for _, i := range idx {
			b, err := json.Marshal(&recs[i])
			if err != nil {
				return nil, fmt.Errorf("encode signal: %w", err)
			}
			// Remembered per unit: a sender elsewhere cannot learn of, or block,
			// another unit's signal by sending its id first.
			keys = append(keys, st.seenKey(recs[i].Unit+"/"+recs[i].Key()))
			args = append(args, b)
		}
		res, err := appendScript.Run(ctx, p.rdb, keys, args...).Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("append signals: %w", err)
		}
		for j, v := range res {
			fresh[idx[j]] = v == 1
		}
	}
	return fresh, nil
}

// Handler processes one record. It must be idempotent: a record may be
// delivered more than once.
type Handler interface {
	Handle(ctx context.Context, r Record) error
}

// BatchHandler is a Handler that also takes many records at once, handling
// them as it would one after another. On an error the consumer hands the
// records over again one at a time, so HandleBatch may leave some handled.
type BatchHandler interface {
	Handler
	HandleBatch(ctx context.Context, recs []Record) error
}

// ConsumerMetrics is what a Consumer reports.
type ConsumerMetrics interface {
	// Processed counts a handled signal and how long after its receipt it was handled.
	Processed(source string, latency time.Duration)
	DeadLettered(source, reason string)
}

// Consumer reads the stream in a consumer group and hands each record to a
// Handler, a batch of them at once to a BatchHandler, acknowledging a record
// only once handled. Entries a crashed consumer left pending are claimed
// after ClaimIdle. A record that cannot be decoded, or whose handling fails
// Attempts times, goes to the dead-letter stream with its reason. Handled
// entries are kept for Retention, then trimmed.
type Consumer struct {
	RDB        redis.UniversalClient
	Stream     Stream
	Group      string
	Name       string
	Handler    Handler
	Log        *slog.Logger
	Metrics    ConsumerMetrics // optional
	Now        func() time.Time
	Batch      int64
	Block      time.Duration
	ClaimIdle  time.Duration // Run uses a minute when zero
	Attempts   int
	RetryDelay time.Duration // pause before the second attempt, doubling after
	Retention  time.Duration // how long handled entries are kept; zero keeps them
	// Lease, when set, makes the consumer read only while it owns the
	// stream (Stream.Owner): one instance at a time per stream or shard, so
	// the entries are handled one after another, in order. The owner renews
	// the lease each round and gives it up when it stops; when an owner dies
	// another takes over once the lease runs out, and first claims whatever
	// the dead one left pending. Zero: every consumer of the group reads.
	Lease time.Duration
	// Members, with Lease, is the key of the set of instances reading the
	// stream's shards, and Shard this stream's index among them: the shards
	// are shared out over the live instances (shard i to the i-th, round
	// the sorted names), so adding an instance takes shards over from the
	// others. Empty: whoever takes a free lease keeps it.
	Members string
	Shard   int
	running atomic.Bool
	owns    bool
	// isMine and checked remember mine's answer for a third of a lease, so
	// that a busy consumer does not ask Redis at every batch.
	isMine  bool
	checked time.Time
}

// Running reports whether the consumer is reading the stream.
func (c *Consumer) Running() bool { return c.running.Load() }

// EnsureGroup creates the consumer group (and stream) if missing.
func (c *Consumer) EnsureGroup(ctx context.Context) error {
	err := c.RDB.XGroupCreateMkStream(ctx, c.Stream.Key, c.Group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group: %w", err)
	}
	return nil
}

// Run consumes until ctx is cancelled. The record in hand when ctx is
// cancelled is finished before Run returns. While Redis is unreachable Run
// waits and retries; it does not give up.
func (c *Consumer) Run(ctx context.Context) error {
	for {
		err := c.EnsureGroup(ctx)
		if err == nil {
			break
		}
		c.Log.Error("signal stream unavailable; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	if c.ClaimIdle <= 0 {
		c.ClaimIdle = time.Minute
	}
	c.running.Store(true)
	defer c.running.Store(false)
	var lastClaim, lastTrim time.Time
	defer c.leave()
	for ctx.Err() == nil {
		if c.Lease > 0 && !c.mine(ctx) {
			c.release() // another live instance is due this shard: hand it over
			select {
			case <-ctx.Done():
			case <-time.After(min(c.Block, c.Lease/3)):
			}
			continue
		}
		if c.Lease > 0 {
			owns, fresh, err := c.own(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				c.Log.Warn("renew the lease of the signal stream", "stream", c.Stream.Key, "err", err)
			case fresh:
				// Taking over: what the previous owner left pending is ours now.
				c.Log.Info("reading the signal stream", "stream", c.Stream.Key)
				if err := c.claimIdle(ctx, 0); err != nil && ctx.Err() == nil {
					c.Log.Warn("claim pending signals", "err", err)
				}
			}
			if !owns {
				select { // another instance reads it: stand by
				case <-ctx.Done():
				case <-time.After(min(c.Block, c.Lease/3)):
				}
				continue
			}
		}
		if time.Since(lastClaim) >= c.ClaimIdle/2 {
			lastClaim = time.Now()
			if err := c.claim(ctx); err != nil && ctx.Err() == nil {
				c.Log.Warn("claim pending signals", "err", err)
			}
		}
		if c.Retention > 0 && time.Since(lastTrim) >= time.Minute {
			lastTrim = time.Now()
			if n, err := c.Trim(ctx); err != nil && ctx.Err() == nil {
				c.Log.Warn("trim signal stream", "err", err)
			} else if n > 0 {
				c.Log.Debug("signal stream trimmed", "entries", n)
			}
		}
		if _, err := c.ReadOnce(ctx, c.Block); err != nil && ctx.Err() == nil {
			c.Log.Error("read signal stream", "err", err)
			if strings.Contains(err.Error(), "NOGROUP") { // Redis lost the group, e.g. restarted without persistence
				_ = c.EnsureGroup(ctx)
			}
			c.running.Store(false)
			select { // back off while Redis is unreachable
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			c.running.Store(true)
		}
	}
	return nil
}

// ReadOnce reads and handles up to one batch of new entries, waiting at most
// block for them (0: do not wait). It returns how many entries it handled.
func (c *Consumer) ReadOnce(ctx context.Context, block time.Duration) (int, error) {
	if block == 0 {
		block = -1 // go-redis: a negative Block omits BLOCK
	}
	res, err := c.RDB.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: c.Group, Consumer: c.Name, Streams: []string{c.Stream.Key, ">"},
		Count: c.batch(), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range res {
		if err := c.handle(context.WithoutCancel(ctx), s.Messages); err != nil {
			return n, err
		}
		n += len(s.Messages)
	}
	return n, nil
}

// handle processes entries: together, when the handler takes batches, and
// one at a time otherwise or when the batch fails.
func (c *Consumer) handle(ctx context.Context, msgs []redis.XMessage) error {
	bh, ok := c.Handler.(BatchHandler)
	if !ok || len(msgs) < 2 {
		for _, m := range msgs {
			if err := c.process(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	recs := make([]Record, 0, len(msgs))
	ids := make([]string, 0, len(msgs))
	kept := make([]redis.XMessage, 0, len(msgs))
	for _, m := range msgs {
		rec, ok := decodeEntry(m)
		if !ok {
			if err := c.deadLetter(ctx, m, "", "undecodable", "the entry is not a signal record"); err != nil {
				return err
			}
			continue
		}
		recs, ids, kept = append(recs, rec), append(ids, m.ID), append(kept, m)
	}
	if len(recs) == 0 {
		return nil
	}
	if err := bh.HandleBatch(ctx, recs); err != nil {
		c.Log.Warn("signal batch handling failed; handling the signals one at a time", "signals", len(recs), "err", err)
		for _, m := range kept {
			if err := c.process(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	if c.Metrics != nil {
		now := c.now()
		for i := range recs {
			c.Metrics.Processed(string(recs[i].Source), now.Sub(recs[i].ReceivedAt))
		}
	}
	return c.RDB.XAck(ctx, c.Stream.Key, c.Group, ids...).Err()
}

func decodeEntry(m redis.XMessage) (Record, bool) {
	raw, _ := m.Values["r"].(string)
	var rec Record
	if err := json.Unmarshal([]byte(raw), &rec); err != nil || rec.Source == "" {
		return Record{}, false
	}
	return rec, true
}

// ownScript renews a lease its holder has, or takes one nobody has.
// KEYS: owner; ARGV: name, lease ms. Returns 1 renewed, 2 taken, 0 held by another.
var ownScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
`)

// own renews or takes the stream's lease.
func (c *Consumer) own(ctx context.Context) (owns, fresh bool, err error) {
	n, err := ownScript.Run(ctx, c.RDB, []string{c.Stream.Owner}, c.Name, c.Lease.Milliseconds()).Int()
	if err != nil {
		c.owns = false
		return false, false, err
	}
	fresh = n == 2 || (n == 1 && !c.owns)
	c.owns = n > 0
	return c.owns, fresh, nil
}

// mine says whether this instance is the one due to read the shard: it
// marks itself alive in Members, and the shard goes to the live instance at
// its index, round the sorted names. Without Members, or when Redis cannot
// say, every instance may take a free lease.
func (c *Consumer) mine(ctx context.Context) bool {
	if c.Members == "" {
		return true
	}
	now := time.Now() // liveness is the processes' own time, not the business clock
	if now.Sub(c.checked) < c.Lease/3 {
		return c.isMine
	}
	c.isMine, c.checked = c.ask(ctx, now), now
	return c.isMine
}

// ask marks the instance alive and says whether the shard is due to it.
func (c *Consumer) ask(ctx context.Context, now time.Time) bool {
	stale := strconv.FormatInt(now.Add(-3*c.Lease).UnixMilli(), 10)
	pipe := c.RDB.Pipeline()
	pipe.ZAdd(ctx, c.Members, redis.Z{Score: float64(now.UnixMilli()), Member: c.Name})
	pipe.ZRemRangeByScore(ctx, c.Members, "-inf", "("+stale)
	live := pipe.ZRange(ctx, c.Members, 0, -1)
	if _, err := pipe.Exec(ctx); err != nil || len(live.Val()) == 0 {
		return true
	}
	names := live.Val() // sorted by score; the order must be the same everywhere
	sort.Strings(names)
	return names[c.Shard%len(names)] == c.Name
}

// releaseScript deletes a lease if its holder still has it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// leave gives the lease up and takes the instance off the members, so that
// the others share out its shards at once.
func (c *Consumer) leave() {
	c.release()
	if c.Members != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.RDB.ZRem(ctx, c.Members, c.Name).Err()
	}
}

// release gives the lease up, so that another instance takes over at once.
func (c *Consumer) release() {
	if c.Lease > 0 && c.owns {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = releaseScript.Run(ctx, c.RDB, []string{c.Stream.Owner}, c.Name).Err()
		c.owns = false
	}
}

func (c *Consumer) claim(ctx context.Context) error { return c.claimIdle(ctx, c.ClaimIdle) }

// claimIdle takes over the entries pending longer than idle and handles them.
func (c *Consumer) claimIdle(ctx context.Context, idle time.Duration) error {
	start := "0-0"
	for {
		msgs, next, err := c.RDB.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: c.Stream.Key, Group: c.Group, Consumer: c.Name,
			MinIdle: idle, Start: start, Count: c.batch(),
		}).Result()
		if err != nil {
			return err
		}
		if err := c.handle(context.WithoutCancel(ctx), msgs); err != nil {
			return err
		}
		// Not "or len(msgs) == 0": XAUTOCLAIM scans at most 10×COUNT entries
		// a call and may claim none of them with more still to scan.
		if next == "0-0" {
			return nil
		}
		start = next
	}
}

// process handles one entry. It returns an error only when Redis itself
// failed, leaving the entry pending to be retried or claimed.
func (c *Consumer) process(ctx context.Context, m redis.XMessage) error {
	rec, ok := decodeEntry(m)
	if !ok {
		return c.deadLetter(ctx, m, "", "undecodable", "the entry is not a signal record")
	}
	var err error
	delay := c.RetryDelay
	for attempt := 1; attempt <= max(c.Attempts, 1); attempt++ {
		if attempt > 1 && delay > 0 {
			time.Sleep(delay) // a short pause, so a passing fault can pass
			delay *= 2
		}
		if err = c.Handler.Handle(ctx, rec); err == nil {
			if c.Metrics != nil {
				c.Metrics.Processed(string(rec.Source), c.now().Sub(rec.ReceivedAt))
			}
			return c.RDB.XAck(ctx, c.Stream.Key, c.Group, m.ID).Err()
		}
		c.Log.Warn("signal handling failed", "signal", rec.Key(), "attempt", attempt, "err", err)
	}
	return c.deadLetter(ctx, m, string(rec.Source), "handler_failed", err.Error())
}

func (c *Consumer) deadLetter(ctx context.Context, m redis.XMessage, source, reason, detail string) error {
	raw, _ := m.Values["r"].(string)
	_, err := c.RDB.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: c.Stream.DeadLetter, MaxLen: 100_000, Approx: true, Values: map[string]any{
			"r": raw, "entry": m.ID, "reason": reason, "detail": detail,
		}})
		p.XAck(ctx, c.Stream.Key, c.Group, m.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-letter entry %s: %w", m.ID, err)
	}
	c.Log.Error("signal dead-lettered", "entry", m.ID, "source", source, "reason", reason, "detail", detail)
	if c.Metrics != nil {
		c.Metrics.DeadLettered(source, reason)
	}
	return nil
}

// Trim drops handled entries received more than Retention ago. It never
// drops an entry that some consumer group has not yet been given, or has been
// given but not acknowledged: the retention policy bounds the stream only
// behind every group.
func (c *Consumer) Trim(ctx context.Context) (int64, error) {
	groups, err := c.RDB.XInfoGroups(ctx, c.Stream.Key).Result()
	if err != nil {
		return 0, fmt.Errorf("read consumer groups: %w", err)
	}
	if len(groups) == 0 {
		return 0, nil // nobody reads the stream yet: keep everything
	}
	minID := streamID{ms: uint64(c.now().Add(-c.Retention).UnixMilli())}
	for _, g := range groups {
		// Entries after the last delivered one are undelivered: keep them.
		last := parseStreamID(g.LastDeliveredID)
		if next := last.next(); next.less(minID) {
			minID = next
		}
		if g.Pending > 0 {
			p, err := c.RDB.XPending(ctx, c.Stream.Key, g.Name).Result()
			if err != nil {
				return 0, fmt.Errorf("read pending entries: %w", err)
			}
			if low := parseStreamID(p.Lower); low.less(minID) {
				minID = low
			}
		}
	}
	n, err := c.RDB.XTrimMinID(ctx, c.Stream.Key, minID.String()).Result()
	if err != nil {
		return 0, fmt.Errorf("trim stream: %w", err)
	}
	return n, nil
}

func (c *Consumer) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// streamID is a Redis stream entry id, "ms-seq".
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) streamID {
	ms, seq, _ := strings.Cut(s, "-")
	var id streamID
	id.ms, _ = strconv.ParseUint(ms, 10, 64)
	id.seq, _ = strconv.ParseUint(seq, 10, 64)
	return id
}

func (a streamID) less(b streamID) bool { return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq) }

func (a streamID) next() streamID {
	if a.seq == ^uint64(0) {
		return streamID{ms: a.ms + 1}
	}
	return streamID{ms: a.ms, seq: a.seq + 1}
}

func (a streamID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

func (c *Consumer) batch() int64 {
	if c.Batch <= 0 {
		return 64
	}
	return c.Batch
}

// Records reads every record kept in the stream, oldest first: what riskd
// has recorded, for a backtest. Entries that do not decode are skipped.
func (s Stream) Records(ctx context.Context, rdb redis.UniversalClient) ([]Record, error) {
	var out []Record
	start := "-"
	for {
		msgs, err := rdb.XRangeN(ctx, s.Key, start, "+", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("read the signal stream: %w", err)
		}
		for _, m := range msgs {
			raw, _ := m.Values["r"].(string)
			var r Record
			if json.Unmarshal([]byte(raw), &r) == nil && r.Source != "" {
				out = append(out, r)
			}
		}
		if len(msgs) < 1000 {
			return out, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}
