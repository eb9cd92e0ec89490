"""Fixtures live in tests/plugins (loaded with -p in pyproject); see tests/plugins/dbos.py."""

pytest_plugins = [
    "tests.plugins.dbos_fixtures",
    "tests.plugins.workers",
    "tests.plugins.pgbouncer",
]
