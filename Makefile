# plumb: `make demo` runs the main job, `make test` every test (live tests
# need root; they run inside namespaces they create and never touch the host).
GO ?= go
export PATH := $(PATH):/usr/local/go/bin:/usr/sbin:/sbin

.PHONY: demo test build deps vet fmt clean

build:
	$(GO) build -o bin/plumb ./cmd/plumb

deps:
	@scripts/deps.sh

demo: deps build
	@scripts/demo.sh

test: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 ./...

clean:
	rm -rf bin
