package scoring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/engine"
	"fengqiao/internal/redistest"
	"fengqiao/risk"
	"fengqiao/rules"
	"fengqiao/signals"
)

type fixedRules struct{ e *engine.Engine }

func (f fixedRules) Engine() *engine.Engine { return f.e }

type recorder struct {
	mu     sync.Mutex
	events []alerts.Event
}

func (r *recorder) Publish(_ context.Context, e alerts.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

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

func compile(t *testing.T, dir string) *engine.Engine {
	t.Helper()
	rs, err := rules.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newScorer(t *testing.T, e *engine.Engine) (*Scorer, *recorder, *clock) {
	srv := redistest.Start(t)
	rec := &recorder{}
	clk := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	s := NewScorer(srv.Client(t), fixedRules{e}, rec, clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	return s, rec, clk
}

const personRef = "P0123456789abcdef01234567"

func threat(id string, at time.Time) signals.Record {
	return signals.Record{
		Source: risk.GridReport, ID: id, OccurredAt: at, Unit: "990101100201",
		Persons:   []signals.PersonRef{{Ref: personRef, Name: "张国强"}},
		DisputeID: "TZ-1", Category: "婚姻家庭", Summary: "扬言报复",
	}
}

func TestRedeliveredSignalChangesNothing(t *testing.T) {
	s, rec, clk := newScorer(t, compile(t, "../../fixtures/rules"))
	ctx := context.Background()
	person := risk.SubjectID{Kind: risk.Person, Ref: personRef}
	r := threat("GR-1", clk.Now().Add(-time.Hour))
	if err := s.Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	first, err := s.Subject(ctx, person)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Handle(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	again, _ := s.Subject(ctx, person)
	if again.Level != risk.Orange || again.Score != first.Score || again.Explanation != first.Explanation {
		t.Errorf("after redelivery: %s; first: %s", again.Explanation, first.Explanation)
	}
	hist, _ := s.History(ctx, person, 10)
	if len(hist) != 1 || hist[0].To != "orange" || hist[0].From != "" || hist[0].Signal != "grid_report:GR-1" {
		t.Errorf("history = %+v", hist)
	}
	if len(rec.events) != 2 { // one rise each for the person and the dispute
		t.Errorf("alert events = %d, want 2: %+v", len(rec.events), rec.events)
	}
	if e := rec.events[1]; e.To != risk.Orange || e.From != risk.Green || e.ID != alerts.EventID(person, risk.Orange, "grid_report:GR-1") {
		t.Errorf("alert event = %+v", e)
	}
	if got := testutil.ToFloat64(s.changes.WithLabelValues("person", "rise")); got != 1 {
		t.Errorf("rises counted %v", got)
	}
}

func TestWindowsSlideAndFallsAreRecordedNotPaged(t *testing.T) {
	s, rec, clk := newScorer(t, compile(t, "../../fixtures/rules"))
	ctx := context.Background()
	person := risk.SubjectID{Kind: risk.Person, Ref: personRef}
	if err := s.Handle(ctx, threat("GR-1", clk.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	clk.Add(31 * 24 * time.Hour) // the threat is now older than its 30-day window
	if res, err := s.Sweep(ctx); err != nil || res.Rescored != 2 || res.Fell < 1 {
		t.Fatalf("Sweep = %+v, %v", res, err)
	}
	got, _ := s.Subject(ctx, person)
	if got.Level != risk.Green {
		t.Errorf("after 31 days: %s", got.Explanation)
	}
	hist, _ := s.History(ctx, person, 10)
	if len(hist) != 2 || hist[0].From != "orange" || hist[0].To != "green" {
		t.Errorf("history = %+v", hist)
	}
	rises := 0
	for _, e := range rec.events {
		if e.To > e.From {
			rises++
		}
	}
	if rises != 2 || len(rec.events) != 4 {
		t.Errorf("want 2 rises and 2 falls published: %+v", rec.events)
	}
}

func TestUnknownSubject(t *testing.T) {
	s, _, _ := newScorer(t, compile(t, "../../fixtures/rules"))
	_, err := s.Subject(context.Background(), risk.SubjectID{Kind: risk.Person, Ref: "Pnope"})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v", err)
	}
}

// Two workers handling interleaved signals for the same person must leave
// exact counts: no signal lost, none counted twice.
func TestConcurrentWorkersKeepExactCounts(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/count.yaml", `version: "count"
levels: {blue: 1000, yellow: 2000, orange: 3000, red: 4000}
features:
  all: {count: any, window: 30d}
rules:
  - id: count
    name: 计数
    applies_to: [person]
    when: "true"
    score: features.all
`)
	s, _, clk := newScorer(t, compile(t, dir))
	ctx := context.Background()
	const perWorker = 40
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				r := threat(fmt.Sprintf("W%d-%d", w, i), clk.Now().Add(-time.Minute))
				r.DisputeID = ""
				if err := s.Handle(ctx, r); err != nil {
					errc <- err
					return
				}
				if i%10 == 0 { // and a redelivery now and then
					if err := s.Handle(ctx, r); err != nil {
						errc <- err
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	got, err := s.Subject(ctx, risk.SubjectID{Kind: risk.Person, Ref: personRef})
	if err != nil {
		t.Fatal(err)
	}
	if got.Score != 2*perWorker {
		t.Errorf("score = %v, want %d: a signal was lost or double-counted", got.Score, 2*perWorker)
	}
}

func TestMaskName(t *testing.T) {
	for in, want := range map[string]string{"": "", "张": "张", "张三": "张*", "欧阳娜娜": "欧***"} {
		if got := MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const managedRules = `version: "m1"
levels: {blue: 20, yellow: 40, orange: 60, red: 80}
dampening:
  cooldown: {orange: 48h}
  signoff: red
spread:
  dispute_to_person: 1
features:
  reports_30d: {count: any, window: 30d, label: 近30天上报次数}
  parties: {max: party_count, window: 30d}
rules:
  - id: reports
    name: 多次上报
    applies_to: [person]
    when: features.reports_30d >= 1
    score: 20 * features.reports_30d
  - id: big-dispute
    name: 群体性纠纷
    applies_to: [dispute]
    when: features.parties >= 30
    score: 90
`

func managed(t *testing.T) (*Scorer, *recorder, *clock) {
	dir := t.TempDir()
	writeFile(t, dir+"/r.yaml", managedRules)
	return newScorer(t, compile(t, dir))
}

func report(id, dispute string, persons []string, parties int, at time.Time) signals.Record {
	r := signals.Record{Source: risk.GridReport, ID: id, OccurredAt: at, Unit: "990101100201", DisputeID: dispute, PartyCount: parties}
	for _, p := range persons {
		r.Persons = append(r.Persons, signals.PersonRef{Ref: p, Name: "王某"})
	}
	return r
}

func level(t *testing.T, s *Scorer, id risk.SubjectID) risk.Level {
	t.Helper()
	sub, err := s.Subject(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return sub.Level
}

// A dispute's colour reaches its persons one colour lower, including persons
// named only by earlier signals; a person's colour shows on the dispute.
func TestSpreadFromDisputeToPersons(t *testing.T) {
	s, _, clk := managed(t)
	ctx := context.Background()
	a, b := risk.SubjectID{Kind: risk.Person, Ref: "Pa"}, risk.SubjectID{Kind: risk.Person, Ref: "Pb"}
	d := risk.SubjectID{Kind: risk.Dispute, Ref: "TZ-7"}
	at := clk.Now().Add(-time.Hour)
	if err := s.Handle(ctx, report("1", "TZ-7", []string{"Pa", "Pb"}, 2, at)); err != nil {
		t.Fatal(err)
	}
	if got := level(t, s, a); got != risk.Blue {
		t.Fatalf("person a before: %v", got)
	}
	// A ledger row with no persons makes the dispute red: both persons rise to orange.
	if err := s.Handle(ctx, report("2", "TZ-7", nil, 40, at)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []risk.SubjectID{a, b} {
		sub, _ := s.Subject(ctx, p)
		if sub.Level != risk.Orange || !strings.Contains(sub.Explanation, "所涉纠纷 TZ-7 为红色,当事人至少橙色") {
			t.Errorf("%v: %s", p, sub.Explanation)
		}
	}
	sub, _ := s.Subject(ctx, d)
	if len(sub.Linked) != 2 || sub.Linked[0].Level == nil || *sub.Linked[0].Level != risk.Orange || sub.Linked[0].Name != "王*" {
		t.Errorf("dispute's linked persons: %+v", sub.Linked)
	}
}

func TestOverrideAndSignOff(t *testing.T) {
	s, _, clk := managed(t)
	ctx := context.Background()
	p := risk.SubjectID{Kind: risk.Person, Ref: "Pa"}
	for i := 0; i < 5; i++ {
		if err := s.Handle(ctx, report(fmt.Sprint(i), "", []string{"Pa"}, 0, clk.Now().Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if got := level(t, s, p); got != risk.Red {
		t.Fatalf("level %v", got)
	}
	// Refused overrides say what to do.
	for _, tt := range []struct {
		o    engine.Override
		want string
	}{
		{engine.Override{Level: risk.Yellow, Reason: "x", Until: clk.Now().Add(time.Hour)}, "officer:"},
		{engine.Override{Level: risk.Yellow, Officer: "李明", Until: clk.Now().Add(time.Hour)}, "reason:"},
		{engine.Override{Level: risk.Yellow, Officer: "李明", Reason: "x", Until: clk.Now()}, "until: must be in the future"},
		{engine.Override{Level: risk.Yellow, Officer: "李明", Reason: "x", Until: clk.Now().Add(31 * 24 * time.Hour)}, "at most 30 days"},
		{engine.Override{Level: risk.Level(9), Officer: "李明", Reason: "x", Until: clk.Now().Add(time.Hour)}, "level:"},
	} {
		if _, err := s.SetOverride(ctx, p, tt.o); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SetOverride(%+v) = %v, want %q", tt.o, err, tt.want)
		}
	}
	got, err := s.SetOverride(ctx, p, engine.Override{Level: risk.Yellow, Officer: "李明", Reason: "已落实稳控措施", Until: clk.Now().Add(2 * time.Hour)})
	if err != nil || got != risk.Yellow {
		t.Fatalf("SetOverride = %v, %v", got, err)
	}
	clk.Add(3 * time.Hour) // the override has ended: the sweep restores the rules' level
	res, err := s.Sweep(ctx)
	if err != nil || level(t, s, p) != risk.Red {
		t.Fatalf("after expiry: %v %+v %v", level(t, s, p), res, err)
	}
	// Leaving red needs a sign-off, even once the evidence has aged out.
	clk.Add(31 * 24 * time.Hour)
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	sub, _ := s.Subject(ctx, p)
	if sub.Level != risk.Red || !strings.Contains(sub.Explanation, "须值班人员签字解除预警") {
		t.Fatalf("held: %s", sub.Explanation)
	}
	if _, err := s.SignOff(ctx, p, "", "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("sign-off without officer: %v", err)
	}
	if got, err := s.SignOff(ctx, p, "张伟", "矛盾已化解,回访无异常"); err != nil || got != risk.Green {
		t.Fatalf("SignOff = %v, %v", got, err)
	}
	if _, err := s.SignOff(ctx, p, "张伟", "再签"); !errors.Is(err, ErrInvalid) {
		t.Errorf("sign-off at green: %v", err)
	}
	hist, _ := s.History(ctx, p, 20)
	var events []string
	for _, h := range hist {
		events = append(events, h.Event+":"+h.To)
	}
	want := "level:green,signoff:,level:red,level:yellow,override:yellow,level:red,level:orange,level:yellow,level:blue"
	if strings.Join(events, ",") != want {
		t.Errorf("history = %s\nwant      %s", strings.Join(events, ","), want)
	}
}

func TestBoard(t *testing.T) {
	s, _, clk := managed(t)
	ctx := context.Background()
	for i, n := range []int{1, 3, 5} { // blue, orange, red
		clk.Add(time.Minute)
		for j := 0; j < n; j++ {
			r := report(fmt.Sprint(i, "-", j), "", []string{fmt.Sprint("P", i)}, 0, clk.Now().Add(-time.Hour))
			if i == 2 {
				r.Unit = "990102001001"
			}
			if err := s.Handle(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, total, err := s.Board(ctx, BoardQuery{MinLevel: risk.Orange, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 || len(entries) != 2 || entries[0].Subject.Ref != "P2" || entries[1].Subject.Ref != "P1" {
		t.Errorf("board at orange: %d %+v", total, entries)
	}
	entries, total, _ = s.Board(ctx, BoardQuery{MinLevel: risk.Blue, Limit: 1, Offset: 1,
		InScope: func(u string) bool { return strings.HasPrefix(u, "990101") }})
	if total != 2 || len(entries) != 1 || entries[0].Subject.Ref != "P0" || entries[0].Level != risk.Blue {
		t.Errorf("board in 990101, page 2: %d %+v", total, entries)
	}
}

func (f fixedRules) Shadow() *engine.Engine { return nil }

func (f fixedRules) EngineFor(string) *engine.Engine { return f.e }

// A history kept as a stream, as it was before the list, is converted on the
// next change, entry by entry, and read the same before and after.
func TestStreamHistoryIsConverted(t *testing.T) {
	s, _, clk := newScorer(t, compile(t, "../../fixtures/rules"))
	ctx := context.Background()
	person := risk.SubjectID{Kind: risk.Person, Ref: personRef}
	if err := s.Handle(ctx, threat("GR-1", clk.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	key := keysOf(person).history
	at := clk.Now().Add(-2 * time.Hour).UnixMilli()
	if err := s.rdb.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]any{
		{"event", "level", "from", "", "to", "blue", "at", at, "signal", "grid_report:GR-0", "explanation", "网格上报"},
		{"event", "override", "to", "yellow", "at", at + 1, "officer", "李明", "reason", "已落实稳控措施"},
	} {
		if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: v}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	before, err := s.History(ctx, person, 10)
	if err != nil || len(before) != 2 || before[0].Officer != "李明" || before[1].To != "blue" {
		t.Fatalf("stream history = %+v, %v", before, err)
	}
	clk.Add(31 * 24 * time.Hour) // the threat ages out: a fall, appended to the history
	if _, err := s.Rescore(ctx, person); err != nil {
		t.Fatal(err)
	}
	if typ := s.rdb.Type(ctx, key).Val(); typ != "list" {
		t.Fatalf("history kept as %s", typ)
	}
	after, err := s.History(ctx, person, 10)
	if err != nil || len(after) != 3 {
		t.Fatalf("history = %+v, %v", after, err)
	}
	if after[0].From != "orange" || after[0].Event != "level" || after[1] != before[0] || after[2] != before[1] {
		t.Errorf("converted history = %+v\nwas %+v", after, before)
	}
}
