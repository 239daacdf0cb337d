// Package engine compiles a ruleset's expressions (expr-lang/expr) once and
// evaluates them over a subject's state into a five-colour assessment with
// the reasons. It is pure: no I/O, no clocks of its own, safe for concurrent
// use.
package engine

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"fengqiao/risk"
	"fengqiao/rules"
)

// Limits on what one expression may cost, so that a rule author cannot stall
// the engine with an accidental monster.
const (
	maxNodes     = 2000    // AST nodes per expression
	memoryBudget = 100_000 // expr VM memory units per run
)

// Env is what a rule's expressions see. It is a typed struct, so every
// expression is type-checked when the ruleset loads.
type Env struct {
	Subject  SubjectFacts       `expr:"subject"`
	Signal   SignalFacts        `expr:"signal"`   // the signal being processed; zero on a re-score
	Features map[string]float64 `expr:"features"` // the ruleset's declared features
	Tags     []string           `expr:"tags"`     // every tag seen on the subject's kept signals
	Cases    CaseFacts          `expr:"cases"`    // the subject's mediation cases, from case events
}

// SubjectFacts are facts about the subject itself.
type SubjectFacts struct {
	Kind         string `expr:"kind"`          // person or dispute
	Unit         string `expr:"unit"`          // unit code of its latest signal
	Weak         bool   `expr:"weak"`          // identified by name + phone only, not an ID number
	Signals      int    `expr:"signals"`       // signals kept for it
	LedgerStatus string `expr:"ledger_status"` // latest ledger status (化解状态), "" if none
}

// SignalFacts are the facts of the signal being processed.
type SignalFacts struct {
	Source        string   `expr:"source"`
	Category      string   `expr:"category"`
	Tags          []string `expr:"tags"`
	Keywords      []string `expr:"keywords"` // keyword lists its summary matched
	PartyCount    int      `expr:"party_count"`
	Amount        float64  `expr:"amount"`
	PetitionLevel int      `expr:"petition_level"`
	SkipLevel     bool     `expr:"skip_level"`
	Collective    bool     `expr:"collective"`
	Repeat        bool     `expr:"repeat"`
	LedgerStatus  string   `expr:"ledger_status"`
	CaseEvent     string   `expr:"case_event"`
}

// CaseFacts count the subject's cases by their latest state.
type CaseFacts struct {
	Open    int `expr:"open"`    // not yet closed
	Overdue int `expr:"overdue"` // past a deadline (督办)
	Failed  int `expr:"failed"`  // mediation failed (调解不成)
}

// Engine is a compiled ruleset.
type Engine struct {
	rs       *rules.Ruleset
	features *Features
	names    []string // the features' names, in the ruleset's order
	compiled []compiledRule
	keywords []keywordList
	leaves   []leaf    // what the flat programs read, filled into each evaluation's flat environment
	pool     sync.Pool // *scratch
}

// compiledRule is a rule with its expressions compiled twice: against Env,
// which type-checks them and is the reference for what they mean, and against
// the flat environment, which is how they normally run (see compileFlat),
// most of them as Go closures made from the flat program (see native).
type compiledRule struct {
	rules.Rule
	when, score         *vm.Program // over Env
	flatWhen, flatScore *vm.Program // over the flat environment; nil if the expression cannot use it
	nativeWhen          boolFn      // the flat program as Go (see native); nil if not in the subset
	nativeScore         floatFn
	person, dispute     bool          // the rule applies to persons, to disputes
	reads               []featureRead // features the condition reads, for explanations
}

// featureRead is a feature a condition reads, with the threshold it compares
// it against when there is one (features.x >= 3).
type featureRead struct {
	feature *rules.Feature
	index   int // of the feature in the ruleset's features
	op      string
	limit   string
	bound   float64 // limit as a number
}

// named reports whether a fired rule's detail names the read at value v:
// a comparison that held, or a value read without one that is not zero.
func (r *featureRead) named(v float64) bool {
	if r.op == "" {
		return v != 0
	}
	return r.holds(v)
}

// holds reports whether the read's own comparison is true for v; a read
// with no comparison always holds.
func (r *featureRead) holds(v float64) bool {
	switch r.op {
	case ">":
		return v > r.bound
	case "<":
		return v < r.bound
	case "≥":
		return v >= r.bound
	case "≤":
		return v <= r.bound
	case "=":
		return v == r.bound
	case "≠":
		return v != r.bound
	}
	return true
}

type keywordList struct {
	name  string
	words []string
}

// Compile compiles and type-checks every rule of rs. All problems are returned
// together as rules.Errors, each with file, line and rule id.
func Compile(rs *rules.Ruleset) (*Engine, error) {
	return compile(rs, true)
}

// compile is Compile; with flat false every expression runs over Env, which
// is how the tests check that the flat programs mean the same.
func compile(rs *rules.Ruleset, flat bool) (*Engine, error) {
	e := &Engine{rs: rs, features: NewFeatures(rs.Features)}
	for _, f := range rs.Features {
		e.names = append(e.names, f.Name)
	}
	var errs rules.Errors
	for _, r := range rs.Rules {
		c := compiledRule{Rule: r, person: r.Applies(risk.Person), dispute: r.Applies(risk.Dispute)}
		var probs rules.Errors
		c.when, probs = compileExpr(rs, r, "when", r.When, r.Pos.WhenLine, expr.AsBool())
		errs = append(errs, probs...)
		c.score, probs = compileExpr(rs, r, "score", r.Score, r.Pos.ScoreLine, expr.AsFloat64())
		errs = append(errs, probs...)
		if c.when != nil {
			c.reads = featureReads(rs, c.when.Node())
		}
		e.compiled = append(e.compiled, c)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for name, words := range rs.Keywords {
		e.keywords = append(e.keywords, keywordList{name, words})
	}
	if flat {
		e.compileFlat()
	}
	e.pool.New = func() any { return e.newScratch() }
	return e, nil
}

func compileExpr(rs *rules.Ruleset, r rules.Rule, field, src string, line int, want expr.Option) (*vm.Program, rules.Errors) {
	prog, err := expr.Compile(src, expr.Env(Env{}), want, expr.MaxNodes(maxNodes))
	if err != nil {
		p := rules.Problem{File: r.Pos.File, Line: line, Rule: r.ID, Message: field + ": " + err.Error()}
		var fe *file.Error
		if errors.As(err, &fe) {
			p.Line = line + fe.Line - 1
			p.Message = fmt.Sprintf("%s: %s (column %d)", field, envNames.Replace(fe.Message), fe.Column+1)
		}
		return nil, rules.Errors{p}
	}
	// Features are a map in Env, so expr cannot know their names: check that
	// every features.NAME the expression reads is declared.
	v := &featureRefs{rs: rs}
	root := prog.Node()
	ast.Walk(&root, v)
	var errs rules.Errors
	for _, name := range v.unknown {
		errs = append(errs, rules.Problem{File: r.Pos.File, Line: line, Rule: r.ID,
			Message: fmt.Sprintf("%s: feature %q is not declared under features", field, name)})
	}
	return prog, errs
}

// envNames turns the Go names of Env's parts in expr's messages into the
// names rule authors write.
var envNames = strings.NewReplacer("type engine.SignalFacts", "signal", "type engine.SubjectFacts", "subject",
	"type engine.CaseFacts", "cases", "engine.Env", "the rule environment")

type featureRefs struct {
	rs      *rules.Ruleset
	unknown []string
}

func (v *featureRefs) Visit(n *ast.Node) {
	name, ok := featureName(*n)
	if !ok {
		return
	}
	if name == "" {
		v.unknown = append(v.unknown, "(computed name)")
		return
	}
	if _, ok := v.rs.Feature(name); !ok {
		v.unknown = append(v.unknown, name)
	}
}

// featureName reports whether n reads a feature (features.NAME or
// features["NAME"]) and which; "" when the name is computed.
func featureName(n ast.Node) (string, bool) {
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return "", false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "features" {
		return "", false
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		return "", true
	}
	return prop.Value, true
}

// featureReads lists the features a condition reads, in order, each with the
// threshold it is compared against where that is a plain number.
type readCollector struct {
	rs    *rules.Ruleset
	reads []featureRead
}

func featureReads(rs *rules.Ruleset, root ast.Node) []featureRead {
	c := &readCollector{rs: rs}
	ast.Walk(&root, c)
	return c.reads
}

func (c *readCollector) Visit(n *ast.Node) {
	if b, ok := (*n).(*ast.BinaryNode); ok {
		name, isFeature := featureName(b.Left)
		num, isNum := literal(b.Right)
		op := b.Operator
		if !isFeature || !isNum { // 3 <= features.x
			name, isFeature = featureName(b.Right)
			num, isNum = literal(b.Left)
			op = flip[op]
		}
		if isFeature && isNum && op != "" {
			c.add(name, opNames[op], num)
		}
		return
	}
	if name, ok := featureName(*n); ok {
		c.add(name, "", "")
	}
}

func (c *readCollector) add(name, op, limit string) {
	for i := range c.reads {
		if c.reads[i].feature.Name == name {
			if c.reads[i].op == "" {
				c.reads[i].op, c.reads[i].limit = op, limit
				c.reads[i].bound, _ = strconv.ParseFloat(limit, 64)
			}
			return
		}
	}
	if i := slices.IndexFunc(c.rs.Features, func(f rules.Feature) bool { return f.Name == name }); i >= 0 {
		f := c.rs.Features[i]
		bound, _ := strconv.ParseFloat(limit, 64)
		c.reads = append(c.reads, featureRead{feature: &f, index: i, op: op, limit: limit, bound: bound})
	}
}

func literal(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.IntegerNode:
		return fmt.Sprint(v.Value), true
	case *ast.FloatNode:
		return fmt.Sprint(v.Value), true
	}
	return "", false
}

var (
	flip    = map[string]string{">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "=="}
	opNames = map[string]string{">": ">", "<": "<", ">=": "≥", "<=": "≤", "==": "=", "!=": "≠"}
)

// Ruleset returns the ruleset the engine was compiled from.
func (e *Engine) Ruleset() *rules.Ruleset { return e.rs }

// Features returns the ruleset's features as the engine computes them. Its
// Compute gives exactly the numbers the rules see in EvaluateInto.
func (e *Engine) Features() *Features { return e.features }

// Version returns the ruleset's version.
func (e *Engine) Version() string { return e.rs.Version }

// MatchKeywords returns the names of the keyword lists that text mentions,
// in sorted order.
func (e *Engine) MatchKeywords(text string) []string {
	var hits []string
	for _, kl := range e.keywords {
		for _, w := range kl.words {
			if strings.Contains(text, w) {
				hits = append(hits, kl.name)
				break
			}
		}
	}
	sortStrings(hits)
	return hits
}

// Evaluate scores one subject's state at time now.
func (e *Engine) Evaluate(st State, now time.Time) risk.Assessment {
	var a risk.Assessment
	e.EvaluateInto(&st, now, &a)
	return a
}

// EvaluateInto is Evaluate writing into a, reusing its slices, so that a
// caller scoring many subjects allocates nothing per subject. Rule errors do
// not stop the evaluation: they are recorded and the rule counts as not fired.
func (e *Engine) EvaluateInto(st *State, now time.Time, a *risk.Assessment) {
	sc := e.pool.Get().(*scratch)
	defer e.pool.Put(sc)
	e.features.Compute(st, now, &sc.facts)
	sc.envFeatures = false
	sc.env.Tags = sc.facts.Tags
	sc.env.Cases = sc.facts.Cases
	sc.env.Subject.LedgerStatus = sc.facts.LedgerStatus
	sc.env.Subject.Kind = string(st.Subject.Kind)
	sc.env.Subject.Unit = st.Unit
	sc.env.Subject.Weak = st.Weak
	sc.env.Subject.Signals = len(st.Events)
	sc.env.Signal = SignalFacts{}
	if st.Trigger != nil {
		sc.env.Signal = st.Trigger.facts()
	}
	sc.fillFlat(e.leaves)

	*a = risk.Assessment{
		Subject: st.Subject, Unit: st.Unit, RulesetVersion: e.rs.Version, RulesetHash: e.rs.Hash, At: now,
		Fired: a.Fired[:0], NotFired: a.NotFired[:0], Errors: a.Errors[:0], Adjustments: a.Adjustments[:0],
	}
	if st.Trigger != nil {
		a.Signal = st.Trigger.Key
	}
	floor := risk.Green
	kind := st.Subject.Kind
	for i := range e.compiled {
		c := &e.compiled[i]
		switch kind {
		case risk.Person:
			if !c.person {
				continue
			}
		case risk.Dispute:
			if !c.dispute {
				continue
			}
		default:
			if !c.Applies(kind) {
				continue
			}
		}
		fired, err := sc.when(c)
		if err != nil {
			a.Errors = append(a.Errors, risk.RuleOutcome{ID: c.ID, Name: c.Name, Error: "when: " + err.Error()})
			continue
		}
		if !fired {
			a.NotFired = append(a.NotFired, c.ID)
			continue
		}
		points, err := sc.score(c)
		if err != nil {
			a.Errors = append(a.Errors, risk.RuleOutcome{ID: c.ID, Name: c.Name, Error: "score: " + err.Error()})
			continue
		}
		a.Score += points
		a.Fired = append(a.Fired, risk.RuleOutcome{ID: c.ID, Name: c.Name, Points: points, AtLeast: c.AtLeast,
			Detail: sc.detail(i, c)})
		if c.AtLeast != nil && *c.AtLeast > floor {
			floor = *c.AtLeast
		}
	}
	a.RulesLevel = max(e.rs.Levels.Band(a.Score), floor)
	a.Level = e.adjust(st, now, a)
}

// when runs c's condition. The flat program answers unless it fails or gives
// something odd; then the program over Env runs, so that an error reads the
// same whichever program met it first.
func (sc *scratch) when(c *compiledRule) (bool, error) {
	if c.nativeWhen != nil {
		return c.nativeWhen(sc.held), nil
	}
	if c.flatWhen != nil {
		if out, err := sc.vm.Run(c.flatWhen, sc.flat); err == nil {
			if fired, ok := out.(bool); ok {
				return fired, nil
			}
		}
	}
	sc.fillEnvFeatures()
	out, err := sc.vm.Run(c.when, sc.envp)
	if err != nil {
		return false, err
	}
	fired, _ := out.(bool)
	return fired, nil
}

// score runs c's score, as when runs its condition. The flat program is
// compiled without expr.AsFloat64, whose conversion would box the result.
func (sc *scratch) score(c *compiledRule) (float64, error) {
	if c.nativeScore != nil {
		return c.nativeScore(sc.held), nil
	}
	if c.flatScore != nil {
		if out, err := sc.vm.Run(c.flatScore, sc.flat); err == nil {
			switch v := out.(type) {
			case float64:
				return v, nil
			case int:
				return float64(v), nil
			}
		}
	}
	sc.fillEnvFeatures()
	out, err := sc.vm.Run(c.score, sc.envp)
	if err != nil {
		return 0, err
	}
	points, _ := out.(float64)
	return points, nil
}

// detail describes, in Chinese, the values fired rule i saw, e.g.
// "近30天信访次数 3(阈值≥3)". It names the comparisons that held (in
// "a > 0 || b > 0", only what made the rule fire) and the other values it
// read that are not zero; or everything, if no comparison held on its own.
// The rule's last detail is kept with the values it was built from, and
// given again while they do not change; otherwise the text is built in a
// reused buffer and interned per rule, so that a text seen before costs no
// allocation.
func (sc *scratch) detail(i int, c *compiledRule) string {
	if len(c.reads) == 0 {
		return ""
	}
	m := &sc.memo[i]
	if m.vals != nil && m.same(c.reads, sc.facts.Features) {
		return m.text
	}
	text := sc.buildDetail(i, c)
	if m.vals == nil {
		m.vals = make([]float64, len(c.reads))
	}
	for j := range c.reads {
		m.vals[j] = sc.facts.Features[c.reads[j].index]
	}
	m.text = text
	return text
}

// detailMemo is the detail a rule was last given, and the values it read.
type detailMemo struct {
	vals []float64
	text string
}

// same reports whether the reads have the values the memo saw, bit for bit
// (0 and -0 print differently).
func (m *detailMemo) same(reads []featureRead, values []float64) bool {
	for j := range reads {
		if math.Float64bits(values[reads[j].index]) != math.Float64bits(m.vals[j]) {
			return false
		}
	}
	return true
}

// buildDetail writes the detail of fired rule i, or finds it among the
// texts it has given before.
func (sc *scratch) buildDetail(i int, c *compiledRule) string {
	anyHeld := false
	for j := range c.reads {
		anyHeld = anyHeld || c.reads[j].holds(sc.facts.Features[c.reads[j].index])
	}
	b := sc.buf[:0]
	for j := range c.reads {
		r := &c.reads[j]
		if anyHeld && !r.named(sc.facts.Features[r.index]) {
			continue
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, r.feature.Label...)
		b = append(b, ' ')
		b = appendValue(b, r.feature, sc.facts.Features[r.index])
		if r.op != "" {
			b = append(b, "(阈值"...)
			b = append(b, r.op...)
			b = append(b, r.limit...)
			b = append(b, ')')
		}
	}
	sc.buf = b
	texts := sc.details[i]
	if text, ok := texts[string(b)]; ok {
		return text
	}
	if texts == nil {
		texts = make(map[string]string)
		sc.details[i] = texts
	} else if len(texts) >= keptDetails {
		clear(texts)
	}
	text := string(b)
	texts[text] = text
	return text
}

// keptDetails bounds the texts kept per rule: counts take few values, but
// amounts take many.
const keptDetails = 64

// appendValue appends v as a person reads it: amounts in 元 or 万元, party
// counts in 人, anything else as a plain number (as %g prints it).
func appendValue(b []byte, f *rules.Feature, v float64) []byte {
	switch f.Max {
	case "amount":
		if v >= 10000 {
			return append(strconv.AppendFloat(b, v/10000, 'g', -1, 64), "万元"...)
		}
		return append(strconv.AppendFloat(b, v, 'g', -1, 64), "元"...)
	case "party_count":
		return append(strconv.AppendFloat(b, v, 'g', -1, 64), "人"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// adjust applies what stands outside the rules, in order: floors spread from
// linked subjects, dampening of falls, and a manual override.
func (e *Engine) adjust(st *State, now time.Time, a *risk.Assessment) risk.Level {
	level := a.RulesLevel
	for _, l := range st.Links {
		if f := e.rs.Spread.PersonFloor(l.Level); f > level && st.Subject.Kind == risk.Person && l.Subject.Kind == risk.Dispute {
			level = f
			a.Adjustments = append(a.Adjustments, risk.Adjustment{Kind: risk.Spread, Level: f,
				Reason: fmt.Sprintf("所涉纠纷 %s 为%s,当事人至少%s", l.Subject.Ref, l.Level.Chinese(), f.Chinese())})
		}
	}
	if p := st.Previous; p != nil && level < p.Level {
		d := e.rs.Dampening
		switch until := p.RaisedAt.Add(time.Duration(d.Cooldown[p.Level])); {
		case d.SignOff != nil && p.Level >= *d.SignOff && !p.SignedOff:
			level = p.Level
			a.Adjustments = append(a.Adjustments, risk.Adjustment{Kind: risk.Held, Level: level,
				Reason: fmt.Sprintf("规则结果为%s,离开%s须值班人员签字解除预警", a.RulesLevel.Chinese(), p.Level.Chinese())})
		case now.Before(until):
			level = p.Level
			a.Adjustments = append(a.Adjustments, risk.Adjustment{Kind: risk.Held, Level: level, Until: &until,
				Reason: fmt.Sprintf("规则结果为%s,%s冷却期至%s", a.RulesLevel.Chinese(), p.Level.Chinese(), until.In(chinaTime).Format("01-02 15:04"))})
		}
	}
	if o := st.Override; o != nil && now.Before(o.Until) {
		level = o.Level
		until := o.Until
		a.Adjustments = append(a.Adjustments, risk.Adjustment{Kind: risk.Override, Level: level, Until: &until,
			Reason: fmt.Sprintf("%s人工调整为%s(%s),至%s", o.Officer, o.Level.Chinese(), o.Reason, o.Until.In(chinaTime).Format("01-02 15:04"))})
	}
	return level
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// leaf is a value a rule can read from Env by its path.
type leaf struct {
	name    string // the path, and the key in the flat environment
	feature int    // index of the declared feature; -1 for a field of Env
	field   []int  // index path of the field in Env
	typ     reflect.Type
	set     bool // a []string field held as a set, for `"word" in tags`
	// whole marks a feature that only counts (signals, days, parties, a
	// petition's level): held as an int, which expr's arithmetic boxes
	// without allocating, where a float64 result would allocate.
	whole bool
	// boxed marks a leaf that a flat program run on expr's VM reads, and so
	// the flat environment must hold; a leaf only native programs read is
	// only held (see native).
	boxed bool
}

// asSet names the set that stands for a []string leaf in `"word" in tags`.
const asSet = " as set"

// compileFlat compiles each rule's expressions a second time, over the flat
// environment, where they can be, and notes the leaves the programs read.
//
// Run over Env, expr reads every value by reflection, and each value it reads
// that is not a pointer — a feature's float64, a tag — is copied to the heap
// to become an any: several allocations per rule. In the flat environment,
// every value an expression reads is named by its path ("features.threat_30d",
// "subject.kind", "tags") in a map[string]any, which expr indexes directly;
// the map belongs to the evaluation's scratch, and a value is boxed into it
// only when it differs from what it holds. Two rewrites keep the usual rules
// from allocating: `"word" in tags` looks the word up in a set rather than
// comparing tag by tag, and min or max of two plain numbers becomes a
// conditional, since calling a builtin allocates its arguments. What still
// allocates is arithmetic that makes a float64 (features.a + features.b),
// as expr's VM holds every intermediate as an any.
//
// An expression that reads the environment any other way ($env, subject as
// a whole) keeps running over Env, as does, for that evaluation, one whose
// flat program fails or gives something odd, so that errors read the same.
//
// Last, each flat program that is a comparison, arithmetic and the like
// (see native) is also turned into Go closures over the held leaves, which
// then run instead of expr's VM; the flat environment then holds only the
// leaves that programs left on the VM read.
func (e *Engine) compileFlat() {
	leaves := flatLeaves(e.rs)
	types := make(map[string]any, len(leaves))
	for name, l := range leaves {
		types[name] = reflect.Zero(l.typ).Interface()
	}
	used := map[string]bool{}
	for i := range e.compiled {
		c := &e.compiled[i]
		c.flatWhen = compileFlatExpr(c.When, leaves, types, used, expr.AsBool())
		c.flatScore = compileFlatExpr(c.Score, leaves, types, used)
	}
	for name := range used {
		e.leaves = append(e.leaves, leaves[name])
	}
	slices.SortFunc(e.leaves, func(a, b leaf) int { return strings.Compare(a.name, b.name) })
	nc := &nativeCompiler{leaves: e.leaves, index: map[string]int{}}
	for i, l := range e.leaves {
		nc.index[l.name] = i
	}
	boxed := map[string]bool{} // leaves a flat program on the VM reads
	for i := range e.compiled {
		c := &e.compiled[i]
		if c.flatWhen != nil {
			c.nativeWhen, _ = nc.compileWhen(c.flatWhen.Node())
			if c.nativeWhen == nil {
				root := c.flatWhen.Node()
				ast.Walk(&root, leafUse{leaves, boxed})
			}
		}
		if c.flatScore != nil {
			c.nativeScore, _ = nc.compileScore(c.flatScore.Node())
			if c.nativeScore == nil {
				root := c.flatScore.Node()
				ast.Walk(&root, leafUse{leaves, boxed})
			}
		}
	}
	for i := range e.leaves {
		e.leaves[i].boxed = boxed[e.leaves[i].name]
	}
}

// flatLeaves lists what rules can read from Env: each declared feature, each
// field of subject, signal and cases, and tags.
func flatLeaves(rs *rules.Ruleset) map[string]leaf {
	leaves := map[string]leaf{}
	add := func(l leaf) {
		leaves[l.name] = l
		if l.typ == reflect.TypeFor[[]string]() {
			leaves[l.name+asSet] = leaf{name: l.name + asSet, feature: -1, field: l.field,
				typ: reflect.TypeFor[map[string]struct{}](), set: true}
		}
	}
	env := reflect.TypeFor[Env]()
	for i := range env.NumField() {
		f := env.Field(i)
		root := exprName(f)
		switch {
		case root == "":
		case f.Name == "Features": // one leaf per declared feature; their values come from the computation
			for j, feat := range rs.Features {
				l := leaf{name: root + "." + feat.Name, feature: j, typ: f.Type.Elem()}
				if feat.Count != "" || feat.DistinctDays != "" || (feat.Max != "" && feat.Max != "amount") {
					l.typ, l.whole = reflect.TypeFor[int](), true
				}
				add(l)
			}
		case f.Type.Kind() == reflect.Struct:
			for j := range f.Type.NumField() {
				if name := exprName(f.Type.Field(j)); name != "" {
					add(leaf{name: root + "." + name, feature: -1, field: []int{i, j}, typ: f.Type.Field(j).Type})
				}
			}
		default:
			add(leaf{name: root, feature: -1, field: []int{i}, typ: f.Type})
		}
	}
	return leaves
}

// exprName is the name expressions use for a field, "" if they cannot see it.
func exprName(f reflect.StructField) string {
	switch tag := f.Tag.Get("expr"); {
	case !f.IsExported() || tag == "-":
		return ""
	case tag == "":
		return f.Name
	default:
		return tag
	}
}

// compileFlatExpr compiles src over the flat environment and adds the leaves
// it reads to used. It returns nil when src reads the environment in a way
// the flat environment cannot serve.
func compileFlatExpr(src string, leaves map[string]leaf, types map[string]any, used map[string]bool, opts ...expr.Option) *vm.Program {
	f := &flattener{leaves: leaves}
	prog, err := expr.Compile(src, append(opts, expr.Env(types), expr.Patch(f), expr.MaxNodes(maxNodes))...)
	if err != nil || f.blocked {
		return nil
	}
	root := prog.Node()
	ast.Walk(&root, leafUse{leaves, used})
	return prog
}

// flattener rewrites an expression to read the flat environment. What it
// leaves alone still names subject, features and the like, which the flat
// environment lacks, so the expression then fails to compile over it.
type flattener struct {
	leaves  map[string]leaf
	blocked bool // the expression uses $env (expr refuses to let a variable shadow Env's names)
}

func (f *flattener) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		f.blocked = f.blocked || x.Value == "$env"
	case *ast.MemberNode: // features.x, features["x"], subject.kind
		base, ok := x.Node.(*ast.IdentifierNode)
		prop, isName := x.Property.(*ast.StringNode)
		if !ok || !isName {
			return
		}
		if l, ok := f.leaves[base.Value+"."+prop.Value]; ok {
			ast.Patch(n, &ast.IdentifierNode{Value: l.name})
		}
	case *ast.BinaryNode: // "word" in tags
		_, isWord := x.Left.(*ast.StringNode)
		id, ok := x.Right.(*ast.IdentifierNode)
		if x.Operator != "in" || !isWord || !ok {
			return
		}
		if l, ok := f.leaves[id.Value+asSet]; ok {
			ast.Patch(&x.Right, &ast.IdentifierNode{Value: l.name})
		}
	case *ast.BuiltinNode: // min(a, b) is a > b ? b : a, as expr's min keeps the first of equals
		if (x.Name != "min" && x.Name != "max") || len(x.Arguments) != 2 {
			return
		}
		a, b := x.Arguments[0], x.Arguments[1]
		if !f.isNumber(a) || !f.isNumber(b) {
			return
		}
		op := ">"
		if x.Name == "max" {
			op = "<"
		}
		ast.Patch(n, &ast.ConditionalNode{Ternary: true,
			Cond: &ast.BinaryNode{Operator: op, Left: a, Right: b},
			Exp1: cloneLeaf(b), Exp2: cloneLeaf(a)})
	}
}

// isNumber reports whether n is a number literal or a leaf holding a number.
func (f *flattener) isNumber(n ast.Node) bool {
	switch x := n.(type) {
	case *ast.IntegerNode, *ast.FloatNode:
		return true
	case *ast.IdentifierNode:
		l, ok := f.leaves[x.Value]
		if !ok {
			return false
		}
		switch l.typ.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64:
			return true
		}
	}
	return false
}

// cloneLeaf copies a node isNumber accepted, so that no node appears twice in a tree.
func cloneLeaf(n ast.Node) ast.Node {
	switch x := n.(type) {
	case *ast.IntegerNode:
		return &ast.IntegerNode{Value: x.Value}
	case *ast.FloatNode:
		return &ast.FloatNode{Value: x.Value}
	case *ast.IdentifierNode:
		return &ast.IdentifierNode{Value: x.Value}
	}
	return n
}

// leafUse notes the leaves a compiled expression reads.
type leafUse struct {
	leaves map[string]leaf
	used   map[string]bool
}

func (u leafUse) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		if _, ok := u.leaves[id.Value]; ok {
			u.used[id.Value] = true
		}
	}
}
