package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"fengqiao/internal/config"
	"fengqiao/internal/redistest"
)

// clusterRun feeds a fixed day of work to one or more daemons: every fixture
// signal, a case taken through mediation to failure, a case left to go
// overdue, and the jobs run at set times. Signals are spread over the
// daemons, one at a time, each scored before the next is sent: signals in
// different shards are scored concurrently, in an order no two runs share,
// and a person named in two of them could then pass through other colours
// on the way to the same one. stop, if set, is called half-way (an
// instance dying mid-run).
func clusterRun(t *testing.T, ds []*daemon, clk *lockedClock, stop func()) {
	t.Helper()
	files, _ := filepath.Glob("../../fixtures/signals/*.json")
	sort.Strings(files)
	var sigs []json.RawMessage
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var batch []json.RawMessage
		if err := json.Unmarshal(b, &batch); err != nil {
			batch = []json.RawMessage{b} // a single signal
		}
		sigs = append(sigs, batch...)
	}
	for i, sig := range sigs {
		d := ds[i%len(ds)]
		if i == len(sigs)/2 && stop != nil {
			stop()
			ds = ds[:1]
			d = ds[0]
		}
		if code, body := d.do(t, "POST", "/api/v1/signals", string(sig)); code != http.StatusAccepted {
			t.Fatalf("POST signal %d: %d %v", i, code, body)
		}
		waitFor(t, "the signal scored", func() bool { return drained(d.raw(t, "", "/metrics")) })
	}
	d := ds[0]
	code, b := d.do(t, "POST", "/api/v1/cases", `{"unit": "990101100201", "channel": "walk_in", "category": "邻里", "summary": "宅基地纠纷",
	  "parties": [{"role": "申请人", "name": "陈某", "id_number": "990101197803152319"}], "external_id": "C-1", "dispute": "TZ-C1"}`)
	if code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, b)
	}
	number := b["case"].(map[string]any)["number"].(string)
	for _, step := range []string{`{"action": "accept"}`,
		`{"action": "assign", "assignment": {"lead_unit": "990101100000", "organisation": "枫桥镇人民调解委员会", "mediation_type": "人民调解"}}`,
		`{"action": "sign"}`, `{"action": "session", "session": {"date": "2026-11-22T11:00:00+08:00", "place": "村委会", "mediators": ["王"]}}`,
		`{"action": "fail", "reason": "分歧大", "referral": "litigation"}`} {
		if code, b := d.do(t, "POST", "/api/v1/cases/"+number+"/actions", step); code != 200 {
			t.Fatalf("%s: %d %v", step, code, b)
		}
	}
	if code, b := d.do(t, "POST", "/api/v1/cases", `{"unit": "990102001001", "channel": "hotline", "category": "劳动/欠薪", "summary": "欠薪",
	  "parties": [{"role": "申请人", "name": "刘某"}], "external_id": "C-2", "dispute": "TZ-C2"}`); code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, b)
	}
	settle(t, d)
	clk.Add(5 * 24 * time.Hour) // the second case's acceptance clock runs out; windows age
	d.app.RunJobs(t.Context())
	settle(t, d)
}

// settle waits until every signal and case event has been scored.
func settle(t *testing.T, d *daemon) {
	t.Helper()
	waitFor(t, "the streams drained", func() bool {
		return drained(d.raw(t, "", "/metrics")) && !strings.Contains(d.raw(t, "", "/metrics"), "fengqiao_stream_length_entries 0\n")
	})
	time.Sleep(300 * time.Millisecond) // the case outbox and the alert events are read on their own loops
	waitFor(t, "the streams drained again", func() bool {
		m := d.raw(t, "", "/metrics")
		return strings.Contains(m, "fengqiao_stream_lag_entries 0") && strings.Contains(m, "fengqiao_stream_pending_entries 0")
	})
}

// drained says, from a scrape, whether every signal appended has been handled.
func drained(metrics string) bool {
	return strings.Contains(metrics, "fengqiao_stream_lag_entries 0") && strings.Contains(metrics, "fengqiao_stream_pending_entries 0")
}

// outcome is what a run leaves: every subject's colour and score, its level
// changes, the alerts opened, and the cases' states.
func outcome(t *testing.T, d *daemon) map[string]string {
	t.Helper()
	out := map[string]string{}
	_, b := d.do(t, "GET", "/api/v1/subjects?min_level=blue&limit=500", "")
	for _, s := range asSlice(b["subjects"]) {
		s := s.(map[string]any)
		id := s["subject"].(map[string]any)
		key := fmt.Sprint(id["kind"], "/", id["ref"])
		_, subj := d.do(t, "GET", "/api/v1/subjects/"+fmt.Sprint(id["kind"])+"/"+fmt.Sprint(id["ref"]), "")
		out["subject "+key] = fmt.Sprint(subj["level"], " ", subj["score"])
		_, h := d.do(t, "GET", "/api/v1/subjects/"+fmt.Sprint(id["kind"])+"/"+fmt.Sprint(id["ref"])+"/history", "")
		var levels []string
		for _, c := range asSlice(h["changes"]) {
			c := c.(map[string]any)
			levels = append(levels, fmt.Sprint(c["event"], ":", c["from"], ">", c["to"]))
		}
		slices.Sort(levels) // the order two instances score in may differ; the set of changes may not
		out["history "+key] = strings.Join(levels, ",")
	}
	_, a := d.do(t, "GET", "/api/v1/alerts?limit=500", "")
	// An alert's id is made from the signal that opened it, which may
	// differ with the order the shards are scored in; a notice about an
	// alert (督办) names it by id, so it is compared by that alert's
	// subject and level instead.
	byID := map[string]string{}
	for _, x := range asSlice(a["alerts"]) {
		x := x.(map[string]any)
		byID[fmt.Sprint(x["id"])] = fmt.Sprint(x["subject"], x["level"])
	}
	var alerts []string
	for _, x := range asSlice(a["alerts"]) {
		x := x.(map[string]any)
		subject := fmt.Sprint(x["subject"])
		if ref, _ := x["subject"].(map[string]any)["ref"].(string); byID[ref] != "" {
			subject = "alert " + byID[ref]
		}
		alerts = append(alerts, fmt.Sprint(x["kind"], subject, x["level"], x["state"]))
	}
	slices.Sort(alerts)
	out["alerts"] = strings.Join(alerts, "\n")
	_, c := d.do(t, "GET", "/api/v1/cases?unit=990100000000&limit=500", "")
	for _, x := range asSlice(c["cases"]) {
		x := x.(map[string]any)
		// Case numbers depend on which registration came first: the engine
		// opens cases at the same time as the run registers its own.
		out["case "+fmt.Sprint(x["external_id"], x["channel"], x["dispute"])] = fmt.Sprint(x["state"], " overdue:", len(asSlice(x["overdue"])), " v", x["version"])
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func diffOutcomes(t *testing.T, want, got map[string]string, what string) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s:\n  single: %s\n  %s: %s", what, k, w, what, got[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s only there: %s", what, k, got[k])
		}
	}
}

// Several daemons on a Redis Cluster, the signal stream in shards, give the
// same colours, histories, alerts and cases as one daemon on one Redis;
// and the same again when one of two dies half-way.
func TestClusterGivesTheSameResults(t *testing.T) {
	_, policy := hookReceiver(t)
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, beijingTZ)
	quick := func(a *App) {
		for _, c := range append(a.consumers, a.caseOutbox) {
			c.ClaimIdle = 300 * time.Millisecond
		}
	}
	sharded := func(c *config.Config) { c.StreamShards = 4 }

	clk := &lockedClock{t: start}
	one := startDaemonWith(t, redistest.Start(t).URL, "one", clk.Now, quick, withSchedules(policy))
	one.app.RunJobs(t.Context())
	clusterRun(t, []*daemon{one}, clk, nil)
	want := outcome(t, one)
	if len(want) < 10 {
		t.Fatalf("the single run left too little to compare: %v", want)
	}

	cl := redistest.StartCluster(t, 3)
	clk2 := &lockedClock{t: start}
	a := startDaemonWith(t, cl.URL, "a", clk2.Now, quick, withSchedules(policy), sharded)
	b := startDaemonWith(t, cl.URL, "b", clk2.Now, quick, withSchedules(policy), sharded)
	a.app.RunJobs(t.Context())
	b.app.RunJobs(t.Context())
	clusterRun(t, []*daemon{a, b}, clk2, nil)
	diffOutcomes(t, want, outcome(t, a), "cluster")
	// The two instances share the four shards: two each.
	waitFor(t, "the shards shared out", func() bool {
		owners := map[string]int{}
		for i := range 4 {
			owners[a.app.rdb.Get(t.Context(), fmt.Sprintf("fq:{signals:%d}:owner", i)).Val()]++
		}
		return owners["a"] == 2 && owners["b"] == 2
	})

	cl2 := redistest.StartCluster(t, 3)
	clk3 := &lockedClock{t: start}
	c := startDaemonWith(t, cl2.URL, "c", clk3.Now, quick, withSchedules(policy), sharded)
	e := startDaemonWith(t, cl2.URL, "e", clk3.Now, quick, withSchedules(policy), sharded)
	c.app.RunJobs(t.Context())
	e.app.RunJobs(t.Context())
	clusterRun(t, []*daemon{c, e}, clk3, e.stop)
	diffOutcomes(t, want, outcome(t, c), "cluster with an instance stopped")
}
