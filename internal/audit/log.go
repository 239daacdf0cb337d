package audit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The log's keys share the {audit} hash tag, so that one script can write
// both on Redis Cluster.
//
// The stream is never trimmed: how long audit entries are kept is a policy
// decision (a retention period set by the authority, not by this code), so
// the log keeps everything. A typical entry takes about 400 bytes of Redis
// memory (385 measured, with a 30-character Chinese detail; the two hashes
// are 128 of them), at most about 4 KB given the field limits; a thousand
// audited acts a day come to about 150 MB a year. Archive and trim by hand,
// with the chain verified first, if a policy allows it: a trimmed log no
// longer begins at seq 1, and Verify says so.
const (
	streamKey = "fq:{audit}:log"
	headKey   = "fq:{audit}:head" // hash: seq, hash and stream id of the last entry
)

// pageSize is how many entries one XRANGE reads.
const pageSize = 1000

// maxAttempts bounds how often Append retries when another riskd instance
// appended first. Within one instance appends take turns, so only other
// instances contend.
const maxAttempts = 50

// ErrContended is returned when Append lost the race to other writers
// maxAttempts times in a row; trying again later is safe.
var ErrContended = errors.New("audit log busy: other writers kept appending first; try again")

// Log is the audit log in Redis. It is safe for concurrent use, and several
// riskd instances may share one log.
type Log struct {
	rdb  redis.UniversalClient
	now  func() time.Time
	turn chan struct{} // one append at a time within this process
}

// New returns the log stored in rdb, whose entries are timed by now.
func New(rdb redis.UniversalClient, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{rdb: rdb, now: now, turn: make(chan struct{}, 1)}
}

// appendScript adds an entry if the head is still the one the entry was
// chained to (compare-and-set), and moves the head to it. The hash is
// computed in Go: Redis scripts offer only SHA-1. It returns {'ok', id} or,
// when another writer came first, {'stale', hash, seq, id} of the head
// now. KEYS: head, stream. ARGV: expected hash, expected seq, new id, new
// seq, at, actor, role, unit, action, subject, detail, new hash.
var appendScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'hash', 'seq', 'id')
local hash, seq = h[1] or '', h[2] or '0'
if hash ~= ARGV[1] or seq ~= ARGV[2] then
  return {'stale', hash, seq, h[3] or ''}
end
if tonumber(ARGV[4]) ~= tonumber(seq) + 1 then
  return redis.error_reply('audit: seq ' .. ARGV[4] .. ' does not follow ' .. seq)
end
if not h[1] and redis.call('XLEN', KEYS[2]) > 0 then
  return redis.error_reply('audit: the log has entries but its head is missing; run riskctl audit verify')
end
local id = redis.call('XADD', KEYS[2], ARGV[3], 'seq', ARGV[4], 'at', ARGV[5], 'actor', ARGV[6],
  'role', ARGV[7], 'unit', ARGV[8], 'action', ARGV[9], 'subject', ARGV[10], 'detail', ARGV[11],
  'prev', ARGV[1], 'hash', ARGV[12])
redis.call('HSET', KEYS[1], 'hash', ARGV[12], 'seq', ARGV[4], 'id', id)
return {'ok', id}
`)

// head is the last entry as the head key records it.
type head struct {
	hash string
	seq  int64
	id   string
}

func (l *Log) head(ctx context.Context) (head, error) {
	v, err := l.rdb.HMGet(ctx, headKey, "hash", "seq", "id").Result()
	if err != nil {
		return head{}, fmt.Errorf("read the audit head: %w", err)
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	return parseHead(str(0), str(1), str(2))
}

func parseHead(hash, seq, id string) (head, error) {
	h := head{hash: hash, id: id}
	if seq != "" {
		n, err := strconv.ParseInt(seq, 10, 64)
		if err != nil {
			return head{}, fmt.Errorf("the audit head's seq %q is not a number: the head (%s) was edited by hand", seq, headKey)
		}
		h.seq = n
	}
	return h, nil
}

// Append records e and returns it as recorded, with Seq, At, Prev, Hash and
// ID set by the log (whatever e held in them). At is the log's clock as it
// is, even when it is behind another instance's; the stream id carries At's
// millisecond (or the previous entry's, when At is behind it), which lets
// List select by time.
func (l *Log) Append(ctx context.Context, e Entry) (Entry, error) {
	if err := e.validate(); err != nil {
		return Entry{}, err
	}
	select {
	case l.turn <- struct{}{}:
		defer func() { <-l.turn }()
	case <-ctx.Done():
		return Entry{}, fmt.Errorf("append to the audit log: %w", ctx.Err())
	}
	now := l.now().UTC()
	h, err := l.head(ctx)
	if err != nil {
		return Entry{}, err
	}
	for attempt := range maxAttempts {
		e.Seq, e.Prev, e.At = h.seq+1, h.hash, now
		e.ID = nextID(h.id, e.At)
		e.Hash = e.ComputeHash()
		res, err := appendScript.Run(ctx, l.rdb, []string{headKey, streamKey},
			h.hash, h.seq, e.ID, e.Seq, formatAt(e.At), e.Actor, e.Role, e.Unit, e.Action, e.Subject, e.Detail, e.Hash).StringSlice()
		if err != nil {
			return Entry{}, fmt.Errorf("append to the audit log: %w", err)
		}
		if len(res) == 2 && res[0] == "ok" {
			e.ID = res[1]
			return e, nil
		}
		if len(res) != 4 || res[0] != "stale" {
			return Entry{}, fmt.Errorf("append to the audit log: unexpected answer %q", res)
		}
		if h, err = parseHead(res[1], res[2], res[3]); err != nil {
			return Entry{}, err
		}
		// Another instance came first; a random pause, longer each time,
		// keeps a few instances from colliding again and again.
		pause := time.NewTimer(rand.N(time.Duration(attempt+1) * 200 * time.Microsecond))
		select {
		case <-pause.C:
		case <-ctx.Done():
			pause.Stop()
			return Entry{}, fmt.Errorf("append to the audit log: %w", ctx.Err())
		}
	}
	return Entry{}, ErrContended
}

// nextID is the stream id of an entry at at after the entry last: at's
// millisecond, or one past last in last's millisecond when at is not after
// it. An entry's id is thus never before its time, and after it only as far
// as its clock was behind an earlier entry's.
func nextID(last string, at time.Time) string {
	ms := max(at.UnixMilli(), 0)
	lms, lseq, ok := splitID(last)
	if ok && ms <= lms {
		return strconv.FormatInt(lms, 10) + "-" + strconv.FormatUint(lseq+1, 10)
	}
	if ms == 0 {
		return "0-1" // 0-0 is not a valid id
	}
	return strconv.FormatInt(ms, 10) + "-0"
}

func splitID(id string) (ms int64, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}

// entryOf reads a stream message; a message that cannot be read (not written
// by Append) gives an error naming what is wrong.
func entryOf(m redis.XMessage) (Entry, error) {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	e := Entry{ID: m.ID, Actor: str("actor"), Role: str("role"), Unit: str("unit"), Action: str("action"),
		Subject: str("subject"), Detail: str("detail"), Prev: str("prev"), Hash: str("hash")}
	var err error
	if e.Seq, err = strconv.ParseInt(str("seq"), 10, 64); err != nil {
		return e, errors.New("no seq")
	}
	if e.At, err = time.Parse(time.RFC3339Nano, str("at")); err != nil {
		return e, errors.New("no time")
	}
	e.At = e.At.UTC()
	return e, nil
}

// scan calls fn for each message of the stream from start to end (XRANGE
// bounds; start may be exclusive), oldest first, a page at a time. It
// returns the id of the last message read, or "" if none.
func (l *Log) scan(ctx context.Context, start, end string, fn func(redis.XMessage) error) (string, error) {
	last := ""
	for {
		page, err := l.rdb.XRangeN(ctx, streamKey, start, end, pageSize).Result()
		if err != nil {
			return last, fmt.Errorf("read the audit log: %w", err)
		}
		for _, m := range page {
			if err := fn(m); err != nil {
				return last, err
			}
			last = m.ID
		}
		if len(page) < pageSize {
			return last, nil
		}
		start = "(" + last
	}
}

// Walk calls fn with every entry, oldest first, reading the log a page at a
// time; it stops at fn's first error and returns it. An entry that cannot be
// read is passed as far as it can be read (Verify says what is wrong with it).
func (l *Log) Walk(ctx context.Context, fn func(Entry) error) error {
	_, err := l.scan(ctx, "-", "+", func(m redis.XMessage) error {
		e, _ := entryOf(m)
		return fn(e)
	})
	return err
}

// Verify checks the whole log: every entry's hash, every link to the entry
// before, seqs 1, 2, 3…, and that the last entry is the one the head
// records, which shows entries removed from or added at the end. Entries
// appended while it runs are checked too. An error means the log could not
// be read; a broken chain is a Report, not an error.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	var c Checker
	add := func(m redis.XMessage) error {
		e, err := entryOf(m)
		if err != nil {
			c.malformed(e.Seq, m.ID, err.Error())
			return nil
		}
		c.Add(e)
		return nil
	}
	lastID, err := l.scan(ctx, "-", "+", add)
	if err != nil {
		return Report{}, err
	}
	// Read the head after the entries, then the entries up to the head:
	// the script writes both at once, so now every entry up to the head has
	// been read, and none written after it.
	h, err := l.head(ctx)
	if err != nil {
		return Report{}, err
	}
	if h.id != "" {
		start := "-"
		if lastID != "" {
			start = "(" + lastID
		}
		if _, err := l.scan(ctx, start, h.id, add); err != nil {
			return Report{}, err
		}
	}
	r := c.Report()
	if !r.OK {
		return r, nil
	}
	last := c.last
	switch {
	case h.hash == "" && r.Entries == 0:
	case h.hash == "":
		r.FirstBroken = &Broken{Seq: last.Seq, StreamID: last.ID, Reason: "the log's head (" + headKey + ") is missing: it was deleted"}
	case r.Entries == 0:
		r.FirstBroken = &Broken{Seq: 1, Reason: fmt.Sprintf("the log is empty but its head records seq %d: every entry was removed", h.seq)}
	case last.Seq < h.seq:
		r.FirstBroken = &Broken{Seq: last.Seq + 1, Reason: fmt.Sprintf("the log ends at seq %d but its head records seq %d: entries at the end were removed", last.Seq, h.seq)}
	case last.Seq > h.seq:
		b := &Broken{Seq: h.seq + 1, Reason: fmt.Sprintf("entries after seq %d were added behind the log's back: its head records seq %d", h.seq, h.seq)}
		if next, err := l.rdb.XRangeN(ctx, streamKey, "("+h.id, "+", 1).Result(); err == nil && len(next) == 1 {
			b.StreamID = next[0].ID
		}
		r.FirstBroken = b
	case last.Hash != h.hash:
		r.FirstBroken = &Broken{Seq: last.Seq, StreamID: last.ID, Reason: "the last entry's hash is not the one its head records: the entry was replaced"}
	}
	r.OK = r.FirstBroken == nil
	return r, nil
}

// Filter selects entries. Empty strings and zero times match everything;
// From and To are inclusive.
type Filter struct {
	Actor, Unit, Subject, Action string
	From, To                     time.Time
	Limit                        int // 1 to MaxLimit; DefaultLimit if 0
}

// The number of entries List returns by default and at most.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// clockSlack is how far behind an earlier entry's clock an entry's clock
// may be and still be found by a List with To: an entry's stream id is
// never before its time but may be after it by that much. Walk sees every
// entry whatever the clocks did.
const clockSlack = time.Hour

// List returns the entries that match f, newest first. The time bounds
// select by stream id, so List reads only the entries in (about) the period;
// the other fields are matched exactly, as read.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return nil, invalid("limit: give 1 to %d", MaxLimit)
	}
	start, end := "-", "+"
	if !f.From.IsZero() && f.From.UnixMilli() > 0 {
		start = strconv.FormatInt(f.From.UnixMilli(), 10)
	}
	if !f.To.IsZero() {
		if f.To.UnixMilli() < 0 {
			return nil, nil
		}
		end = strconv.FormatInt(f.To.Add(clockSlack).UnixMilli(), 10)
	}
	var out []Entry
	for {
		page, err := l.rdb.XRevRangeN(ctx, streamKey, end, start, pageSize).Result()
		if err != nil {
			return nil, fmt.Errorf("read the audit log: %w", err)
		}
		for _, m := range page {
			e, _ := entryOf(m)
			if f.match(e) {
				out = append(out, e)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if len(page) < pageSize {
			return out, nil
		}
		end = "(" + page[len(page)-1].ID
	}
}

func (f Filter) match(e Entry) bool {
	return (f.Actor == "" || e.Actor == f.Actor) &&
		(f.Unit == "" || e.Unit == f.Unit) &&
		(f.Subject == "" || e.Subject == f.Subject) &&
		(f.Action == "" || e.Action == f.Action) &&
		(f.From.IsZero() || !e.At.Before(f.From)) &&
		(f.To.IsZero() || !e.At.After(f.To))
}
