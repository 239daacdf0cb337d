package rules

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"fengqiao/risk"
)

// Effect says which way a change to a ruleset can move subjects' colours, as
// far as the rules' text tells, before any signal is seen. It is decided
// conservatively: Raises means that no subject's colour can fall because of
// the change, whatever the signals; when that cannot be shown, the answer is
// Both.
type Effect string

// The four effects.
const (
	Raises   Effect = "raises" // colours can only rise (or stay): 只升
	Lowers   Effect = "lowers" // colours can only fall (or stay): 只降
	Both     Effect = "both"   // either, depending on the signals: 可升可降
	NoEffect Effect = "none"   // no colour changes: names, descriptions, tags, layout
)

// Chinese names the effect for committee staff.
func (e Effect) Chinese() string {
	switch e {
	case Raises:
		return "只升"
	case Lowers:
		return "只降"
	case Both:
		return "可升可降"
	}
	return "不影响颜色"
}

// join is the effect of two changes made together.
func (e Effect) join(o Effect) Effect {
	switch {
	case e == o || o == NoEffect:
		return e
	case e == NoEffect:
		return o
	}
	return Both
}

func (e Effect) flip() Effect {
	switch e {
	case Raises:
		return Lowers
	case Lowers:
		return Raises
	}
	return e
}

// through is the effect of moving a value the way e says on something that
// moves the way r says with that value.
func (e Effect) through(r Effect) Effect {
	switch e {
	case NoEffect:
		return NoEffect
	case Raises:
		return r
	case Lowers:
		return r.flip()
	}
	if r == NoEffect {
		return NoEffect
	}
	return Both
}

// Part is the part of a ruleset a change is in.
type Part string

// The parts of a ruleset.
const (
	PartVersion   Part = "version"
	PartLevels    Part = "levels"
	PartDampening Part = "dampening"
	PartSpread    Part = "spread"
	PartKeywords  Part = "keywords"
	PartFeature   Part = "feature"
	PartRule      Part = "rule"
)

// Op says whether a rule, feature or keyword list was added, removed or changed.
type Op string

// The three ops.
const (
	Added   Op = "added"
	Removed Op = "removed"
	Changed Op = "changed"
)

// Changes is what differs between two rulesets, and which way it can move
// colours.
type Changes struct {
	From    string   `json:"from"` // the old ruleset's version
	To      string   `json:"to"`   // the new one's
	Changes []Change `json:"changes"`
	Effect  Effect   `json:"effect"` // of all the changes together
}

// Change is one rule, feature or keyword list added, removed or changed, or
// a change to the version, levels, dampening or spread.
type Change struct {
	Part   Part    `json:"part"`
	Name   string  `json:"name,omitempty"`  // rule id, feature name or keyword list
	Label  string  `json:"label,omitempty"` // a rule's Chinese name, a feature's label
	Op     Op      `json:"op"`
	Fields []Field `json:"fields,omitempty"` // what changed; for an added or removed rule, one field "rule"
	Effect Effect  `json:"effect"`
}

// Field is one field that changed, with its effect and why.
type Field struct {
	Name    string   `json:"name"` // e.g. when, score, at_least, window, words, yellow, cooldown.red
	Old     string   `json:"old,omitempty"`
	New     string   `json:"new,omitempty"`
	Added   []string `json:"added,omitempty"` // for lists: words, tags, applies_to
	Removed []string `json:"removed,omitempty"`
	Effect  Effect   `json:"effect"`
	Reason  string   `json:"reason"`
}

// Diff lists what changed from one ruleset to another, rule by rule, and
// whether each change can only raise colours, only lower them, or both. It
// reads the expressions' text with expr's parser and decides what it can
// prove: a threshold in features.x >= N that falls raises, a floor that rises
// raises, a removed rule lowers; a condition rewritten in any other way is Both.
func Diff(from, to *Ruleset) Changes {
	d := &differ{from: from, to: to, parsed: map[string]ast.Node{}}
	c := Changes{From: from.Version, To: to.Version, Changes: []Change{}}
	add := func(ch Change, ok bool) {
		if ok {
			c.Changes = append(c.Changes, ch)
		}
	}
	if from.Version != to.Version {
		add(Change{Part: PartVersion, Op: Changed, Effect: NoEffect, Fields: []Field{{Name: "version",
			Old: from.Version, New: to.Version, Effect: NoEffect, Reason: "a label"}}}, true)
	}
	add(d.levels())
	add(d.dampening())
	add(d.spread())
	for _, name := range listNames(from.Keywords, to.Keywords) {
		add(d.keywords(name))
	}
	for _, name := range d.featureNames() {
		add(d.feature(name))
	}
	for _, id := range d.ruleIDs() {
		add(d.rule(id))
	}
	c.Effect = NoEffect
	for i := range c.Changes {
		ch := &c.Changes[i]
		ch.Effect = NoEffect
		for _, f := range ch.Fields {
			ch.Effect = ch.Effect.join(f.Effect)
		}
		c.Effect = c.Effect.join(ch.Effect)
	}
	return c
}

// String writes the changes for committee staff, one line per changed field.
func (c Changes) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Ruleset diff 规则集差异: %s → %s\n", c.From, c.To)
	if len(c.Changes) == 0 {
		b.WriteString("No changes 无变化.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "Overall 总体: %s %s (%d changes)\n\n", c.Effect, c.Effect.Chinese(), len(c.Changes))
	for _, ch := range c.Changes {
		what := string(ch.Part)
		if ch.Name != "" {
			what += " " + ch.Name
		}
		if ch.Label != "" {
			what += " " + ch.Label
		}
		if ch.Op != Changed {
			what += " (" + string(ch.Op) + ")"
		}
		for _, f := range ch.Fields {
			fmt.Fprintf(&b, "  [%s %s] %s: %s", f.Effect, f.Effect.Chinese(), what, f.Name)
			if f.Old != "" || f.New != "" {
				fmt.Fprintf(&b, " %s → %s", orNone(f.Old), orNone(f.New))
			}
			for _, w := range f.Added {
				b.WriteString(" +" + w)
			}
			for _, w := range f.Removed {
				b.WriteString(" -" + w)
			}
			b.WriteString("\n      " + f.Reason + "\n")
		}
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

type differ struct {
	from, to *Ruleset
	parsed   map[string]ast.Node // expression text → its tree; nil if it does not parse
}

func (d *differ) parse(src string) ast.Node {
	if n, ok := d.parsed[src]; ok {
		return n
	}
	var n ast.Node
	if t, err := parser.Parse(src); err == nil {
		n = t.Node
	}
	d.parsed[src] = n
	return n
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func (d *differ) levels() (Change, bool) {
	o, n := d.from.Levels, d.to.Levels
	var fields []Field
	for _, l := range []struct {
		level    risk.Level
		old, new float64
	}{{risk.Blue, o.Blue, n.Blue}, {risk.Yellow, o.Yellow, n.Yellow}, {risk.Orange, o.Orange, n.Orange}, {risk.Red, o.Red, n.Red}} {
		if l.old == l.new {
			continue
		}
		f := Field{Name: l.level.String(), Old: fmtNum(l.old), New: fmtNum(l.new), Effect: Raises,
			Reason: fmt.Sprintf("a lower threshold: %s (%s) is reached with fewer points", l.level, l.level.Chinese())}
		if l.new > l.old {
			f.Effect, f.Reason = Lowers, fmt.Sprintf("a higher threshold: %s (%s) needs more points", l.level, l.level.Chinese())
		}
		fields = append(fields, f)
	}
	return Change{Part: PartLevels, Op: Changed, Fields: fields}, len(fields) > 0
}

func (d *differ) dampening() (Change, bool) {
	o, n := d.from.Dampening, d.to.Dampening
	var fields []Field
	for _, l := range risk.Levels[1:] {
		a, b := o.Cooldown[l], n.Cooldown[l]
		if a == b {
			continue
		}
		f := Field{Name: "cooldown." + l.String(), Old: cooldownText(a), New: cooldownText(b), Effect: Raises,
			Reason: fmt.Sprintf("a longer cooldown holds falls from %s back longer", l)}
		if b < a {
			f.Effect, f.Reason = Lowers, fmt.Sprintf("a shorter cooldown lets %s fall sooner", l)
		}
		fields = append(fields, f)
	}
	if a, b := o.SignOff, n.SignOff; !sameFloor(a, b) {
		f := Field{Name: "signoff", Old: floorText(a), New: floorText(b), Effect: Raises,
			Reason: "more levels need an officer's sign-off (解除预警) to leave"}
		if b == nil || (a != nil && *b > *a) {
			f.Effect, f.Reason = Lowers, "fewer levels need an officer's sign-off (解除预警) to leave"
		}
		fields = append(fields, f)
	}
	return Change{Part: PartDampening, Op: Changed, Fields: fields}, len(fields) > 0
}

func cooldownText(d Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func sameFloor(a, b *risk.Level) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func floorText(l *risk.Level) string {
	if l == nil {
		return ""
	}
	return l.String()
}

func (d *differ) spread() (Change, bool) {
	a, b := d.from.Spread.DisputeToPerson, d.to.Spread.DisputeToPerson
	if (a == nil) == (b == nil) && (a == nil || *a == *b) {
		return Change{}, false
	}
	text := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	f := Field{Name: "dispute_to_person", Old: text(a), New: text(b), Effect: Raises,
		Reason: "persons are held closer to their disputes' colour"}
	if b == nil || (a != nil && *b > *a) {
		f.Effect, f.Reason = Lowers, "persons are held further below their disputes' colour, or not at all"
	}
	return Change{Part: PartSpread, Op: Changed, Fields: []Field{f}}, true
}

// keywords compares one keyword list. More words match more summaries, which
// raises the features that count them and signal.keywords.
func (d *differ) keywords(name string) (Change, bool) {
	a, b := d.from.Keywords[name], d.to.Keywords[name]
	added, removed := wordDiff(a, b)
	if len(added) == 0 && len(removed) == 0 {
		return Change{}, false
	}
	op := Changed
	switch {
	case a == nil:
		op = Added
	case b == nil:
		op = Removed
	}
	moved, what := Raises, "more summaries match"
	switch {
	case len(added) > 0 && len(removed) > 0:
		moved, what = Both, "some summaries match that did not, and some no longer do"
	case len(removed) > 0:
		moved, what = Lowers, "fewer summaries match"
	}
	leaf := func(rs *Ruleset) *analyzer {
		return &analyzer{
			leaf: func(n ast.Node) (Effect, bool) {
				if f, ok := featureRef(n); ok && f != "" {
					if feat, ok := rs.Feature(f); ok && feat.Keyword == name {
						return Raises, true
					}
					return NoEffect, true
				}
				if bin, ok := n.(*ast.BinaryNode); ok && bin.Operator == "in" && isSignalKeywords(bin.Right) {
					if s, ok := bin.Left.(*ast.StringNode); ok {
						if s.Value == name {
							return Raises, true
						}
						return NoEffect, true
					}
				}
				return "", false
			},
			touch: func(n ast.Node) bool { return isSignalKeywords(n) || computedFeature(n) },
		}
	}
	eff, reason := d.throughRules(moved, what, leaf, "reading it")
	return Change{Part: PartKeywords, Name: name, Op: op, Fields: []Field{{Name: "words", Added: added, Removed: removed,
		Effect: eff, Reason: reason}}}, true
}

func isSignalKeywords(n ast.Node) bool {
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	p, isName := m.Property.(*ast.StringNode)
	return ok && isName && id.Value == "signal" && p.Value == "keywords"
}

// throughRules is the effect of a value moving the way moved says on the
// rules of both rulesets that read it (as the analyzer leaf makes for each),
// with a reason that starts with what.
func (d *differ) throughRules(moved Effect, what string, leaf func(*Ruleset) *analyzer, reading string) (Effect, string) {
	rulesEff := NoEffect
	var ids []string
	byRule := map[string]Effect{}
	for _, rs := range []*Ruleset{d.from, d.to} {
		a := leaf(rs)
		for _, r := range rs.Rules {
			e := d.ruleTrend(r, a)
			if e == NoEffect {
				continue
			}
			if _, seen := byRule[r.ID]; !seen {
				ids = append(ids, r.ID)
				byRule[r.ID] = NoEffect
			}
			byRule[r.ID] = byRule[r.ID].join(e)
			rulesEff = rulesEff.join(e)
		}
	}
	if moved == NoEffect {
		return NoEffect, what
	}
	if len(ids) == 0 {
		return NoEffect, what + "; no rule reads it"
	}
	var groups []string
	for _, g := range []struct {
		e    Effect
		verb string
	}{{Raises, "rise with it"}, {Lowers, "fall as it grows"}, {Both, "can move either way with it"}} {
		var in []string
		for _, id := range ids {
			if byRule[id] == g.e {
				in = append(in, id)
			}
		}
		if len(in) > 0 {
			groups = append(groups, strings.Join(in, ", ")+" "+g.verb)
		}
	}
	return moved.through(rulesEff), what + "; the rules " + reading + ": " + strings.Join(groups, "; ")
}

// ruleTrend is how a rule's contribution (its points and floor when it
// fires) moves with what a's leaves say.
func (d *differ) ruleTrend(r Rule, a *analyzer) Effect {
	when, score := d.parse(r.When), d.parse(r.Score)
	if when == nil || score == nil {
		return Both
	}
	w, s := a.trend(when), a.trend(score)
	if w != NoEffect && !a.nonNeg(score) { // firing more could add negative points
		return Both
	}
	return w.join(s)
}

func (d *differ) featureNames() []string {
	var names []string
	for _, f := range d.from.Features {
		names = append(names, f.Name)
	}
	for _, f := range d.to.Features {
		if !slices.Contains(names, f.Name) {
			names = append(names, f.Name)
		}
	}
	sort.Strings(names)
	return names
}

func (d *differ) feature(name string) (Change, bool) {
	a, inOld := d.from.Feature(name)
	b, inNew := d.to.Feature(name)
	switch {
	case !inOld:
		return Change{Part: PartFeature, Name: name, Label: b.Label, Op: Added, Fields: []Field{{Name: "feature",
			New: describeFeature(b), Effect: NoEffect, Reason: "a feature counts nothing until a rule reads it (see the rules)"}}}, true
	case !inNew:
		return Change{Part: PartFeature, Name: name, Label: a.Label, Op: Removed, Fields: []Field{{Name: "feature",
			Old: describeFeature(a), Effect: NoEffect, Reason: "no rule can read it any more (see the rules)"}}}, true
	}
	var fields []Field
	if a.Label != b.Label {
		fields = append(fields, Field{Name: "label", Old: a.Label, New: b.Label, Effect: NoEffect, Reason: "a name in explanations"})
	}
	leaf := func(rs *Ruleset) *analyzer {
		return &analyzer{
			leaf: func(n ast.Node) (Effect, bool) {
				if f, ok := featureRef(n); ok && f != "" {
					if f == name {
						return Raises, true
					}
					return NoEffect, true
				}
				return "", false
			},
			touch: computedFeature,
		}
	}
	moved := func(field, old, new string, e Effect, what string) {
		eff, reason := d.throughRules(e, what, leaf, "reading "+name)
		fields = append(fields, Field{Name: field, Old: old, New: new, Effect: eff, Reason: reason})
	}
	if a.Window != b.Window {
		if b.Window > a.Window {
			moved("window", a.Window.String(), b.Window.String(), Raises, "a longer window takes in more signals")
		} else {
			moved("window", a.Window.String(), b.Window.String(), Lowers, "a shorter window takes in fewer signals")
		}
	}
	if featureMeasure(a) != featureMeasure(b) {
		e, what := Both, "it measures something else"
		switch {
		case a.Count != "" && b.Count != "", a.DistinctDays != "" && b.DistinctDays != "":
			e, what = sourceTrend(a.Count+a.DistinctDays, b.Count+b.DistinctDays)
		case a.Count != "" && b.DistinctDays == a.Count:
			e, what = Lowers, "counting days instead of signals gives no more than before"
		case a.DistinctDays != "" && b.Count == a.DistinctDays:
			e, what = Raises, "counting signals instead of days gives no less than before"
		}
		moved("measure", featureMeasure(a), featureMeasure(b), e, what)
	}
	for _, f := range []struct{ name, old, new string }{
		{"category", a.Category, b.Category}, {"tag", a.Tag, b.Tag}, {"keyword", a.Keyword, b.Keyword},
		{"flag", a.Flag, b.Flag}, {"case_event", a.CaseEvent, b.CaseEvent},
	} {
		switch {
		case f.old == f.new:
		case f.old == "":
			moved(f.name, f.old, f.new, Lowers, "a new filter lets fewer signals count")
		case f.new == "":
			moved(f.name, f.old, f.new, Raises, "without the filter more signals count")
		default:
			moved(f.name, f.old, f.new, Both, "a different filter counts other signals")
		}
	}
	return Change{Part: PartFeature, Name: name, Label: b.Label, Op: Changed, Fields: fields}, len(fields) > 0
}

func sourceTrend(a, b string) (Effect, string) {
	switch {
	case b == "any":
		return Raises, "every source counts now, not only " + a
	case a == "any":
		return Lowers, "only " + b + " counts now, not every source"
	}
	return Both, "it counts another source"
}

// featureMeasure writes what a feature measures, e.g. "count: petition".
func featureMeasure(f Feature) string {
	switch {
	case f.Count != "":
		return "count: " + f.Count
	case f.DistinctDays != "":
		return "distinct_days: " + f.DistinctDays
	}
	return "max: " + f.Max
}

func describeFeature(f Feature) string {
	s := featureMeasure(f) + ", window: " + f.Window.String()
	for _, p := range [][2]string{{"category", f.Category}, {"tag", f.Tag}, {"keyword", f.Keyword}, {"flag", f.Flag}, {"case_event", f.CaseEvent}} {
		if p[1] != "" {
			s += ", " + p[0] + ": " + p[1]
		}
	}
	return s
}

func (d *differ) ruleIDs() []string {
	var ids []string
	for _, r := range d.to.Rules {
		ids = append(ids, r.ID)
	}
	for _, r := range d.from.Rules {
		if !slices.Contains(ids, r.ID) {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

func ruleByID(rs *Ruleset, id string) (Rule, bool) {
	i := slices.IndexFunc(rs.Rules, func(r Rule) bool { return r.ID == id })
	if i < 0 {
		return Rule{}, false
	}
	return rs.Rules[i], true
}

func (d *differ) rule(id string) (Change, bool) {
	a, inOld := ruleByID(d.from, id)
	b, inNew := ruleByID(d.to, id)
	switch {
	case !inOld:
		e, what := d.ruleAdded(b)
		return Change{Part: PartRule, Name: id, Label: b.Name, Op: Added, Fields: []Field{{Name: "rule",
			New: ruleSummary(b), Effect: e, Reason: "a new rule: adds " + what}}}, true
	case !inNew:
		e, what := d.ruleAdded(a)
		return Change{Part: PartRule, Name: id, Label: a.Name, Op: Removed, Fields: []Field{{Name: "rule",
			Old: ruleSummary(a), Effect: e.flip(), Reason: "removed: no longer adds " + what}}}, true
	}
	var fields []Field
	cosmetic := func(name, old, new string) {
		if old != new {
			fields = append(fields, Field{Name: name, Old: old, New: new, Effect: NoEffect, Reason: "shown to people, not scored"})
		}
	}
	cosmetic("name", a.Name, b.Name)
	if added, removed := wordDiff(kindStrings(a.AppliesTo), kindStrings(b.AppliesTo)); len(added)+len(removed) > 0 {
		f := Field{Name: "applies_to", Added: added, Removed: removed, Effect: NoEffect}
		var why []string
		if len(added) > 0 {
			e, what := d.ruleAdded(b)
			f.Effect = f.Effect.join(e)
			why = append(why, "now also adds "+what+" to "+strings.Join(added, ", ")+" subjects")
		}
		if len(removed) > 0 {
			e, what := d.ruleAdded(a)
			f.Effect = f.Effect.join(e.flip())
			why = append(why, "no longer adds "+what+" to "+strings.Join(removed, ", ")+" subjects")
		}
		f.Reason = strings.Join(why, "; ")
		fields = append(fields, f)
	}
	if flatExpr(a.When) != flatExpr(b.When) {
		e, why := d.exprChange(a.When, b.When, "is true at least as often", "is true no more often")
		if e != NoEffect && (d.parse(a.Score) == nil || d.parse(b.Score) == nil ||
			!(&analyzer{}).nonNeg(d.parse(a.Score)) || !(&analyzer{}).nonNeg(d.parse(b.Score))) {
			e, why = Both, why+"; but its score may be negative"
		}
		fields = append(fields, Field{Name: "when", Old: flatExpr(a.When), New: flatExpr(b.When), Effect: e, Reason: why})
	}
	if flatExpr(a.Score) != flatExpr(b.Score) {
		e, why := d.exprChange(a.Score, b.Score, "gives at least as many points", "gives no more points")
		fields = append(fields, Field{Name: "score", Old: flatExpr(a.Score), New: flatExpr(b.Score), Effect: e, Reason: why})
	}
	if !sameFloor(a.AtLeast, b.AtLeast) {
		f := Field{Name: "at_least", Old: floorText(a.AtLeast), New: floorText(b.AtLeast), Effect: Raises, Reason: "a higher floor when it fires"}
		if b.AtLeast == nil || (a.AtLeast != nil && *b.AtLeast < *a.AtLeast) {
			f.Effect, f.Reason = Lowers, "a lower floor, or none, when it fires"
		}
		fields = append(fields, f)
	}
	if added, removed := wordDiff(a.Tags, b.Tags); len(added)+len(removed) > 0 {
		fields = append(fields, Field{Name: "tags", Added: added, Removed: removed, Effect: NoEffect, Reason: "labels, not scored"})
	}
	cosmetic("description", flatExpr(a.Description), flatExpr(b.Description))
	return Change{Part: PartRule, Name: id, Label: b.Name, Op: Changed, Fields: fields}, len(fields) > 0
}

// ruleAdded is the effect of a rule starting to score (flip it for one that
// stops): it adds its points and its floor where it fires. what says what it
// adds, for the reason.
func (d *differ) ruleAdded(r Rule) (e Effect, what string) {
	score := d.parse(r.Score)
	switch {
	case score == nil || d.parse(r.When) == nil:
		return Both, "points that cannot be read"
	case !(&analyzer{}).nonNeg(score):
		return Both, "points that may be negative"
	case isZeroLiteral(score) && r.AtLeast == nil:
		return NoEffect, "no points and no floor"
	}
	pts := flatExpr(r.Score) + " points"
	if _, plain := plainNumber(r.Score); !plain {
		pts = "points (" + flatExpr(r.Score) + ")"
	}
	if r.AtLeast != nil {
		return Raises, fmt.Sprintf("%s and at least %s where it fires", pts, r.AtLeast)
	}
	return Raises, pts + " where it fires"
}

func isZeroLiteral(n ast.Node) bool {
	lo, hi, ok := (&analyzer{}).numRange(n)
	return ok && lo == 0 && hi == 0
}

func ruleSummary(r Rule) string {
	s := "when " + flatExpr(r.When) + ", score " + flatExpr(r.Score)
	if r.AtLeast != nil {
		s += ", at least " + r.AtLeast.String()
	}
	return s
}

func kindStrings(ks []risk.Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

func flatExpr(s string) string { return strings.Join(strings.Fields(s), " ") }

// exprChange decides which way an expression moved from old to new: for a
// condition, Raises means it is true at least as often; for a score, that it
// gives at least as many points. up and down say what rising and falling
// mean, for the reason.
func (d *differ) exprChange(old, new, up, down string) (Effect, string) {
	a, b := d.parse(old), d.parse(new)
	if a == nil || b == nil {
		return Both, "it cannot be read"
	}
	if x, okA := plainNumber(old); okA {
		if y, okB := plainNumber(new); okB {
			switch {
			case y > x:
				return Raises, "a higher constant"
			case y < x:
				return Lowers, "a lower constant"
			}
			return NoEffect, "the same number"
		}
	}
	if diffs, same := literalDiffs(a, b); same {
		if len(diffs) == 0 {
			return NoEffect, "only the layout changed"
		}
		an := &analyzer{moving: map[ast.Node]litSpan{}}
		var nums []string
		for _, df := range diffs {
			an.moving[df.node] = litSpan{math.Min(df.old, df.new), math.Max(df.old, df.new)}
			nums = append(nums, fmtNum(df.old)+" → "+fmtNum(df.new))
		}
		e := NoEffect
		for _, df := range diffs {
			target := df.node
			an.leaf = func(n ast.Node) (Effect, bool) {
				if n == target {
					return Raises, true
				}
				return "", false
			}
			t := an.trend(b)
			if df.new < df.old {
				t = t.flip()
			}
			e = e.join(t)
		}
		what := "only its numbers changed (" + strings.Join(nums, ", ") + ")"
		switch e {
		case Raises:
			return Raises, what + ": it " + up
		case Lowers:
			return Lowers, what + ": it " + down
		}
		return Both, what + ", in a way that can move either way"
	}
	switch {
	case extendsWith(b, a, "||", "or"):
		return Raises, "the old condition with another alternative (||)"
	case extendsWith(b, a, "&&", "and"):
		return Lowers, "the old condition with another requirement (&&)"
	case extendsWith(a, b, "||", "or"):
		return Lowers, "the old condition less one alternative (||)"
	case extendsWith(a, b, "&&", "and"):
		return Raises, "the old condition less one requirement (&&)"
	}
	return Both, "rewritten; which way it moves cannot be told from the text"
}

// plainNumber parses a score written as a plain number.
func plainNumber(s string) (float64, bool) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return v, err == nil
}

// extendsWith reports whether whole is part joined with something else by op
// (either spelling), on either side.
func extendsWith(whole, part ast.Node, ops ...string) bool {
	bin, ok := whole.(*ast.BinaryNode)
	if !ok || !slices.Contains(ops, bin.Operator) {
		return false
	}
	for _, side := range []ast.Node{bin.Left, bin.Right} {
		if diffs, same := literalDiffs(part, side); same && len(diffs) == 0 {
			return true
		}
	}
	return false
}

// litDiff is a number literal that differs between two expressions of the
// same shape; node is in the new expression.
type litDiff struct {
	node     ast.Node
	old, new float64
}

// literalDiffs reports whether a and b are the same expression but for their
// number literals, and lists those that differ. Two trees are compared by
// their nodes in post-order, each with its type, operator or name and number
// of children, which together determine a tree.
func literalDiffs(a, b ast.Node) ([]litDiff, bool) {
	na, nb := postOrder(a), postOrder(b)
	if len(na) != len(nb) {
		return nil, false
	}
	var diffs []litDiff
	for i := range na {
		x, okX := literalValue(na[i])
		y, okY := literalValue(nb[i])
		if okX && okY {
			if x != y {
				diffs = append(diffs, litDiff{nb[i], x, y})
			}
			continue
		}
		kx, okA := exprNodeKey(na[i])
		ky, okB := exprNodeKey(nb[i])
		if !okA || !okB || kx != ky {
			return nil, false
		}
	}
	return diffs, true
}

type postOrderCollector struct{ nodes []ast.Node }

func (c *postOrderCollector) Visit(n *ast.Node) { c.nodes = append(c.nodes, *n) }

func postOrder(n ast.Node) []ast.Node {
	c := &postOrderCollector{}
	ast.Walk(&n, c)
	return c.nodes
}

func literalValue(n ast.Node) (float64, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return float64(n.Value), true
	case *ast.FloatNode:
		return n.Value, true
	}
	return 0, false
}

// exprNodeKey identifies a node apart from its children; false for a kind of
// node it does not know, which is then never taken to be unchanged.
func exprNodeKey(n ast.Node) (string, bool) {
	var k string
	switch n := n.(type) {
	case *ast.NilNode:
	case *ast.IdentifierNode:
		k = n.Value
	case *ast.BoolNode:
		k = strconv.FormatBool(n.Value)
	case *ast.StringNode:
		k = strconv.Quote(n.Value)
	case *ast.UnaryNode:
		k = n.Operator
	case *ast.BinaryNode:
		k = n.Operator
	case *ast.ChainNode, *ast.PredicateNode, *ast.PairNode:
	case *ast.MemberNode:
		k = fmt.Sprint(n.Optional, n.Method)
	case *ast.SliceNode:
		k = fmt.Sprint(n.From != nil, n.To != nil)
	case *ast.CallNode:
		k = strconv.Itoa(len(n.Arguments))
	case *ast.BuiltinNode:
		k = n.Name + "/" + strconv.Itoa(len(n.Arguments))
	case *ast.PointerNode:
		k = n.Name
	case *ast.ConditionalNode:
		k = strconv.FormatBool(n.Ternary)
	case *ast.VariableDeclaratorNode:
		k = n.Name
	case *ast.SequenceNode:
		k = strconv.Itoa(len(n.Nodes))
	case *ast.ArrayNode:
		k = strconv.Itoa(len(n.Nodes))
	case *ast.MapNode:
		k = strconv.Itoa(len(n.Pairs))
	default:
		return "", false
	}
	return reflect.TypeOf(n).String() + ":" + k, true
}

// litSpan is the range of values a number literal takes while it changes.
type litSpan struct{ lo, hi float64 }

// analyzer works out an expression's trend: how its value moves as some
// values it reads grow. A trend uses Effect's words: Raises (the value, or
// for a condition its being true, never falls), Lowers, Both (cannot be
// told) and NoEffect (it does not move). false < true.
type analyzer struct {
	// leaf gives the trend of a node that is itself a moving value, or of a
	// whole that is known without looking inside; false for other nodes.
	leaf func(ast.Node) (Effect, bool)
	// touch reports a node that may move in a way leaf cannot tell.
	touch func(ast.Node) bool
	// moving holds the number literals that change, with their ranges, so
	// that decisions that depend on a literal's value hold all along.
	moving map[ast.Node]litSpan
}

func (a *analyzer) trend(n ast.Node) Effect {
	if n == nil {
		return NoEffect
	}
	if a.leaf != nil {
		if e, ok := a.leaf(n); ok {
			return e
		}
	}
	if a.touch != nil && a.touch(n) {
		return Both
	}
	switch n := n.(type) {
	case *ast.NilNode, *ast.IdentifierNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode,
		*ast.BytesNode, *ast.ConstantNode, *ast.PointerNode:
		return NoEffect
	case *ast.UnaryNode:
		t := a.trend(n.Node)
		switch n.Operator {
		case "!", "not", "-":
			return t.flip()
		case "+":
			return t
		}
		return settledTrend(t)
	case *ast.BinaryNode:
		return a.binary(n)
	case *ast.ConditionalNode:
		c, x, y := a.trend(n.Cond), a.trend(n.Exp1), a.trend(n.Exp2)
		switch {
		case c == NoEffect:
			return x.join(y)
		case x != NoEffect || y != NoEffect:
			return Both
		}
		switch a.order(n.Exp1, n.Exp2) {
		case 1: // true gives the larger
			return c
		case -1:
			return c.flip()
		}
		return Both
	case *ast.BuiltinNode:
		t := NoEffect
		for _, arg := range n.Arguments {
			t = t.join(a.trend(arg))
		}
		if (n.Name == "min" || n.Name == "max") && len(n.Arguments) >= 2 {
			return t // each is monotone in every argument
		}
		return settledTrend(t)
	}
	t := NoEffect
	for _, c := range exprChildren(n) {
		t = t.join(a.trend(c))
	}
	return settledTrend(t)
}

// settledTrend is NoEffect for NoEffect and Both otherwise: what is known of a
// node whose way of moving with its parts is not.
func settledTrend(t Effect) Effect {
	if t == NoEffect {
		return NoEffect
	}
	return Both
}

func (a *analyzer) binary(n *ast.BinaryNode) Effect {
	l, r := a.trend(n.Left), a.trend(n.Right)
	switch n.Operator {
	case "+":
		return l.join(r)
	case "-":
		return l.join(r.flip())
	case "*":
		switch {
		case l == NoEffect && r == NoEffect:
			return NoEffect
		case r == NoEffect:
			return a.scaled(l, n.Right)
		case l == NoEffect:
			return a.scaled(r, n.Left)
		}
		return Both
	case "/":
		if lo, _, ok := a.numRange(n.Right); ok && r == NoEffect && lo > 0 {
			return l
		}
		return settledTrend(l.join(r))
	case ">", ">=":
		return l.join(r.flip())
	case "<", "<=":
		return l.flip().join(r)
	case "&&", "and", "||", "or":
		return l.join(r)
	}
	return settledTrend(l.join(r))
}

// scaled is the trend of x * factor, x moving as t says and factor fixed.
func (a *analyzer) scaled(t Effect, factor ast.Node) Effect {
	if a.nonNeg(factor) {
		return t
	}
	if _, hi, ok := a.numRange(factor); ok && hi <= 0 {
		return t.flip()
	}
	return Both
}

// order is 1 when x ≥ y for any values, -1 when x ≤ y, 0 when unknown.
func (a *analyzer) order(x, y ast.Node) int {
	if bx, ok := x.(*ast.BoolNode); ok {
		if by, ok := y.(*ast.BoolNode); ok {
			switch {
			case bx.Value == by.Value:
				return 1
			case bx.Value:
				return 1
			}
			return -1
		}
	}
	xlo, xhi, okX := a.numRange(x)
	ylo, yhi, okY := a.numRange(y)
	switch {
	case okX && okY && xlo >= yhi:
		return 1
	case okX && okY && xhi <= ylo:
		return -1
	case okY && yhi <= 0 && a.nonNeg(x):
		return 1
	case okX && xhi <= 0 && a.nonNeg(y):
		return -1
	}
	return 0
}

// numRange gives the values a number literal (maybe negated) takes.
func (a *analyzer) numRange(n ast.Node) (lo, hi float64, ok bool) {
	if u, isUnary := n.(*ast.UnaryNode); isUnary {
		lo, hi, ok = a.numRange(u.Node)
		switch {
		case !ok:
			return 0, 0, false
		case u.Operator == "-":
			return -hi, -lo, true
		case u.Operator == "+":
			return lo, hi, true
		}
		return 0, 0, false
	}
	v, isNum := literalValue(n)
	if !isNum {
		return 0, 0, false
	}
	if s, moving := a.moving[n]; moving {
		return s.lo, s.hi, true
	}
	return v, v, true
}

// nonNeg reports whether n is never negative: features (counts and largest
// values), case counts, subject.signals and the signal's sizes are not.
func (a *analyzer) nonNeg(n ast.Node) bool {
	if lo, _, ok := a.numRange(n); ok {
		return lo >= 0
	}
	switch n := n.(type) {
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok {
			return false
		}
		p, _ := n.Property.(*ast.StringNode)
		switch id.Value {
		case "features", "cases":
			return true
		case "subject":
			return p != nil && p.Value == "signals"
		case "signal":
			return p != nil && slices.Contains([]string{"party_count", "amount", "petition_level"}, p.Value)
		}
	case *ast.UnaryNode:
		return n.Operator == "+" && a.nonNeg(n.Node)
	case *ast.BinaryNode:
		return (n.Operator == "+" || n.Operator == "*") && a.nonNeg(n.Left) && a.nonNeg(n.Right)
	case *ast.ConditionalNode:
		return a.nonNeg(n.Exp1) && a.nonNeg(n.Exp2)
	case *ast.BuiltinNode:
		switch n.Name {
		case "len", "count", "abs":
			return true
		case "min":
			return len(n.Arguments) >= 2 && !slices.ContainsFunc(n.Arguments, func(x ast.Node) bool { return !a.nonNeg(x) })
		case "max":
			return len(n.Arguments) >= 2 && slices.ContainsFunc(n.Arguments, a.nonNeg)
		}
	}
	return false
}

func exprChildren(n ast.Node) []ast.Node {
	switch n := n.(type) {
	case *ast.ChainNode:
		return []ast.Node{n.Node}
	case *ast.MemberNode:
		return []ast.Node{n.Node, n.Property}
	case *ast.SliceNode:
		return []ast.Node{n.Node, n.From, n.To}
	case *ast.CallNode:
		return append([]ast.Node{n.Callee}, n.Arguments...)
	case *ast.PredicateNode:
		return []ast.Node{n.Node}
	case *ast.VariableDeclaratorNode:
		return []ast.Node{n.Value, n.Expr}
	case *ast.SequenceNode:
		return n.Nodes
	case *ast.ArrayNode:
		return n.Nodes
	case *ast.MapNode:
		return n.Pairs
	case *ast.PairNode:
		return []ast.Node{n.Key, n.Value}
	}
	return nil
}

// featureRef reports whether n reads a feature (features.NAME or
// features["NAME"]) and which; "" when the name is computed.
func featureRef(n ast.Node) (string, bool) {
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return "", false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "features" {
		return "", false
	}
	if p, ok := m.Property.(*ast.StringNode); ok {
		return p.Value, true
	}
	return "", true
}

// computedFeature reports a feature read by a computed name, or the whole
// environment ($env), either of which may read any feature.
func computedFeature(n ast.Node) bool {
	if id, ok := n.(*ast.IdentifierNode); ok {
		return id.Value == "$env"
	}
	name, ok := featureRef(n)
	return ok && name == ""
}

// wordDiff lists the words of b not in a and those of a not in b, in order.
func wordDiff(a, b []string) (added, removed []string) {
	for _, w := range b {
		if !slices.Contains(a, w) {
			added = append(added, w)
		}
	}
	for _, w := range a {
		if !slices.Contains(b, w) {
			removed = append(removed, w)
		}
	}
	return added, removed
}

func listNames(a, b map[string][]string) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
