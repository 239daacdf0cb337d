// Package metricsdoc keeps the metrics catalogue (docs/metrics.md) true to
// the code: it renders the catalogue from what a running daemon's registry
// gathers, checks each metric against the naming conventions, reads the
// catalogue back, and finds the metric names a PromQL expression uses, so
// that the Grafana dashboard and the alerting rules in monitoring/ can be
// checked against it.
package metricsdoc

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Prefix begins the name of every metric of Fengqiao's own.
const Prefix = "fengqiao_"

// Family is one metric family as the catalogue lists it.
type Family struct {
	Name   string
	Type   string   // counter, gauge, histogram, summary, untyped
	Labels []string // the label names its series carry, sorted
	Help   string
}

// FromGathered turns a registry's families into catalogue entries, sorted by
// name. Label names are the union over each family's series, so the families
// must have been gathered after the daemon did enough for its vectors to
// have series.
func FromGathered(mfs []*dto.MetricFamily) []Family {
	var out []Family
	for _, mf := range mfs {
		f := Family{Name: mf.GetName(), Type: strings.ToLower(mf.GetType().String()), Help: mf.GetHelp()}
		seen := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !seen[lp.GetName()] {
					seen[lp.GetName()] = true
					f.Labels = append(f.Labels, lp.GetName())
				}
			}
		}
		sort.Strings(f.Labels)
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RuntimeBasics are the Go runtime and process metrics the catalogue names
// (and the dashboard may use); the others of client_golang's Go and process
// collectors are only summarised, since they vary with the Go version and
// the platform.
var RuntimeBasics = []string{
	"go_gc_duration_seconds",
	"go_goroutines",
	"go_memstats_heap_inuse_bytes",
	"go_threads",
	"process_cpu_seconds_total",
	"process_max_fds",
	"process_open_fds",
	"process_resident_memory_bytes",
	"process_start_time_seconds",
}

// Synthetic are series Prometheus itself makes (per scrape target, and for
// alerting rules): rules and panels may use them although riskd does not
// export them.
var Synthetic = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"}

// LabelBounds says, for each label name a fengqiao_ metric may carry, which
// values it takes: the bound on the metrics' cardinality. A new label needs
// an entry here before the catalogue can be rendered.
var LabelBounds = map[string]string{
	"action":    "the case workflow's steps: `register`, `accept`, `decline`, `assign`, `return`, `sign`, `session`, `agree`, `fail`, `confirm`, `close`, `follow_up`, `archive`, `suspend`, `resume`, `request_extension`, `request_escalation`, `approve`, `reject`, `file`, `overdue`, `supervise`",
	"category":  "the configured dispute categories (13 by default)",
	"channel":   "the channel names of the escalation policy in force (a handful, chosen by the operators); for cases, how a case came in: `walk_in`, `grid`, `hotline`, `petition`, `police`, `court`, `procuratorate`, `engine`",
	"clock":     "a case's clocks: `accept`, `sign`, `handling`, `confirmation`, `performance`, `follow_up`",
	"outcome":   "how mediation ended: `agreed`, `failed`",
	"state":     "the case states: `registered`, `accepted`, `declined`, `assigned`, `returned`, `signed`, `mediating`, `agreed`, `failed`, `closed`, `followed_up`, `archived`, `suspended`",
	"direction": "`rise`, `fall`",
	"duplicate": "`true`, `false`",
	"county":    "the codes of the jurisdiction's counties (县区): a handful per city; a subject whose home unit (or a unit reporting zero reports) is above the county tier, or under a city without counties, is counted under the lowest unit above it (the city)",
	"task":      "the scheduled jobs: `rescore`, `case-overdue`, `supervision`, `follow-up-reminders`, `zero-report-check`, `daily-report`",
	"kind":      "the subject kinds: `person`, `dispute`; for case and alert supervisions, `supervision` (督办) or `listed_supervision` (挂牌督办)",
	"level":     "the colours that page, `blue`, `yellow`, `orange`, `red`; and `green` too where subjects are counted",
	"reason":    "a fixed list per metric, named in its help",
	"result":    "a fixed list per metric, named in its help",
	"shadow":    "`same`, `higher`, `lower`",
	"silenced":  "`true`, `false`",
	"status":    "a zero report's status at a checkpoint past its deadline: `filed`, `filed_late`, `late`, `missing`",
	"source":    "the signal sources (`grid_report`, `petition`, `hotline`, `ledger`, `case_event`), plus `unknown` for refused input whose source cannot be told, and empty for dead letters that could not be decoded",
	"tier":      "the jurisdiction tiers: `grid`, `village`, `township`, `county`, `city`",
}

// unitLabel is the label that names units, and the tier they are named
// down to: the county. A metric that counted by a lower tier would carry
// that tier's name as its label, which needs its own bound above.
const unitLabel = "county"

// Render writes the whole catalogue, docs/metrics.md, from the gathered
// families; it fails when a label has no stated bound.
func Render(fams []Family) ([]byte, error) {
	var own, runtime []Family
	for _, f := range fams {
		switch {
		case strings.HasPrefix(f.Name, Prefix):
			own = append(own, f)
		case strings.HasPrefix(f.Name, "go_"), strings.HasPrefix(f.Name, "process_"):
			runtime = append(runtime, f)
		default:
			return nil, fmt.Errorf("metric %s has neither the %s prefix nor is it the Go or process collectors'", f.Name, Prefix)
		}
	}
	labels := map[string][]string{} // label → the metrics that carry it
	for _, f := range own {
		for _, l := range f.Labels {
			labels[l] = append(labels[l], f.Name)
		}
	}
	var missing []string
	for l := range labels {
		if _, ok := LabelBounds[l]; !ok {
			missing = append(missing, l)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("labels with no stated bound (add them to metricsdoc.LabelBounds): %s", strings.Join(missing, ", "))
	}
	var basics []string
	have := map[string]bool{}
	for _, f := range runtime {
		have[f.Name] = true
	}
	for _, b := range RuntimeBasics {
		if !have[b] {
			return nil, fmt.Errorf("the registry lacks %s, one of metricsdoc.RuntimeBasics", b)
		}
		basics = append(basics, "`"+b+"`")
	}

	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Metrics\n\n")
	p("<!-- Generated by `go test ./internal/app -run TestMetricsCatalogue -update` from what a running riskd\n")
	p("     exports; the test fails when this file and the code disagree. Do not edit by hand. -->\n\n")
	p("riskd serves these at `/metrics` (no token needed). Every metric of Fengqiao's own begins `%s`;\n", Prefix)
	p("the gauges read from Redis at scrape time (the stream and dead letters, subjects, alerts and the outbox,\n")
	p("cases) are the same on every instance and survive restarts, so aggregate them with `max`, not `sum`.\n")
	p("Dashboards and alerting rules built on them are in [monitoring/](../monitoring/README.md).\n\n")
	p("## Labels and their bounds\n\n")
	p("No person, dispute, case or token id, keyed reference, name, ID number or phone number is ever a\n")
	p("label value: every label takes values from a short list fixed by the code or the configuration, so a\n")
	p("metric has at most a few dozen series, or a few dozen per county, however many subjects, signals, alerts\n")
	p("and cases there are.\n\n")
	p("Units are named in labels only down to the county tier: a city has a handful of counties, while\n")
	p("townships, villages and grids would multiply the series by the hundred; a metric counted by county has\n")
	p("at most its other labels' combinations times the counties of the jurisdiction (plus the city).\n")
	p("%s %s\n\n", carriers(unitLabel, labels[unitLabel]), carriers("tier", labels["tier"]))
	p("| label | values | carried by (less `%s`) |\n| --- | --- | --- |\n", Prefix)
	var names []string
	for l := range labels {
		names = append(names, l)
	}
	sort.Strings(names)
	for _, l := range names {
		p("| `%s` | %s | %s |\n", l, cell(LabelBounds[l]), cell(strings.Join(short(labels[l]), ", ")))
	}
	p("\n## Fengqiao's metrics\n\n")
	p("| name | type | labels | help |\n| --- | --- | --- | --- |\n")
	for _, f := range own {
		var ls []string
		for _, l := range f.Labels {
			ls = append(ls, "`"+l+"`")
		}
		p("| `%s` | %s | %s | %s |\n", f.Name, f.Type, strings.Join(ls, ", "), cell(f.Help))
	}
	p("\n## Go runtime and process\n\n")
	p("client_golang's Go and process collectors add `go_*` and `process_*` metrics, which vary with the Go version and the platform; only these are catalogued, for the dashboard: %s.\n", strings.Join(basics, ", "))
	return b.Bytes(), nil
}

// carriers says which metrics carry label.
func carriers(label string, ms []string) string {
	if len(ms) == 0 {
		return fmt.Sprintf("No metric carries a `%s` label.", label)
	}
	var names []string
	for _, m := range ms {
		names = append(names, "`"+m+"`")
	}
	sort.Strings(names)
	return fmt.Sprintf("A `%s` label is carried by %s.", label, strings.Join(names, ", "))
}

// short names metrics without their common prefix, for the label table.
func short(ms []string) []string {
	out := slices.Clone(ms)
	sort.Strings(out)
	for i, m := range out {
		out[i] = "`" + strings.TrimPrefix(m, Prefix) + "`"
	}
	return out
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// Catalogue is docs/metrics.md read back: what a rule or panel may use.
type Catalogue struct {
	Families map[string]Family // fengqiao_ metrics, by name
	Runtime  map[string]bool   // the Go and process metrics it names
}

// Parse reads a catalogue rendered by Render.
func Parse(doc []byte) (*Catalogue, error) {
	c := &Catalogue{Families: map[string]Family{}, Runtime: map[string]bool{}}
	section := ""
	for i, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = strings.TrimPrefix(line, "## ")
			continue
		}
		switch {
		case section == "Fengqiao's metrics" && strings.HasPrefix(line, "| `"):
			cells := splitRow(line)
			if len(cells) != 4 {
				return nil, fmt.Errorf("metrics.md:%d: want 4 cells, got %d", i+1, len(cells))
			}
			f := Family{Name: strings.Trim(cells[0], "`"), Type: cells[1], Help: strings.ReplaceAll(cells[3], `\|`, "|")}
			for _, l := range strings.Split(cells[2], ",") {
				if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" {
					f.Labels = append(f.Labels, l)
				}
			}
			c.Families[f.Name] = f
		case section == "Go runtime and process":
			for _, part := range strings.Split(line, "`")[1:] {
				if strings.HasPrefix(part, "go_") || strings.HasPrefix(part, "process_") {
					if !strings.HasSuffix(part, "*") {
						c.Runtime[part] = true
					}
				}
			}
		}
	}
	if len(c.Families) == 0 {
		return nil, fmt.Errorf("metrics.md lists no %s metric", Prefix)
	}
	return c, nil
}

// splitRow splits a Markdown table row on the bars that are not escaped.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' && i+1 < len(line) && line[i+1] == '|' {
			cur.WriteString(`\|`)
			i++
			continue
		}
		if line[i] == '|' {
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteByte(line[i])
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// Has reports whether name is a series the catalogue accounts for: one of
// its metrics, a histogram's or summary's _bucket, _sum or _count series, a
// runtime basic it names, or a series Prometheus makes itself.
func (c *Catalogue) Has(name string) bool {
	if _, ok := c.Families[name]; ok || c.Runtime[name] || slices.Contains(Synthetic, name) {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suf)
		if !ok {
			continue
		}
		if f, ok := c.Families[base]; ok && (f.Type == "histogram" || (f.Type == "summary" && suf != "_bucket")) {
			return true
		}
		if c.Runtime[base] {
			return true
		}
	}
	return false
}
