package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"fengqiao/risk"
)

// Overlay is a unit's local change to the ruleset (本地规则叠加): a county or
// township may move thresholds, switch a rule off, change some of a rule's
// fields, or add features, keyword lists and rules. It applies to the unit's
// whole subtree; overlays of nested units apply outer first, so the unit
// nearest a subject has the last word.
type Overlay struct {
	Unit     string
	File     string
	Levels   map[risk.Level]float64 // the thresholds it sets
	Keywords map[string][]string
	Features []Feature
	Disable  []string           // rule ids switched off
	Override map[string]rawRule // rule id → the fields it replaces
	Add      []Rule
	pos      map[string]RulePosition // of each rule entry, by id
	src      []byte
}

type overlayDoc struct {
	Unit     string                `yaml:"unit"`
	Levels   map[string]float64    `yaml:"levels"`
	Keywords map[string][]string   `yaml:"keywords"`
	Features map[string]rawFeature `yaml:"features"`
	Rules    []overlayRule         `yaml:"rules"`
}

// overlayRule is one entry of an overlay's rules: a new rule (all of rawRule),
// enabled: false to switch an existing one off, or override: to change some
// of its fields.
type overlayRule struct {
	rawRule  `yaml:",inline"`
	Enabled  *bool    `yaml:"enabled"`
	Override *rawRule `yaml:"override"`
}

var unitCode = regexp.MustCompile(`^\d{12}$`)

// OverlayDir is where a ruleset's overlays live, beside its files.
const OverlayDir = "overlays"

// LoadOverlays loads every overlay in dir/overlays (none is fine). Each is
// checked on its own; Apply checks it against the ruleset.
func LoadOverlays(dir string) ([]*Overlay, error) {
	files, err := filepath.Glob(filepath.Join(dir, OverlayDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []*Overlay
	var errs Errors
	units := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read overlay: %w", err)
		}
		o, probs := ParseOverlay(f, src)
		errs = append(errs, probs...)
		if o == nil {
			continue
		}
		if prev, dup := units[o.Unit]; dup {
			errs = append(errs, Problem{f, 1, "", fmt.Sprintf("unit %s already has an overlay, %s: one overlay per unit", o.Unit, prev)})
		}
		units[o.Unit] = f
		out = append(out, o)
	}
	if len(errs) > 0 {
		sortProblems(errs)
		return nil, errs
	}
	return out, nil
}

// ParseOverlay reads one overlay file strictly, reporting every problem.
func ParseOverlay(name string, src []byte) (*Overlay, Errors) {
	var doc overlayDoc
	pos, errs, ok := decodeStrict(name, src, &doc)
	if !ok {
		return nil, errs
	}
	o := &Overlay{Unit: doc.Unit, File: name, Levels: map[risk.Level]float64{}, Keywords: doc.Keywords,
		Override: map[string]rawRule{}, pos: map[string]RulePosition{}, src: src}
	if !unitCode.MatchString(doc.Unit) {
		errs = append(errs, Problem{name, pos.key("unit"), "", "unit: give the 12-digit code of the county or township the overlay applies to"})
	}
	for lv, v := range doc.Levels {
		l, err := risk.ParseLevel(lv)
		if err != nil || l == risk.Green {
			errs = append(errs, Problem{name, pos.key("levels"), "", fmt.Sprintf("levels: %q is not blue, yellow, orange or red", lv)})
			continue
		}
		o.Levels[l] = v
	}
	for list, words := range doc.Keywords {
		errs = append(errs, checkKeywords(list, words, name, pos.keywords[list])...)
	}
	for fname, raw := range doc.Features {
		f, probs := buildFeature(fname, raw, name, pos.features[fname])
		errs = append(errs, probs...)
		o.Features = append(o.Features, f)
	}
	for i, r := range doc.Rules {
		p := pos.rule(i)
		p.File = name
		bad := func(format string, a ...any) {
			errs = append(errs, Problem{name, p.Line, r.ID, fmt.Sprintf(format, a...)})
		}
		if r.ID == "" {
			errs = append(errs, Problem{name, p.Line, fmt.Sprintf("#%d", p.Line), "id is missing: name the rule to add, switch off or override"})
			continue
		}
		if _, dup := o.pos[r.ID]; dup {
			bad("the overlay names this rule twice")
		}
		o.pos[r.ID] = p
		rest := r.rawRule
		rest.ID = ""
		hasFields := !isZeroRule(rest)
		switch {
		case r.Enabled != nil && *r.Enabled && (hasFields || r.Override != nil):
			bad("enabled: true is the default; give either override or the fields of a new rule")
		case r.Enabled != nil && !*r.Enabled:
			if hasFields || r.Override != nil {
				bad("a rule switched off takes no other fields")
			}
			o.Disable = append(o.Disable, r.ID)
		case r.Override != nil:
			if hasFields {
				bad("give the changed fields under override, not beside it")
			}
			if r.Override.ID != "" {
				bad("override cannot change a rule's id")
			}
			o.Override[r.ID] = *r.Override
		default:
			rule, probs := buildRule(r.rawRule, p)
			errs = append(errs, probs...)
			o.Add = append(o.Add, rule)
		}
	}
	if len(errs) > 0 {
		sortProblems(errs)
		return nil, errs
	}
	return o, nil
}

func isZeroRule(r rawRule) bool {
	return r.Name == "" && len(r.AppliesTo) == 0 && r.When == "" && r.Score == "" && r.AtLeast == "" && len(r.Tags) == 0 && r.Description == ""
}

// Apply returns the ruleset in force for a unit under the given overlays,
// outermost first. The base is not changed. Its version names the overlays
// ("2026.11-2+990101100000") and its hash covers their files too.
func Apply(base *Ruleset, chain []*Overlay) (*Ruleset, error) {
	if len(chain) == 0 {
		return base, nil
	}
	rs := &Ruleset{
		Version: base.Version, Levels: base.Levels, Dampening: base.Dampening, Spread: base.Spread,
		Keywords: map[string][]string{}, Features: slices.Clone(base.Features), Rules: slices.Clone(base.Rules),
		Files: slices.Clone(base.Files), Sources: map[string][]byte{},
	}
	for k, v := range base.Keywords {
		rs.Keywords[k] = v
	}
	for k, v := range base.Sources {
		rs.Sources[k] = v
	}
	var errs Errors
	for _, o := range chain {
		rs.Version += "+" + o.Unit
		rs.Files = append(rs.Files, o.File)
		rs.Sources[o.File] = o.src
		for l, v := range o.Levels {
			switch l {
			case risk.Blue:
				rs.Levels.Blue = v
			case risk.Yellow:
				rs.Levels.Yellow = v
			case risk.Orange:
				rs.Levels.Orange = v
			case risk.Red:
				rs.Levels.Red = v
			}
		}
		if len(o.Levels) > 0 {
			errs = append(errs, checkLevels(rs.Levels, o.File, 0)...)
		}
		for list, words := range o.Keywords {
			if _, dup := rs.Keywords[list]; dup {
				errs = append(errs, Problem{o.File, 0, "", fmt.Sprintf("keyword list %q is already defined: an overlay adds lists, it does not change them", list)})
			}
			rs.Keywords[list] = words
		}
		for _, f := range o.Features {
			if _, dup := rs.Feature(f.Name); dup {
				errs = append(errs, Problem{o.File, f.Line, "", fmt.Sprintf("feature %q is already defined: an overlay adds features, it does not change them", f.Name)})
				continue
			}
			rs.Features = append(rs.Features, f)
			sort.Slice(rs.Features, func(i, j int) bool { return rs.Features[i].Name < rs.Features[j].Name })
		}
		index := func(id string) int { return slices.IndexFunc(rs.Rules, func(r Rule) bool { return r.ID == id }) }
		for _, id := range o.Disable {
			if i := index(id); i < 0 {
				errs = append(errs, Problem{o.File, o.pos[id].Line, id, "there is no such rule to switch off"})
			} else {
				rs.Rules = slices.Delete(rs.Rules, i, i+1)
			}
		}
		for id, ov := range o.Override {
			i := index(id)
			if i < 0 {
				errs = append(errs, Problem{o.File, o.pos[id].Line, id, "there is no such rule to override"})
				continue
			}
			r, probs := overrideRule(rs.Rules[i], ov, o.pos[id])
			errs = append(errs, probs...)
			rs.Rules[i] = r
		}
		for _, r := range o.Add {
			if index(r.ID) >= 0 {
				errs = append(errs, Problem{o.File, r.Pos.Line, r.ID, "a rule with this id exists: use override to change it, or another id"})
				continue
			}
			rs.Rules = append(rs.Rules, r)
		}
	}
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
	names := make([]string, 0, len(rs.Sources))
	for n := range rs.Sources {
		names = append(names, n)
	}
	sort.Strings(names)
	rs.Hash = contentHash(names, rs.Sources)
	return rs, nil
}

// overrideRule replaces the fields ov gives. Problems point at the overlay;
// an expression it replaces points at the overlay's lines, one it keeps at
// the base's.
func overrideRule(r Rule, ov rawRule, pos RulePosition) (Rule, Errors) {
	merged := rawRule{ID: r.ID, Name: r.Name, When: r.When, Score: r.Score, Tags: r.Tags, Description: r.Description}
	for _, k := range r.AppliesTo {
		merged.AppliesTo = append(merged.AppliesTo, string(k))
	}
	if r.AtLeast != nil {
		merged.AtLeast = r.AtLeast.String()
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&merged.Name, ov.Name)
	set(&merged.When, ov.When)
	set(&merged.Score, ov.Score)
	set(&merged.AtLeast, ov.AtLeast)
	set(&merged.Description, ov.Description)
	if strings.EqualFold(ov.AtLeast, "none") { // an overlay may drop a floor
		merged.AtLeast = ""
	}
	if len(ov.AppliesTo) > 0 {
		merged.AppliesTo = ov.AppliesTo
	}
	if len(ov.Tags) > 0 {
		merged.Tags = ov.Tags
	}
	out, errs := buildRule(merged, RulePosition{File: pos.File, Line: pos.Line})
	out.Pos = r.Pos
	if ov.When != "" || ov.Score != "" {
		out.Pos.File, out.Pos.Line = pos.File, pos.Line
	}
	if ov.When != "" {
		out.Pos.WhenLine = pos.WhenLine
	}
	if ov.Score != "" {
		out.Pos.ScoreLine = pos.ScoreLine
	}
	return out, errs
}
