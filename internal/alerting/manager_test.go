package alerting

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/internal/redistest"
	"fengqiao/risk"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// router pages the village's township first, then goes up: township →
// county → city.
type router struct{}

var parents = map[string]string{"990101100000": "990101000000", "990101000000": "990100000000"}

func (router) Route(level risk.Level, unit string, at time.Time) (Snapshot, []Target, bool) {
	if level < risk.Yellow {
		return Snapshot{}, nil, false
	}
	return Snapshot{Tiers: []string{"township"}, Channels: []string{"hook"}, AckWithin: "30m", Every: 30 * time.Minute, Times: 2},
		[]Target{{Unit: "990101100000", Tier: "township", Channels: []string{"hook"}}}, true
}

func (router) Escalate(t Target) (Target, bool) {
	p, ok := parents[t.Unit]
	return Target{Unit: p, Tier: "up", Channels: t.Channels}, ok
}

func (router) Deadline(p Snapshot, from time.Time) time.Time { return from.Add(30 * time.Minute) }
func (router) Suppress() time.Duration                       { return 12 * time.Hour }

// SendAt holds blue notices overnight (quiet hours 23:00–07:00 UTC here).
func (router) SendAt(l risk.Level, t time.Time) time.Time {
	if l < risk.Orange && (t.Hour() >= 23 || t.Hour() < 7) {
		day := t
		if t.Hour() >= 23 {
			day = t.Add(24 * time.Hour)
		}
		return time.Date(day.Year(), day.Month(), day.Day(), 7, 0, 0, 0, time.UTC)
	}
	return t
}

// sender records what it is given and fails while down.
type sender struct {
	mu   sync.Mutex
	down int // fail this many more sends
	got  []Notification
}

var errDown = errors.New("receiver down")

func (s *sender) Send(_ context.Context, n Notification, _ Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down > 0 {
		s.down--
		return errDown
	}
	s.got = append(s.got, n)
	return nil
}

func (s *sender) Retryable(err error) bool { return errors.Is(err, errDown) }

// Refresh re-sends the "am" channel every hour, as Alertmanager wants.
func (s *sender) Refresh(ch string) time.Duration {
	if ch == "am" {
		return time.Hour
	}
	return 0
}

func (s *sender) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.got {
		k := n.Target.Unit
		if n.Resolved {
			k += "(resolved)"
		}
		out = append(out, k)
	}
	return out
}

type env struct {
	m   *Manager
	snd *sender
	clk *clock
	rdb *redis.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	clk := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	snd := &sender{}
	contains := func(a, u string) bool { return strings.HasPrefix(u, strings.TrimRight(a, "0")) }
	m := NewManager(rdb, router{}, snd, contains, clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	return &env{m, snd, clk, rdb}
}

var person = risk.SubjectID{Kind: risk.Person, Ref: "P1"}

func rise(id string, from, to risk.Level) alerts.Event {
	return alerts.Event{ID: id, Subject: person, Unit: "990101100201", From: from, To: to, Explanation: "x"}
}

func (e *env) tick(t *testing.T) {
	t.Helper()
	if err := e.m.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) handle(t *testing.T, ev alerts.Event) {
	t.Helper()
	if err := e.m.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

// Nobody acknowledges: the township hears first, then the county, then the
// city, each after the 30-minute deadline; then the steps run out.
func TestEscalationWhenNobodyAcknowledges(t *testing.T) {
	e := newEnv(t)
	e.handle(t, rise("e1", risk.Blue, risk.Orange))
	e.handle(t, rise("e1", risk.Blue, risk.Orange)) // redelivered: nothing new
	e.tick(t)
	for _, step := range []time.Duration{29 * time.Minute, time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute} {
		e.clk.Add(step)
		e.tick(t)
	}
	if got := strings.Join(e.snd.sent(), ","); got != "990101100000,990101000000,990100000000" {
		t.Errorf("notified %s", got)
	}
	list, _ := e.m.List(context.Background(), Filter{State: Open})
	if len(list) != 1 || list[0].Step != 2 || len(list[0].Notified) != 3 {
		t.Fatalf("open alerts: %+v", list)
	}
}

// An acknowledgement stops the escalation; a fall resolves and says so.
func TestAcknowledgeThenResolveOnFall(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.handle(t, rise("e1", risk.Blue, risk.Orange))
	e.tick(t)
	list, _ := e.m.List(ctx, Filter{})
	id := list[0].ID
	e.clk.Add(10 * time.Minute)
	a, err := e.m.Acknowledge(ctx, id, "李明", "已联系村干部到场")
	if err != nil || a.State != Acknowledged || a.AckedBy != "李明" {
		t.Fatalf("ack: %+v %v", a, err)
	}
	if _, err := e.m.Acknowledge(ctx, id, "李明", "again"); !errors.Is(err, ErrState) {
		t.Errorf("second ack: %v", err)
	}
	e.clk.Add(2 * time.Hour)
	e.tick(t)
	e.handle(t, alerts.Event{ID: "e2", Subject: person, Unit: "990101100201", From: risk.Orange, To: risk.Blue, At: e.clk.Now()})
	e.tick(t)
	if got := strings.Join(e.snd.sent(), ","); got != "990101100000,990101100000(resolved)" {
		t.Errorf("notified %s", got)
	}
	a, _ = e.m.Get(ctx, id)
	if a.State != Resolved || a.ResolvedBy != "system" || a.ResolveReason != "已降至蓝色" {
		t.Errorf("after the fall: %+v", a)
	}
	d, _ := e.m.Deliveries(ctx, id)
	if len(d) != 2 || d[0].State != "sent" || d[0].SentAt == nil {
		t.Errorf("deliveries: %+v", d)
	}
}

// The same colour again within the suppression time pages no one; a further
// rise pages and supersedes the lower alert.
func TestSuppressionAndSupersession(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.handle(t, rise("e1", risk.Blue, risk.Orange))
	e.handle(t, alerts.Event{ID: "e2", Subject: person, Unit: "990101100201", From: risk.Orange, To: risk.Blue, At: e.clk.Now()})
	e.handle(t, rise("e3", risk.Blue, risk.Orange)) // back to orange within 12 h
	all, _ := e.m.List(ctx, Filter{})
	if len(all) != 1 {
		t.Fatalf("suppression: %d alerts", len(all))
	}
	e.clk.Add(time.Minute)
	e.handle(t, rise("e4", risk.Blue, risk.Red))
	all, _ = e.m.List(ctx, Filter{})
	if len(all) != 2 || all[0].Level != risk.Red || all[0].State != Open {
		t.Fatalf("after a rise to red: %+v", all)
	}
}

// The receiver is down for a while: nothing is lost, and each notification
// arrives once, with its idempotency key.
func TestOutageLosesNothing(t *testing.T) {
	e := newEnv(t)
	e.snd.down = 4
	e.handle(t, rise("e1", risk.Blue, risk.Orange))
	for i := 0; i < 5; i++ {
		e.tick(t)
		e.clk.Add(backoff(i + 1))
	}
	if got := e.snd.sent(); len(got) != 1 || e.snd.got[0].ID == "" {
		t.Fatalf("after the outage: %v", got)
	}
	d, _ := e.m.Deliveries(context.Background(), e.snd.got[0].AlertID)
	if d[0].Attempts != 5 || d[0].State != "sent" {
		t.Errorf("delivery: %+v", d[0])
	}
}

// An instance that claimed notifications and died: after the lease another
// sends them.
func TestCrashedInstanceLosesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.handle(t, rise("e1", risk.Blue, risk.Orange))
	if ids, err := e.m.claim(ctx, keyOutbox, e.clk.Now(), 10); err != nil || len(ids) != 1 {
		t.Fatalf("claim: %v %v", ids, err)
	} // ... and the claimer dies here
	e.tick(t)
	if len(e.snd.sent()) != 0 {
		t.Fatal("sent while another instance held the lease")
	}
	e.clk.Add(e.m.Lease)
	e.tick(t)
	if len(e.snd.sent()) != 1 {
		t.Fatalf("after the lease: %v", e.snd.sent())
	}
}

func TestSilence(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.m.AddSilence(ctx, Silence{Unit: "990101100000", UpTo: risk.Orange, Until: e.clk.Now().Add(time.Hour)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a silence without a reason: %v", err)
	}
	s, err := e.m.AddSilence(ctx, Silence{Unit: "990101100000", UpTo: risk.Orange, Until: e.clk.Now().Add(time.Hour), Reason: "镇里已组织专班处置", By: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	e.handle(t, rise("e1", risk.Blue, risk.Orange))
	e.tick(t)
	all, _ := e.m.List(ctx, Filter{})
	if len(all) != 1 || all[0].Silence != s.ID || len(e.snd.sent()) != 0 {
		t.Fatalf("silenced alert: %+v, sent %v", all, e.snd.sent())
	}
	e.handle(t, rise("e2", risk.Orange, risk.Red)) // above the silence
	e.tick(t)
	if len(e.snd.sent()) != 1 {
		t.Errorf("a red alert above an orange silence: sent %v", e.snd.sent())
	}
}

// A yellow alert at night waits for the end of quiet hours; a red one does not.
func TestQuietHours(t *testing.T) {
	e := newEnv(t)
	e.clk.Add(13 * time.Hour) // 23:00
	e.handle(t, rise("e1", risk.Blue, risk.Yellow))
	e.tick(t)
	if len(e.snd.sent()) != 0 {
		t.Fatal("a yellow notice went out in quiet hours")
	}
	e.handle(t, alerts.Event{ID: "e2", Subject: risk.SubjectID{Kind: risk.Dispute, Ref: "TZ-9"}, Unit: "990101100201", From: risk.Orange, To: risk.Red})
	e.tick(t)
	if len(e.snd.sent()) != 1 {
		t.Fatalf("the red notice: %v", e.snd.sent())
	}
	e.clk.Add(8 * time.Hour) // 07:00
	e.tick(t)
	yellow := 0
	for _, n := range e.snd.got {
		a, _ := e.m.Get(context.Background(), n.AlertID)
		if a.Level == risk.Yellow && n.Step == 0 {
			yellow++
		}
	}
	if yellow != 1 {
		t.Errorf("after quiet hours the yellow notice went out %d times: %v", yellow, e.snd.sent())
	}
}

// A channel that forgets alerts not re-sent gets the alert again every
// refresh period while it is open, and no more once it is resolved.
func TestRefreshWhileOpen(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.handle(t, rise("e1", risk.Blue, risk.Orange))
	list, _ := e.m.List(ctx, Filter{})
	a := list[0]
	// Route that alert to the refreshing channel too.
	if err := e.m.enqueue(ctx, a, []Target{{Unit: "990101000000", Tier: "county", Channels: []string{"am"}}}, false, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Acknowledge(ctx, a.ID, "李明", "处置中"); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	for i := 0; i < 3; i++ {
		e.clk.Add(time.Hour)
		e.tick(t)
	}
	am := 0
	for _, n := range e.snd.got {
		if n.Channel == "am" {
			am++
		}
	}
	if am != 4 {
		t.Errorf("sent to am %d times over 3 hours, want 4", am)
	}
	if _, err := e.m.Resolve(ctx, a.ID, "李明", "已化解"); err != nil {
		t.Fatal(err)
	}
	before := len(e.snd.got)
	for i := 0; i < 2; i++ {
		e.clk.Add(time.Hour)
		e.tick(t)
	}
	for _, n := range e.snd.got[before:] {
		if n.Channel == "am" {
			t.Errorf("re-sent to am after the alert was resolved: %+v", n)
		}
	}
}

// A fall older than the alert open now (a redelivered event) leaves it open;
// a policy that suppresses nothing pages every rise.
func TestOldFallAndNoSuppression(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := e.clk.Now()
	e.clk.Add(time.Minute)
	e.handle(t, rise("e1", risk.Blue, risk.Orange))
	e.handle(t, alerts.Event{ID: "e0", Subject: person, Unit: "990101100201", From: risk.Orange, To: risk.Blue, At: old})
	if open, _ := e.m.List(ctx, Filter{State: Open}); len(open) != 1 {
		t.Fatalf("an old fall resolved the alert: %+v", open)
	}
}
