# dssd — remote signing service. The two commands a new user needs:
#   make run    install what is missing, build, and run `dssd serve --dev`
#   make test   install what is missing and run the whole suite
GO       ?= go
DEV_DIR  ?= var/dev
TAGS     ?= softhsm,e2e
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
FUZZTIME ?= 2m

export CGO_ENABLED := 1

.PHONY: run test build deps-run deps-test lint vet fmt-check unit generate fuzz golden-update clean

run: deps-run build
	./bin/dssd serve --dev --dev-dir $(DEV_DIR)

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dssd ./cmd/dssd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dss ./cmd/dss

deps-run:
	@bash .ci/deps.sh run

deps-test:
	@bash .ci/deps.sh test

test: deps-test lint
	$(GO) test -tags '$(TAGS)' -count=1 -timeout 20m ./...

# Unit tests only: no SoftHSM token, no server, no external verifiers.
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

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./dss/xmlsafe

clean:
	rm -rf bin
