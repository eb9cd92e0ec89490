"""DBOS.reset_system_database as in DBOS 3.4: keyword-only ``system_database_url``,
``schema`` and ``truncate``; dropping the database, or emptying the schema's tables
(migration records kept); a warning and nothing else without a configured DBOS or a
URL; refused once launched."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, LiteralString

import psycopg
import pytest

from dbos_queue import DBOS, SetWorkflowID
from dbos_queue.error import DBOSException
from dbos_queue.model.pgurl import database_name
from tests.plugins.checks import must


def _count(url: str, query: LiteralString) -> int:
    with psycopg.connect(url) as conn:
        return int(must(conn.execute(query).fetchone())[0])


def _exists(server_url: str, url: str) -> bool:
    with psycopg.connect(server_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (database_name(url),)
        ).fetchone()
    return must(row)[0] == 1


@pytest.fixture
def unconfigured(db_url: str) -> Iterator[None]:
    """No DBOS at the start; whatever the test launched is shut down before its database
    goes (this fixture depends on ``db_url``, so it is torn down first)."""
    del db_url
    DBOS.destroy(destroy_registry=True)
    yield
    DBOS.destroy(destroy_registry=True)


def _run_one(config: dict[str, Any], wf_id: str) -> None:
    """Launch, run a workflow with a step and an event, shut down."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config)

    @DBOS.step()
    def s() -> int:
        return 1

    @DBOS.workflow()
    def wf() -> int:
        DBOS.set_event("k", 1)
        return s()

    DBOS.launch()
    with SetWorkflowID(wf_id):
        assert wf() == 1
    DBOS.destroy(destroy_registry=True)


def test_signature_is_dbos() -> None:
    params = inspect.signature(DBOS.reset_system_database).parameters
    assert [(p.name, p.kind, p.default) for p in params.values()] == [
        ("system_database_url", inspect.Parameter.KEYWORD_ONLY, None),
        ("schema", inspect.Parameter.KEYWORD_ONLY, None),
        ("truncate", inspect.Parameter.KEYWORD_ONLY, False),
    ]


def test_truncate_empties_the_tables_and_keeps_the_schema(
    unconfigured: None, config: dict[str, Any], db_url: str
) -> None:
    _run_one(config, "before-truncate")
    migrations = _count(db_url, "SELECT count(*) FROM dbos.dbos_migrations")
    assert migrations > 0
    DBOS(config=config)
    DBOS.reset_system_database(truncate=True)
    for table in ("workflow_status", "operation_outputs", "workflow_events", "executors"):
        assert _count(db_url, f"SELECT count(*) FROM dbos.{table}") == 0, table
    assert _count(db_url, "SELECT count(*) FROM dbos.dbos_migrations") == migrations
    # The fleet's retention turn is kept (emptied), so retention still gets its turns.
    assert _count(db_url, "SELECT count(*) FROM dbos.maintenance WHERE task = 'retention'") == 1
    DBOS.launch()
    assert DBOS.list_workflows() == []

    @DBOS.workflow()
    def again() -> int:
        return 2

    assert again() == 2


def test_truncate_by_url_without_dbos_and_schema(unconfigured: None, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('x', 'SUCCESS')"
        )
        conn.execute("CREATE SCHEMA other")
        conn.execute("CREATE TABLE other.t (v int)")
        conn.execute("INSERT INTO other.t VALUES (1), (2)")
    DBOS.reset_system_database(system_database_url=db_url, schema="other", truncate=True)
    assert _count(db_url, "SELECT count(*) FROM other.t") == 0
    assert _count(db_url, "SELECT count(*) FROM dbos.workflow_status") == 1  # not its schema
    DBOS.reset_system_database(system_database_url=db_url, truncate=True)  # default: dbos
    assert _count(db_url, "SELECT count(*) FROM dbos.workflow_status") == 0


def test_without_dbos_or_url_it_only_warns(
    unconfigured: None, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('x', 'SUCCESS')"
        )
    with caplog.at_level("WARNING", logger="dbos_queue"):
        DBOS.reset_system_database()
        DBOS.reset_system_database(truncate=True)
    assert sum("has no effect" in r.getMessage() for r in caplog.records) == 2
    assert _count(db_url, "SELECT count(*) FROM dbos.workflow_status") == 1


def test_reset_drops_the_database_and_launch_recreates_it(
    unconfigured: None, config: dict[str, Any], db_url: str, pg_server_url: str
) -> None:
    _run_one(config, "before-drop")
    DBOS.reset_system_database(system_database_url=db_url)  # no DBOS configured: by URL
    assert not _exists(pg_server_url, db_url)
    DBOS.reset_system_database(system_database_url=db_url)  # already gone: nothing to do
    _run_one(config, "after-drop")  # the launch created and migrated it again
    DBOS(config=config)
    DBOS.reset_system_database()  # the configured URL
    assert not _exists(pg_server_url, db_url)


def test_refused_once_launched(dbos: Any) -> None:
    with pytest.raises(AssertionError, match="after DBOS is launched") as info:
        DBOS.reset_system_database(truncate=True)
    assert isinstance(info.value, DBOSException)
