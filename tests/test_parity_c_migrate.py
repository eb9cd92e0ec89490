"""DBOS.migrate and run_dbos_database_migrations (DBOS 3.4.0): create or migrate the
system database from a deployment step, optionally granting an application role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import click
import psycopg
import pytest
from psycopg import sql

from dbos_queue import DBOS, run_dbos_database_migrations
from dbos_queue.db import migrate as _migrate
from dbos_queue.error import DBOSException
from dbos_queue.model.pgurl import database_name
from tests.plugins.pg import drop_database, with_database


@pytest.fixture
def missing_db_url(pg_server_url: str) -> Iterator[str]:
    """The URL of a database that does not exist yet."""
    url = with_database(pg_server_url, f"m_{uuid.uuid4().hex[:12]}")
    yield url
    drop_database(pg_server_url, url)


@pytest.fixture
def app_role(pg_server_url: str, missing_db_url: str) -> Iterator[str]:
    role = f"app_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
    yield role
    drop_database(pg_server_url, missing_db_url)  # its grants first: they hold the role
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _privileges(url: str, role: str) -> tuple[bool, bool, bool, bool]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT has_schema_privilege(%(r)s, 'dbos', 'USAGE') AS usage,"
            " has_table_privilege(%(r)s, 'dbos.workflow_status', 'INSERT, UPDATE') AS tables,"
            " has_sequence_privilege(%(r)s, 'dbos.notifications_seq_seq', 'USAGE') AS seqs,"
            " has_function_privilege(%(r)s, p.oid, 'EXECUTE') AS funcs"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'dbos' LIMIT 1",
            {"r": role},
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


def test_migrate_creates_and_migrates_the_system_database(missing_db_url: str) -> None:
    DBOS.migrate(missing_db_url)
    assert _migrate.current_version(missing_db_url) == _migrate.latest_version()
    DBOS.migrate(missing_db_url, schema="dbos")  # again: nothing left to do
    assert _migrate.migrate(missing_db_url) == []


def test_launch_creates_a_missing_database_and_a_relaunch_asks_only_it(
    missing_db_url: str, pg_server_url: str
) -> None:
    """Connected straight to Postgres, a launch finds out in the database itself whether it
    exists and is current; the maintenance database is asked only when it is missing."""
    from dbos_queue.model.pgurl import maintenance_url

    def maintenance_sessions() -> int:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = %s",
                (database_name(maintenance_url(missing_db_url)),),
            ).fetchone()
        return int(row[0]) if row else 0

    for attempt in range(2):
        DBOS.destroy(destroy_registry=True)
        DBOS(config={"name": "m-launch", "system_database_url": missing_db_url})
        before = maintenance_sessions()
        try:

            @DBOS.workflow()
            def hello(x: int) -> int:
                return x + 1

            DBOS.launch()
            assert hello(attempt) == attempt + 1
        finally:
            DBOS.destroy(destroy_registry=True)
        assert _migrate.current_version(missing_db_url) == _migrate.latest_version()
        if attempt == 1:  # the database exists now: nothing asked elsewhere
            assert maintenance_sessions() - before <= 1  # (the count above is one)


def test_migrate_grants_the_application_role(missing_db_url: str, app_role: str) -> None:
    DBOS.migrate(missing_db_url, application_role=app_role)
    assert _privileges(missing_db_url, app_role) == (True, True, True, True)
    with psycopg.connect(missing_db_url, autocommit=True) as conn:  # a later migration's table
        conn.execute("CREATE TABLE dbos.later_table (x int)")
        row = conn.execute(
            "SELECT has_table_privilege(%s, 'dbos.later_table', 'SELECT') AS ok", (app_role,)
        ).fetchone()
    assert row is not None and row[0]


def test_run_dbos_database_migrations(
    missing_db_url: str, app_role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dbos_database_migrations(missing_db_url, application_role=app_role)
    assert _migrate.current_version(missing_db_url) == _migrate.latest_version()
    assert _privileges(missing_db_url, app_role)[1]
    with pytest.raises(click.exceptions.Exit) as exited:
        run_dbos_database_migrations(missing_db_url, application_role="no_such_role_here")
    assert exited.value.exit_code == 1
    assert "DBOS migrations failed:" in capsys.readouterr().out
    assert database_name(missing_db_url).startswith("m_")


def test_migrate_refuses_what_it_cannot_do(missing_db_url: str) -> None:
    with pytest.raises(DBOSException, match="schema"):
        DBOS.migrate(missing_db_url, schema="other")
    with pytest.raises(DBOSException, match="sharding"):
        DBOS.migrate(missing_db_url, sharding=True)
    with pytest.raises(DBOSException, match="SQLite"):
        DBOS.migrate("sqlite:///x.db")
