# Every target builds .venv first when it is missing, so a fresh clone needs only
# Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test fmt lint typecheck pytest bench bench-scale clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77" wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The log deliverer writes accept links to the log only when asked to, since
# they are secrets; trying the gateway out is such a case (docs/invitations.md).
run: $(STAMP)
	SCIM_GATEWAY_LOG_LINKS=true $(BIN)/scim-gateway serve

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# mypy cannot follow the editable install's import hook, so it reads the
# package through a tree of links laid out as the installed scim_gateway.
TYPECHECK_TREE := build/typecheck

typecheck: $(STAMP)
	rm -rf $(TYPECHECK_TREE) && mkdir -p $(TYPECHECK_TREE)/scim_gateway
	for f in gateway/*; do ln -s "$(CURDIR)/$$f" $(TYPECHECK_TREE)/scim_gateway/; done
	for d in filters backends plugins; do \
		ln -s "$(CURDIR)/$$d" $(TYPECHECK_TREE)/scim_gateway/$$d; done
	MYPYPATH=$(TYPECHECK_TREE) $(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest --cov=scim_gateway --cov-report=term:skip-covered $(PYTEST_ARGS)

test: lint typecheck pytest

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The gateway against the limit app of ../shared/bench (wrk; about 90 s).
# Variables: BENCH_DATABASE=postgresql://... BENCH_USERS=100000 BENCH_HARNESS=...
# (tests/benchmarks/run.py lists them all).
bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.run

# 1,000 then 101,000 users: lookups, a mid page, member adds, RSS, load time
# (about 10 min on SQLite). BENCH_SCALE=1000,101000 BENCH_DATABASE=...
bench-scale: $(STAMP)
	$(BIN)/python -m tests.benchmarks.scale

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
