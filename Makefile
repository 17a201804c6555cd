# wagw — the two commands a new user needs are `make run` and `make test`.

GO      ?= go
BIN     := bin/wagw
PKGS    := ./...

.PHONY: run test build vet fmt bench postgres clean fuzz

## run: build and start every role in one process on the embedded defaults
run: build postgres
	./$(BIN) serve

## test: the whole suite against real Postgres and the embedded Kafka broker
test: postgres
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 9m $(PKGS)

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
