# wagw — the two commands a new user needs are `make run` and `make test`.

GO      ?= go
BIN     := bin/wagw
PKGS    := ./...

.PHONY: run test build vet fmt bench postgres clean fuzz chaos

## run: build and start every role in one process on the embedded defaults
run: build postgres
	./$(BIN) serve

## test: the whole suite against real Postgres and the embedded Kafka broker
test: postgres
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 9m $(PKGS)

## chaos: the fault suite at full length (WAGW_CHAOS=1): Kafka away for 30 s,
## Cloud API storms of 20 s, Postgres down for 40 s during sends with the
## default 60 s relay lease, and Postgres crashed and restarted for real (a
## server of the test's own); `make test` runs the same faults shortened
chaos: postgres
	WAGW_CHAOS=1 $(GO) test -count=1 -timeout 30m -v -run 'TestFault' ./cmd/wagw/

build:
	$(GO) build -o $(BIN) ./cmd/wagw

postgres:
	@./scripts/ensure-postgres.sh

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -l -w .

## bench: micro-benchmarks and the load scenarios; writes bench/results.json
bench: build postgres
	./scripts/bench.sh

## fuzz: run each fuzz target for a while
fuzz:
	$(GO) test ./whatsapp -run '^$$' -fuzz FuzzParse -fuzztime 30s
	$(GO) test ./whatsapp -run '^$$' -fuzz FuzzVerify -fuzztime 30s

clean:
	rm -rf bin data
