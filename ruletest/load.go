package ruletest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"fengqiao/engine"
	"fengqiao/risk"
	"fengqiao/rules"
)

// beijing is UTC+8: times written without a zone are Beijing times, as the
// committee reads them.
var beijing = time.FixedZone("CST", 8*60*60)

// defaultAt is when a test is scored when neither it nor its file gives a
// time: a fixed moment, so that a test means the same whenever it runs.
var defaultAt = time.Date(2026, 11, 22, 10, 0, 0, 0, beijing)

// maxOffset bounds a relative time: ten years, far beyond any window.
const maxOffset = 10 * 366 * 24 * time.Hour

// maxTimes bounds how often one signal may be repeated in a test.
const maxTimes = 1000

// The YAML shapes as written. Times and levels are kept as text and parsed
// while building, so that a bad value is one problem among many with its line.
type rawFile struct {
	At    string    `yaml:"at"`
	Tests []rawTest `yaml:"tests"`
}

type rawTest struct {
	Name     string       `yaml:"name"`
	At       string       `yaml:"at"`
	Subject  *rawSubject  `yaml:"subject"`
	Signals  []rawSignal  `yaml:"signals"`
	Links    []rawLink    `yaml:"links"`
	Previous *rawPrevious `yaml:"previous"`
	Override *rawOverride `yaml:"override"`
	Expect   *rawExpect   `yaml:"expect"`
}

type rawSubject struct {
	Kind string `yaml:"kind"`
	Weak bool   `yaml:"weak"`
	Unit string `yaml:"unit"`
}

type rawSignal struct {
	Source        string   `yaml:"source"`
	At            string   `yaml:"at"`
	Times         *int     `yaml:"times"`
	Unit          string   `yaml:"unit"`
	Category      string   `yaml:"category"`
	Tags          []string `yaml:"tags"`
	Summary       string   `yaml:"summary"`
	Keywords      []string `yaml:"keywords"`
	PartyCount    int      `yaml:"party_count"`
	Amount        float64  `yaml:"amount"`
	PetitionLevel string   `yaml:"petition_level"`
	SkipLevel     *bool    `yaml:"skip_level"`
	Collective    bool     `yaml:"collective"`
	Repeat        bool     `yaml:"repeat"`
	LedgerStatus  string   `yaml:"ledger_status"`
	CaseID        string   `yaml:"case_id"`
	CaseEvent     string   `yaml:"case_event"`
	CaseState     string   `yaml:"case_state"`
	Trigger       bool     `yaml:"trigger"`
}

type rawLink struct {
	Dispute string `yaml:"dispute"`
	Level   string `yaml:"level"`
}

type rawPrevious struct {
	Level     string `yaml:"level"`
	Raised    string `yaml:"raised"`
	SignedOff bool   `yaml:"signed_off"`
}

type rawOverride struct {
	Level   string `yaml:"level"`
	Until   string `yaml:"until"`
	Officer string `yaml:"officer"`
	Reason  string `yaml:"reason"`
}

type rawExpect struct {
	Level               string   `yaml:"level"`
	RulesLevel          string   `yaml:"rules_level"`
	Score               *float64 `yaml:"score"`
	Fires               []string `yaml:"fires"`
	NotFires            []string `yaml:"not_fires"`
	Only                bool     `yaml:"only"`
	ExplanationMentions []string `yaml:"explanation_mentions"`
}

// shapes names each YAML shape for messages about keys it does not have.
var shapes = map[string]struct {
	what string
	typ  reflect.Type
}{
	"ruletest.rawFile":     {"a test file", reflect.TypeFor[rawFile]()},
	"ruletest.rawTest":     {"a test", reflect.TypeFor[rawTest]()},
	"ruletest.rawSubject":  {"subject", reflect.TypeFor[rawSubject]()},
	"ruletest.rawSignal":   {"a signal", reflect.TypeFor[rawSignal]()},
	"ruletest.rawLink":     {"a link", reflect.TypeFor[rawLink]()},
	"ruletest.rawPrevious": {"previous", reflect.TypeFor[rawPrevious]()},
	"ruletest.rawOverride": {"override", reflect.TypeFor[rawOverride]()},
	"ruletest.rawExpect":   {"expect", reflect.TypeFor[rawExpect]()},
}

// IsTestFile reports whether a file in a rules directory holds rule tests:
// a YAML file whose name ends in _test (default_test.yaml).
func IsTestFile(name string) bool {
	ext := filepath.Ext(name)
	return (ext == ".yaml" || ext == ".yml") && !rules.IsRuleFile(name)
}

// Load reads every rule test file of dir (not its subdirectories) against the
// ruleset rs, whose rule ids and keyword lists the tests name. Every problem
// in every file is returned together as rules.Errors, each with its file and
// line; a file with any problem is left out, and the files without are
// returned with the error, so that they can still run.
func Load(dir string, rs *rules.Ruleset) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read rules directory: %w", err)
	}
	var files []File
	var errs rules.Errors
	seen := map[string]string{} // test name → file:line
	for _, e := range entries {
		if e.IsDir() || !IsTestFile(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read rule tests: %w", err)
		}
		f, err := Parse(path, src, rs)
		var probs rules.Errors
		if err != nil && !errors.As(err, &probs) {
			return nil, err
		}
		for _, c := range f.Cases {
			if prev, dup := seen[c.Name]; dup {
				probs = append(probs, rules.Problem{File: path, Line: c.Line,
					Message: fmt.Sprintf("test %s: the name is already used at %s; give each test its own name", c.Name, prev)})
			}
		}
		if len(probs) > 0 {
			errs = append(errs, probs...)
			continue
		}
		for _, c := range f.Cases {
			seen[c.Name] = fmt.Sprintf("%s:%d", path, c.Line)
		}
		files = append(files, f)
	}
	if len(files) == 0 && len(errs) == 0 {
		return nil, fmt.Errorf("no rule tests (*_test.yaml) in %s", dir)
	}
	if len(errs) > 0 {
		sortProblems(errs)
		return files, errs
	}
	return files, nil
}

// Parse reads one rule test file, named name, against the ruleset rs. Every
// problem is returned together as rules.Errors; the file's cases are returned
// as far as they could be read.
func Parse(name string, src []byte, rs *rules.Ruleset) (File, error) {
	f := File{Name: name}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return f, yamlProblems(name, err)
	}
	if len(root.Content) == 0 {
		return f, rules.Errors{{File: name, Message: "file is empty: list the test cases under tests:"}}
	}
	var doc rawFile
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	b := &builder{file: name, rs: rs}
	if err := dec.Decode(&doc); err != nil {
		b.errs = yamlProblems(name, err)
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return f, b.errs
		}
	}
	top := root.Content[0]
	fileAt := defaultAt
	if doc.At != "" {
		if t, err := parseTestTime(doc.At); err != nil {
			b.bad(lineOf(top, "at"), "", "at: %v", err)
		} else {
			fileAt = t
		}
	}
	if len(doc.Tests) == 0 {
		b.bad(lineOf(top, "tests"), "", "no tests: list the test cases under tests:")
	}
	names := map[string]int{}
	testNodes := items(top, "tests")
	for i, raw := range doc.Tests {
		c := b.test(raw, node(testNodes, i, top), fileAt)
		if c.Name != "" {
			if prev, dup := names[c.Name]; dup {
				b.bad(c.Line, c.Name, "the name is already used at line %d; give each test its own name", prev)
			} else {
				names[c.Name] = c.Line
			}
		}
		f.Cases = append(f.Cases, c)
	}
	if len(b.errs) > 0 {
		sortProblems(b.errs)
		return f, b.errs
	}
	return f, nil
}

// builder turns the raw shapes into cases, collecting every problem.
type builder struct {
	file string
	rs   *rules.Ruleset
	errs rules.Errors
}

func (b *builder) bad(line int, test, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if test != "" {
		msg = "test " + test + ": " + msg
	}
	b.errs = append(b.errs, rules.Problem{File: b.file, Line: line, Message: msg})
}

func (b *builder) test(raw rawTest, n *yaml.Node, fileAt time.Time) Case {
	c := Case{Name: strings.TrimSpace(raw.Name), File: b.file, Line: n.Line, At: fileAt}
	name := c.Name
	bad := func(line int, format string, a ...any) { b.bad(line, name, format, a...) }
	if name == "" {
		bad(n.Line, "name is missing: say in a few words what the test shows")
	}
	if raw.At != "" {
		if t, err := parseTestTime(raw.At); err != nil {
			bad(lineOf(n, "at"), "at: %v", err)
		} else {
			c.At = t
		}
	}

	switch s := raw.Subject; {
	case s == nil:
		bad(n.Line, "subject is missing: give its kind, e.g. subject: {kind: person}")
	default:
		line := lineOf(n, "subject")
		k, err := risk.ParseKind(s.Kind)
		if err != nil {
			bad(line, "subject: %v", err)
		}
		if s.Weak && k == risk.Dispute {
			bad(line, "subject: weak is for a person known only by name and phone, not a dispute")
		}
		c.Subject = risk.SubjectID{Kind: k, Ref: fmt.Sprintf("T%d", n.Line)}
		c.Weak, c.Unit = s.Weak, s.Unit
	}

	sigNodes := items(n, "signals")
	triggers := 0
	for i, rsig := range raw.Signals {
		sigs := b.signal(rsig, node(sigNodes, i, n), c.At, bad)
		for j := range sigs {
			sigs[j].Event.Key = fmt.Sprintf("%s:T%d-%d", sigs[j].Event.Source, n.Line, len(c.Signals)+1)
			c.Signals = append(c.Signals, sigs[j])
		}
		if rsig.Trigger {
			triggers++
		}
	}
	if triggers > 1 {
		bad(lineOf(n, "signals"), "signals: %d signals say trigger: true; only one signal is being processed", triggers)
	}

	linkNodes := items(n, "links")
	for i, l := range raw.Links {
		line := node(linkNodes, i, n).Line
		link := engine.Link{Subject: risk.SubjectID{Kind: risk.Dispute, Ref: l.Dispute}}
		if err := link.Subject.Validate(); err != nil {
			bad(line, "links: dispute: give the linked dispute's id, e.g. dispute: TZ-1")
		}
		if lv, err := parseLevel(l.Level); err != nil {
			bad(line, "links: level: %v", err)
		} else {
			link.Level = lv
		}
		c.Links = append(c.Links, link)
	}
	if len(raw.Links) > 0 && c.Subject.Kind == risk.Dispute {
		bad(lineOf(n, "links"), "links: a dispute's colour spreads to its persons: the subject must be a person")
	}

	if p := raw.Previous; p != nil {
		line := lineOf(n, "previous")
		prev := &engine.Previous{SignedOff: p.SignedOff}
		if lv, err := parseLevel(p.Level); err != nil {
			bad(line, "previous: level: %v", err)
		} else {
			prev.Level = lv
		}
		if p.Raised == "" {
			bad(line, "previous: raised is missing: say when it rose to that level, e.g. raised: -2d")
		} else if t, err := parseTime(p.Raised, c.At); err != nil {
			bad(line, "previous: raised: %v", err)
		} else if t.After(c.At) {
			bad(line, "previous: raised %s is after the test's time", p.Raised)
		} else {
			prev.RaisedAt = t
		}
		c.Previous = prev
	}

	if o := raw.Override; o != nil {
		line := lineOf(n, "override")
		ov := &engine.Override{Officer: o.Officer, Reason: o.Reason}
		if ov.Officer == "" {
			ov.Officer = "值班人员"
		}
		if ov.Reason == "" {
			ov.Reason = "人工调整"
		}
		if lv, err := parseLevel(o.Level); err != nil {
			bad(line, "override: level: %v", err)
		} else {
			ov.Level = lv
		}
		if o.Until == "" {
			bad(line, "override: until is missing: say when it ends, e.g. until: +3d")
		} else if t, err := parseTime(o.Until, c.At); err != nil {
			bad(line, "override: until: %v", err)
		} else {
			ov.Until = t
		}
		c.Override = ov
	}

	if raw.Expect == nil {
		bad(n.Line, "expect is missing: say what the test checks (level, fires, not_fires, score, explanation_mentions)")
	} else {
		c.Expect = b.expect(*raw.Expect, valueOf(n, "expect"), c.Subject.Kind, bad)
	}
	return c
}

// signal builds a signal, or several if it says times: N.
func (b *builder) signal(raw rawSignal, n *yaml.Node, at time.Time, bad func(int, string, ...any)) []Signal {
	line := func(key string) int { return lineOf(n, key) }
	ev := engine.Event{Unit: raw.Unit, Category: raw.Category, Tags: raw.Tags, PartyCount: raw.PartyCount,
		Amount: raw.Amount, Collective: raw.Collective, Repeat: raw.Repeat, LedgerStatus: raw.LedgerStatus,
		CaseID: raw.CaseID, CaseEvent: raw.CaseEvent, CaseState: raw.CaseState}
	if raw.Source == "" {
		bad(n.Line, "signal: source is missing: give one of grid_report, petition, hotline, ledger, case_event")
	} else if src, err := risk.ParseSource(raw.Source); err != nil {
		bad(line("source"), "signal: %v", err)
	} else {
		ev.Source = src
	}
	if raw.At == "" {
		bad(n.Line, "signal: at is missing: say when it happened, e.g. at: -3d (three days before the test's time)")
	} else if t, err := parseTime(raw.At, at); err != nil {
		bad(line("at"), "signal: at: %v", err)
	} else if t.After(at) {
		bad(line("at"), "signal: at %s is after the test's time: a test scores what was known at its time", raw.At)
	} else {
		ev.At = t
	}
	for _, k := range raw.Keywords {
		if _, ok := b.rs.Keywords[k]; !ok {
			bad(line("keywords"), "signal: keywords: no keyword list %q in the ruleset; lists are %s", k, strings.Join(sortedKeys(b.rs.Keywords), ", "))
		}
	}
	ev.Keywords = slices.Compact(slices.Sorted(slices.Values(raw.Keywords)))
	if raw.PartyCount < 0 {
		bad(line("party_count"), "signal: party_count must not be negative")
	}
	if !(raw.Amount >= 0) { // also refuses .nan
		bad(line("amount"), "signal: amount must not be negative")
	}

	petition := raw.PetitionLevel != "" || raw.SkipLevel != nil || raw.Collective || raw.Repeat
	if petition && ev.Source != "" && ev.Source != risk.Petition {
		bad(n.Line, "signal: petition_level, skip_level, collective and repeat are for source petition")
	}
	if raw.PetitionLevel != "" {
		rank, err := parsePetitionLevel(raw.PetitionLevel)
		if err != nil {
			bad(line("petition_level"), "signal: petition_level: %v", err)
		}
		ev.PetitionLevel = rank
	}
	// As riskd records it: a petition at the province or in Beijing is
	// always skip-level (越级访), whatever the office said.
	ev.SkipLevel = ev.PetitionLevel >= provinceRank || (raw.SkipLevel != nil && *raw.SkipLevel)
	if raw.SkipLevel != nil && !*raw.SkipLevel && ev.PetitionLevel >= provinceRank {
		bad(line("skip_level"), "signal: a petition at the province or in Beijing is always skip-level (越级访): drop skip_level: false")
	}
	if raw.LedgerStatus != "" && ev.Source != "" && ev.Source != risk.Ledger {
		bad(line("ledger_status"), "signal: ledger_status is for source ledger")
	}
	if (raw.CaseID != "" || raw.CaseEvent != "" || raw.CaseState != "") && ev.Source != "" && ev.Source != risk.CaseEvent {
		bad(n.Line, "signal: case_id, case_event and case_state are for source case_event")
	}
	if raw.CaseEvent != "" && !slices.Contains(rules.CaseEvents, raw.CaseEvent) {
		bad(line("case_event"), "signal: case_event %q: want one of %s", raw.CaseEvent, strings.Join(rules.CaseEvents, ", "))
	}
	if (raw.CaseEvent != "" || raw.CaseState != "") && raw.CaseID == "" {
		bad(n.Line, "signal: case_id is missing: a case event belongs to a case, e.g. case_id: AJ-1")
	}
	times := 1
	if raw.Times != nil {
		times = *raw.Times
		if times < 1 || times > maxTimes {
			bad(line("times"), "signal: times must be 1 to %d", maxTimes)
			times = 1
		}
	}
	out := make([]Signal, times)
	for i := range out {
		out[i] = Signal{Event: ev, Summary: raw.Summary}
		out[i].Event.Tags = slices.Clone(ev.Tags)
		out[i].Event.Keywords = slices.Clone(ev.Keywords)
	}
	out[len(out)-1].Trigger = raw.Trigger
	return out
}

func (b *builder) expect(raw rawExpect, n *yaml.Node, kind risk.Kind, bad func(int, string, ...any)) Expect {
	var x Expect
	line := func(key string) int { return lineOf(n, key) }
	if raw.Level != "" {
		if lv, err := parseLevel(raw.Level); err != nil {
			bad(line("level"), "expect: level: %v", err)
		} else {
			x.Level = &lv
		}
	}
	if raw.RulesLevel != "" {
		if lv, err := parseLevel(raw.RulesLevel); err != nil {
			bad(line("rules_level"), "expect: rules_level: %v", err)
		} else {
			x.RulesLevel = &lv
		}
	}
	x.Score = raw.Score
	check := func(key string, ids []string, mustApply bool) {
		seen := map[string]bool{}
		for _, id := range ids {
			r := b.rule(id)
			switch {
			case seen[id]:
				bad(line(key), "expect: %s: %s is listed twice", key, id)
			case r == nil:
				bad(line(key), "expect: %s: no rule %q in the ruleset", key, id)
			case mustApply && kind != "" && !r.Applies(kind):
				bad(line(key), "expect: %s: rule %s applies to %s, not to a %s: it cannot fire here", key, id, kinds(r.AppliesTo), kind)
			}
			seen[id] = true
		}
	}
	check("fires", raw.Fires, true)
	check("not_fires", raw.NotFires, false)
	for _, id := range slices.Compact(slices.Sorted(slices.Values(raw.Fires))) {
		if slices.Contains(raw.NotFires, id) {
			bad(line("not_fires"), "expect: %s is under both fires and not_fires", id)
		}
	}
	x.Fires, x.NotFires, x.Only = raw.Fires, raw.NotFires, raw.Only
	for _, m := range raw.ExplanationMentions {
		if strings.TrimSpace(m) == "" {
			bad(line("explanation_mentions"), "expect: explanation_mentions has an empty text")
		}
	}
	x.Mentions = raw.ExplanationMentions
	// An expect that says something which could not be read has had its
	// problem reported; one that says nothing at all is a problem of its own.
	if n != nil && len(n.Content) == 0 {
		bad(n.Line, "expect says nothing to check: give level, rules_level, score, fires, not_fires, only or explanation_mentions")
	}
	return x
}

func (b *builder) rule(id string) *rules.Rule {
	for i := range b.rs.Rules {
		if b.rs.Rules[i].ID == id {
			return &b.rs.Rules[i]
		}
	}
	return nil
}

func kinds(ks []risk.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, " and ")
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func parseLevel(s string) (risk.Level, error) {
	if strings.TrimSpace(s) == "" {
		return 0, errors.New("missing: give green, blue, yellow, orange or red")
	}
	return risk.ParseLevel(s)
}

// petitionLevels are the levels a petition can reach, lowest first, as the
// signals package ranks them (1 village … 6 Beijing), with their Chinese names.
var petitionLevels = [][]string{
	{"village", "村"}, {"township", "乡镇", "乡", "镇"}, {"county", "县"},
	{"city", "市"}, {"province", "省"}, {"beijing", "京", "北京", "进京"},
}

// provinceRank is the rank from which a petition is always skip-level.
const provinceRank = 5

func parsePetitionLevel(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(petitionLevels) {
		return n, nil
	}
	for i, names := range petitionLevels {
		if slices.Contains(names, strings.ToLower(strings.TrimSpace(s))) {
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("%q is not a level: give 1 (village) to 6 (beijing), or village, township, county, city, province, beijing", s)
}

var (
	relativeTime = regexp.MustCompile(`^([+-])((?:\d+[dhms])+)$`)
	relativePart = regexp.MustCompile(`(\d+)([dhms])`)
	absolute     = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}
	units        = map[string]time.Duration{"d": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second}
)

// parseTime parses a time relative to base ("-3d", "-12h", "-90m",
// "-29d23h59m", "+1d", "0") or an absolute one (parseAbsolute).
func parseTime(s string, base time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return base, nil
	}
	if g := relativeTime.FindStringSubmatch(s); g != nil {
		var d time.Duration
		for _, p := range relativePart.FindAllStringSubmatch(g[2], -1) {
			n, err := strconv.Atoi(p[1])
			if err != nil || n > 1_000_000 {
				return time.Time{}, fmt.Errorf("%q is too far away: at most %d days", s, maxOffset/(24*time.Hour))
			}
			d += time.Duration(n) * units[p[2]]
		}
		if d > maxOffset {
			return time.Time{}, fmt.Errorf("%q is too far away: at most %d days", s, maxOffset/(24*time.Hour))
		}
		if g[1] == "-" {
			d = -d
		}
		return base.Add(d), nil
	}
	t, err := parseAbsolute(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time: write one relative to the test's time, e.g. -3d, -12h, -90m or -29d23h59m (before) or +1d (after), or an absolute one, e.g. 2026-11-20T09:00:00+08:00", s)
	}
	return t, nil
}

// parseTestTime parses a test's or a file's time, which is absolute: the
// signals' relative times count from it.
func parseTestTime(s string) (time.Time, error) {
	t, err := parseAbsolute(s)
	if err != nil && relativeTime.MatchString(strings.TrimSpace(s)) {
		return t, fmt.Errorf("%q is relative, but a test's time is what the signals' times count from: write e.g. 2026-11-22T10:00:00+08:00, or 2026-11-22 10:00 for Beijing time", s)
	}
	return t, err
}

// parseAbsolute parses RFC 3339 ("2026-11-22T10:00:00+08:00"), or a date and
// time without a zone, which is Beijing time ("2026-11-22 10:00").
func parseAbsolute(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range absolute {
		if t, err := time.ParseInLocation(layout, s, beijing); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: write e.g. 2026-11-22T10:00:00+08:00, or 2026-11-22 10:00 for Beijing time", s)
}

// Node helpers: the YAML tree gives each part's line.

// valueOf returns the value of key in mapping m, or nil.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// lineOf returns the line of key in mapping m, or m's own line.
func lineOf(m *yaml.Node, key string) int {
	if m == nil {
		return 0
	}
	if m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i].Line
			}
		}
	}
	return m.Line
}

// items returns the items of the sequence under key in mapping m.
func items(m *yaml.Node, key string) []*yaml.Node {
	if v := valueOf(m, key); v != nil && v.Kind == yaml.SequenceNode {
		return v.Content
	}
	return nil
}

// node returns ns[i], or parent when there is no such item.
func node(ns []*yaml.Node, i int, parent *yaml.Node) *yaml.Node {
	if i < len(ns) {
		return ns[i]
	}
	return parent
}

var (
	yamlLine      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownField  = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	cannotDecode  = regexp.MustCompile("^cannot unmarshal !!\\w+ `(.*)` into (\\S+)$")
	notOneValue   = regexp.MustCompile(`^cannot unmarshal !!(seq|map) into (\S+)$`)
	decodeWanting = map[string]string{"bool": "true or false", "int": "a whole number", "*int": "a whole number",
		"float64": "a number", "*float64": "a number", "[]string": "a list, e.g. [a, b]", "string": "one value"}
)

// yamlProblems turns a YAML error into problems with lines, in words a rule
// author can act on.
func yamlProblems(name string, err error) rules.Errors {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs rules.Errors
	for _, m := range msgs {
		p := rules.Problem{File: name, Message: strings.TrimPrefix(m, "yaml: ")}
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			p.Line, _ = strconv.Atoi(g[1])
			p.Message = g[2]
		}
		if g := unknownField.FindStringSubmatch(p.Message); g != nil {
			p.Message = fmt.Sprintf("unknown field %q", g[1])
			if s, ok := shapes[g[2]]; ok {
				p.Message += fmt.Sprintf(": %s has %s", s.what, strings.Join(yamlKeys(s.typ), ", "))
			}
		} else if g := cannotDecode.FindStringSubmatch(p.Message); g != nil && decodeWanting[g[2]] != "" {
			p.Message = fmt.Sprintf("%q: want %s", g[1], decodeWanting[g[2]])
		} else if g := notOneValue.FindStringSubmatch(p.Message); g != nil && decodeWanting[g[2]] != "" {
			p.Message = fmt.Sprintf("a %s where %s was expected", map[string]string{"seq": "list", "map": "mapping"}[g[1]], decodeWanting[g[2]])
		}
		errs = append(errs, p)
	}
	return errs
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}

func sortProblems(errs rules.Errors) {
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].File != errs[j].File {
			return errs[i].File < errs[j].File
		}
		return errs[i].Line < errs[j].Line
	})
}
