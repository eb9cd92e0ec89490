"""The dbos-queue command line, run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.plugins.checks import must

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dbos_queue.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_crash_demo_kills_and_resumes(db_url):
    r = run_cli("--db-url", db_url, "demo", "--crash")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "step 1 (reserve stock) executed 1 time" in r.stdout
    assert "step 2 (charge card) executed 1 time" in r.stdout
    assert "step 3 (pack parcel) executed 2 times" in r.stdout
    assert "resumed from its last recorded step" in r.stdout


def test_migrate_on_an_empty_database(empty_db_url):
    r = run_cli("--db-url", empty_db_url, "--json", "migrate")
    assert r.returncode == 0, r.stderr
    assert '"applied": [1, 2' in r.stdout
    with psycopg.connect(empty_db_url) as conn:
        assert must(conn.execute("SELECT count(*) FROM dbos.dbos_migrations").fetchone())[0] >= 2
    again = run_cli("--db-url", empty_db_url, "migrate")
    assert again.returncode == 0 and "applied nothing" in again.stdout


def test_db_url_follows_the_environment(tmp_path):
    r = run_cli("db", "url", env={"DBOS_SYSTEM_DATABASE_URL": "postgresql://u@h:5/x"})
    assert r.returncode == 0 and r.stdout.strip() == "postgresql://u@h:5/x"


def test_unreachable_database_says_what_to_do():
    r = run_cli("--db-url", "postgresql://nobody@127.0.0.1:9/nothing?connect_timeout=2", "migrate")
    assert r.returncode == 3
    assert "cannot reach the database" in r.stderr


def test_reset_needs_confirmation(db_url):
    r = run_cli("--db-url", db_url, "reset")
    assert r.returncode == 2 and "--yes" in r.stderr
    r = run_cli("--db-url", db_url, "reset", "--yes")
    assert r.returncode == 0
    with psycopg.connect(db_url) as conn:
        assert must(conn.execute("SELECT to_regnamespace('dbos')").fetchone())[0] is None
