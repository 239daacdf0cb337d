package metricsdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Dashboard is what CheckDashboard learnt of a Grafana dashboard.
type Dashboard struct {
	Rows    []string // the rows' titles, in order
	Metrics []string // every metric name its queries use
}

// grafanaPanel is the part of a Grafana panel the checks read.
type grafanaPanel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  json.RawMessage `json:"datasource"`
	GridPos     struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// labelValues is Grafana's label_values(metric, label) variable query.
var labelValues = regexp.MustCompile(`^\s*label_values\(\s*(?:([^,()]+?)\s*,\s*)?[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// CheckDashboard checks a Grafana dashboard: it parses; its data source is
// the template variable ${datasource} of type prometheus, on every panel;
// every panel has a Chinese title, an English description and, unless it is
// text, queries; and every metric its queries name is in the catalogue or
// is one of extra (recording rules). It returns the problems found.
func CheckDashboard(data []byte, c *Catalogue, extra []string) (Dashboard, []string) {
	var d grafanaDashboard
	var out Dashboard
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return out, []string{"the dashboard is not valid JSON: " + err.Error()}
	}
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if d.UID == "" || d.Title == "" {
		bad("the dashboard needs a uid and a title")
	}
	if d.SchemaVersion < 36 {
		bad("schemaVersion %d: want 36 or later (data sources as variables by uid)", d.SchemaVersion)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			if v.Name == "datasource" && strings.Trim(string(v.Query), `"`) == "prometheus" {
				hasDS = true
			}
		case "query":
			q := queryText(v.Query)
			if !usesDatasourceVar(v.Datasource) {
				bad("variable %s: its data source must be ${datasource}", v.Name)
			}
			if m := labelValues.FindStringSubmatch(q); m != nil {
				if m[1] != "" {
					out.Metrics = append(out.Metrics, checkExpr(c, extra, "variable "+v.Name, m[1], bad)...)
				}
			} else {
				out.Metrics = append(out.Metrics, checkExpr(c, extra, "variable "+v.Name, strings.TrimSuffix(strings.TrimPrefix(q, "query_result("), ")"), bad)...)
			}
		}
	}
	if !hasDS {
		bad(`the dashboard needs a variable "datasource" of type datasource with query "prometheus"`)
	}
	ids := map[int]string{}
	var placed []grafanaPanel
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				bad("panel %q: gridPos %+v is not within the 24 columns", p.Title, g)
			}
			for _, q := range placed {
				o := q.GridPos
				if g.X < o.X+o.W && o.X < g.X+g.W && g.Y < o.Y+o.H && o.Y < g.Y+g.H {
					bad("panels %q and %q overlap", q.Title, p.Title)
				}
			}
			placed = append(placed, p)
			if prev, dup := ids[p.ID]; dup {
				bad("panels %q and %q share id %d", prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if !hasHan(p.Title) {
				bad("panel %d %q: the title should be Chinese", p.ID, p.Title)
			}
			if p.Type == "row" {
				out.Rows = append(out.Rows, p.Title)
				walk(p.Panels)
				continue
			}
			if p.Description == "" || hasHan(p.Description) || !strings.ContainsFunc(p.Description, unicode.IsLetter) {
				bad("panel %q: the description should be English", p.Title)
			}
			if p.Type == "text" {
				continue
			}
			if !usesDatasourceVar(p.Datasource) {
				bad("panel %q: its data source must be ${datasource}", p.Title)
			}
			if len(p.Targets) == 0 {
				bad("panel %q has no queries", p.Title)
			}
			for _, t := range p.Targets {
				if t.RefID == "" || strings.TrimSpace(t.Expr) == "" {
					bad("panel %q: every query needs a refId and an expr", p.Title)
					continue
				}
				out.Metrics = append(out.Metrics, checkExpr(c, extra, "panel "+p.Title, t.Expr, bad)...)
			}
		}
	}
	walk(d.Panels)
	return out, probs
}

// queryText is a variable's query, a string or Grafana's {query: "..."} object.
func queryText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.Query
}

func usesDatasourceVar(raw json.RawMessage) bool {
	var ds struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	if json.Unmarshal(raw, &ds) != nil {
		return false
	}
	return ds.Type == "prometheus" && ds.UID == "${datasource}"
}

func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) })
}

// checkExpr reports the names in expr the catalogue does not account for.
func checkExpr(c *Catalogue, extra []string, where, expr string, bad func(string, ...any)) []string {
	names, err := MetricNames(expr)
	if err != nil {
		bad("%s: %v", where, err)
		return nil
	}
	if len(names) == 0 {
		bad("%s: %q selects no metric", where, expr)
	}
	for _, n := range names {
		if !c.Has(n) && !slices.Contains(extra, n) {
			bad("%s: %s is not in docs/metrics.md (nor a recording rule)", where, n)
		}
	}
	return names
}

// RuleFile is a Prometheus rule file, as far as the checks read it.
type RuleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// CheckRules checks a Prometheus rule file: every expression names only
// metrics of the catalogue or recording rules of the file; every alert has
// a severity, a Chinese summary and an English description. It returns the
// alerts' and recording rules' names and the problems found.
func CheckRules(data []byte, c *Catalogue) (alerts, records []string, probs []string) {
	var f RuleFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, nil, []string{"the rule file does not parse: " + err.Error()}
	}
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				records = append(records, r.Record)
			}
		}
	}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			checkExpr(c, records, "rule "+name, r.Expr, bad)
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				bad("alert %s: severity %q, want critical, warning or info", r.Alert, s)
			}
			if !hasHan(r.Annotations["summary"]) {
				bad("alert %s: the summary annotation should be Chinese", r.Alert)
			}
			if d := r.Annotations["description"]; d == "" || hasHan(d) {
				bad("alert %s: the description annotation should be English", r.Alert)
			}
		}
	}
	return alerts, records, probs
}

// RuleTests is a promtool test file, as far as the checks read it.
type RuleTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
		AlertRuleTests []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// CheckRuleTests checks a promtool test file against the rules: each alert
// is tested both firing (some exp_alerts) and not (none), and the input
// series are metrics of the catalogue, so the tests feed what riskd exports.
func CheckRuleTests(data []byte, c *Catalogue, alerts, records []string) []string {
	var f RuleTests
	if err := yaml.Unmarshal(data, &f); err != nil {
		return []string{"the rule test file does not parse: " + err.Error()}
	}
	var probs []string
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, t := range f.Tests {
		for _, s := range t.InputSeries {
			name, _, _ := strings.Cut(s.Series, "{")
			name = strings.TrimSpace(name)
			if !c.Has(name) && !slices.Contains(records, name) {
				probs = append(probs, fmt.Sprintf("input series %s is not in docs/metrics.md", name))
			}
		}
		for _, a := range t.AlertRuleTests {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, a := range alerts {
		if !fires[a] {
			probs = append(probs, "alert "+a+" is never tested firing")
		}
		if !quiet[a] {
			probs = append(probs, "alert "+a+" is never tested staying quiet")
		}
	}
	return probs
}
