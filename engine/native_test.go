package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"fengqiao/risk"
	"fengqiao/rules"
)

// TestNativeMeansTheSame scores random subjects under random rules made of
// everything native compiles (and some of what it leaves to the VM): int
// and float64 leaves and literals mixed, arithmetic that wraps, NaN amounts,
// conditionals, strings, bools and sets. The engine must give exactly the
// assessments it gives when the flat programs run on expr's VM.
//
// (The reference is the flat programs, not those over Env: in the flat
// environment a count is an int, so `features.n * 9223372036854775807`
// wraps as an int would, where over Env, whose features are float64s, it
// does not. That difference predates native, and realistic rules do not
// meet it; TestFlatProgramsMeanTheSame checks those against Env.)
func TestNativeMeansTheSame(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 5))
	g := &exprGen{rng: rng}
	head := leafRules[:strings.Index(leafRules, "rules:")] + "rules:\n"
	var src strings.Builder
	src.WriteString(head)
	n := 0
	for n < 300 {
		when, score := g.boolean(3), g.number(3)
		rule := fmt.Sprintf("  - id: r%d\n    name: 随机\n    applies_to: [person, dispute]\n    when: '%s'\n    score: '%s'\n", n, when, score)
		rs, err := rules.Parse(map[string][]byte{"r.yaml": []byte(head + rule)})
		if err != nil {
			continue
		}
		if _, err := compile(rs, false); err != nil {
			continue // not well typed, say
		}
		src.WriteString(rule)
		n++
	}
	// And every comparison of a feature with a constant, which native
	// specialises, with constants the features often equal.
	for _, op := range []string{"<", ">", "<=", ">=", "==", "!="} {
		for _, f := range []string{"features.n_30d", "features.amount_90d", "features.level_90d"} {
			for _, c := range []string{"0", "3", "100000", "2.5", "-1"} {
				fmt.Fprintf(&src, "  - id: c%d\n    name: 比较\n    applies_to: [person, dispute]\n    when: '%s %s %s'\n    score: '1'\n", n, f, op, c)
				n++
			}
		}
	}
	rs := parseRules(t, src.String())
	flat, err := compile(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := compile(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ref.compiled {
		ref.compiled[i].nativeWhen, ref.compiled[i].nativeScore = nil, nil
	}
	whens, scores := 0, 0
	for _, c := range flat.compiled {
		if c.nativeWhen != nil {
			whens++
		}
		if c.nativeScore != nil {
			scores++
		}
	}
	if whens < n/2 || scores < n/2 { // the rest use / or len, which stay on the VM
		t.Errorf("native: %d conditions and %d scores of %d rules", whens, scores, n)
	}
	var a risk.Assessment
	for i := range 2000 {
		st := randomState(rng, i)
		jitter(rng, &st)
		flat.EvaluateInto(&st, now, &a)
		want := ref.Evaluate(st, now)
		if got, want := fmt.Sprintf("%+v", normalized(a)), fmt.Sprintf("%+v", normalized(want)); got != want {
			t.Fatalf("subject %d:\nnative %s\nVM     %s", i, got, want)
		}
	}
}

// exprGen writes random expressions in the rules' language.
type exprGen struct{ rng *rand.Rand }

func (g *exprGen) pick(xs ...string) string { return xs[g.rng.IntN(len(xs))] }

func (g *exprGen) number(depth int) string {
	if depth == 0 || g.rng.IntN(3) == 0 {
		return g.pick("features.n_30d", "features.petitions_90d", "features.days_30d", "features.parties_90d",
			"features.level_90d", "features.amount_90d", "features.threat_30d", "subject.signals", "cases.open",
			"cases.failed", "signal.party_count", "signal.petition_level", "signal.amount",
			"0", "1", "3", "-2", "2.5", "-0.5", "1e300", "9223372036854775807", "100000")
	}
	a, b := g.number(depth-1), g.number(depth-1)
	switch g.rng.IntN(8) {
	case 0:
		return "(" + a + " + " + b + ")"
	case 1:
		return "(" + a + " - " + b + ")"
	case 2:
		return "(" + a + " * " + b + ")"
	case 3:
		return "-(" + a + ")"
	case 4:
		return "(" + g.boolean(depth-1) + " ? " + a + " : " + b + ")"
	case 5:
		return g.pick("min", "max") + "(" + a + ", " + b + ")"
	case 6:
		return "(" + a + " / " + b + ")" // left to the VM
	}
	return a
}

func (g *exprGen) boolean(depth int) string {
	if depth == 0 || g.rng.IntN(4) == 0 {
		return g.pick("subject.weak", "signal.repeat", "signal.skip_level", "true", "false",
			`"三失一偏" in tags`, `"社区矫正" in tags`, `subject.ledger_status in ["未化解", "化解中"]`,
			`subject.kind == "person"`, `signal.source != "petition"`, `subject.ledger_status == signal.ledger_status`,
			`subject.weak == signal.collective`, `len(tags) > 1`)
	}
	switch g.rng.IntN(6) {
	case 0, 1:
		return g.number(depth-1) + " " + g.pick("<", ">", "<=", ">=", "==", "!=") + " " + g.number(depth-1)
	case 2:
		return "!(" + g.boolean(depth-1) + ")"
	case 3:
		return "(" + g.boolean(depth-1) + " && " + g.boolean(depth-1) + ")"
	case 4:
		return "(" + g.boolean(depth-1) + " || " + g.boolean(depth-1) + ")"
	}
	return "(" + g.boolean(depth-1) + " ? " + g.boolean(depth-1) + " : " + g.boolean(depth-1) + ")"
}
