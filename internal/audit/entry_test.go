package audit

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 3, 9, 15, 0, 123456789, time.FixedZone("CST", 8*3600))

// chain builds n linked entries as Append would.
func chain(n int) []Entry {
	var out []Entry
	prev := ""
	for i := 1; i <= n; i++ {
		e := Entry{Seq: int64(i), At: t0.Add(time.Duration(i) * time.Minute), Actor: "tok-1", Role: "officer",
			Unit: "990101100000", Action: ActionAlertAck, Subject: "person/P1", Detail: "签收预警", Prev: prev}
		e.Hash = e.ComputeHash()
		e.ID = streamID(e)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func streamID(e Entry) string { return nextID("", e.At) }

func TestComputeHashIsPinned(t *testing.T) {
	// A change to the canonical encoding breaks every stored chain: it must
	// come with a new hashDomain version and a way to verify both.
	e := Entry{Seq: 1, At: t0, Actor: "system", Role: "", Unit: "", Action: ActionRulesLoad, Detail: "规则集 v1 已加载"}
	const pinned = "e8cda82f6a376f09912a831845f96b3ae1959e0f3a23e0798f2c6d99cc4ef7a0"
	if got := e.ComputeHash(); got != pinned {
		t.Errorf("ComputeHash() = %s, want %s", got, pinned)
	}
}

func TestComputeHashCoversEveryField(t *testing.T) {
	base := chain(2)[1]
	for name, change := range map[string]func(*Entry){
		"seq":                 func(e *Entry) { e.Seq++ },
		"at (one nanosecond)": func(e *Entry) { e.At = e.At.Add(time.Nanosecond) },
		"actor":               func(e *Entry) { e.Actor += "x" },
		"role":                func(e *Entry) { e.Role += "x" },
		"unit":                func(e *Entry) { e.Unit += "x" },
		"action":              func(e *Entry) { e.Action += "x" },
		"subject":             func(e *Entry) { e.Subject += "x" },
		"detail":              func(e *Entry) { e.Detail += "x" },
		"prev":                func(e *Entry) { e.Prev = "00" + e.Prev[2:] },
		"a byte moved from actor to role": func(e *Entry) {
			e.Actor, e.Role = e.Actor[:len(e.Actor)-1], e.Actor[len(e.Actor)-1:]+e.Role
		},
	} {
		e := base
		change(&e)
		if e.ComputeHash() == base.Hash {
			t.Errorf("changing %s leaves the hash as it was", name)
		}
	}
	same := base
	same.At = base.At.In(time.UTC)
	same.ID = "somewhere-else"
	if same.ComputeHash() != base.Hash {
		t.Error("the hash depends on the time zone of At or on the stream id")
	}
}

func TestVerifyEntries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tamper   func([]Entry) []Entry
		seq      int64  // 0: the chain holds
		reason   string // part of the reason
		wantRead int64
	}{
		{"an intact chain", func(es []Entry) []Entry { return es }, 0, "", 5},
		{"no entries", func([]Entry) []Entry { return nil }, 0, "", 0},
		{"a detail altered", func(es []Entry) []Entry { es[2].Detail = "无事发生"; return es }, 3, "the entry was altered", 5},
		{"a time altered", func(es []Entry) []Entry { es[2].At = es[2].At.Add(-time.Hour); return es }, 3, "the entry was altered", 5},
		{"an entry altered and its hash recomputed", func(es []Entry) []Entry {
			es[2].Actor = "tok-2"
			es[2].Hash = es[2].ComputeHash()
			return es
		}, 4, "prev does not match the hash of seq 3", 5},
		{"an entry removed", func(es []Entry) []Entry { return append(es[:2], es[3:]...) }, 4, "seq 4 follows seq 2: the entries between were removed", 4},
		{"the first entry removed", func(es []Entry) []Entry { return es[1:] }, 2, "begins at seq 2", 4},
		{"an entry repeated", func(es []Entry) []Entry {
			return append(es[:3], append([]Entry{es[2]}, es[3:]...)...)
		}, 3, "seq 3 follows seq 3: an entry was repeated or inserted", 6},
		{"two entries swapped", func(es []Entry) []Entry { es[1], es[2] = es[2], es[1]; return es }, 3, "seq 3 follows seq 1", 5},
		{"the first entry given a prev", func(es []Entry) []Entry {
			es[0].Prev = strings.Repeat("0", 64)
			es[0].Hash = es[0].ComputeHash()
			return es
		}, 1, "the first entry names a previous entry", 5},
		{"a whole chain rewritten from an entry on (undetectable here)", func(es []Entry) []Entry {
			es[2].Detail = "改写"
			for i := 2; i < len(es); i++ {
				es[i].Prev = es[i-1].Hash
				es[i].Hash = es[i].ComputeHash()
			}
			return es
		}, 0, "", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := VerifyEntries(tc.tamper(chain(5)))
			if r.Entries != tc.wantRead {
				t.Errorf("Entries = %d, want %d", r.Entries, tc.wantRead)
			}
			if tc.seq == 0 {
				if !r.OK || r.FirstBroken != nil {
					t.Fatalf("the chain is reported broken: %s", r)
				}
				return
			}
			if r.OK || r.FirstBroken == nil {
				t.Fatalf("the chain is reported intact: %s", r)
			}
			b := r.FirstBroken
			if b.Seq != tc.seq || !strings.Contains(b.Reason, tc.reason) {
				t.Errorf("broken at seq %d: %q; want seq %d: …%s…", b.Seq, b.Reason, tc.seq, tc.reason)
			}
			if b.StreamID == "" {
				t.Error("the break names no stream id")
			}
		})
	}
}

func TestEntrySurvivesJSON(t *testing.T) {
	// riskctl verifies entries it received as JSON: the round trip must not
	// change what is hashed.
	es := chain(3)
	es[1].Detail = "含 <html> & \"引号\"\n与换行"
	es[1].Subject = ""
	es[1].Hash = es[1].ComputeHash()
	es[2].Prev = es[1].Hash
	es[2].Hash = es[2].ComputeHash()
	b, err := json.Marshal(map[string]any{"entries": es})
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Entries []Entry }
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if r := VerifyEntries(got.Entries); !r.OK || r.Entries != 3 {
		t.Errorf("after a JSON round trip: %s", r)
	}
	for _, key := range []string{`"seq":`, `"at":`, `"actor":`, `"role":`, `"unit":`, `"action":`, `"detail":`, `"prev":`, `"hash":`, `"id":`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("the JSON has no %s field: %s", key, b)
		}
	}
}

func TestReportString(t *testing.T) {
	for _, tc := range []struct {
		r    Report
		want string
	}{
		{Report{Entries: 42, OK: true}, "audit chain intact: 42 entries"},
		{Report{Entries: 42, FirstBroken: &Broken{Seq: 7, StreamID: "1-0", Reason: "it was altered"}}, "audit chain broken at seq 7 (stream id 1-0): it was altered"},
		{Report{Entries: 42, FirstBroken: &Broken{Seq: 7, Reason: "it was altered"}}, "audit chain broken at seq 7: it was altered"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	good := Entry{Actor: "tok-1", Role: "officer", Unit: "990101100001001", Action: ActionCaseTransition,
		Subject: "TZ-990101101-2026-0007", Detail: "案件由受理转为调解中；网格 990101100001001 负责，涉及 12 人、金额 13800000 元"}
	if err := good.validate(); err != nil {
		t.Fatalf("a good entry is refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Entry)
		want   string // part of the message
		secret string // must not appear in the message
	}{
		{"no actor", func(e *Entry) { e.Actor = " " }, "actor: must be given", ""},
		{"no action", func(e *Entry) { e.Action = "" }, "action: must be given", ""},
		{"an action not dotted", func(e *Entry) { e.Action = "Ack" }, "lower-case dotted name", ""},
		{"a phone number in the detail", func(e *Entry) { e.Detail = "已电话联系13900011037，对方同意调解" }, "detail: looks like it holds an ID number or a phone number", "13900011037"},
		{"an ID number in the detail", func(e *Entry) { e.Detail = "当事人 99010119800101123X 到场" }, "detail: looks like", "99010119800101123X"},
		{"an ID number as the subject", func(e *Entry) { e.Subject = "990101198001011234" }, "subject: looks like", "990101198001011234"},
		{"a detail too long", func(e *Entry) { e.Detail = strings.Repeat("长", maxDetail+1) }, "detail: at most 1000 characters", ""},
		{"an actor too long", func(e *Entry) { e.Actor = strings.Repeat("a", maxShort+1) }, "actor: at most", ""},
		{"invalid UTF-8", func(e *Entry) { e.Detail = "\xff" }, "detail: must be valid UTF-8", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			tc.change(&e)
			err := e.validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("validate() = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("validate() = %q, want …%s…", err, tc.want)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("the error repeats the personal data: %q", err)
			}
		})
	}
}

func TestNextID(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	for _, tc := range []struct{ last, want string }{
		{"", "1700000000123-0"},
		{"1700000000100-4", "1700000000123-0"},
		{"1700000000123-0", "1700000000123-1"},
		{"1700000000123-9", "1700000000123-10"},
		{"1700000000200-3", "1700000000200-4"}, // never behind the last id
	} {
		if got := nextID(tc.last, at); got != tc.want {
			t.Errorf("nextID(%q) = %s, want %s", tc.last, got, tc.want)
		}
	}
	if got := nextID("", time.Unix(0, 0)); got != "0-1" {
		t.Errorf("nextID at the epoch = %s, want 0-1", got)
	}
}
