package metricsdoc

import (
	"slices"
	"strings"
	"testing"
)

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up{job="riskd"} == 0`, []string{"up"}},
		{`absent(up{job="riskd"})`, []string{"up"}},
		{`sum by (source, reason) (rate(fengqiao_signals_rejected_total{job="$job", instance=~"$instance"}[$__rate_interval]))`,
			[]string{"fengqiao_signals_rejected_total"}},
		{`histogram_quantile(0.99, sum without (instance) (rate(a_seconds_bucket[5m])))`, []string{"a_seconds_bucket"}},
		{`sum(rate(a_total[5m])) by (le) / ignoring(x) group_left(y) b`, []string{"a_total", "b"}},
		{`max_over_time((timestamp(increase(c_total{result="failure"}[2m]) > 0))[1d:1m]) > on (job) d + 120`, []string{"c_total", "d"}},
		{`a > 1e-3 and b offset 5m < 0x1F or c @ start()`, []string{"a", "b", "c"}},
		{`label_replace(x, "dst", "$1", "src", "(.*)") unless count_values("v", y)`, []string{"x", "y"}},
		{`topk(5, job:requests:rate5m) # a comment naming z`, []string{"job:requests:rate5m"}},
		{`{__name__="hidden"}`, nil},
		{`time() - max(process_start_time_seconds{job="riskd"})`, []string{"process_start_time_seconds"}},
	}
	for _, tt := range tests {
		got, err := MetricNames(tt.expr)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.expr, got, tt.want)
		}
	}
	for _, bad := range []string{`a{job="x"`, `rate(a[5m)`, `a{job="x}`, `a]`} {
		if _, err := MetricNames(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestConventions(t *testing.T) {
	good := []Family{
		{Name: "fengqiao_signals_processed_total", Type: "counter", Labels: []string{"source"}, Help: "Signals processed."},
		{Name: "fengqiao_alert_ack_seconds", Type: "histogram", Help: "Time from opening to acknowledgement."},
		{Name: "fengqiao_rules_last_reload_success_timestamp_seconds", Type: "gauge", Help: "When the ruleset was loaded."},
		{Name: "fengqiao_outbox_depth", Type: "gauge", Help: "Notifications waiting."},
	}
	for _, f := range good {
		if p := Conventions(f); len(p) > 0 {
			t.Errorf("%s: %q", f.Name, p)
		}
	}
	bad := []struct {
		f    Family
		want string
	}{
		{Family{Name: "signals_total", Type: "counter", Help: "x."}, "does not begin fengqiao_"},
		{Family{Name: "fengqiao_signals", Type: "counter", Help: "x."}, "must end _total"},
		{Family{Name: "fengqiao_open_total", Type: "gauge", Help: "x."}, "must not end _total"},
		{Family{Name: "fengqiao_ingest_latency", Type: "histogram", Help: "Latency of ingest."}, "must end _seconds"},
		{Family{Name: "fengqiao_ack_milliseconds", Type: "histogram", Help: "x."}, "non-base unit"},
		{Family{Name: "fengqiao_x_total", Type: "counter", Help: ""}, "has no help"},
		{Family{Name: "fengqiao_x_total", Type: "counter", Help: "x"}, "ending with a period"},
		{Family{Name: "fengqiaoX_total", Type: "counter", Help: "x."}, "snake_case"},
		{Family{Name: "fengqiao_x_count", Type: "gauge", Help: "x."}, "kept for histogram"},
		{Family{Name: "fengqiao_x", Type: "untyped", Help: "x."}, "give every metric a type"},
	}
	for _, l := range []string{"person", "dispute", "case", "token", "subject", "ref", "id", "case_id", "person_ref", "id_number"} {
		bad = append(bad, struct {
			f    Family
			want string
		}{Family{Name: "fengqiao_x_total", Type: "counter", Labels: []string{l}, Help: "x."}, "looks like an identifier"})
	}
	for _, tt := range bad {
		p := strings.Join(Conventions(tt.f), "\n")
		if !strings.Contains(p, tt.want) {
			t.Errorf("%+v: problems %q do not say %q", tt.f, p, tt.want)
		}
	}
}

func TestRenderAndParse(t *testing.T) {
	fams := []Family{
		{Name: "fengqiao_a_total", Type: "counter", Labels: []string{"source", "tier"}, Help: "A | with a bar."},
		{Name: "fengqiao_b_seconds", Type: "histogram", Help: "Time of b."},
		{Name: "fengqiao_c_summary_seconds", Type: "summary", Help: "Time of c."},
	}
	for _, b := range RuntimeBasics {
		fams = append(fams, Family{Name: b, Type: "gauge", Help: "x."})
	}
	doc, err := Render(fams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "A `tier` label is carried by `fengqiao_a_total`.") || !strings.Contains(string(doc), "No metric carries a `county` label.") {
		t.Errorf("the preamble does not name the tier and county labels:\n%s", doc)
	}
	c, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if f := c.Families["fengqiao_a_total"]; f.Help != "A | with a bar." || !slices.Equal(f.Labels, []string{"source", "tier"}) || f.Type != "counter" {
		t.Errorf("read back %+v", f)
	}
	for name, want := range map[string]bool{
		"fengqiao_a_total": true, "fengqiao_b_seconds_bucket": true, "fengqiao_b_seconds_count": true,
		"fengqiao_c_summary_seconds_sum": true, "fengqiao_c_summary_seconds_bucket": false, "fengqiao_a_total_bucket": false,
		"go_goroutines": true, "go_memstats_frees_total": false, "up": true, "fengqiao_nope": false,
	} {
		if c.Has(name) != want {
			t.Errorf("Has(%s) = %v", name, !want)
		}
	}
	if _, err := Render(append(fams, Family{Name: "fengqiao_d_total", Type: "counter", Labels: []string{"colour"}, Help: "x."})); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("a label without a bound: %v", err)
	}
}

func TestCheckDashboard(t *testing.T) {
	c := &Catalogue{Families: map[string]Family{"fengqiao_a_total": {Name: "fengqiao_a_total", Type: "counter"}}, Runtime: map[string]bool{}}
	const good = `{"uid": "u", "title": "t", "schemaVersion": 39,
	  "templating": {"list": [
	    {"name": "datasource", "type": "datasource", "query": "prometheus"},
	    {"name": "job", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"}, "query": {"query": "label_values(fengqiao_a_total, job)"}}]},
	  "panels": [{"id": 1, "type": "row", "title": "信号", "panels": [], "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}},
	    {"id": 2, "type": "timeseries", "title": "信号接收", "description": "Signals accepted.", "gridPos": {"h": 8, "w": 12, "x": 0, "y": 1},
	     "datasource": {"uid": "${datasource}", "type": "prometheus"},
	     "targets": [{"refId": "A", "expr": "sum by (x) (rate(fengqiao_a_total{job=\"$job\"}[$__rate_interval]))"}]}]}`
	d, probs := CheckDashboard([]byte(good), c, nil)
	if len(probs) > 0 || !slices.Equal(d.Rows, []string{"信号"}) || !slices.Contains(d.Metrics, "fengqiao_a_total") {
		t.Errorf("good dashboard: %q %+v", probs, d)
	}
	for _, tt := range []struct{ from, to, want string }{
		{`fengqiao_a_total{job`, `fengqiao_b_total{job`, "fengqiao_b_total is not in docs/metrics.md"},
		{`{"uid": "${datasource}", "type": "prometheus"}`, `{"uid": "prom", "type": "prometheus"}`, "must be ${datasource}"},
		{`"title": "信号接收"`, `"title": "Signals"`, "should be Chinese"},
		{`"description": "Signals accepted."`, `"description": "接收"`, "should be English"},
		{`"id": 2`, `"id": 1`, "share id 1"},
		{`"schemaVersion": 39`, `"schemaVersion": 16`, "schemaVersion 16"},
		{`label_values(fengqiao_a_total, job)`, `label_values(nope, job)`, "nope is not in"},
		{`"uid": "u",`, `"uid": "u",,`, "not valid JSON"},
		{`"h": 8, "w": 12, "x": 0, "y": 1`, `"h": 8, "w": 12, "x": 0, "y": 0`, "overlap"},
		{`"h": 8, "w": 12, "x": 0, "y": 1`, `"h": 8, "w": 12, "x": 16, "y": 1`, "not within the 24 columns"},
	} {
		mutated := strings.Replace(good, tt.from, tt.to, 1)
		if mutated == good {
			t.Fatalf("the test dashboard has no %s", tt.from)
		}
		_, probs := CheckDashboard([]byte(mutated), c, nil)
		if p := strings.Join(probs, "\n"); !strings.Contains(p, tt.want) {
			t.Errorf("%s → %s: problems %q do not say %q", tt.from, tt.to, p, tt.want)
		}
	}
	if _, probs := CheckDashboard([]byte(strings.Replace(good, "fengqiao_a_total{job", "job:a:rate{job", 1)), c, []string{"job:a:rate"}); len(probs) > 0 {
		t.Errorf("a recording rule: %q", probs)
	}
}

func TestCheckRules(t *testing.T) {
	c := &Catalogue{Families: map[string]Family{"fengqiao_a_total": {Name: "fengqiao_a_total", Type: "counter"}}, Runtime: map[string]bool{}}
	const rules = `groups:
  - name: g
    rules:
      - record: job:a:rate5m
        expr: sum by (job) (rate(fengqiao_a_total[5m]))
      - alert: A
        expr: job:a:rate5m > 1
        labels: {severity: warning}
        annotations: {summary: "甲", description: "A."}
      - alert: B
        expr: fengqiao_b > 1
        labels: {severity: page}
        annotations: {summary: "B", description: "乙"}
`
	alerts, records, probs := CheckRules([]byte(rules), c)
	if !slices.Equal(alerts, []string{"A", "B"}) || !slices.Equal(records, []string{"job:a:rate5m"}) {
		t.Errorf("alerts %q, records %q", alerts, records)
	}
	p := strings.Join(probs, "\n")
	for _, want := range []string{"rule B: fengqiao_b is not in", `severity "page"`, "alert B: the summary annotation should be Chinese", "alert B: the description annotation should be English"} {
		if !strings.Contains(p, want) {
			t.Errorf("problems %q do not say %q", p, want)
		}
	}
	if strings.Contains(p, "alert A") || strings.Contains(p, "rule A") {
		t.Errorf("problems with a good alert: %q", p)
	}
	const tests = `rule_files: [r.yaml]
tests:
  - input_series:
      - series: 'fengqiao_a_total{job="riskd"}'
      - series: 'fengqiao_z_total{job="riskd"}'
    alert_rule_test:
      - {alertname: A, exp_alerts: [{exp_labels: {severity: warning}}]}
      - {alertname: A, exp_alerts: []}
      - {alertname: B, exp_alerts: []}
`
	p = strings.Join(CheckRuleTests([]byte(tests), c, alerts, records), "\n")
	for _, want := range []string{"fengqiao_z_total is not in", "alert B is never tested firing"} {
		if !strings.Contains(p, want) {
			t.Errorf("problems %q do not say %q", p, want)
		}
	}
	if strings.Contains(p, "alert A") {
		t.Errorf("problems with a tested alert: %q", p)
	}
}
