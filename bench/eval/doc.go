// Package eval benchmarks Fengqiao's rule evaluation side by side with other
// Go expression engines: plain expr-lang/expr, google/cel-go, Knetic/govaluate
// and PaesslerAG/gval, and a Go function written for the ruleset, the floor.
// It is a module of its own (fengqiao/bench), so that the product's go.mod
// does not carry the peers.
//
// Every implementation scores the same subject (BenchSubject: a person with
// forty signals over a month from every source) under three rulesets:
// fixtures/rules/default.yaml (37 rules), and testdata/gen100.yaml and
// testdata/gen1000.yaml, generated (see generate.go) over the default
// ruleset's features and loaded with the rules package like any ruleset.
// One op is one subject scored; there is no I/O. Evaluator describes
// exactly what one op does for each implementation. In short: fengqiao runs
// the product path (features, every rule, outcomes and details); the others
// compute the same features with the engine's own feature computation
// (engine.Features, through Facts.Compute), fill a fresh map with them and run each rule's compiled
// expressions, adding up points and floors, and nothing more; the floor
// computes the same features and then runs plain Go.
//
// Before timing, every implementation must give the subject the score and
// level that fengqiao gives it; TestSmoke checks the same for 300 random
// subjects too.
//
// From bench/ (the test's own flags come after the package):
//
//	go test -count=1 -run TestSmoke ./...                  # seconds: equivalence, and each runs a few times
//	go test -run XXX -bench . -benchmem ./...               # ns/op and allocs/op of each
//	go test -count=1 -run TestSummary -v ./eval -summary    # BENCH lines: fengqiao's ratio to each, per ruleset
//	go test -count=1 -run TestSmokeGenerated ./eval -update # rewrite the generated rulesets and floors
package eval
