# tourcrm — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)

.PHONY: install run demo stack stack-down status test test-fast tools services stop-services bench asyncapi clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tourcrm needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q --constraint constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)  ## virtualenv with tourcrm and its test tools

run: install  ## embedded mode: all four services in one process, SQLite under var/, demo data
	$(BIN)/tourcrm run

demo: install  ## 2,000 demo customers into the running stack, through its API (`make run` first)
	$(BIN)/tourcrm demo

STACK_ARGS ?=  # e.g. make stack STACK_ARGS="--replicas loyalty=2"

stack: install services  ## production mode locally: each service its own process on PostgreSQL + Kafka (var/stack/)
	$(BIN)/tourcrm stack up $(STACK_ARGS)

stack-down:  ## stop the processes `make stack` started (add STACK_ARGS=--purge to drop its databases and topics)
	$(BIN)/tourcrm stack down $(STACK_ARGS)

status:  ## readiness, consumer lag, outbox backlog and dead letters of each running service
	$(BIN)/tourcrm status

tools:  ## kcat, promtool and prometheus from Debian packages (tests/e2e, tests/deploy)
	scripts/tools.sh

services: tools  ## start the real PostgreSQL and Kafka the tests use (reuses running ones)
	scripts/postgres.sh start
	scripts/kafka.sh start

stop-services:
	-scripts/kafka.sh stop
	-scripts/postgres.sh stop

test: install services  ## the whole suite, on (memory bus + SQLite) and (Kafka + PostgreSQL)
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: install tools  ## only the tests that need no servers (memory bus + SQLite)
	$(BIN)/pytest -q -p no:cacheprovider -m "not servers"

bench: install services  ## benchmarks; figures go to BENCHMARKS.md by hand
	for b in bench/*_bench.py; do $(BIN)/python $$b; done

asyncapi: install  ## regenerate docs/asyncapi.json from the event models
	$(BIN)/tourcrm asyncapi

clean:
	rm -rf var/*.db var/*.db-* var/dev-api-key var/demo-loaded
