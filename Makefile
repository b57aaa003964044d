# minipush: common tasks. `make test` is what CI runs after its checks.
GO ?= go
BIN ?= bin/minipush
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: run test test-short generate lint build fuzz clean drill-crash

run: ## run the console on the embedded SQLite default (http://localhost:8080)
	$(GO) run ./cmd/minipush serve

test: ## all tests, with the race detector, on SQLite and MySQL/MariaDB
	$(GO) test -race -count=1 -timeout 30m ./...

test-short: ## the same without the race detector (faster while editing)
	$(GO) test -count=1 -timeout 30m ./...

generate: ## regenerate the templ views
	$(GO) tool templ generate

lint: ## gofmt and go vet (CI also regenerates the templ files and fails on a diff)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

build: generate ## build the binary into bin/
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/minipush

DRILL_DB ?= mysql:root@tcp(127.0.0.1:3306)/test
drill-crash: ## the crash drill: serve killed with SIGKILL mid-run on MariaDB/MySQL (DRILL_DB=mysql:…), then counted
	$(GO) build -o $(BIN) ./cmd/minipush
	$(BIN) drill --db "$(DRILL_DB)"

.PHONY: drills
DRILL_USERS ?= 100000
drills: ## the fault drills (README "Fault drills"): a campaign to DRILL_USERS users killed, faulted and stormed on MariaDB/MySQL (DRILL_DB=mysql:…), then counted
	$(GO) build -o $(BIN) ./cmd/minipush
	$(BIN) drill --db "$(DRILL_DB)" --only drills --users $(DRILL_USERS)

clean:
	rm -rf bin
