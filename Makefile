# Một Cửa: `make run` starts everything, `make test` tests everything. `make help` lists the rest.
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
UV := uv run --frozen
PYTEST_ARGS ?=

.PHONY: help run test test-unit test-integration test-e2e setup migrate infra-up infra-down bench bench-queue contracts lint format demo fuzz clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

run: ## Set up (as `make setup`) and start the whole system under supervisor (Ctrl-C stops it)
	@bash scripts/run.sh

migrate: ## Start PostgreSQL and Kafka if needed, apply every service's migrations (services only check them)
	@bash scripts/ensure-uv.sh
	@bash scripts/ensure-fonts.sh
	@bash scripts/infra/up.sh
	@echo "==> Migrations"
	@$(UV) python scripts/migrate.py

setup: migrate ## Install dependencies, start PostgreSQL and Kafka, migrate, seed demo data
	@echo "==> Demo data"
	@$(UV) python scripts/setup_data.py

test: setup ## Set up, then run unit, integration and end-to-end tests (with the dashboard's browser test)
	@bash scripts/ensure-browser.sh
	@echo "==> Tests"
	@$(UV) pytest $(PYTEST_ARGS)

test-unit: ## Only the unit tier (*/tests/unit/, tests/*.py): no servers, no set-up
	@bash scripts/ensure-uv.sh
	@bash scripts/ensure-fonts.sh
	@$(UV) pytest -m unit $(PYTEST_ARGS)

test-integration: setup ## Only the integration tier (*/tests/integration/, tests/gateway, tests/kafka)
	@$(UV) pytest -m integration $(PYTEST_ARGS)

test-e2e: setup ## Only the cross-service end-to-end tests (tests/e2e, with the dashboard's browser test)
	@bash scripts/ensure-browser.sh
	@$(UV) pytest -m e2e $(PYTEST_ARGS)

# Every figure of issue 7 against a baseline of the same run, one `BENCH name=…` line each, appended to
# docs/benchmarks.md (BENCH_QUICK=1: a tiny smoke run of the harness that writes nothing). One line per benchmark.
bench: setup ## Measure every hot path against a bare baseline (submissions, gateway, events, tracking, queues, memory, notify, statistics)
	@MOTCUA_BENCH_COMMAND="make bench" $(UV) python scripts/bench.py
	@MOTCUA_BENCH_COMMAND="make bench" $(UV) python scripts/bench_queue.py
	@$(UV) python scripts/bench_notify.py
	@$(UV) python scripts/bench_measure.py

bench-queue: setup ## Only tracking and the work queues at 1,000,000 dossiers (100,000 open; the seed is reused)
	@MOTCUA_BENCH_COMMAND="make bench-queue" $(UV) python scripts/bench_queue.py

contracts: ## Regenerate event JSON Schemas and the AsyncAPI catalogue from the pydantic models
	@$(UV) python scripts/gen_contracts.py

lint: ## ruff lint + format check, mypy (scripts/typecheck.sh), import rules (lint-imports)
	@bash scripts/ensure-uv.sh
	@$(UV) ruff check .
	@$(UV) ruff format --check .
	@bash scripts/typecheck.sh
	@$(UV) lint-imports

format: ## ruff format + autofix
	@$(UV) ruff format . && $(UV) ruff check --fix .

.PHONY: chaos
chaos: ## Kill and restart every service, Kafka and PostgreSQL under load, then reconcile (private infra, own ports)
	@bash scripts/ensure-uv.sh
	@$(UV) python scripts/chaos.py $(CHAOS_ARGS)

demo: ## Walk one dossier through the running system (needs `make run` in another terminal)
	@$(UV) python scripts/demo.py

fuzz: ## Fuzz the running API from its OpenAPI document with schemathesis (needs `make run`)
	@uvx --quiet schemathesis run http://127.0.0.1:$${GATEWAY_PORT:-8000}/openapi.json \
		--checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
		--max-examples 50 -H "Authorization: Bearer $$($(UV) python scripts/get_token.py hoa.tiepnhan --officer)"

infra-up: ## Start PostgreSQL and Kafka only
	@bash scripts/infra/up.sh

infra-down: ## Stop PostgreSQL and Kafka
	@bash scripts/infra/down.sh

clean: infra-down ## Stop the infrastructure and delete its data (.run/)
	rm -rf .run
