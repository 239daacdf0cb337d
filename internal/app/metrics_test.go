package app

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"fengqiao/internal/config"
	"fengqiao/internal/metricsdoc"
	"fengqiao/internal/redistest"
	"fengqiao/jurisdiction"
)

var updateCatalogue = flag.Bool("update", false, "rewrite docs/metrics.md from the metrics the daemon exports")

const (
	catalogueFile = "../../docs/metrics.md"
	dashboardFile = "../../monitoring/grafana/fengqiao.json"
	alertsFile    = "../../monitoring/prometheus/alerts.yaml"
	alertTestFile = "../../monitoring/prometheus/alerts_test.yaml"
	promConfig    = "../../monitoring/prometheus/prometheus.yml"
)

// startMetricsDaemon runs the daemon as fixtures/riskd.yaml configures it
// (escalation policy, duty roster, calendar; its channels unconfigured, so
// that every notification fails at once), sends it the fixture signals and
// a bad one, and waits until the signals are scored and the alerts they
// raised have tried their notifications: then every vector has series.
func startMetricsDaemon(t *testing.T) *daemon {
	t.Helper()
	return startMetricsDaemonOn(t, redistest.Start(t).URL, "metrics")
}

// metricsClock is the metrics daemons' time: 10:00 in Beijing, a Sunday, no
// quiet hours.
var metricsClock = &clock{time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)}

// startFixtureDaemon runs the daemon as fixtures/riskd.yaml configures it
// (with its schedule policy, so that the zero-report gauges and every
// scheduled job are there), on redisURL, and sends it nothing.
func startFixtureDaemon(t *testing.T, redisURL, name string) *daemon {
	t.Helper()
	fix, err := config.Load("../../fixtures/riskd.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"FENGQIAO_WECOM_COUNTY_URL", "FENGQIAO_DINGTALK_CITY_URL", "FENGQIAO_DINGTALK_CITY_SECRET", "FENGQIAO_ALERTMANAGER_URL"} {
		t.Setenv(env, "")
	}
	return startDaemonOn(t, redisURL, name, metricsClock.Now, func(c *config.Config) {
		c.Jurisdiction, c.RulesDir = fix.Jurisdiction, fix.RulesDir
		c.AlertPolicy, c.DutyRoster, c.Calendars = fix.AlertPolicy, fix.DutyRoster, fix.Calendars
		c.PublicURL, c.CasePolicy, c.SchedulePolicy = fix.PublicURL, fix.CasePolicy, fix.SchedulePolicy
	})
}

// startMetricsDaemonOn is startMetricsDaemon on a given Redis.
func startMetricsDaemonOn(t *testing.T, redisURL, name string) *daemon {
	t.Helper()
	d := startFixtureDaemon(t, redisURL, name)
	files, _ := filepath.Glob("../../fixtures/signals/*.json")
	if len(files) == 0 {
		t.Fatal("no fixture signals")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if code, body := d.do(t, "POST", "/api/v1/signals", string(b)); code != http.StatusAccepted {
			t.Fatalf("POST %s: %d %v", f, code, body)
		}
	}
	if code, _ := d.do(t, "POST", "/api/v1/signals", `{"source": "grid_report", "id": "x"}`); code != http.StatusBadRequest {
		t.Fatalf("a bad signal was not refused: %d", code)
	}
	waitFor(t, "the signals scored and the notifications tried", func() bool {
		mfs, err := d.app.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var lag, pending float64 = -1, -1
		notified := false
		for _, mf := range mfs {
			switch mf.GetName() {
			case "fengqiao_stream_lag_entries":
				lag = mf.GetMetric()[0].GetGauge().GetValue()
			case "fengqiao_stream_pending_entries":
				pending = mf.GetMetric()[0].GetGauge().GetValue()
			case "fengqiao_notifications_total":
				notified = true
			}
		}
		return lag == 0 && pending == 0 && notified && groupsDone(t, d)
	})
	return d
}

// groupsDone reports whether the consumer groups that follow the scoring
// (the cases opened for disputes that rose, and their events forwarded to
// the signal stream) have handled everything.
func groupsDone(t *testing.T, d *daemon) bool {
	t.Helper()
	for stream, group := range map[string]string{"fq:{alerts}:events": "cases", "fq:{cases}:outbox": "forward"} {
		gs, err := d.app.rdb.XInfoGroups(t.Context(), stream).Result()
		if err != nil {
			return false
		}
		for _, g := range gs {
			if g.Name == group && (g.Lag != 0 || g.Pending != 0) {
				return false
			}
		}
	}
	return true
}

// TestMetricsCatalogue keeps docs/metrics.md what the daemon exports: name,
// type, labels and help of every fengqiao_ metric.
func TestMetricsCatalogue(t *testing.T) {
	d := startMetricsDaemon(t)
	mfs, err := d.app.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams := metricsdoc.FromGathered(mfs)
	got, err := metricsdoc.Render(fams)
	if err != nil {
		t.Fatal(err)
	}
	if *updateCatalogue {
		if err := os.WriteFile(catalogueFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", catalogueFile)
		return
	}
	want, err := os.ReadFile(catalogueFile)
	if err != nil {
		t.Fatalf("%v: run go test ./internal/app -run TestMetricsCatalogue -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/metrics.md differs from the metrics riskd exports; run\n\tgo test ./internal/app -run TestMetricsCatalogue -update\nand review the change. The first difference:\n%s", firstDiff(string(want), string(got)))
	}
	if bytes.Contains(got, []byte("990101")) || bytes.Contains(got, []byte("TZ-")) {
		t.Error("a unit code or dispute id reached the catalogue")
	}

	// The conventions, on every fengqiao_ metric.
	for _, f := range fams {
		if !strings.HasPrefix(f.Name, metricsdoc.Prefix) {
			continue
		}
		for _, p := range metricsdoc.Conventions(f) {
			t.Error(p)
		}
	}
}

// storeGauges are the business gauges read from Redis at scrape time.
var storeGauges = []string{"fengqiao_subjects", "fengqiao_alerts_open", "fengqiao_alerts_unacknowledged_overdue",
	"fengqiao_cases", "fengqiao_cases_overdue", "fengqiao_zero_reports", "fengqiao_zero_report_compliance_ratio",
	"fengqiao_zero_report_county_compliance_ratio", "fengqiao_zero_report_checkpoint_deadline_timestamp_seconds",
	"fengqiao_job_last_success_timestamp_seconds"}

// gauges gathers a daemon's series of the named gauges, by name and labels.
func gauges(t *testing.T, d *daemon, names []string) map[string]float64 {
	t.Helper()
	mfs, err := d.app.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !slices.Contains(names, mf.GetName()) {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestBusinessGaugesAcrossRestarts: the subjects by colour and county, the
// open and overdue alerts by colour and the cases are read from the store,
// so a riskd started after another stopped reports what it did; the
// subjects above green are the board's, and their unit labels counties.
func TestBusinessGaugesAcrossRestarts(t *testing.T) {
	srv := redistest.Start(t)
	a := startMetricsDaemonOn(t, srv.URL, "metrics-a")
	before := gauges(t, a, storeGauges)
	above, counties := 0.0, map[string]bool{}
	for k, v := range before {
		name, labels, _ := strings.Cut(strings.TrimSuffix(k, "}"), "{")
		if name != "fengqiao_subjects" {
			continue
		}
		for _, l := range strings.Split(labels, ",") {
			if c, ok := strings.CutPrefix(l, "county="); ok {
				counties[c] = true
			}
			if strings.HasPrefix(l, "level=") && l != "level=green" {
				above += v
			}
		}
	}
	for c := range counties {
		u, ok := a.app.tree.Unit(c)
		if !ok || u.Tier != jurisdiction.County {
			t.Errorf("fengqiao_subjects has county=%q, not a county of the jurisdiction", c)
		}
	}
	if len(counties) == 0 || above == 0 {
		t.Fatalf("no subjects above green counted: %v", before)
	}
	code, body := a.do(t, "GET", "/api/v1/subjects?min_level=blue&limit=1", "")
	if code != http.StatusOK || body["total"] != above {
		t.Errorf("the board has %v subjects above green, the gauge %v (%d)", body["total"], above, code)
	}
	if before["fengqiao_alerts_open{level=orange}"]+before["fengqiao_alerts_open{level=red}"] == 0 {
		t.Errorf("no open alerts counted: %v", before)
	}
	a.stop()
	b := startFixtureDaemon(t, srv.URL, "metrics-b")
	after := gauges(t, b, storeGauges)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("after a restart %s = %v, was %v", k, after[k], v)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d series after a restart, %d before", len(after), len(before))
	}
}

// TestZeroReportGaugesByCounty: the zero-report compliance is labelled by
// county only, with a series for every county of the jurisdiction, and
// follows the reports filed through the API.
func TestZeroReportGaugesByCounty(t *testing.T) {
	d := startFixtureDaemon(t, redistest.Start(t).URL, "metrics-zero")
	// Sunday 22 November: the latest checkpoint past is Friday's, 16:00.
	const cp = "2026-11-20T16:00"
	for _, unit := range []string{"990101100000", "990101100201", "990102001001"} {
		code, body := d.do(t, "POST", "/api/v1/zero-reports", `{"unit": "`+unit+`", "checkpoint": "`+cp+`", "nothing": true, "officer": "陈建国"}`)
		if code != http.StatusOK && code != http.StatusCreated {
			t.Fatalf("file %s for %s: %d %v", unit, cp, code, body)
		}
	}
	got := gauges(t, d, []string{"fengqiao_zero_report_county_compliance_ratio", "fengqiao_zero_reports",
		"fengqiao_zero_report_checkpoint_deadline_timestamp_seconds"})
	want := map[string]float64{}
	for _, u := range d.app.tree.Units() {
		if u.Tier == jurisdiction.County {
			want["fengqiao_zero_report_county_compliance_ratio{county="+u.Code+"}"] = 0
		}
	}
	// Each county has 2 townships and 6 villages: 清河县 filed 2, 东湖区 1, late.
	want["fengqiao_zero_report_county_compliance_ratio{county=990101000000}"] = 2.0 / 8
	want["fengqiao_zero_report_county_compliance_ratio{county=990102000000}"] = 1.0 / 8
	for k, v := range got {
		if strings.HasPrefix(k, "fengqiao_zero_report_county_compliance_ratio{") {
			if w, ok := want[k]; !ok || w != v {
				t.Errorf("%s = %v, want %v (a county of the jurisdiction: %v)", k, v, w, ok)
			}
			delete(want, k)
		}
	}
	for k := range want {
		t.Errorf("no series %s", k)
	}
	if got["fengqiao_zero_reports{status=filed_late,tier=township}"] != 1 || got["fengqiao_zero_reports{status=filed_late,tier=village}"] != 2 ||
		got["fengqiao_zero_reports{status=missing,tier=village}"] != 16 {
		t.Errorf("zero reports by tier and status: %v", got)
	}
	deadline := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	if got["fengqiao_zero_report_checkpoint_deadline_timestamp_seconds{}"] != float64(deadline.Unix()) {
		t.Errorf("checkpoint deadline %v, want %v", got["fengqiao_zero_report_checkpoint_deadline_timestamp_seconds{}"], deadline.Unix())
	}
}

// firstDiff shows the first line where two texts differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d\n\tdocs/metrics.md: %s\n\tthe code:        %s", i+1, x, y)
		}
	}
	return "(none)"
}

// readCatalogue reads docs/metrics.md back.
func readCatalogue(t *testing.T) *metricsdoc.Catalogue {
	t.Helper()
	b, err := os.ReadFile(catalogueFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := metricsdoc.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMetricsInAlertRules checks that the alerting rules use only metrics of
// the catalogue, carry severities and bilingual annotations, and that the
// promtool tests feed real metrics and test every alert firing and quiet.
func TestMetricsInAlertRules(t *testing.T) {
	c := readCatalogue(t)
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	alerts, records, probs := metricsdoc.CheckRules(rules, c)
	for _, p := range probs {
		t.Errorf("%s: %s", alertsFile, p)
	}
	if len(alerts) < 5 {
		t.Errorf("%s has only %d alerts", alertsFile, len(alerts))
	}
	tests, err := os.ReadFile(alertTestFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range metricsdoc.CheckRuleTests(tests, c, alerts, records) {
		t.Errorf("%s: %s", alertTestFile, p)
	}
}

// TestDashboard checks the Grafana dashboard: it parses, takes its data
// source from a variable, has its six rows, and every query uses only
// metrics of the catalogue (or recording rules of alerts.yaml).
func TestDashboard(t *testing.T) {
	c := readCatalogue(t)
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	_, records, _ := metricsdoc.CheckRules(rules, c)
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	dash, probs := metricsdoc.CheckDashboard(b, c, records)
	for _, p := range probs {
		t.Errorf("%s: %s", dashboardFile, p)
	}
	if want := []string{"风险分布", "信号", "预警", "案件", "零报告与定时任务", "服务健康"}; !slices.Equal(dash.Rows, want) {
		t.Errorf("rows %q, want %q", dash.Rows, want)
	}
	// The dashboard should show most of what riskd exports.
	used := map[string]bool{}
	for _, m := range dash.Metrics {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			m = strings.TrimSuffix(m, suf)
		}
		used[m] = true
	}
	var unused []string
	for name := range c.Families {
		if !used[name] {
			unused = append(unused, name)
		}
	}
	slices.Sort(unused)
	if len(unused) > 0 {
		t.Logf("metrics the dashboard does not show: %s", strings.Join(unused, ", "))
	}

	// The provisioning examples are YAML that points at the dashboard.
	for _, f := range []string{"../../monitoring/grafana/provisioning/datasources/prometheus.yaml", "../../monitoring/grafana/provisioning/dashboards/fengqiao.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			APIVersion  int              `yaml:"apiVersion"`
			Datasources []map[string]any `yaml:"datasources"`
			Providers   []map[string]any `yaml:"providers"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil || doc.APIVersion != 1 || len(doc.Datasources)+len(doc.Providers) == 0 {
			t.Errorf("%s: %v %+v", f, err, doc)
		}
	}
}

// promtool finds promtool, or skips the test (fails it where CI requires
// promtool with FENGQIAO_REQUIRE_PROMTOOL=1).
func promtool(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("FENGQIAO_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool is not on PATH and FENGQIAO_REQUIRE_PROMTOOL=1: install it with apt-get install -y prometheus")
		}
		t.Skip("promtool is not on PATH: install it (apt-get install -y prometheus) to check the alerting rules and the metrics with it")
	}
	return bin
}

// runPromtool runs promtool with args (and stdin), failing the test with its
// output when it fails.
func runPromtool(t *testing.T, bin string, stdin []byte, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPromtoolRules runs promtool's own checks of the example configuration
// and the alerting rules, and the rules' unit tests.
func TestPromtoolRules(t *testing.T) {
	bin := promtool(t)
	runPromtool(t, bin, nil, "check", "config", promConfig)
	runPromtool(t, bin, nil, "check", "rules", alertsFile)
	runPromtool(t, bin, nil, "test", "rules", alertTestFile)
}

// TestPromtoolCheckMetrics lints a real scrape of the daemon with promtool.
func TestPromtoolCheckMetrics(t *testing.T) {
	bin := promtool(t)
	d := startMetricsDaemon(t)
	resp, err := http.Get(d.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(scrape, []byte("fengqiao_")) {
		t.Fatalf("scrape: %d\n%s", resp.StatusCode, scrape)
	}
	if out := runPromtool(t, bin, scrape, "check", "metrics"); strings.TrimSpace(out) != "" {
		t.Logf("promtool check metrics:\n%s", out)
	}
}
