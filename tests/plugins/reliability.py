"""Fixtures of the drain, rolling-restart and fault tests (``pytest_plugins`` there).

``effects_db``: the test's database plus its side-effect table ``effects``;
``spawn``: start processes of ``tests/apps/reliability_app.py`` (killed at the end).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.reliability_support import APP, Proc


@pytest.fixture
def effects_db(db_url: str) -> str:
    """The test's system database, plus the side-effect table the app writes."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE effects (id bigserial PRIMARY KEY, run text UNIQUE, workflow_id text,"
            " step int, pid int, started double precision, ended double precision)"
        )
    return db_url


@pytest.fixture
def spawn(effects_db: str, tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """``spawn("worker", ...)`` or ``spawn("start", N, PREFIX, STEPS, SECONDS)``."""
    procs: list[Proc] = []

    def start(mode: str, *args: object, env: dict | None = None, wait_ready: bool = True) -> Proc:
        if mode == "worker":
            cmd = [sys.executable, "-m", "dbos_queue.cli", "worker", APP, "--no-admin"]
        else:
            cmd = [sys.executable, "-m", APP, mode]
        env_text = {k: str(v) for k, v in (env or {}).items()}
        log = tmp_path / f"{mode}-{len(procs)}.log"
        p = Proc(cmd + [str(a) for a in args], effects_db, env_text, log)
        procs.append(p)
        return p.ready() if wait_ready else p

    yield start
    for p in procs:
        p.kill()
