# Deepiri — the obvious targets. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help
.NOTPARALLEL:  # test = tools, then lint, then types, then pytest — in that order
VENV := .venv
PY := $(VENV)/bin/python
DEEPIRI_TOOLS ?= $(HOME)/.cache/deepiri-tools/bin
export DEEPIRI_TOOLS
export PATH := $(DEEPIRI_TOOLS):$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## install/build everything tests need (idempotent): servers, helm, .venv
	bash tools/bootstrap.sh

.PHONY: dev-tools
dev-tools: ## the tools plus what only live development uses (the skaffold binary, for skaffold dev)
	bash tools/bootstrap.sh --dev

.PHONY: requirements
requirements: ## recompile pinned, hashed requirements from the pyproject files
	tools/compile-requirements.sh

.PHONY: lint
lint: ## ruff (lint + format check) and the import contracts (tools/import_contracts.py)
	ruff check .
	ruff format --check .
	$(PY) tools/import_contracts.py

.PHONY: new-service
new-service: ## a new service and every place that lists it: NAME=analytics PORT=5004 PREFIX=/api/analytics
	@test -n "$(NAME)" -a -n "$(PORT)" -a -n "$(PREFIX)" || \
	  { echo "usage: make new-service NAME=analytics PORT=5004 PREFIX=/api/analytics" >&2; exit 2; }
	$(PY) tools/new_service.py --name "$(NAME)" --port "$(PORT)" --prefix "$(PREFIX)"

.PHONY: format
format: ## apply ruff fixes and formatting
	ruff check --fix .
	ruff format .

.PHONY: typecheck
typecheck: ## mypy --strict over the kit, every service and the deepiri CLI
	mypy services/kit/src $(wildcard services/*-service/src) clients/cli/src

# `make test` spreads the tests over TEST_WORKERS pytest-xdist processes, each with its own
# harness servers (docs/development.md, "Parallel runs"); TEST_WORKERS=0 runs them in one.
TEST_WORKERS ?= 2

.PHONY: test
test: tools lint typecheck ## everything CI runs (fresh machine too): tools, lint, types, all tests
	pytest -n $(TEST_WORKERS) --dist worksteal --durations=60

.PHONY: test-unit
test-unit: ## pure-logic tests only (no servers)
	pytest -m unit

.PHONY: test-integration
test-integration: ## tests against real Redis / FerretDB / InfluxDB
	pytest -m integration

.PHONY: test-system
test-system: ## services as real processes, end to end
	pytest -m system

.PHONY: fuzz
fuzz: ## deeper schema fuzzing on a fresh seed (EXAMPLES=200 per operation; SEED=<n> replays a run)
	DEEPIRI_FUZZ_EXAMPLES=$(or $(EXAMPLES),200) DEEPIRI_FUZZ_SEED=$(or $(SEED),random) \
	  pytest -m fuzz -s -p no:cacheprovider

.PHONY: bench
bench: ## run every benchmark in tools/bench (prints figures and a same-run baseline)
	@set -e; for f in tools/bench/bench_*.py; do echo "== $$f"; $(PY) $$f; done

.PHONY: bench-compare
bench-compare: ## before/after: BASE=<other checkout> serves the same requests, interleaved (PAIRS=2000)
	$(PY) tools/bench/compare.py $(BASE) --pairs $(or $(PAIRS),2000)

.PHONY: infra
infra: ## start Redis, FerretDB and InfluxDB on their usual ports (Ctrl-C stops)
	$(PY) tools/infra.py --data .tmp/infra

.PHONY: dev
dev: ## infra + every service on its seed port, logs prefixed (Ctrl-C stops all)
	$(PY) tools/dev.py

.PHONY: up
up: ## (kind) create the cluster if missing, build + load images, Traefik, helm install --wait, print URLs
	bash k8s/up.sh

.PHONY: down
down: ## (kind) delete the kind cluster made by make up
	bash k8s/down.sh

.PHONY: cluster
cluster: ## (no Docker) a real single-node Kubernetes on this machine: control plane, containerd node, DNS, metrics
	bash k8s/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## stop the local cluster and wipe everything it left on this machine
	bash k8s/cluster/down.sh

.PHONY: images
images: ## build every image with buildah from its Dockerfile and import it into the local cluster
	bash k8s/cluster/images.sh app

.PHONY: e2e
e2e: tools ## the platform on the local cluster end to end: cluster, images, chart, tests, teardown
	bash k8s/cluster/e2e.sh

.PHONY: chart-lint
chart-lint: ## helm lint --strict both charts (kind, Gateway API and prod values)
	pytest tests/chart -q -k lints

.PHONY: chart-verify
chart-verify: ## every packaging check: renders, k8s schemas, checkov, promtool, golden files, images, Tilt/skaffold
	pytest tests/chart -q

.PHONY: chart-golden
chart-golden: ## re-render the golden files after a reviewed chart change
	UPDATE_GOLDEN=1 pytest tests/chart -q -k golden

.PHONY: chart-schema
chart-schema: ## regenerate both charts' values.schema.json from charts/values_schema.py
	$(PY) charts/values_schema.py

.PHONY: clean
clean: ## remove caches and local data (not the tool cache)
	rm -rf .tmp .pytest_cache .mypy_cache .ruff_cache
