# plumb: `make demo` runs the main job, `make test` every test (live tests
# need root; they run inside namespaces they create and never touch the host).
GO ?= go
export PATH := $(PATH):/usr/local/go/bin:/usr/sbin:/sbin
# staticcheck (honnef.co/go/tools v0.8.2), which make test runs beside go
# vet; deps.sh test installs it into GOBIN (else GOPATH/bin). Found by the
# recipe's shell: make 4.3's $(shell) does not see the PATH exported above.
STATICCHECK ?= staticcheck

# Fuzzing runs a count of inputs, not a time: cut by a clock, a new input
# found near the end fails the run with "context deadline exceeded" while it
# is minimised (seen on FuzzShell and FuzzFlags once their corpora had grown
# and the machine was busy). FuzzShell runs bash for every input (about 30 a
# second), hence its own count. Longer by hand: make fuzz FUZZTIME=200000x
# FUZZSHELL=20000x.
FUZZTIME ?= 3000x
FUZZSHELL ?= 300x

.PHONY: demo demo-veth test test-all test-faults build mkimage deps deps-test deps-bench fuzz bench bench-run bench-mesh bench-compose clean man install deb

# Static (no cgo): the dynamic loader cost every plumb process about 1 ms
# before main, and a CNI ADD or an attach is one process.
build:
	CGO_ENABLED=0 $(GO) build -ldflags="$(LDFLAGS)" -o bin/plumb ./cmd/plumb

# The release (version/version.go): the package's version, the man pages' date.
VERSION := $(shell sed -n 's/^const Number = "\(.*\)"/\1/p' version/version.go)
DATE := $(shell sed -n 's/^const Date = "\(.*\)"/\1/p' version/version.go)
PREFIX ?= /usr/local
# plumb version's commit (go build's own record needs -buildvcs, which
# GOFLAGS may turn off).
COMMIT := $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && { git diff --quiet HEAD -- || c=$$c-dirty; } && echo $$c)
LDFLAGS := -X plumb/version.commit=$(COMMIT)

# The man pages, from the help: man/ is committed, and TestManPages fails
# when it differs from what this writes.
man: build
	rm -f man/*.8
	bin/plumb man-pages man

# The binary, man pages and bash/zsh/fish completion under
# $(DESTDIR)$(PREFIX) (scripts/install.sh).
install: build
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) scripts/install.sh bin/plumb man

# plumb_$(VERSION)_amd64.deb, by nfpm (packaging/, a module of its own):
# /usr/sbin/plumb (stripped, built for amd64 whatever the machine, as the
# package says), the man pages, the completion scripts, the copyright.
deb:
	rm -rf build/deb
	CGO_ENABLED=0 GOARCH=amd64 $(GO) build -trimpath -ldflags="-s -w $(LDFLAGS)" -o build/deb/plumb ./cmd/plumb
	DESTDIR=$(CURDIR)/build/deb/stage PREFIX=/usr scripts/install.sh build/deb/plumb man
	cd packaging && $(GO) run . -stage $(CURDIR)/build/deb/stage -version $(VERSION) -date $(DATE) -o $(CURDIR)/plumb_$(VERSION)_amd64.deb
	@echo "wrote plumb_$(VERSION)_amd64.deb (dpkg -i plumb_$(VERSION)_amd64.deb)"

# The offline image builder the demo and the benchmark use.
mkimage:
	$(GO) build -o bin/plumb-mkimage ./cmd/plumb-mkimage

deps:
	@scripts/deps.sh

# make test's: deps, and (as root) podman for the live test that runs it.
deps-test:
	@scripts/deps.sh test

# make bench's: deps, and (as root) netavark and nftables, peers it measures.
deps-bench:
	@scripts/deps.sh bench

demo: deps build mkimage
	@scripts/demo.sh

# The document's point-to-point "DIY networking setup", by plumb veth.
demo-veth: deps build
	@scripts/demo-veth.sh

# Every test, under hostcheck.sh: make test fails, naming the difference,
# when the host's links, addresses, routes, rules, mounts or /run/netns,
# /run/plumb, /var/lib/cni are not as they were before it.
test: deps-test
	@scripts/hostcheck.sh $(MAKE) --no-print-directory test-all

# -parallel 4: live cases mostly wait on the kernel and on processes, so
# four side by side keep both cores busy (the default is GOMAXPROCS, 2 here).
test-all:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	@sc=$$(command -v $(STATICCHECK) || { b=$$($(GO) env GOBIN); echo "$${b:-$$($(GO) env GOPATH)/bin}/staticcheck"; }); \
	if [ -x "$$sc" ]; then echo "$$sc ./..."; "$$sc" ./...; \
	else echo "staticcheck not installed (deps.sh test could not fetch it): skipped" >&2; [ -z "$${CI:-}" ]; fi
	$(GO) test -count=1 -timeout 45m -parallel 4 ./...
	cd packaging && $(GO) vet ./... && $(GO) test -count=1 ./...
	@GO=$(GO) scripts/otherrun.sh $$($(GO) list ./... | grep -v /cmd/)
	$(MAKE) --no-print-directory fuzz

# Every case of the fault matrices (make test runs every 8th: see
# faultStride in cmd/plumb/live_helpers_test.go); about 15 minutes here.
# .ci/run runs it after make test.
test-faults: deps-test
	@PLUMB_FAULTS=all scripts/hostcheck.sh $(GO) test -count=1 -timeout 60m -parallel 4 -run 'Faults|FaultMatrix|Runbook' ./cmd/plumb

# Fuzz the flag parser, the journal reader and the runbook renderer briefly
# (make test), or longer by hand (see FUZZTIME above)
fuzz:
	$(GO) test ./plan -run '^$$' -fuzz FuzzReadJournal -fuzztime $(FUZZTIME)
	$(GO) test ./cmd/plumb -run '^$$' -fuzz FuzzFlags -fuzztime $(FUZZTIME)
	$(GO) test ./container -run '^$$' -fuzz FuzzShell -fuzztime $(FUZZSHELL)
	$(GO) test ./plan/unpack -run '^$$' -fuzz FuzzApply -fuzztime $(FUZZTIME)

# Not part of make test: about 12-14 minutes. RUNS=5 SIZES="1 50 200" SCALE=1000
# make bench; PARTS=images (or net, or scale) runs one part.
bench: deps-bench build mkimage
	@scripts/bench.sh

# A container's whole life against podman's: run --rm (bridge, none) and
# exec; about a minute. Not part of make bench's default parts.
bench-run: deps-bench build mkimage
	@scripts/bench-run.sh

# A mesh's peers (docs/design/mesh.md §6): mesh sync of 300 and 1,000 new
# peers against bare ip/bridge batches, and mesh peer add with 1,000 peers
# against 5; about 20-30 seconds with RUNS=5. Not part of make bench's default
# parts; it appends its section to bench/summary.txt, so run it after.
bench-mesh: deps-bench build
	@scripts/bench-mesh.sh

# compose up -d and down of 10 services against podman-compose, and plan of
# 50; about a minute with RUNS=5. Not part of make bench's default parts.
bench-compose: deps-bench build mkimage
	@scripts/bench-compose.sh

clean:
	rm -rf bin build plumb_*.deb
