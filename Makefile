# wagw — the two commands a new user needs are `make run` and `make test`.

GO      ?= go
BIN     := bin/wagw
PKGS    := ./...

.PHONY: run test test-browser check build vet fmt bench postgres promtool chromium screenshots clean fuzz chaos

## run: build and start every role in one process on the embedded defaults
run: build postgres
	./$(BIN) serve

## test: the whole suite against real Postgres and the embedded Kafka broker,
## after the checks and the alerting rules' unit tests; it includes the
## console's browser story in headless Chromium (installed from Debian's
## packages when missing)
test: check postgres promtool chromium
	$(GO) test -count=1 -timeout 9m $(PKGS)

## test-browser: only the console's browser stories (cmd/wagw TestConsoleStory*)
test-browser: postgres chromium
	$(GO) test -count=1 -timeout 6m -run 'TestConsoleStory' ./cmd/wagw/

## screenshots: run the browser stories and keep their screenshots in docs/
screenshots: postgres chromium
	WAGW_CONSOLE_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -timeout 6m -run 'TestConsoleStory' ./cmd/wagw/

## check: go.mod and go.sum tidy, every file gofmt'ed, go vet clean
check:
	@$(GO) mod tidy -diff || { echo 'go.mod/go.sum are not tidy: run go mod tidy'; exit 1; }
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then echo "not gofmt'ed (run make fmt):"; echo "$$files"; exit 1; fi
	$(GO) vet $(PKGS)

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

## promtool: promtool check rules and promtool test rules on
## deploy/prometheus (installs Debian's prometheus package for promtool when
## it is missing; no server is started)
promtool:
	@./scripts/promtool-test.sh

chromium:
	@./scripts/ensure-chromium.sh

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -l -w .

## bench: micro-benchmarks and the load scenarios; writes bench/results.json
bench: build postgres
	./scripts/bench.sh

## fuzz: run every fuzz target of the module, one after another, each for
## FUZZTIME (e.g. make fuzz FUZZTIME=10m) with FUZZPARALLEL workers; a
## target that Go 1.26's coordinator ends at its deadline without a finding
## (golang/go#75804) is replayed and reported, not failed (scripts/fuzz.sh)
FUZZTIME     ?= 30s
FUZZPARALLEL ?= 1
fuzz:
	GO="$(GO)" FUZZTIME="$(FUZZTIME)" FUZZPARALLEL="$(FUZZPARALLEL)" ./scripts/fuzz.sh

clean:
	rm -rf bin data
