# Developer shortcuts; each target uses the project's virtualenv (.venv).
PY ?= .venv/bin/python

.PHONY: venv lint format typecheck test bench chart ci

venv:
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[test,dev]'

lint:
	.venv/bin/ruff check dbos_queue tests scripts benchmarks workers
	.venv/bin/ruff format --check dbos_queue tests scripts benchmarks workers
	.venv/bin/lint-imports
	$(PY) scripts/check_cycles.py

format:
	.venv/bin/ruff format dbos_queue tests scripts benchmarks workers
	.venv/bin/ruff check --fix dbos_queue tests scripts benchmarks workers

typecheck:
	.venv/bin/pyright

test:
	$(PY) -m pytest

bench:
	$(PY) -m benchmarks.peers --rounds 2

chart:
	$(PY) -m benchmarks.peers --quick --peers dbos_queue,pgqueuer --workloads W1,W2,W3,bulk --workers 2 --out benchmarks/out/peers/chart
	cp benchmarks/out/peers/chart/peers.png docs/img/peers.png

ci:
	bash .ci/run
