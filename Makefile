# The two commands a newcomer needs: `make run` and `make test`.
GO      ?= go
BIN     := bin/provisioning
DATA    ?= ./data

.PHONY: run test build bench vet fmt clean cluster chaos

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

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin

## bench: every figure beside its baseline, measured in one run; the table
## is written to bench/results/.
bench: build
	$(GO) run ./bench/cmd/provbench -bin $(BIN)

## cluster: a local three-node NATS cluster and two instances against it.
cluster: build
	scripts/cluster.sh

## chaos: the crash test at full size with a new seed (package chaos): a
## batch of 300 tasks, 120 single workflows and a rollback while serve is
## SIGKILLed 6 times; prints every submission's outcome and the checks.
## Replay a run with `make chaos SEED=<printed seed>`.
chaos: build
	$(GO) run ./cmd/chaos -bin $(BIN) $(if $(SEED),-seed $(SEED))
