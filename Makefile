# Two commands on a fresh machine: `make run` and `make test`. Everything else is guessable.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
BENCH_SECONDS ?= 20
BENCH_SCALE ?= 1
BENCH_WORKERS ?= 1
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench-installed
ORG ?= acme
USER_NAME ?= admin
# The banner's links point at the server `run` and `serve` start.
TOKEN_CMD := GQL_HOST=$(HOST) GQL_PORT=$(PORT) $(BIN)/gql-server token

.DEFAULT_GOAL := help
.PHONY: help install run serve test lint format migrate check-migrations revision seed token schema bench bench-soak clean

help:
	@echo "make run        embedded PostgreSQL (unless DATABASE_URL), migrate, demo data, serve"
	@echo "make test       the test suite against a throwaway PostgreSQL"
	@echo "make lint       ruff check + format check + mypy --strict"
	@echo "make migrate | revision m=\"...\" | seed | token | schema | bench"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/gql-server migrate
	$(BIN)/gql-server seed --if-empty
	-@$(TOKEN_CMD) --org $(ORG) --user $(USER_NAME) --format=banner
	$(BIN)/gql-server serve --host $(HOST) --port $(PORT)

serve: $(STAMP)
	$(BIN)/gql-server serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(STAMP)
	$(BIN)/gql-server migrate

check-migrations: $(STAMP)
	$(BIN)/gql-server migrate --check

revision: $(STAMP)
	@test -n "$(m)" || (echo 'usage: make revision m="what changed"' && exit 2)
	$(BIN)/gql-server migrate
	$(BIN)/alembic revision --autogenerate -m "$(m)"

seed: $(STAMP)
	$(BIN)/gql-server migrate
	$(BIN)/gql-server seed

schema: $(STAMP)
	$(BIN)/gql-server export-schema

# A demo token, its header, a curl line and a GraphiQL link: make token ORG=globex USER_NAME=student1
token: $(STAMP)
	@$(TOKEN_CMD) --org $(ORG) --user $(USER_NAME) --format=banner

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	@touch $(BENCH_STAMP)

# The server against an N+1 baseline and its raw-SQL floor, over HTTP (bench/README.md):
# make bench BENCH_SECONDS=5 BENCH_SCALE=0.2 [BENCH_WORKERS=2] [BENCH_ARGS="--load httpx"]
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run --seconds $(BENCH_SECONDS) --scale $(BENCH_SCALE) \
		--workers $(BENCH_WORKERS) $(BENCH_ARGS)

# Memory check: `nested` at concurrency 16 for 60 s; peak RSS, and RSS at 20 s vs at the end.
bench-soak: $(BENCH_STAMP)
	$(BIN)/python -m bench.run --soak --soak-seconds 60 --scale $(BENCH_SCALE) \
		--workers $(BENCH_WORKERS) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
