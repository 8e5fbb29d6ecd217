# streamd — common tasks. `make run` starts the server, `make test` runs
# every test (installing what the tests need first).

GO ?= go
FUZZTIME ?= 15s

.PHONY: run test test-go test-norace test-portable test-bench-smoke deps fuzz vet bench

run:
	cd cmd/streamd && $(GO) run .

deps:
	./scripts/test-deps.sh

test: deps vet test-go test-norace test-portable test-bench-smoke

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd cmd/streamd && $(GO) vet ./...
	cd internal/thirdparty && $(GO) vet ./...
	cd benchmarks && $(GO) vet ./...

test-go:
	$(GO) test -race -count=1 -timeout 15m ./...
	cd cmd/streamd && $(GO) test -race -count=1 -timeout 15m ./...
	cd internal/thirdparty && $(GO) test -race -count=1 -timeout 15m ./...

# What -race cannot run: the zero-allocation tests (//go:build !race) and
# every Example, without the race detector.
test-norace:
	GO=$(GO) ./scripts/test-norace.sh

# Code the host build never compiles: internal/goroutine's non-assembly
# fallback (tests as GOARCH=386), and darwin/freebsd builds.
test-portable:
	GO=$(GO) ./scripts/test-portable.sh

test-bench-smoke:
	cd benchmarks && $(GO) test -count=1 -timeout 10m ./...

# Short fuzz run per target (CI runs this after the tests).
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./httpcodec/ ./ws/ ./sse/ ./chunked/
