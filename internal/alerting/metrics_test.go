package alerting

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sort"
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

// namingRouter is the test router that also names the policy's channels,
// which a reload may change.
type namingRouter struct {
	router
	mu    sync.Mutex
	names []string
}

func (r *namingRouter) ChannelNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.names...)
}

func (r *namingRouter) reload(names ...string) {
	r.mu.Lock()
	r.names = names
	r.mu.Unlock()
}

// instance is one riskd's alert manager on a shared Redis, with its own
// registry.
type instance struct {
	m   *Manager
	reg *prometheus.Registry
}

func newInstance(t *testing.T, rdb redis.UniversalClient, r Router, snd Sender, clk *clock) instance {
	t.Helper()
	reg := prometheus.NewRegistry()
	contains := func(a, u string) bool { return strings.HasPrefix(u, strings.TrimRight(a, "0")) }
	m := NewManager(rdb, r, snd, contains, clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	return instance{m, reg}
}

// metrics gathers an instance's series: name{label=value,…} → value (a
// histogram by its count).
func (in instance) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := in.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			sort.Strings(ls)
			key := mf.GetName()
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// expect checks some series of an instance.
func (in instance) expect(t *testing.T, what string, want map[string]float64) {
	t.Helper()
	got := in.metrics(t)
	for k, v := range want {
		if n, ok := got[k]; !ok || n != v {
			t.Errorf("%s: %s = %v (present %v), want %v", what, k, n, ok, v)
		}
	}
}

// open says how many alerts of each colour are open and overdue.
func gaugesOf(open, overdue [4]float64, due float64) map[string]float64 {
	out := map[string]float64{"fengqiao_alert_escalations_due": due}
	for i, l := range risk.Levels[1:] {
		out["fengqiao_alerts_open{level="+l.String()+"}"] = open[i]
		out["fengqiao_alerts_unacknowledged_overdue{level="+l.String()+"}"] = overdue[i]
	}
	return out
}

// Open and overdue alerts by colour are read from the store: every instance,
// and one started later, says the same; escalation does not make an alert
// less overdue, an acknowledgement or a resolution does.
func TestAlertGaugesByColour(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	clk := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	snd := &sender{}
	a := newInstance(t, rdb, router{}, snd, clk)
	b := newInstance(t, rdb, router{}, snd, clk)
	ctx := context.Background()
	handle := func(ev alerts.Event) {
		t.Helper()
		if err := a.m.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	dispute := risk.SubjectID{Kind: risk.Dispute, Ref: "TZ-9"}
	other := risk.SubjectID{Kind: risk.Person, Ref: "P2"}
	if _, err := a.m.AddSilence(ctx, Silence{Unit: "990101100000", UpTo: risk.Yellow, Until: clk.Now().Add(2 * time.Hour), Reason: "专班处置", By: "t"}); err != nil {
		t.Fatal(err)
	}
	handle(rise("e1", risk.Blue, risk.Orange))
	handle(rise("e1", risk.Blue, risk.Orange)) // redelivered
	handle(alerts.Event{ID: "e2", Subject: dispute, Unit: "990101100201", From: risk.Green, To: risk.Red})
	handle(alerts.Event{ID: "e3", Subject: other, Unit: "990101100201", From: risk.Green, To: risk.Yellow}) // silenced
	for _, in := range []instance{a, b} {
		in.expect(t, "opened", gaugesOf([4]float64{0, 1, 1, 1}, [4]float64{}, 0))
		in.expect(t, "opened", map[string]float64{"fengqiao_outbox_depth": 2, "fengqiao_outbox_oldest_age_seconds": 0})
	}
	if err := a.m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	list, _ := a.m.List(ctx, Filter{MinLevel: risk.Red})
	clk.Add(10 * time.Minute)
	if _, err := b.m.Acknowledge(ctx, list[0].ID, "李明", "到场"); err != nil {
		t.Fatal(err)
	}
	b.expect(t, "red acknowledged", map[string]float64{"fengqiao_alert_ack_seconds{level=red}": 1, "fengqiao_alert_ack_seconds{level=orange}": 0})

	// Past the deadline, before the alert loop has run: overdue, and its
	// escalation due.
	clk.Add(21 * time.Minute)
	a.expect(t, "past the deadline", gaugesOf([4]float64{0, 1, 1, 1}, [4]float64{0, 0, 1, 0}, 1))
	if err := b.m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	a.expect(t, "escalated", gaugesOf([4]float64{0, 1, 1, 1}, [4]float64{0, 0, 1, 0}, 0))
	// After its last step, still overdue.
	clk.Add(2 * time.Hour)
	for range 3 {
		if err := a.m.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Add(31 * time.Minute)
	}
	if open, _ := a.m.List(ctx, Filter{State: Open}); len(open) != 2 || open[0].Step != 2 && open[1].Step != 2 {
		t.Fatalf("open alerts: %+v", open)
	}
	restarted := newInstance(t, rdb, router{}, snd, clk)
	for _, in := range []instance{a, b, restarted} {
		in.expect(t, "steps run out", gaugesOf([4]float64{0, 1, 1, 1}, [4]float64{0, 0, 1, 0}, 0))
	}
	// The fall resolves the orange alert; the red one is resolved by hand.
	handle(alerts.Event{ID: "e4", Subject: person, Unit: "990101100201", From: risk.Orange, To: risk.Green, At: clk.Now()})
	if _, err := restarted.m.Resolve(ctx, list[0].ID, "李明", "已化解"); err != nil {
		t.Fatal(err)
	}
	restarted.expect(t, "resolved", gaugesOf([4]float64{0, 1, 0, 0}, [4]float64{}, 0))
}

// The outbox's age is that of the notice due first, past its due time: a
// notice held for quiet hours or backing off between retries is not late.
func TestOutboxAgeCountsWhatIsDue(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	clk := &clock{t: time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)} // quiet hours
	snd := &sender{down: 1}
	in := newInstance(t, rdb, router{}, snd, clk)
	ctx := context.Background()
	if err := in.m.Handle(ctx, rise("e1", risk.Blue, risk.Yellow)); err != nil {
		t.Fatal(err)
	}
	in.expect(t, "held till 07:00", map[string]float64{"fengqiao_outbox_depth": 1, "fengqiao_outbox_oldest_age_seconds": 0})
	clk.Add(8*time.Hour + 90*time.Second) // 07:01:30, and no instance has ticked
	in.expect(t, "due since 07:00", map[string]float64{"fengqiao_outbox_oldest_age_seconds": 90})
	if err := in.m.Tick(ctx); err != nil { // fails once: retried in 5 s
		t.Fatal(err)
	}
	in.expect(t, "backing off", map[string]float64{"fengqiao_outbox_depth": 1, "fengqiao_outbox_oldest_age_seconds": 0,
		"fengqiao_notifications_total{channel=hook,result=retry}": 1})
	clk.Add(65 * time.Second)
	in.expect(t, "the retry due a minute ago", map[string]float64{"fengqiao_outbox_oldest_age_seconds": 60})
	if err := in.m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	in.expect(t, "sent", map[string]float64{"fengqiao_outbox_depth": 0, "fengqiao_outbox_oldest_age_seconds": 0,
		"fengqiao_notifications_total{channel=hook,result=sent}": 1})
}

// Each channel of the policy in force has its notification series at zero
// from the start, and a reload's new channel from the next scrape on.
func TestNotificationSeriesFollowThePolicy(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	clk := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	r := &namingRouter{names: []string{"county-wecom", "duty-email"}}
	in := newInstance(t, rdb, r, &sender{}, clk)
	want := map[string]float64{}
	for _, c := range []string{"county-wecom", "duty-email"} {
		for _, res := range notifyResults {
			want["fengqiao_notifications_total{channel="+c+",result="+res+"}"] = 0
		}
	}
	in.expect(t, "loaded", want)
	r.reload("county-wecom", "city-dingtalk")
	for _, res := range notifyResults {
		want["fengqiao_notifications_total{channel=city-dingtalk,result="+res+"}"] = 0
	}
	in.expect(t, "reloaded", want) // duty-email's series stay, as counters must
	// Without a ChannelNamer, only what was used.
	plain := newInstance(t, rdb, router{}, &sender{}, clk)
	for k := range plain.metrics(t) {
		if strings.HasPrefix(k, "fengqiao_notifications_total") {
			t.Errorf("a series with no policy channels named: %s", k)
		}
	}
}

// Alerts opened before the indexes by colour existed are filed in them by
// the first tick of an upgraded riskd.
func TestUpgradeIndexesOpenAlerts(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	clk := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	old := newInstance(t, rdb, router{}, &sender{}, clk)
	ctx := context.Background()
	for i, ev := range []alerts.Event{rise("e1", risk.Blue, risk.Orange),
		{ID: "e2", Subject: risk.SubjectID{Kind: risk.Dispute, Ref: "TZ-9"}, Unit: "990101100201", From: risk.Green, To: risk.Red}} {
		if err := old.m.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			clk.Add(time.Hour) // the orange alert escalates once
			if err := old.m.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// And an open alert with no deadline to acknowledge it by, as a notice
	// of the schedules has.
	notice := Alert{ID: "Anotice", Event: "notice/x", Subject: risk.SubjectID{Kind: "zero_report", Ref: "990101100000"},
		Unit: "990101100000", Level: risk.Yellow, State: Open, OpenedAt: clk.Now()}
	b, _ := json.Marshal(notice)
	if err := rdb.Set(ctx, keyAlert+notice.ID, b, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, keyOpen, redis.Z{Score: float64(clk.Now().UnixMilli()), Member: notice.ID}).Err(); err != nil {
		t.Fatal(err)
	}
	// The store as an older riskd left it.
	var keys []string
	for _, l := range risk.Levels[1:] {
		keys = append(keys, keyOpenAt+l.String(), keyUnacked+l.String())
	}
	if err := rdb.Del(ctx, append(keys, keyIndexed)...).Err(); err != nil {
		t.Fatal(err)
	}
	upgraded := newInstance(t, rdb, router{}, &sender{}, clk)
	upgraded.expect(t, "before the first tick", gaugesOf([4]float64{}, [4]float64{}, 0))
	if err := upgraded.m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	upgraded.expect(t, "after the first tick", gaugesOf([4]float64{0, 1, 1, 1}, [4]float64{0, 0, 1, 0}, 0))
	clk.Add(31 * time.Minute)
	upgraded.expect(t, "the red one overdue too", gaugesOf([4]float64{0, 1, 1, 1}, [4]float64{0, 0, 1, 1}, 2))
}
