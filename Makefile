# streamd — common tasks. `make run` starts the server, `make test` runs
# every test of every module (installing what the tests need first).

GO ?= go
FUZZTIME ?= 15s
ARGS ?=

# The repository's Go modules, each with its own go.mod (README, "Modules"):
# the library (.), then the nested ones that hold what the library must not
# require. There is no go.work: each module builds and tests against its own
# requirements, as its users get them; GOWORK=off keeps a go.work elsewhere
# on the machine out of the way too. scripts/check-modules.sh fails when a
# go.mod in the tree is missing from MODULES.
TEST_MODULES := . internal/thirdparty natsbroker cmd/streamd
MODULES := $(TEST_MODULES) benchmarks
export GOWORK := off

# each runs command $(2) in every module directory of $(1), all of them even
# when one fails, and fails if any did.
define each
@fail=; for m in $(1); do echo "== $$m: $(2)"; (cd $$m && $(2)) || fail="$$fail $$m"; done; \
	  if [ -n "$$fail" ]; then echo "FAILED in:$$fail" >&2; exit 1; fi
endef

.PHONY: run test test-go test-nethttp test-norace test-portable test-bench-smoke deps fuzz vet check-modules tidy bench

# cmd/streamd is its own module: run it from its directory (ARGS are its flags).
run:
	cd cmd/streamd && $(GO) run . $(ARGS)

deps:
	./scripts/test-deps.sh

test: deps vet test-go test-nethttp test-norace test-portable test-bench-smoke

vet: check-modules
	$(call each,$(MODULES),$(GO) vet ./...)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every go.mod listed, tidy, with a release (not patch) go line; the library
# requiring only what its packages import, with no file over 600 lines
# (tests aside).
check-modules:
	GO=$(GO) ./scripts/check-modules.sh $(MODULES)

tidy:
	$(call each,$(MODULES),$(GO) mod tidy)

test-go:
	$(call each,$(TEST_MODULES),$(GO) test -race -count=1 -timeout 15m ./...)

# The protocol packages' tests again on the net/http backend
# (Server.HTTPHandler inside net/http; tests of what differs skip there).
test-nethttp:
	STREAMD_TEST_BACKEND=nethttp $(GO) test -race -count=1 -timeout 15m ./sse/... ./ws/... ./chunked/...

# What -race cannot run: the zero-allocation tests (//go:build !race) and
# every Example, without the race detector.
test-norace:
	GO=$(GO) ./scripts/test-norace.sh $(TEST_MODULES)

# Code the host build never compiles: internal/goroutine's non-assembly
# fallbacks (GOARCH=386, -tags goroutine_stack), darwin/freebsd builds of
# every module, and the library with the oldest Go its go line admits.
test-portable:
	GO=$(GO) ./scripts/test-portable.sh $(TEST_MODULES)

test-bench-smoke:
	cd benchmarks && $(GO) test -count=1 -timeout 10m ./...

# Short fuzz run per target (CI runs this after the tests). The targets are
# all in the library module.
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./httpcodec/ ./ws/... ./sse/ ./chunked/
