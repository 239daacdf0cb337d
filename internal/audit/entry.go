// Package audit is Fengqiao's audit log (审计日志): an append-only record of
// who loaded rules and policies, changed tokens, overrode or signed off a
// subject, acknowledged an alert, moved a case, or read unmasked personal
// data. Each entry carries the hash of the entry before it (a hash chain), so
// an entry altered, removed or inserted after the fact shows when the chain is
// verified, and responsibility can be traced afterwards (SPEC §11).
//
// The chain makes tampering evident, not impossible: whoever can write to
// Redis can rewrite the whole chain from the altered entry on. Keep a copy of
// the head's hash elsewhere (riskctl audit verify prints the entry count; a
// daily report may carry the last hash) to detect that too.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The actions Fengqiao records. An action is a lower-case dotted name, the
// object first; other packages may record actions of their own.
const (
	ActionRulesLoad       = "rules.load"       // a ruleset loaded or reloaded
	ActionPolicyLoad      = "policy.load"      // an escalation or access policy loaded
	ActionTokenCreate     = "token.create"     // an API token issued
	ActionTokenRevoke     = "token.revoke"     // an API token revoked
	ActionSubjectOverride = "subject.override" // a level set by hand, or the override ended
	ActionSubjectSignOff  = "subject.signoff"  // a warning lifted (解除预警)
	ActionAlertAck        = "alert.ack"        // an alert acknowledged (签收)
	ActionCaseTransition  = "case.transition"  // a mediation case moved to another state
	ActionPIIRead         = "pii.read"         // unmasked personal data read
)

// SystemActor is the Actor of what riskd does by itself, such as loading
// the rules at start.
const SystemActor = "system"

// hashDomain begins every hashed encoding; it versions the encoding.
const hashDomain = "fengqiao-audit/1\n"

// Entry is one audited act. Seq, At, Prev, Hash and ID are set by the log;
// the caller supplies the rest.
//
// Detail is for people (Chinese or English) and must never hold an ID
// number or a phone number: the log is kept forever and read widely.
type Entry struct {
	Seq     int64     `json:"seq"`               // 1 for the first entry, then one more each
	At      time.Time `json:"at"`                // when it was recorded, by the recording instance's clock
	Actor   string    `json:"actor"`             // a token id, or "system"
	Role    string    `json:"role"`              // the actor's role
	Unit    string    `json:"unit"`              // the actor's unit
	Action  string    `json:"action"`            // e.g. alert.ack; see the Action constants
	Subject string    `json:"subject,omitempty"` // what was acted on: "person/P…", a case number; may be empty
	Detail  string    `json:"detail"`            // what happened, in words
	Prev    string    `json:"prev"`              // hex SHA-256 of the previous entry, "" for the first
	Hash    string    `json:"hash"`              // hex SHA-256 of this entry's canonical encoding
	// ID is the entry's Redis stream id, set when the entry is read. It is
	// not hashed: it says where to look, not what was recorded.
	ID string `json:"id,omitempty"`
}

// ComputeHash returns the hex SHA-256 of e's canonical encoding: a version
// line, then for each of seq (decimal), at (UTC, RFC 3339 with nanoseconds),
// actor, role, unit, action, subject, detail and prev, the field's length in
// bytes (decimal), a colon, the field and a newline. The lengths make the
// encoding unambiguous whatever the fields contain.
func (e Entry) ComputeHash() string {
	h := sha256.New()
	h.Write([]byte(hashDomain))
	for _, f := range [...]string{strconv.FormatInt(e.Seq, 10), formatAt(e.At),
		e.Actor, e.Role, e.Unit, e.Action, e.Subject, e.Detail, e.Prev} {
		h.Write([]byte(strconv.Itoa(len(f)) + ":" + f + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func formatAt(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ErrInvalid matches every entry the log refuses to record.
var ErrInvalid = errors.New("invalid audit entry")

func invalid(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, ErrInvalid)...)
}

// The bounds of an entry's fields, in bytes (Detail in characters), so that
// an entry stays under about 4 KB whatever the caller sends.
const (
	maxShort   = 100  // actor, role, unit
	maxSubject = 200  // subject
	maxDetail  = 1000 // detail, in characters (up to 3000 bytes of Chinese)
)

var actionPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// piiPattern finds what looks like a resident ID number (17 digits and a
// check character) or a mainland mobile number (11 digits from 1), standing
// alone rather than inside a longer run of digits such as a 12- or 15-digit
// unit code. It is a guard against a careless caller, not a guarantee.
var piiPattern = regexp.MustCompile(`(^|[^0-9])(\d{17}[0-9Xx]|1[3-9]\d{9})($|[^0-9Xx])`)

// validate checks the fields the caller supplies.
func (e Entry) validate() error {
	fields := []struct {
		name, value string
		max         int
		required    bool
	}{
		{"actor", e.Actor, maxShort, true},
		{"role", e.Role, maxShort, false},
		{"unit", e.Unit, maxShort, false},
		{"action", e.Action, maxShort, true},
		{"subject", e.Subject, maxSubject, false},
		{"detail", e.Detail, 4 * maxDetail, false},
	}
	for _, f := range fields {
		switch {
		case f.required && strings.TrimSpace(f.value) == "":
			return invalid("%s: must be given", f.name)
		case !utf8.ValidString(f.value):
			return invalid("%s: must be valid UTF-8", f.name)
		case len(f.value) > f.max:
			return invalid("%s: at most %d bytes", f.name, f.max)
		case piiPattern.MatchString(f.value):
			// The value is not repeated: it may be the very number to keep out.
			return invalid("%s: looks like it holds an ID number or a phone number; record a subject id or a masked value instead", f.name)
		}
	}
	if utf8.RuneCountInString(e.Detail) > maxDetail {
		return invalid("detail: at most %d characters", maxDetail)
	}
	if !actionPattern.MatchString(e.Action) {
		return invalid("action %q: give a lower-case dotted name such as alert.ack", e.Action)
	}
	return nil
}

// Report is the outcome of verifying a chain.
type Report struct {
	Entries     int64   `json:"entries"` // how many entries were read
	OK          bool    `json:"ok"`
	FirstBroken *Broken `json:"first_broken,omitempty"`
}

// Broken is the first place the chain does not hold.
type Broken struct {
	Seq      int64  `json:"seq"`
	StreamID string `json:"stream_id,omitempty"`
	Reason   string `json:"reason"`
}

// String says what the report found, in one line.
func (r Report) String() string {
	if r.OK {
		return fmt.Sprintf("audit chain intact: %d entries", r.Entries)
	}
	b := r.FirstBroken
	if b == nil {
		return "audit chain broken"
	}
	if b.StreamID == "" {
		return fmt.Sprintf("audit chain broken at seq %d: %s", b.Seq, b.Reason)
	}
	return fmt.Sprintf("audit chain broken at seq %d (stream id %s): %s", b.Seq, b.StreamID, b.Reason)
}

// Checker verifies a chain one entry at a time, oldest first, so that a long
// log is checked without holding it all. The zero Checker is ready to use.
type Checker struct {
	n      int64
	last   Entry
	broken *Broken
}

// Add checks e against the entry added before it: its seq follows, its Prev
// is that entry's Hash, and its own Hash matches its content. After the first
// break Add only counts.
func (c *Checker) Add(e Entry) {
	c.n++
	defer func() { c.last = e }()
	if c.broken != nil {
		return
	}
	want := c.last.Seq + 1
	switch {
	case c.n == 1 && e.Seq != 1:
		c.fail(e, fmt.Sprintf("the log begins at seq %d, not 1: the entries before it were removed", e.Seq))
	case c.n > 1 && e.Seq > want:
		c.fail(e, fmt.Sprintf("seq %d follows seq %d: the entries between were removed", e.Seq, c.last.Seq))
	case c.n > 1 && e.Seq < want:
		c.fail(e, fmt.Sprintf("seq %d follows seq %d: an entry was repeated or inserted", e.Seq, c.last.Seq))
	case e.Prev != c.last.Hash && c.n == 1:
		c.fail(e, "the first entry names a previous entry: entries before it were removed")
	case e.Prev != c.last.Hash:
		c.fail(e, fmt.Sprintf("prev does not match the hash of seq %d: that entry was altered or this one was put in its place", c.last.Seq))
	case e.Hash != e.ComputeHash():
		c.fail(e, "the hash does not match the entry's content: the entry was altered")
	}
}

// malformed records an entry that could not be read at all.
func (c *Checker) malformed(seq int64, id, why string) {
	c.n++
	if c.broken == nil {
		c.broken = &Broken{Seq: seq, StreamID: id, Reason: "the entry cannot be read (" + why + "): it was written by hand"}
	}
	c.last = Entry{Seq: seq, ID: id, Hash: "unreadable"}
}

func (c *Checker) fail(e Entry, reason string) {
	c.broken = &Broken{Seq: e.Seq, StreamID: e.ID, Reason: reason}
}

// Report returns what the entries added so far show.
func (c *Checker) Report() Report {
	return Report{Entries: c.n, OK: c.broken == nil, FirstBroken: c.broken}
}

// VerifyEntries checks a whole chain, oldest entry first. It cannot see
// entries removed from the end of the log: Log.Verify checks those against
// the log's head.
func VerifyEntries(entries []Entry) Report {
	var c Checker
	for _, e := range entries {
		c.Add(e)
	}
	return c.Report()
}
