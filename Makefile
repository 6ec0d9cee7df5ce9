# Every target builds .venv first when it is missing, so a fresh clone needs only
# Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test fmt lint typecheck pytest bench bench-scale fuzz burst soak clean

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

# The property tests of `make test`, with many examples per test and backend
# (FUZZ_EXAMPLES, default 2000); failing examples are kept in build/hypothesis
# and replayed first on the next run.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/security/test_fuzz.py $(PYTEST_ARGS)

# 5,000 requests of Entra's mix from 50 concurrent clients against a real
# gateway on SQLite and on Postgres: fails on any 5xx or lost write, and
# prints the latency percentiles (docs/security.md).
burst: $(STAMP)
	$(BIN)/python -m tests.load.burst $(BURST_ARGS)

# Three minutes of steady traffic per database with the server's RSS
# sampled; fails when memory grows past the bound after the warm-up.
soak: $(STAMP)
	$(BIN)/python -m tests.load.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
