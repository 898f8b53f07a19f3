# fwctl — two commands set everything up on a fresh machine:
#   make demo   run the GRPO example and three training steps on a local control plane
#   make test   install, lint, type-check and run the whole test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint typecheck pytest bench crash clean

$(BIN)/fwctl: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/fwctl

install: $(BIN)/fwctl

demo: install
	./scripts/demo.sh

lint: install
	$(BIN)/ruff check reconciler tests benchmarks

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -n 2 --dist loadfile; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test: lint typecheck pytest

bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# the crash campaign of issue 12: >= 60 seeded fault trials, a table; exit 1 on any failure
crash: install
	$(BIN)/python benchmarks/crash_campaign.py

clean:
	rm -rf $(VENV) .fwctl .pytest_cache .mypy_cache .ruff_cache
