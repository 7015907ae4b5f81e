# The two commands a newcomer needs: `make run` and `make test`.
GO      ?= go
BIN     := bin/provisioning
DATA    ?= ./data

.PHONY: run test build bench vet fmt clean

build:
	$(GO) build -o $(BIN) ./cmd/provisioning

## run: the orchestrator on :9090 and the control center on :9080, with an
## embedded NATS server storing under $(DATA).
run: build
	$(BIN) serve --data-dir $(DATA)

## test: vet, then every test with the race detector.
test:
	$(GO) vet ./...
	$(GO) test -race -timeout 30m ./...

## bench: the 10,000-operation batch benchmark (minutes: it runs the
## simulator 18,000 times per sync mode).
bench:
	$(GO) test -run '^$$' -bench BenchmarkBatch -benchtime 1x -timeout 60m ./bench/

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
