// Package redisstate benchmarks the per-signal update of subjects' state in
// Redis three ways, on the same signals:
//
//   - fengqiao: scoring.Scorer.HandleBatch, the product's path, 64 records
//     at a time as the consumer reads them: per round of records, one
//     pipeline each of the subjects' load, commit and index scripts;
//   - naive: Naive, the same changes made one plain command at a time;
//   - ceiling: redis-benchmark, pipelined, sending the same scripts and
//     commands with the same payloads, in the proportions fengqiao sends
//     them: what Redis itself can do, with no client in the way.
//
// The rules are the no-op ruleset (loadgen.NoopRuleset), so that what is
// timed is the store, not the engine. TestSmoke (seconds) checks that Naive
// leaves the store exactly as the Scorer does, under the default ruleset;
// TestSummary -summary prints the BENCH line.
package redisstate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"fengqiao/alerts"
	"fengqiao/bench/loadgen"
	"fengqiao/engine"
	"fengqiao/internal/pii"
	"fengqiao/internal/scoring"
	"fengqiao/risk"
	"fengqiao/rules"
	"fengqiao/signals"
)

// Repo is the product's root, from this package's directory.
const Repo = "../.."

// fixedRules serves one engine for every unit, with no shadow.
type fixedRules struct{ e *engine.Engine }

func (r fixedRules) Engine() *engine.Engine          { return r.e }
func (r fixedRules) EngineFor(string) *engine.Engine { return r.e }
func (r fixedRules) Shadow() *engine.Engine          { return nil }

// Compile compiles ruleset YAML.
func Compile(src string) (*engine.Engine, error) {
	rs, err := rules.Parse(map[string][]byte{"bench.yaml": []byte(src)})
	if err != nil {
		return nil, err
	}
	return engine.Compile(rs)
}

// DefaultEngine compiles the product's default ruleset (no overlays).
func DefaultEngine() (*engine.Engine, error) {
	rs, err := rules.LoadFiles(Repo + "/fixtures/rules/default.yaml")
	if err != nil {
		return nil, err
	}
	return engine.Compile(rs)
}

// Records draws n records as the API would store them: persons pseudonymised
// and their identities sealed.
func Records(n, persons, disputes int, seed uint64, now time.Time) ([]signals.Record, error) {
	w, err := loadgen.New(Repo+"/fixtures/jurisdiction.yaml", "BR", persons, disputes, seed)
	if err != nil {
		return nil, err
	}
	pseudo, err := signals.NewPseudonymizer([]byte("bench-key-of-at-least-16-bytes"))
	if err != nil {
		return nil, err
	}
	sealer, err := pii.ParseKeys("k1=YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=")
	if err != nil {
		return nil, err
	}
	out := make([]signals.Record, n)
	for i := range out {
		s := w.Signal(i, now)
		out[i] = pseudo.Record(&s, now)
		for _, p := range s.Persons {
			ref := pseudo.PersonRef(p.IDNumber)
			for j := range out[i].Persons {
				if out[i].Persons[j].Ref == ref && out[i].Persons[j].Sealed == "" {
					out[i].Persons[j].Sealed = sealer.Seal(`{"id_number":"` + p.IDNumber + `"}`)
				}
			}
		}
	}
	return out, nil
}

// NewScorer is the product's scorer over rdb with engine e, clock now.
func NewScorer(rdb redis.UniversalClient, e *engine.Engine, now func() time.Time) *scoring.Scorer {
	return scoring.NewScorer(rdb, fixedRules{e}, alerts.NewStream(rdb), now,
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
}

// Handler is what handles a record: the Scorer or Naive.
type Handler interface {
	Handle(ctx context.Context, rec signals.Record) error
}

// Batch is how many records the signal consumer reads at a time.
const Batch = 64

// Run hands the records to h as the signal consumer does, Batch at a time
// to a handler that takes batches (the Scorer), else one by one, and
// returns how long it took.
func Run(ctx context.Context, h Handler, recs []signals.Record) (time.Duration, error) {
	start := time.Now()
	if bh, ok := h.(signals.BatchHandler); ok {
		for i := 0; i < len(recs); i += Batch {
			if err := bh.HandleBatch(ctx, recs[i:min(i+Batch, len(recs))]); err != nil {
				return 0, fmt.Errorf("records %d…: %w", i, err)
			}
		}
		return time.Since(start), nil
	}
	for i := range recs {
		if err := h.Handle(ctx, recs[i]); err != nil {
			return 0, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return time.Since(start), nil
}

// Scripts reads the scoring package's Lua scripts from its source, so that
// the ceiling always runs the scripts the product runs: name → source.
func Scripts() (map[string]string, error) {
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range []string{"store.go", "counts.go"} {
		file, err := parser.ParseFile(fset, Repo+"/internal/scoring/"+f, nil, 0)
		if err != nil {
			return nil, err
		}
		// A script's source is a string literal, or a sum of literals and
		// string constants (a shared Lua function, then the script).
		consts := map[string]string{}
		var text func(e ast.Expr) (string, bool)
		text = func(e ast.Expr) (string, bool) {
			switch e := e.(type) {
			case *ast.BasicLit:
				v, err := strconv.Unquote(e.Value)
				return v, err == nil
			case *ast.Ident:
				v, ok := consts[e.Name]
				return v, ok
			case *ast.BinaryExpr:
				a, ok1 := text(e.X)
				b, ok2 := text(e.Y)
				return a + b, ok1 && ok2 && e.Op == token.ADD
			}
			return "", false
		}
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
				return true
			}
			if v, ok := text(vs.Values[0]); ok {
				consts[vs.Names[0].Name] = v
				return true
			}
			call, ok := vs.Values[0].(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "NewScript" {
				return true
			}
			if src, ok := text(call.Args[0]); ok {
				out[vs.Names[0].Name] = src
			}
			return true
		})
	}
	for _, name := range []string{"loadScript", "commitScript", "indexScript"} {
		if out[name] == "" {
			return nil, fmt.Errorf("internal/scoring: no %s found: the ceiling needs updating", name)
		}
	}
	return out, nil
}

// Mix is what one signal costs the store, counted on a run: subjects loaded,
// committed and indexed, links recorded, and disputes' persons read (HKEYS:
// a batch reads them once for each dispute it names, to cut its rounds).
type Mix struct {
	Signals, Disputes, Persons, Links, HKeys int
}

// MixOf counts the records' subjects; the HKEYS calls come from the
// server's command statistics.
func MixOf(recs []signals.Record, hkeys int) Mix {
	m := Mix{Signals: len(recs), HKeys: hkeys}
	for _, r := range recs {
		m.Persons += len(r.Persons)
		if r.DisputeID != "" {
			m.Disputes++
			if len(r.Persons) > 0 {
				m.Links++
			}
		}
	}
	return m
}

// CommandStats reads INFO commandstats: command → calls and total µs.
func CommandStats(ctx context.Context, rdb *redis.Client) (map[string][2]float64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string][2]float64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var calls, usec float64
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			f, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				calls = f
			case "usec":
				usec = f
			}
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = [2]float64{calls, usec}
	}
	return out, nil
}

// Sample is a subject's payloads as the Scorer stored them, for the ceiling.
type Sample struct {
	Event, Key, At                  string // an event's JSON, key and time (ms)
	Assessment, Unit                string
	Name, Sealed, History, RaisedMs string // History: a level change's entry after its "from"
}

// SampleFrom reads a person's payloads from a store the Scorer filled.
func SampleFrom(ctx context.Context, rdb *redis.Client, rec signals.Record) (Sample, error) {
	k := keysOf(risk.SubjectID{Kind: risk.Person, Ref: rec.Persons[0].Ref})
	h, err := rdb.HGetAll(ctx, k.state).Result()
	if err != nil {
		return Sample{}, err
	}
	evs, err := rdb.HVals(ctx, k.events).Result()
	if err != nil || len(evs) == 0 {
		return Sample{}, fmt.Errorf("no events for %s: %v", rec.Persons[0].Ref, err)
	}
	var a risk.Assessment
	if err := json.Unmarshal([]byte(h["assessment"]), &a); err != nil {
		return Sample{}, err
	}
	return Sample{Event: evs[0], Key: rec.Key(), At: strconv.FormatInt(rec.OccurredAt.UnixMilli(), 10),
		Assessment: h["assessment"], Unit: h["unit"], Name: h["name"], Sealed: h["sealed"],
		History: historyTail(&a), RaisedMs: h["updated_ms"]}, nil
}

// Command is one command of the ceiling's mix, in redis-benchmark's form
// (__rand_int__ is replaced by a random number below Keyspace, afresh for
// each occurrence), and how many of it one signal sends.
type Command struct {
	Name      string
	Args      []string
	Keyspace  int
	PerSignal float64
}

// CeilingMix is the commands fengqiao sends per signal, with the sample's
// payloads. Each load adds an event to a random subject of the pool, as the
// run did; each commit writes a subject without a sequence and with the
// same level, so that it does its whole work, as in the run; each index
// step meets a subject it has not seen, so that the revision check passes.
func CeilingMix(m Mix, sh map[string]string, s Sample, persons, disputes int, now time.Time) []Command {
	n := float64(m.Signals)
	cutoff := strconv.FormatInt(now.Add(-time.Duration(rules.MaxRetention)).UnixMilli(), 10)
	pk := func(suffix string) string { return "fq:{p:P__rand_int__}:" + suffix }
	dk := func(suffix string) string { return "fq:{d:TZ-BENCH-__rand_int__}:" + suffix }
	load := func(key func(string) string, lnField, lnValue string) []string {
		return []string{"EVALSHA", sh["loadScript"], "4", key("idx"), key("events"), key("state"), key("links"),
			"grid_report:BR-__rand_int__", s.At, s.Event, cutoff, strconv.Itoa(maxEvents), lnField, lnValue}
	}
	commit := func(key func(string) string, name, sealed string) []string {
		return []string{"EVALSHA", sh["commitScript"], "2", key("c-state"), key("c-history"), "0", "green", s.Assessment,
			strconv.FormatInt(now.UnixMilli(), 10), s.Unit, name, "false", s.History, strconv.Itoa(historyLen), "", sealed}
	}
	index := func(kind risk.Kind) []string {
		args := []string{"EVALSHA", sh["indexScript"], "6", countedKey, countsKey}
		for _, l := range risk.Levels[1:] {
			args = append(args, boardKey(kind, l))
		}
		return append(args, string(kind)+"/R__rand_int__", "R__rand_int__", "1", "0",
			string(kind)+"/green/"+scoring.UnitAt(s.Unit, scoring.DefaultCountTier), s.RaisedMs)
	}
	const fresh = 100_000_000
	return []Command{
		{"hset_links", []string{"HSET", dk("links"), "P__rand_int__", "1"}, disputes, float64(m.Links) / n},
		{"load_dispute", load(dk, "", ""), disputes, float64(m.Disputes) / n},
		{"load_person", load(pk, "TZ-BENCH-__rand_int__", "green"), persons, float64(m.Persons) / n},
		{"commit_dispute", commit(dk, "", ""), disputes, float64(m.Disputes) / n},
		{"commit_person", commit(pk, s.Name, s.Sealed), persons, float64(m.Persons) / n},
		{"index_dispute", index(risk.Dispute), fresh, float64(m.Disputes) / n},
		{"index_person", index(risk.Person), fresh, float64(m.Persons) / n},
		{"hkeys_persons", []string{"HKEYS", dk("links")}, disputes, float64(m.HKeys) / n},
	}
}

// Benchmark runs redis-benchmark once for c: requests requests over clients
// connections, pipelined by pipeline, and returns requests per second.
func Benchmark(ctx context.Context, addr string, c Command, requests, clients, pipeline int) (float64, error) {
	host, port, _ := strings.Cut(addr, ":")
	args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(clients), "-P", strconv.Itoa(pipeline),
		"-n", strconv.Itoa(requests), "-r", strconv.Itoa(c.Keyspace), "--csv"}
	cmd := exec.CommandContext(ctx, "redis-benchmark", append(args, c.Args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("redis-benchmark %s: %v: %s", c.Name, err, stderr.String())
	}
	// The CSV's first field is the command, quoted as it is, so read the
	// rate as the seventh field from the end: "rps" and six latencies.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	f := strings.Split(lines[len(lines)-1], ",")
	if len(lines) < 2 || len(f) < 8 {
		return 0, fmt.Errorf("redis-benchmark %s: unexpected output %q", c.Name, out.String())
	}
	rps, err := strconv.ParseFloat(strings.Trim(f[len(f)-7], `"`), 64)
	if err != nil || rps <= 0 {
		return 0, fmt.Errorf("redis-benchmark %s: no rate in %q", c.Name, out.String())
	}
	return rps, nil
}

// Ceiling runs every command of mix through redis-benchmark, each as many
// times as the run sent it (at least minRequests), and returns the signals
// per second the server could take: one over the sum, over the commands, of
// each one's share of a signal over its rate. It also returns each rate.
func Ceiling(ctx context.Context, rdb *redis.Client, addr string, scripts map[string]string, mix []Command, signals, minRequests int) (float64, map[string]float64, error) {
	for _, name := range []string{"loadScript", "commitScript", "indexScript"} {
		if err := rdb.ScriptLoad(ctx, scripts[name]).Err(); err != nil {
			return 0, nil, err
		}
	}
	perSignal := 0.0 // seconds
	rates := map[string]float64{}
	for _, c := range mix {
		if c.PerSignal == 0 {
			continue
		}
		n := max(int(c.PerSignal*float64(signals)+0.5), minRequests)
		rps, err := Benchmark(ctx, addr, c, n, 4, 32)
		if err != nil {
			return 0, nil, err
		}
		rates[c.Name] = rps
		perSignal += c.PerSignal / rps
	}
	return 1 / perSignal, rates, nil
}

// Dump is a store's content, for comparing two stores: each key's type and
// contents (streams by their entries' fields, sorted, not their ids).
func Dump(ctx context.Context, rdb *redis.Client) (map[string]string, error) {
	out := map[string]string{}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		var v string
		switch typ {
		case "hash":
			h, err := rdb.HGetAll(ctx, k).Result()
			if err != nil {
				return nil, err
			}
			v = fmt.Sprint(h) // fmt sorts map keys
		case "zset":
			z, err := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
			if err != nil {
				return nil, err
			}
			slices.SortFunc(z, func(a, b redis.Z) int {
				return strings.Compare(fmt.Sprint(a.Score, a.Member), fmt.Sprint(b.Score, b.Member))
			})
			v = fmt.Sprint(z)
		case "list":
			l, err := rdb.LRange(ctx, k, 0, -1).Result()
			if err != nil {
				return nil, err
			}
			v = strings.Join(l, "\n")
		case "stream":
			msgs, err := rdb.XRange(ctx, k, "-", "+").Result()
			if err != nil {
				return nil, err
			}
			lines := make([]string, len(msgs))
			for i, m := range msgs {
				lines[i] = fmt.Sprint(m.Values)
			}
			slices.Sort(lines) // a batch publishes its subjects' changes in another order
			v = strings.Join(lines, "\n")
		default:
			v = typ
		}
		out[k] = typ + " " + v
	}
	return out, iter.Err()
}
