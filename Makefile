# dssd — remote signing service. The two commands a new user needs:
#   make run    install what is missing, build, and run `dssd serve --dev`
#   make test   install what is missing and run the whole suite
GO       ?= go
DEV_DIR  ?= var/dev
TAGS     ?= softhsm,e2e,postgres
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
FUZZTIME ?= 2m

export CGO_ENABLED := 1

.PHONY: run test build deps-run deps-test lint vet fmt-check unit generate fuzz golden-update clean bench pg-start pg-stop

run: deps-run build
	./bin/dssd serve --dev --dev-dir $(DEV_DIR)

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dssd ./cmd/dssd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dss ./cmd/dss

deps-run:
	@bash .ci/deps.sh run

deps-test:
	@bash .ci/deps.sh test

# The postgres tag needs a server: .ci/postgres.sh starts a private one (var/pg, port 55432)
# and prints its DSN; tests under the tag fail when DSSD_TEST_PG_DSN is missing. Every Go
# benchmark also runs once (-benchtime 1x, about 20 s in all): a benchmark that no longer passes
# its own checks fails the test run instead of waiting for the next measurement.
test: deps-test lint
	DSSD_TEST_PG_DSN="$$(bash .ci/postgres.sh start)" && export DSSD_TEST_PG_DSN && \
	$(GO) test -tags '$(TAGS)' -count=1 -timeout 30m -bench . -benchtime 1x ./...

pg-start:
	@bash .ci/postgres.sh start

pg-stop:
	@bash .ci/postgres.sh stop

# Unit tests only: no SoftHSM token, no server, no external verifiers (xmlsec1, Java, node), browser,
# promtool or systemd-analyze; they need Go, a C compiler, xmllint and openssl. Tests that run
# external programs carry the e2e tag (or softhsm/postgres), which `make test` includes.
unit:
	$(GO) test -count=1 ./...

lint: vet fmt-check
	CGO_ENABLED=0 $(GO) build ./...

vet:
	$(GO) vet -tags '$(TAGS)' ./...

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './var/*' -not -path '*/node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

generate:
	$(GO) generate ./binding/... ./schemas/...

golden-update:
	$(GO) test ./dss/xades/... -run Golden -update
	$(GO) test ./binding/internal/xmlwire -run TestGoldenResults -update

# Throughput (issue 6, docs/performance.md): raw PKCS#11, end to end over HTTPS, the peers and
# a CPU profile, in one run; writes var/bench/bench.json, bench.svg and cpu.pprof. Before/after in
# the same run: BENCH_FLAGS='-baseline REV' also builds dssd at git revision REV and measures it
# interleaved with this tree's (req/s, dssd CPU per request, VmHWM and their ratios).
BENCH_FLAGS ?=
bench: deps-test
	$(GO) run ./cmd/dssbench -out var/bench -profile var/bench/cpu.pprof $(BENCH_FLAGS)

# Every Fuzz function of the repository, found by `go test -list` over the test tags (a new
# target needs no edit here), each for FUZZTIME (default 2m); FUZZMINTIME bounds the minimization
# of each new input (Go's default, 60 s, stalls a target for a minute at each find). A target that
# fails does not stop the others; the run fails at the end and names them. Crashers land in the
# package's testdata/fuzz/ and plain `go test` replays them.
FUZZMINTIME ?= 5s
fuzz:
	@set -e; targets=$$($(GO) test -tags '$(TAGS)' -list '^Fuzz' ./... | \
		awk '/^Fuzz/ { f[n++] = $$1 } /^ok / { for (i = 0; i < n; i++) print $$2 ":" f[i]; n = 0 } \
			/^FAIL/ { bad = 1 } END { exit bad }') || { echo "make fuzz: a package does not build"; exit 1; }; \
	[ -n "$$targets" ] || { echo "make fuzz: no Fuzz functions found"; exit 1; }; \
	echo "make fuzz: $$(echo $$targets | wc -w) targets"; failed=; \
	for pt in $$targets; do \
		pkg=$${pt%%:*}; t=$${pt#*:}; \
		echo "== $$pkg $$t ($(FUZZTIME))"; \
		$(GO) test -tags '$(TAGS)' -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINTIME) $$pkg || failed="$$failed $$pkg.$$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "make fuzz: failed:$$failed"; exit 1; fi

clean:
	rm -rf bin
