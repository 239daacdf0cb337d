package scoring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

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
	if e := rec.events[0]; e.To != risk.Orange || e.From != risk.Green || e.ID != alerts.EventID(person, risk.Orange, "grid_report:GR-1") {
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
	if _, err := s.Rescore(ctx, person); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Subject(ctx, person)
	if got.Level != risk.Green {
		t.Errorf("after 31 days: %s", got.Explanation)
	}
	hist, _ := s.History(ctx, person, 10)
	if len(hist) != 2 || hist[0].From != "orange" || hist[0].To != "green" {
		t.Errorf("history = %+v", hist)
	}
	if len(rec.events) != 2 {
		t.Errorf("a fall was paged: %+v", rec.events)
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
