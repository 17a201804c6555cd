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

## fuzz: run every fuzz target of the module, one after another, each for
## FUZZTIME (e.g. make fuzz FUZZTIME=10m) with FUZZPARALLEL workers
FUZZTIME     ?= 30s
FUZZPARALLEL ?= 1
fuzz:
	@grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u | while read -r dir; do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go); do \
			echo "fuzz: $$dir $$t for $(FUZZTIME)"; \
			$(GO) test $$dir -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL) || exit 1; \
		done; \
	done

clean:
	rm -rf bin data
