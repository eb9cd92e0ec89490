#!/usr/bin/env bash
# Static checks of the package, with tools the project's own `dev` extra installs:
#   ruff (lint + format --check), the import-linter layers contract, the module
#   cycle check (scripts/check_cycles.py) and pyright (strict on dbos_queue, basic
#   on tests, scripts and benchmarks; configured in pyproject.toml).
# Usage: .ci/code_checks.sh [PYTHON]   (default: .venv/bin/python). Exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
BIN="$(dirname "$PY")"
"$PY" -m pip install -q -e '.[dev]' || { echo "cannot install the dev extra" >&2; exit 1; }

fail=0
run() {
  echo "--- $*"
  "$@" || { echo "FAILED: $*" >&2; fail=1; }
}
run "$BIN/ruff" check dbos_queue tests scripts benchmarks workers
run "$BIN/ruff" format --check dbos_queue tests scripts benchmarks workers
run "$BIN/lint-imports"
run "$PY" scripts/check_cycles.py
run "$BIN/pyright"
exit $fail
