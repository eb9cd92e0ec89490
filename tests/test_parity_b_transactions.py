"""Transactions both ways: ``@DBOS.transaction`` with a SQLAlchemy ``DBOS.sql_session``
(DBOS 2.x) and DBOS 3.x datasources; exactly once, retried on serialization failures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any, LiteralString

import psycopg
import pytest
import sqlalchemy as sa

from dbos_queue import DBOS, SetWorkflowID
from dbos_queue.engine.datasource import AsyncSQLAlchemyDatasource, SQLAlchemyDatasource
from dbos_queue.error import DBOSException
from tests.plugins.checks import must
from tests.plugins.pg import drop_database, make_database


@pytest.fixture
def app_url(pg_server_url: str) -> Iterator[str]:
    url = make_database(pg_server_url, None)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE counters (name text PRIMARY KEY, n int NOT NULL)")
        conn.execute("INSERT INTO counters VALUES ('c', 0)")
        conn.execute("CREATE TABLE notes (body text)")
    yield url
    drop_database(pg_server_url, url)


@pytest.fixture
def app(config: dict[str, Any], app_url: str) -> Iterator[None]:
    DBOS.destroy(destroy_registry=True)
    DBOS(config=dict(config, application_database_url=app_url))
    DBOS.launch()
    yield
    DBOS.destroy(destroy_registry=True)


def _count(url: str, sql: LiteralString, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        return must(conn.execute(sql, params).fetchone())[0]


def test_sql_session_is_a_sqlalchemy_session_and_pg_connection_shares_it(app, app_url) -> None:
    runs: list[str] = []

    @DBOS.transaction()
    def note(body: str) -> int:
        runs.append(body)
        assert DBOS.sql_session.execute(sa.text("SELECT 1")).scalar() == 1
        DBOS.sql_session.execute(sa.text("INSERT INTO notes VALUES (:b)"), {"b": body})
        DBOS.pg_connection.execute("INSERT INTO notes VALUES (%s)", (body + "!",))
        return DBOS.sql_session.execute(sa.text("SELECT count(*) FROM notes")).scalar()

    @DBOS.workflow()
    def wf(body: str) -> int:
        return note(body)

    with SetWorkflowID("tx-once"):
        assert wf("a") == 2
    with SetWorkflowID("tx-once"):
        assert wf("a") == 2  # recorded: the transaction does not run again
    assert runs == ["a"]
    assert _count(app_url, "SELECT count(*) FROM notes") == 2
    assert _count(app_url, "SELECT output FROM dbos.transaction_outputs") == "2"
    assert note("outside") == 4  # outside a workflow: a plain transaction, no checkpoint
    assert _count(app_url, "SELECT count(*) FROM dbos.transaction_outputs") == 1
    with pytest.raises(DBOSException, match="only available inside"):
        DBOS.sql_session  # noqa: B018
    with pytest.raises(DBOSException, match="only available inside"):
        DBOS.pg_connection  # noqa: B018


def test_a_failed_transaction_rolls_back_and_replays_its_error(app, app_url) -> None:
    runs: list[int] = []

    @DBOS.transaction()
    def failing() -> None:
        runs.append(1)
        DBOS.sql_session.execute(sa.text("INSERT INTO notes VALUES ('lost')"))
        raise ValueError("no")

    @DBOS.workflow()
    def wf() -> None:
        failing()

    for _ in range(2):
        with SetWorkflowID("tx-fails"), pytest.raises(ValueError, match="no"):
            wf()
    assert runs == [1] and _count(app_url, "SELECT count(*) FROM notes") == 0


def test_serialization_failures_are_retried(app, app_url) -> None:
    attempts: list[str] = []
    both_read = threading.Barrier(2, timeout=10)

    @DBOS.transaction()  # SERIALIZABLE: two read-modify-writes of one row conflict
    def bump(who: str) -> int:
        attempts.append(who)
        n = DBOS.sql_session.execute(sa.text("SELECT n FROM counters WHERE name = 'c'")).scalar()
        if len(attempts) <= 2:
            both_read.wait()  # first attempts: both have read before either writes
        DBOS.sql_session.execute(
            sa.text("UPDATE counters SET n = :n WHERE name = 'c'"), {"n": n + 1}
        )
        return n + 1

    @DBOS.workflow()
    def wf(who: str) -> int:
        return bump(who)

    handles = [DBOS.start_workflow(wf, w) for w in ("x", "y")]
    results = sorted(h.get_result() for h in handles)
    assert results == [1, 2]  # serialized after the retry: no lost update
    assert len(attempts) == 3  # exactly one attempt was rolled back and run again
    assert _count(app_url, "SELECT n FROM counters WHERE name = 'c'") == 2


def test_output_committed_before_a_crash_is_replayed_not_rerun(app, app_url) -> None:
    runs: list[int] = []

    @DBOS.transaction()
    def effect() -> str:
        runs.append(1)
        return "ran"

    @DBOS.workflow()
    def wf() -> str:
        return effect()

    # As if a run committed the transaction and died before its system-database record.
    with psycopg.connect(app_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.transaction_outputs (workflow_uuid, function_id, output,"
            " function_name, created_at_epoch_ms) VALUES ('tx-crashed', 1, '\"before\"', 'x', 0)"
        )
    with SetWorkflowID("tx-crashed"):
        assert wf() == "before"
    assert runs == []


def test_a_transaction_started_directly_runs_as_a_one_step_workflow(app, app_url) -> None:
    @DBOS.transaction()
    def add(body: str) -> str:
        DBOS.pg_connection.execute("INSERT INTO notes VALUES (%s)", (body,))
        return body

    h = DBOS.start_workflow(add, "direct")
    assert h.get_result() == "direct"
    assert _count(app_url, "SELECT count(*) FROM notes WHERE body = 'direct'") == 1


def test_transaction_must_be_a_regular_function(app) -> None:
    with pytest.raises(DBOSException, match="coroutine"):

        @DBOS.transaction()
        async def nope() -> None: ...


# --- DBOS 3.x datasources -------------------------------------------------------------


def test_sqlalchemy_datasource_checkpoints_its_transactions(dbos, app_url) -> None:
    ds = SQLAlchemyDatasource.create(app_url, schema="dsq")
    runs: list[str] = []

    @ds.transaction()
    def insert(body: str) -> int:
        runs.append(body)
        ds.sql_session().execute(sa.text("INSERT INTO notes VALUES (:b)"), {"b": body})
        return ds.sql_session().execute(sa.text("SELECT count(*) FROM notes")).scalar()

    @ds.transaction(name="named_read", isolation_level="READ COMMITTED")
    def read() -> int:
        return ds.sql_session().execute(sa.text("SELECT count(*) FROM notes")).scalar()

    @DBOS.workflow()
    def wf(body: str) -> tuple[int, int]:
        return insert(body), read()

    with SetWorkflowID("ds-once"):
        assert wf("one") == (1, 1)
    with SetWorkflowID("ds-once"):
        assert wf("one") == (1, 1)
    assert runs == ["one"]
    assert _count(app_url, "SELECT count(*) FROM dsq.datasource_outputs") == 2
    assert _count(app_url, "SELECT serialization FROM dsq.datasource_outputs LIMIT 1") == "json"
    with psycopg.connect(DBOS.system_database_url()) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT function_name FROM dbos.operation_outputs WHERE workflow_uuid = 'ds-once'"
                " ORDER BY function_id"
            )
        ]
    assert names == [insert.__qualname__, "named_read"]
    with pytest.raises(DBOSException, match="within a datasource transaction"):
        ds.sql_session()
    with pytest.raises(DBOSException, match="coroutine"):
        ds.transaction()(_async_noop)
    ds.engine.dispose()


async def _async_noop() -> None: ...


def test_async_datasource_in_an_async_workflow(dbos, app_url) -> None:
    async def go() -> Any:
        ds = await AsyncSQLAlchemyDatasource.create(app_url)

        @ds.transaction()
        async def insert(body: str) -> int:
            session = ds.sql_session()
            await session.execute(sa.text("INSERT INTO notes VALUES (:b)"), {"b": body})
            return (await session.execute(sa.text("SELECT count(*) FROM notes"))).scalar()

        @DBOS.workflow()
        async def wf(body: str) -> int:
            return await insert(body)

        with SetWorkflowID("ads-once"):
            first = await (await DBOS.start_workflow_async(wf, "a")).get_result()
        with SetWorkflowID("ads-once"):
            again = await (await DBOS.start_workflow_async(wf, "a")).get_result()
        outside = await insert("b")
        await ds.engine.dispose()
        return first, again, outside

    assert asyncio.run(go()) == (1, 1, 2)
    assert _count(app_url, "SELECT count(*) FROM dbos.datasource_outputs") == 1
