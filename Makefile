# vigil: `make help` lists the targets.

SHELL := /bin/bash
# Go lives in /usr/local/go on the Debian machines we build on; make it
# findable even when the caller's PATH lacks it (CI, sudo).
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin

GO       ?= go
BIN      := bin/vigil
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...
FUZZTIME ?= 30s
DEMO_DIR ?= $(shell mktemp -d /tmp/vigil-demo.XXXXXX)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/vigil
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/vigil

.PHONY: test-deps
test-deps: ## install the Debian packages the tests use besides ClickHouse (docker-compose, to validate docker-compose.yml)
	@command -v docker-compose >/dev/null || { \
		sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		echo "installing docker-compose with apt-get"; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; }

.PHONY: test
test: test-deps ## start a throwaway ClickHouse, run every test with the race detector (what CI runs)
	$(GO) version
	internal/chtest/with-clickhouse.sh $(GO) test -race -count=1 $(PKGS)

.PHONY: test-short
test-short: ## run the quick tests only
	$(GO) test -short $(PKGS)

.PHONY: demo
demo: build ## run the whole pipeline on a generated attack scenario and print the alerts (no external service)
	$(BIN) demo --dir $(DEMO_DIR)

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

.PHONY: fmt
fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

.PHONY: tidy
tidy: ## go mod tidy, failing if it changes anything
	$(GO) mod tidy
	@git diff --exit-code go.mod go.sum

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (30s) each
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

.PHONY: bench
bench: ## run the benchmarks and the replay benchmark
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)
	@$(MAKE) --no-print-directory bench-replay

.PHONY: bench-replay
bench-replay: build ## vigil replay --output none on a 200k-line generated sshd file
	@dir=$$(mktemp -d); \
	$(BIN) gen --scenario bruteforce --lines 200000 --out $$dir >/dev/null; \
	wc -l $$dir/auth.log; \
	for i in 1 2 3; do $(BIN) replay --format sshd --tz UTC --output none $$dir/auth.log 2>&1 | head -1; done; \
	rm -rf $$dir

.PHONY: check
check: lint tidy test ## everything CI checks

.PHONY: clean
clean: ## remove build output
	rm -rf bin
