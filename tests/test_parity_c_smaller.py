"""Smaller DBOS 3.4 differences: DBOSClient's send calls honour serialization_type;
what enqueue_workflow_with_options takes from its caller; rewind re-runs the
transactions and datasource steps it rewinds (their application-database checkpoints
go), and a fork re-runs its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from dbos_queue import (
    DBOS,
    DBOSClient,
    PropagateOtelContext,
    Queue,
    SendMessage,
    SetEnqueueOptions,
    SetWorkflowAttributes,
    SetWorkflowID,
    SetWorkflowTimeout,
    WorkflowSerializationFormat,
)
from dbos_queue.engine.datasource import SQLAlchemyDatasource
from tests.plugins.pg import drop_database, make_database

PORTABLE = WorkflowSerializationFormat.PORTABLE


def _messages(url: str, dest: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT message FROM dbos.notifications WHERE destination_uuid = %s"
            " ORDER BY created_at_epoch_ms, seq",
            (dest,),
        ).fetchall()
    return [r[0] for r in rows]


def test_client_send_honours_serialization_type(dbos: Any, db_url: str) -> None:
    @DBOS.workflow()
    def inbox(n: int) -> list[Any]:
        return [DBOS.recv("t", timeout_seconds=30) for _ in range(n)]

    with SetWorkflowID("inbox"):
        h = DBOS.start_workflow(inbox, 6)
    with DBOSClient(db_url) as client:
        client.send("inbox", (1, 2), "t")  # DEFAULT: the configured format keeps the tuple
        client.send("inbox", (3, 4), "t", serialization_type=PORTABLE)
        client.send_bulk([SendMessage("inbox", (5,), "t")], serialization_type=PORTABLE)
        with psycopg.connect(db_url) as conn:
            client.send_in_transaction(conn, "inbox", (6,), "t", serialization_type=PORTABLE)
            client.send_bulk_in_transaction(
                conn, [SendMessage("inbox", (7,), "t")], serialization_type=PORTABLE
            )
            conn.commit()

        async def go() -> None:
            await client.send_async("inbox", (8,), "t", serialization_type=PORTABLE)

        import asyncio

        asyncio.run(go())
    assert h.get_result() == [(1, 2), [3, 4], [5], [6], [7], [8]]
    stored = _messages(db_url, "inbox")
    assert "$dbq" in stored[0]  # dbos_queue's tagged JSON
    assert [json.loads(m) for m in stored[1:]] == [[3, 4], [5], [6], [7], [8]]  # plain JSON


def test_enqueue_with_options_takes_what_dbos_takes_from_the_caller(dbos: Any, db_url: str) -> None:
    @DBOS.workflow()
    def child(x: Any) -> Any:
        return x

    q = Queue("opts-q", priority_enabled=True)
    span = NonRecordingSpan(
        SpanContext(trace_id=0xA1B2, span_id=0xC3D4, is_remote=False, trace_flags=TraceFlags(1))
    )
    traced = trace.set_span_in_context(span)
    base = {"queue_name": q.name, "workflow_name": child.__qualname__}

    @DBOS.workflow(serialization_type=PORTABLE)
    def parent() -> list[str]:
        with SetWorkflowAttributes({"team": "a", "x": 0}), PropagateOtelContext(traced):
            with SetEnqueueOptions(priority=5, deduplication_id="dd"):
                inherited = DBOS.enqueue_workflow_with_options(
                    {**base, "attributes": {"x": 1}}, (1, 2)
                )
        own = DBOS.enqueue_workflow_with_options(
            {**base, "priority": 7, "serialization_type": PORTABLE}, (3,)
        )
        return [inherited.workflow_id, own.workflow_id]

    # Enqueued, so its body runs in a fresh context with a deadline of its own.
    with SetWorkflowTimeout(600), SetWorkflowID("opts-parent"):
        inherited_id, own_id = Queue("opts-parents").enqueue(parent).get_result(timeout=30)
    p = DBOS.get_workflow_status("opts-parent")
    a = DBOS.get_workflow_status(inherited_id)
    b = DBOS.get_workflow_status(own_id)
    assert p is not None and a is not None and b is not None
    assert a.attributes is not None
    carrier = a.attributes.pop("dbos.otelContext")
    assert carrier["traceparent"].startswith("00-" + f"{0xA1B2:032x}")
    assert a.attributes == {"team": "a", "x": 1}  # the options win per key
    assert a.priority == 5  # (its deduplication id is released once it finished)
    assert a.parent_workflow_id == "opts-parent"
    assert p.workflow_deadline_epoch_ms is not None
    assert a.workflow_deadline_epoch_ms == p.workflow_deadline_epoch_ms  # propagated
    assert b.priority == 7 and b.attributes is None  # outside the blocks: nothing ambient
    with psycopg.connect(db_url) as conn:
        rows = dict(
            conn.execute(
                "SELECT workflow_uuid, serialization FROM dbos.workflow_status"
                " WHERE workflow_uuid = ANY(%s)",
                (["opts-parent", inherited_id, own_id],),
            ).fetchall()
        )
    # As in DBOS the options' serialization_type decides, not the caller's format.
    assert rows["opts-parent"] == "portable_json" and rows[own_id] == "portable_json"
    assert rows[inherited_id] != "portable_json"
    assert DBOS.retrieve_workflow(inherited_id).get_result() == (1, 2)


@pytest.fixture
def app_url(pg_server_url: str) -> Iterator[str]:
    url = make_database(pg_server_url, None)
    with psycopg.connect(url, autocommit=True) as conn:
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


def _outputs(url: str) -> tuple[list[int], list[int]]:
    with psycopg.connect(url) as conn:
        tx = conn.execute(
            "SELECT function_id FROM dbos.transaction_outputs WHERE workflow_uuid = 'rw'"
            " ORDER BY function_id"
        ).fetchall()
        ds = conn.execute(
            "SELECT step_id FROM dbos.datasource_outputs WHERE workflow_id = 'rw' ORDER BY step_id"
        ).fetchall()
    return [r[0] for r in tx], [r[0] for r in ds]


def test_rewind_reruns_the_transactions_it_rewinds(app: None, app_url: str) -> None:
    ds = SQLAlchemyDatasource.create(app_url)
    runs: list[str] = []

    @DBOS.transaction()
    def dbos_tx(tag: str) -> str:
        runs.append(f"tx-{tag}")
        DBOS.pg_connection.execute("INSERT INTO notes VALUES (%s)", (tag,))
        return tag

    @ds.transaction()
    def ds_tx(tag: str) -> str:
        runs.append(f"ds-{tag}")
        ds.sql_session().execute(sa.text("INSERT INTO notes VALUES (:b)"), {"b": tag})
        return tag

    @DBOS.workflow()
    def wf() -> list[str]:
        return [dbos_tx("a"), ds_tx("b"), dbos_tx("c")]

    with SetWorkflowID("rw"):
        assert wf() == ["a", "b", "c"]
    assert _outputs(app_url) == ([1, 3], [2])
    DBOS.rewind_workflow("rw", start_step=2).get_result()
    assert runs == ["tx-a", "ds-b", "tx-c", "ds-b", "tx-c"]  # steps 2 and 3 ran again
    DBOS.rewind_workflow("rw").get_result()
    assert runs[5:] == ["tx-a", "ds-b", "tx-c"]
    assert _outputs(app_url) == ([1, 3], [2])
    # A fork re-runs from its start step under its own id; what came before is replayed.
    DBOS.fork_workflow("rw", 3).get_result()
    assert runs[8:] == ["tx-c"]
    with psycopg.connect(app_url) as conn:
        row = conn.execute("SELECT count(*) AS n FROM notes").fetchone()
    assert row is not None and row[0] == 9
    ds.engine.dispose()
