# Fengqiao — two commands: `make run` and `make test`.
GO ?= go

.PHONY: run test test-cluster lint build fuzz bench bench-peers backtest monitoring metrics-doc clean

## run: start riskd on 127.0.0.1:8080 with the embedded (NOT durable) store and the fixtures
run:
	$(GO) run ./cmd/riskd -config fixtures/riskd.yaml

## test: every test, and the peer benchmarks' smoke test (bench/); the ones needing Redis start redis-server themselves (skipped if it is missing, unless FENGQIAO_REQUIRE_REDIS=1)
test:
	$(GO) test -count=1 ./...
	cd bench && $(GO) test -count=1 -run TestSmoke ./...

## test-cluster: two daemons on a real 3-master Redis Cluster give the same results as one on one Redis (also part of make test)
test-cluster:
	FENGQIAO_REQUIRE_REDIS=1 $(GO) test -count=1 -run Cluster -v ./internal/app

## lint: formatting, vet, and the layout's import rules
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./internal/archcheck
	cd bench && $(GO) vet ./...

## build: the daemon and the CLI into bin/
build:
	$(GO) build -o bin/riskd ./cmd/riskd
	$(GO) build -o bin/riskctl ./cmd/riskctl

## fuzz: run each fuzz target for a short while (FUZZTIME=30s by default)
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./signals -run XXX -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./signals -run XXX -fuzz FuzzDecodeNDJSON -fuzztime $(FUZZTIME)
	$(GO) test ./rules -run XXX -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./jurisdiction -run XXX -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./signals/ledger -run XXX -fuzz FuzzRead -fuzztime $(FUZZTIME)
	$(GO) test ./ruletest -run XXX -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./alerts/escalation -run XXX -fuzz FuzzParsePolicy -fuzztime $(FUZZTIME)
	$(GO) test ./alerts/escalation -run XXX -fuzz FuzzParseRoster -fuzztime $(FUZZTIME)
	$(GO) test ./alerts/notify -run XXX -fuzz FuzzScrub -fuzztime $(FUZZTIME)
	$(GO) test ./cases -run XXX -fuzz FuzzParsePolicy -fuzztime $(FUZZTIME)

## bench: every benchmark, about 20 minutes, each part against a redis-server it starts itself (redis-server
##   and redis-benchmark on PATH): the engine's; rule evaluation beside its peers (bench/eval); the per-signal
##   Redis state update, fengqiao vs naive vs redis-benchmark (bench/redisstate); end to end over HTTP with the
##   no-op and naive pipelines, latency, metrics on/off, memory per subject and riskd's RSS at a million subjects
##   (bench/e2e), and end to end with 1 and 2 instances on a 3-master Redis Cluster. Prints one BENCH line per result; writes pprof -top text profiles to docs/profiles/.
BENCH_SUBJECTS ?= 1000000
bench:
	$(GO) test -run XXX -bench . -benchmem ./engine
	cd bench && $(GO) test -run XXX -bench . -benchmem ./eval
	cd bench && $(GO) test -count=1 -run TestSummary -v ./eval -summary
	cd bench && $(GO) test -count=1 -timeout 20m -run TestSummary -v ./redisstate -summary
	cd bench && $(GO) test -count=1 -timeout 90m -run TestSummary -v ./e2e -summary -subjects $(BENCH_SUBJECTS) -profiles ../../docs/profiles
	cd bench && $(GO) test -count=1 -timeout 30m -run TestClusterSummary -v ./e2e -summary

## bench-peers: rule evaluation side by side with expr, cel-go, govaluate and gval (module bench/; about 2 minutes)
bench-peers:
	cd bench && $(GO) test -run XXX -bench . -benchmem ./...
	cd bench && $(GO) test -count=1 -run TestSummary -v ./eval -summary

## backtest: before a ruleset goes live, diff it against the one in force and replay signals through both
##   (make backtest OLD=fixtures/rules NEW=fixtures/rules-candidate SIGNALS=fixtures/backtest/signals.jsonl)
OLD ?= fixtures/rules
NEW ?= fixtures/rules-candidate
SIGNALS ?= fixtures/backtest/signals.jsonl
backtest:
	$(GO) run ./cmd/riskctl rules diff $(OLD) $(NEW)
	$(GO) run ./cmd/riskctl rules backtest -from $(OLD) -to $(NEW) -signals $(SIGNALS)

## monitoring: check docs/metrics.md, the Grafana dashboard and the alerting rules (promtool required)
monitoring:
	$(GO) test -count=1 ./internal/metricsdoc
	FENGQIAO_REQUIRE_PROMTOOL=1 $(GO) test -count=1 ./internal/app -run 'Metrics|Catalogue|Dashboard|Promtool'

## metrics-doc: regenerate docs/metrics.md after adding or changing a metric
metrics-doc:
	$(GO) test -count=1 ./internal/app -run TestMetricsCatalogue -update

clean:
	rm -rf bin
