package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"fengqiao/risk"
)

// The YAML shapes as written. Levels and durations are kept as text here and
// parsed during validation, so that a bad value is one problem among many
// with its line, not the end of decoding.
type fileDoc struct {
	Version   string                `yaml:"version"`
	Levels    *Thresholds           `yaml:"levels"`
	Dampening *rawDampening         `yaml:"dampening"`
	Spread    *rawSpread            `yaml:"spread"`
	Keywords  map[string][]string   `yaml:"keywords"`
	Features  map[string]rawFeature `yaml:"features"`
	Rules     []rawRule             `yaml:"rules"`
}

type rawDampening struct {
	Cooldown map[string]string `yaml:"cooldown"`
	SignOff  string            `yaml:"signoff"`
}

type rawSpread struct {
	DisputeToPerson *int `yaml:"dispute_to_person"`
}

type rawFeature struct {
	Label        string `yaml:"label"`
	CaseEvent    string `yaml:"case_event"`
	Count        string `yaml:"count"`
	DistinctDays string `yaml:"distinct_days"`
	Max          string `yaml:"max"`
	Window       string `yaml:"window"`
	Category     string `yaml:"category"`
	Tag          string `yaml:"tag"`
	Keyword      string `yaml:"keyword"`
	Flag         string `yaml:"flag"`
}

type rawRule struct {
	ID          string   `yaml:"id"`
	Name        string   `yaml:"name"`
	AppliesTo   []string `yaml:"applies_to"`
	When        string   `yaml:"when"`
	Score       string   `yaml:"score"`
	AtLeast     string   `yaml:"at_least"`
	Tags        []string `yaml:"tags"`
	Description string   `yaml:"description"`
}

var (
	identPattern  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	ruleIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	yamlLine      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownField  = regexp.MustCompile(`field (\S+) not found in type \S+`)
)

// IsRuleFile reports whether a file in a rules directory holds rules, as
// opposed to rule tests (*_test.yaml) or anything else.
func IsRuleFile(name string) bool {
	ext := filepath.Ext(name)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	return !strings.HasSuffix(strings.TrimSuffix(name, ext), "_test")
}

// ruleFiles lists the rules files of dir, sorted.
func ruleFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read rules directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && IsRuleFile(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files, nil
}

// HashDir returns a hash of the rules files and overlays in dir, without
// parsing them: a cheap way to notice that the files changed.
func HashDir(dir string) (string, error) {
	files, err := ruleFiles(dir)
	if err != nil {
		return "", err
	}
	overlays, _ := filepath.Glob(filepath.Join(dir, OverlayDir, "*.yaml"))
	files = append(files, overlays...)
	srcs := make(map[string][]byte, len(files))
	for _, f := range files {
		if srcs[f], err = os.ReadFile(f); err != nil {
			return "", err
		}
	}
	return contentHash(files, srcs), nil
}

// LoadDir loads every rules file in dir (not its subdirectories) as one ruleset.
func LoadDir(dir string) (*Ruleset, error) {
	files, err := ruleFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rules files (*.yaml) in %s", dir)
	}
	return LoadFiles(files...)
}

// LoadFiles loads the named files as one ruleset.
func LoadFiles(paths ...string) (*Ruleset, error) {
	srcs := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read rules file: %w", err)
		}
		srcs[p] = b
	}
	return Parse(srcs)
}

// Parse loads a ruleset from file contents keyed by file name. Every problem
// in every file is returned together as Errors.
func Parse(files map[string][]byte) (*Ruleset, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)

	rs := &Ruleset{Keywords: map[string][]string{}, Files: names, Hash: contentHash(names, files), Sources: files}
	var errs Errors
	var versionFile, levelsFile, dampFile, spreadFile string
	undecoded := false
	ruleAt := map[string]string{}
	featureAt := map[string]string{}
	for _, name := range names {
		doc, pos, probs := decodeFile(name, files[name])
		errs = append(errs, probs...)
		if doc == nil {
			undecoded = true
			continue
		}
		if doc.Version != "" {
			if versionFile != "" {
				errs = append(errs, Problem{name, pos.key("version"), "", "version is already set in " + versionFile + "; set it in one file only"})
			}
			rs.Version, versionFile = doc.Version, name
		}
		if doc.Levels != nil {
			if levelsFile != "" {
				errs = append(errs, Problem{name, pos.key("levels"), "", "levels are already set in " + levelsFile + "; set them in one file only"})
			}
			rs.Levels, levelsFile = *doc.Levels, name
			errs = append(errs, checkLevels(*doc.Levels, name, pos.key("levels"))...)
		}
		if doc.Dampening != nil {
			if dampFile != "" {
				errs = append(errs, Problem{name, pos.key("dampening"), "", "dampening is already set in " + dampFile + "; set it in one file only"})
			}
			dampFile = name
			var probs Errors
			rs.Dampening, probs = buildDampening(*doc.Dampening, name, pos.key("dampening"))
			errs = append(errs, probs...)
		}
		if doc.Spread != nil {
			if spreadFile != "" {
				errs = append(errs, Problem{name, pos.key("spread"), "", "spread is already set in " + spreadFile + "; set it in one file only"})
			}
			spreadFile = name
			if d := doc.Spread.DisputeToPerson; d != nil {
				if *d < 0 || *d > 4 {
					errs = append(errs, Problem{name, pos.key("spread"), "", "spread: dispute_to_person must be 0 (the same colour) to 4 colours lower"})
				} else {
					rs.Spread.DisputeToPerson = d
				}
			}
		}
		for list, words := range doc.Keywords {
			line := pos.keywords[list]
			if _, dup := rs.Keywords[list]; dup {
				errs = append(errs, Problem{name, line, "", fmt.Sprintf("keyword list %q is defined twice", list)})
			}
			errs = append(errs, checkKeywords(list, words, name, line)...)
			rs.Keywords[list] = words
		}
		for fname, raw := range doc.Features {
			line := pos.features[fname]
			if prev, dup := featureAt[fname]; dup {
				errs = append(errs, Problem{name, line, "", fmt.Sprintf("feature %q is already defined in %s", fname, prev)})
				continue
			}
			featureAt[fname] = name
			f, probs := buildFeature(fname, raw, name, line)
			errs = append(errs, probs...)
			rs.Features = append(rs.Features, f)
		}
		for i, raw := range doc.Rules {
			p := pos.rule(i)
			p.File = name
			r, probs := buildRule(raw, p)
			errs = append(errs, probs...)
			if r.ID != "" {
				if prev, dup := ruleAt[r.ID]; dup {
					errs = append(errs, Problem{name, p.Line, r.ID, "duplicate rule id, first defined in " + prev})
				}
				ruleAt[r.ID] = fmt.Sprintf("%s:%d", name, p.Line)
			}
			rs.Rules = append(rs.Rules, r)
		}
	}
	if !undecoded && len(names) > 0 && versionFile == "" {
		errs = append(errs, Problem{names[0], 0, "", "version is missing: give the ruleset a version, e.g. version: \"2026.11-1\""})
	}
	if !undecoded && len(names) > 0 && levelsFile == "" {
		errs = append(errs, Problem{names[0], 0, "", "levels are missing: give the minimum score of blue, yellow, orange and red"})
	}
	sort.Slice(rs.Features, func(i, j int) bool { return rs.Features[i].Name < rs.Features[j].Name })
	for _, f := range rs.Features {
		if f.Keyword != "" {
			if _, ok := rs.Keywords[f.Keyword]; !ok {
				errs = append(errs, Problem{f.File, f.Line, "", fmt.Sprintf("feature %q: keyword list %q is not defined under keywords", f.Name, f.Keyword)})
			}
		}
	}
	if len(errs) > 0 {
		sortProblems(errs)
		return nil, errs
	}
	return rs, nil
}

// contentHash identifies a ruleset by its files' names and contents, so that
// an assessment can name exactly the rules that made it.
func contentHash(names []string, files map[string][]byte) string {
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(n), len(files[n]))
		h.Write(files[n])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func sortProblems(errs Errors) {
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].File != errs[j].File {
			return errs[i].File < errs[j].File
		}
		return errs[i].Line < errs[j].Line
	})
}

// decodeFile decodes one file strictly and finds the lines of its parts.
func decodeFile(name string, src []byte) (*fileDoc, positions, Errors) {
	var doc fileDoc
	pos, errs, ok := decodeStrict(name, src, &doc)
	if !ok {
		return nil, pos, errs
	}
	return &doc, pos, errs
}

// decodeStrict decodes src into v, refusing unknown keys, and finds the
// lines of its parts. ok is false when nothing could be decoded.
func decodeStrict(name string, src []byte, v any) (positions, Errors, bool) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return positions{}, yamlProblems(name, err), false
	}
	if len(root.Content) == 0 {
		return positions{}, Errors{{name, 0, "", "file is empty"}}, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	errs := Errors(nil)
	if err := dec.Decode(v); err != nil {
		errs = yamlProblems(name, err)
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return positions{}, errs, false
		}
	}
	return findPositions(root.Content[0]), errs, true
}

func yamlProblems(name string, err error) Errors {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs Errors
	for _, m := range msgs {
		p := Problem{File: name, Message: m}
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			p.Line, _ = strconv.Atoi(g[1])
			p.Message = g[2]
		}
		p.Message = unknownField.ReplaceAllString(p.Message, `unknown field "$1"`)
		p.Message = strings.TrimPrefix(p.Message, "yaml: ")
		errs = append(errs, p)
	}
	return errs
}

// positions holds the lines of a file's parts, found in its node tree.
type positions struct {
	keys     map[string]int
	keywords map[string]int
	features map[string]int
	rules    []RulePosition
}

func (p positions) key(k string) int { return p.keys[k] }

func (p positions) rule(i int) RulePosition {
	if i < len(p.rules) {
		return p.rules[i]
	}
	return RulePosition{}
}

func findPositions(doc *yaml.Node) positions {
	p := positions{keys: map[string]int{}, keywords: map[string]int{}, features: map[string]int{}}
	if doc.Kind != yaml.MappingNode {
		return p
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		p.keys[k.Value] = k.Line
		switch k.Value {
		case "keywords":
			mapLines(v, p.keywords)
		case "features":
			mapLines(v, p.features)
		case "rules":
			for _, item := range v.Content {
				rp := RulePosition{Line: item.Line}
				exprLines(item, &rp)
				p.rules = append(p.rules, rp)
			}
		}
	}
	return p
}

// exprLines finds where a rule's when and score start, also inside an
// overlay's override.
func exprLines(item *yaml.Node, rp *RulePosition) {
	for j := 0; j+1 < len(item.Content); j += 2 {
		switch item.Content[j].Value {
		case "when":
			rp.WhenLine = textLine(item.Content[j+1])
		case "score":
			rp.ScoreLine = textLine(item.Content[j+1])
		case "override":
			exprLines(item.Content[j+1], rp)
		}
	}
}

func mapLines(m *yaml.Node, into map[string]int) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		into[m.Content[i].Value] = m.Content[i].Line
	}
}

// textLine is the line where a scalar's text starts: a block scalar (| or >)
// starts on the line after its indicator.
func textLine(n *yaml.Node) int {
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Line + 1
	}
	return n.Line
}

func checkLevels(t Thresholds, file string, line int) Errors {
	vals := []struct {
		name string
		v    float64
	}{{"blue", t.Blue}, {"yellow", t.Yellow}, {"orange", t.Orange}, {"red", t.Red}}
	var errs Errors
	if t.Blue <= 0 {
		errs = append(errs, Problem{file, line, "", "levels: blue must be above 0 (a score of 0 is green)"})
	}
	for i := 1; i < len(vals); i++ {
		if vals[i].v <= vals[i-1].v {
			errs = append(errs, Problem{file, line, "", fmt.Sprintf("levels: %s (%g) must be above %s (%g)", vals[i].name, vals[i].v, vals[i-1].name, vals[i-1].v)})
		}
	}
	return errs
}

func checkKeywords(list string, words []string, file string, line int) Errors {
	var errs Errors
	if !identPattern.MatchString(list) {
		errs = append(errs, Problem{file, line, "", fmt.Sprintf("keyword list name %q: use lowercase letters, digits and _", list)})
	}
	if len(words) == 0 {
		errs = append(errs, Problem{file, line, "", fmt.Sprintf("keyword list %q is empty", list)})
	}
	for _, w := range words {
		if strings.TrimSpace(w) == "" {
			errs = append(errs, Problem{file, line, "", fmt.Sprintf("keyword list %q has an empty word", list)})
		}
	}
	return errs
}

func buildFeature(name string, raw rawFeature, file string, line int) (Feature, Errors) {
	f := Feature{Name: name, Label: raw.Label, CaseEvent: raw.CaseEvent, Count: raw.Count, DistinctDays: raw.DistinctDays, Max: raw.Max,
		Category: raw.Category, Tag: raw.Tag, Keyword: raw.Keyword, Flag: raw.Flag, File: file, Line: line}
	var errs Errors
	bad := func(format string, a ...any) {
		errs = append(errs, Problem{file, line, "", fmt.Sprintf("feature %q: ", name) + fmt.Sprintf(format, a...)})
	}
	if !identPattern.MatchString(name) {
		bad("name must use lowercase letters, digits and _, starting with a letter")
	}
	set := 0
	for _, s := range []string{raw.Count, raw.DistinctDays, raw.Max} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		bad("give exactly one of count, distinct_days or max")
	}
	for _, src := range []string{raw.Count, raw.DistinctDays} {
		if src != "" && src != "any" {
			if _, err := risk.ParseSource(src); err != nil {
				bad("%v, or any", err)
			}
		}
	}
	if raw.Max != "" && !slices.Contains(MaxFields, raw.Max) {
		bad("max %q: want one of %s", raw.Max, strings.Join(MaxFields, ", "))
	}
	if raw.Flag != "" && !slices.Contains(Flags, raw.Flag) {
		bad("flag %q: want one of %s", raw.Flag, strings.Join(Flags, ", "))
	}
	if raw.CaseEvent != "" && !slices.Contains(CaseEvents, raw.CaseEvent) {
		bad("case_event %q: want one of %s", raw.CaseEvent, strings.Join(CaseEvents, ", "))
	}
	if raw.CaseEvent != "" && raw.Count != "case_event" && raw.DistinctDays != "case_event" {
		bad("case_event filters case events: use it with count: case_event or distinct_days: case_event")
	}
	if raw.Window == "" {
		bad("window is missing, e.g. window: 30d")
	} else if d, err := ParseDuration(raw.Window); err != nil {
		bad("%v", err)
	} else if d > MaxRetention {
		bad("window %s is longer than the longest kept history, %s", d, MaxRetention)
	} else {
		f.Window = d
	}
	if f.Label == "" {
		f.Label = defaultLabel(f)
	}
	return f, errs
}

// defaultLabel describes a feature in Chinese for explanations, e.g.
// "近30天信访次数", when the author gave no label.
func defaultLabel(f Feature) string {
	w := "近" + f.Window.Chinese()
	what := "信号"
	src := f.Count + f.DistinctDays
	if src != "" && src != "any" {
		what = risk.Source(src).Chinese()
	}
	for _, filter := range []string{f.Category, f.Tag, f.CaseEvent} {
		if filter != "" {
			what += "(" + filter + ")"
		}
	}
	switch {
	case f.Count != "":
		return w + what + "次数"
	case f.DistinctDays != "":
		return w + what + "天数"
	}
	return w + "最大" + maxFieldNames[f.Max]
}

var maxFieldNames = map[string]string{"party_count": "当事人数", "amount": "涉及金额", "petition_level": "信访层级"}

func buildDampening(raw rawDampening, file string, line int) (Dampening, Errors) {
	var d Dampening
	var errs Errors
	for name, v := range raw.Cooldown {
		l, err := risk.ParseLevel(name)
		if err != nil || l == risk.Green {
			errs = append(errs, Problem{file, line, "", fmt.Sprintf("dampening: cooldown %q: give blue, yellow, orange or red", name)})
			continue
		}
		dur, err := ParseDuration(v)
		if err != nil {
			errs = append(errs, Problem{file, line, "", fmt.Sprintf("dampening: cooldown %s: %v", name, err)})
			continue
		}
		d.Cooldown[l] = dur
	}
	if raw.SignOff != "" {
		l, err := risk.ParseLevel(raw.SignOff)
		if err != nil || l == risk.Green {
			errs = append(errs, Problem{file, line, "", "dampening: signoff: give the lowest level that needs a sign-off to leave (blue … red)"})
		} else {
			d.SignOff = &l
		}
	}
	return d, errs
}

// MaxRetention is the longest window a feature may have: signals older than
// this are not kept per subject.
const MaxRetention = Duration(400 * 24 * 60 * 60 * 1e9)

func buildRule(raw rawRule, pos RulePosition) (Rule, Errors) {
	r := Rule{ID: raw.ID, Name: raw.Name, When: raw.When, Score: raw.Score, Tags: raw.Tags,
		Description: raw.Description, Pos: pos}
	var errs Errors
	id := raw.ID
	bad := func(format string, a ...any) {
		errs = append(errs, Problem{pos.File, pos.Line, id, fmt.Sprintf(format, a...)})
	}
	switch {
	case raw.ID == "":
		id = fmt.Sprintf("#%d", pos.Line)
		bad("id is missing")
	case !ruleIDPattern.MatchString(raw.ID):
		bad("id must use lowercase letters, digits, '.', '_' and '-'")
	}
	if strings.TrimSpace(raw.Name) == "" {
		bad("name is missing: give the rule a Chinese display name")
	}
	if len(raw.AppliesTo) == 0 {
		bad("applies_to is missing: list person, dispute or both")
	}
	for _, a := range raw.AppliesTo {
		k, err := risk.ParseKind(a)
		if err != nil {
			bad("applies_to: %v", err)
			continue
		}
		r.AppliesTo = append(r.AppliesTo, k)
	}
	if strings.TrimSpace(raw.When) == "" {
		bad("when is missing: give the condition under which the rule fires")
	}
	if strings.TrimSpace(raw.Score) == "" {
		bad("score is missing: give the points the rule adds, e.g. score: 20")
	}
	if raw.AtLeast != "" {
		l, err := risk.ParseLevel(raw.AtLeast)
		if err != nil {
			bad("at_least: %v", err)
		} else {
			r.AtLeast = &l
		}
	}
	return r, errs
}
