# Two commands on a fresh machine: `make run` and `make test`. Everything else is guessable.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Where `run` and `serve` listen: HOST/PORT when given (make run PORT=8400), else the server's
# own settings (GQL_HOST/GQL_PORT, else 127.0.0.1:8000).
HOST ?=
PORT ?=
BENCH_SECONDS ?= 20
BENCH_SCALE ?= 1
BENCH_WORKERS ?= 1
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench-installed
ORG ?= acme
USER_NAME ?= admin
SERVE_ARGS = $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))
# The banner's links point at the server `run` and `serve` start.
TOKEN_CMD = $(if $(HOST),GQL_HOST=$(HOST)) $(if $(PORT),GQL_PORT=$(PORT)) $(BIN)/gql-server token

.DEFAULT_GOAL := help
.PHONY: help install run serve test lint format migrate check-migrations revision seed token reset schema bench bench-soak clean

help:
	@echo "make run               embedded PostgreSQL (unless DATABASE_URL), migrate, demo data, serve"
	@echo "make serve             serve only (no migrate, no seed)"
	@echo "make token             a token, curl line and GraphiQL link for USER_NAME of ORG"
	@echo "make test              the test suite against a throwaway PostgreSQL (PYTEST_ARGS=...)"
	@echo "make lint              ruff check + format check + mypy --strict"
	@echo "make format            ruff: fix what it can, then format"
	@echo "make migrate           upgrade the database to the latest revision"
	@echo "make check-migrations  fail when models and migrations differ"
	@echo "make revision m=\"...\"  a new migration from model changes"
	@echo "make seed              demo data into an empty database"
	@echo "make reset             delete the embedded database, to start over (asks first)"
	@echo "make schema            write the SDL to schema.graphql"
	@echo "make bench             server vs N+1 baseline vs raw-SQL floor (BENCH_SECONDS, BENCH_SCALE,"
	@echo "                       BENCH_WORKERS, BENCH_ARGS)"
	@echo "make bench-soak        memory over 60 s of the nested query"
	@echo "make install           create .venv and install (the other verbs do it when needed)"
	@echo "make clean             remove .venv and the tools' caches (not the database: make reset)"
	@echo "make help              this list (the default goal)"
	@echo ""
	@echo "Variables: PORT, HOST (run, serve, token; default GQL_PORT/GQL_HOST, else 8000/127.0.0.1),"
	@echo "  ORG (default $(ORG)), USER_NAME (default $(USER_NAME)) for token and run's banner;"
	@echo "  DATABASE_URL for every verb (unset: the embedded PostgreSQL in .data/postgres)."

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
	$(BIN)/gql-server serve $(SERVE_ARGS)

serve: $(STAMP)
	$(BIN)/gql-server serve $(SERVE_ARGS)

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

reset: $(STAMP)
	$(BIN)/gql-server reset

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
