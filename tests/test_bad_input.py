"""Bad input refused at the call, with nothing written: undeclared queues on every enqueue
path; a workflow name no live worker registers ends ERROR naming it, after a bounded wait,
while a worker that lacks a function leaves it for one that has it (mixed fleet)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient, Queue
from dbos_queue.error import (
    DBOSQueueNotDeclaredError,
    DBOSSchemaMissingError,
    DBOSWorkflowFunctionNotFoundError,
)
from tests.plugins.workers import Worker

WAIT_ENV = "DBOS_QUEUE_UNKNOWN_WORKFLOW_WAIT_SEC"


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll a database state until ``check`` returns something truthy, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def rows(url: str, query: str, params: Any = None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def workflow_rows(url: str) -> int:
    return int(rows(url, "SELECT count(*) FROM dbos.workflow_status")[0][0])


def declare(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO dbos.queues (name) VALUES (%s)", (name,))


# ---- undeclared queues --------------------------------------------------------------


def _refused(exc: pytest.ExceptionInfo[BaseException], name: str) -> None:
    text = str(exc.value)
    assert repr(name) in text and "not declared" in text and "Queue(" in text, text


def test_client_enqueue_to_undeclared_queue_is_refused(db_url: str) -> None:
    opts = {"queue_name": "no_such_queue", "workflow_name": "wf"}
    with DBOSClient(db_url) as client:
        with pytest.raises(DBOSQueueNotDeclaredError) as exc:
            client.enqueue(opts, 1)  # type: ignore[arg-type]
        _refused(exc, "no_such_queue")
        with pytest.raises(DBOSQueueNotDeclaredError):
            asyncio.run(client.enqueue_async(opts, 1))  # type: ignore[arg-type]
        with pytest.raises(DBOSQueueNotDeclaredError) as exc:
            client.enqueue_many(opts, [(1,), (2,)])  # type: ignore[arg-type]
        _refused(exc, "no_such_queue")
        with psycopg.connect(db_url) as conn:
            with pytest.raises(DBOSQueueNotDeclaredError):
                client.enqueue_in_transaction(conn, opts, 1)  # type: ignore[arg-type]
            conn.commit()
        assert workflow_rows(db_url) == 0
        # Once some worker has stored it, the same call is accepted (no stale refusal).
        declare(db_url, "no_such_queue")
        client.enqueue(opts, 1)  # type: ignore[arg-type]
        assert len(client.enqueue_many(opts, [(1,), (2,)])) == 2  # type: ignore[arg-type]
    assert workflow_rows(db_url) == 3


def test_a_client_on_a_database_without_the_schema_says_what_to_do(empty_db_url: str) -> None:
    """A client never creates the schema (DBOS's does not either); on an empty database
    each call says so and names the fix, instead of "relation dbos.queues does not
    exist", and writes nothing."""
    opts = {"queue_name": "q", "workflow_name": "wf"}
    with DBOSClient(empty_db_url) as client:
        calls: list[Callable[[], Any]] = [
            lambda: client.enqueue(opts, 1),  # type: ignore[arg-type]  # the caller's thread
            lambda: client.list_workflows(),  # the engine loop
            lambda: client.send("some-workflow", "hello"),
            lambda: asyncio.run(client.list_workflows_async()),  # from another event loop
        ]
        for call in calls:
            with pytest.raises(DBOSSchemaMissingError) as exc:
                call()
            text = str(exc.value)
            assert "dbos schema" in text and "dbos-queue migrate" in text, text
            assert "DBOS.launch()" in text and '"dbos.' in text, text
    tables = rows(empty_db_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'dbos'")
    assert tables == [(0,)]


def test_sql_function_refuses_undeclared_queue(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedObject) as exc:
            conn.execute("SELECT dbos.enqueue_workflow('ghost_queue', 'wf', '[1]'::jsonb)")
        assert "ghost_queue" in str(exc.value) and "not declared" in str(exc.value)
        assert exc.value.diag.message_hint and "register_queue" in exc.value.diag.message_hint
    assert workflow_rows(db_url) == 0
    declare(db_url, "ghost_queue")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT dbos.enqueue_workflow('ghost_queue', 'wf', '[1]'::jsonb)")
        # the internal queue (resume, fork) always exists
        conn.execute("SELECT dbos.enqueue_workflow('_dbos_internal_queue', 'wf')")
    assert workflow_rows(db_url) == 2


def test_app_enqueue_by_name_to_undeclared_queue_is_refused(dbos: Any, db_url: str) -> None:
    @DBOS.workflow()
    def by_name(x: int) -> int:
        return x

    with pytest.raises(DBOSQueueNotDeclaredError) as exc:
        DBOS.enqueue_workflow("never_declared", by_name, 1)
    _refused(exc, "never_declared")
    with pytest.raises(DBOSQueueNotDeclaredError):
        asyncio.run(DBOS.enqueue_workflow_async("never_declared", by_name, 1))
    with pytest.raises(DBOSQueueNotDeclaredError):
        DBOS.enqueue_workflow_with_options(
            {"queue_name": "never_declared", "workflow_name": "anything"}, 1
        )
    assert workflow_rows(db_url) == 0
    # declared in this process: accepted; stored by another process only: accepted too
    Queue("declared_here")
    assert DBOS.enqueue_workflow("declared_here", by_name, 2).get_result() == 2
    declare(db_url, "stored_elsewhere")
    handle = DBOS.enqueue_workflow("stored_elsewhere", by_name, 3)
    assert rows(db_url, "SELECT queue_name FROM dbos.workflow_status WHERE workflow_uuid = %s",
                (handle.get_workflow_id(),)) == [("stored_elsewhere",)]  # fmt: skip


# ---- unknown workflow names and mixed fleets ------------------------------------------


@pytest.fixture
def fleet(db_url: str) -> Iterator[Callable[..., Worker]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE fleet_runs (workflow_id text, pid int)")
    started: list[Worker] = []

    def start(*, has_b: bool, wait: float) -> Worker:
        env = {"FLEET_HAS_ONLY_B": "1" if has_b else "0", WAIT_ENV: str(wait)}
        w = Worker(db_url, ["mixed"], env, [], app="tests.apps.fleet_app", url_env="FLEET_APP_URL")
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.communicate(timeout=30)


def _status(url: str, wf_id: str) -> tuple:
    return rows(
        url,
        "SELECT status, error, created_at, updated_at, recovery_attempts,"
        " no_executor_since_epoch_ms FROM dbos.workflow_status WHERE workflow_uuid = %s",
        (wf_id,),
    )[0]


def test_unknown_workflow_name_ends_error_naming_it_after_the_wait(
    db_url: str, fleet: Callable[..., Worker]
) -> None:
    worker = fleet(has_b=False, wait=2.0)
    with DBOSClient(db_url) as client:
        handle = client.enqueue({"queue_name": "mixed", "workflow_name": "no_such_workflow"}, 1)
        wf_id = handle.get_workflow_id()
        # The worker dequeued it, found nobody able to run it, and started the wait.
        first = wait_until(lambda: _status(db_url, wf_id)[5], "the wait to start")
        assert _status(db_url, wf_id)[0] in ("DELAYED", "ENQUEUED", "PENDING")
        wait_until(lambda: _status(db_url, wf_id)[0] == "ERROR", "the workflow to end ERROR", 30)
        _st, error, _created, updated, attempts, _since = _status(db_url, wf_id)
        assert "no_such_workflow" in error
        assert updated - first >= 2000  # not before unknown_workflow_wait_sec
        assert attempts <= 1  # each hand-back undid its claim
        with pytest.raises(DBOSWorkflowFunctionNotFoundError, match="no_such_workflow"):
            handle.get_result()
        # A known workflow on the same queue still runs on that worker.
        known = client.enqueue({"queue_name": "mixed", "workflow_name": "common"}, 7)
        assert known.get_result() == 7
    rc, _out, err = worker.stop()
    assert rc == 0, err[-3000:]


def test_mixed_fleet_leaves_the_workflow_for_the_worker_that_has_it(
    db_url: str, fleet: Callable[..., Worker]
) -> None:
    old = fleet(has_b=False, wait=60.0)
    with DBOSClient(db_url) as client:
        opts = {"queue_name": "mixed", "workflow_name": "only_b"}
        early = [client.enqueue(opts, i).get_workflow_id() for i in range(5)]  # type: ignore[arg-type]
        # Only the old worker is up: it claims them, finds no one who can run them, and
        # puts them back to wait (none ends ERROR within the 60 s wait).
        for wf_id in early:
            wait_until(lambda w=wf_id: _status(db_url, w)[5], f"{wf_id} handed back")
        new = fleet(has_b=True, wait=60.0)
        late = [client.enqueue(opts, i).get_workflow_id() for i in range(5, 25)]  # type: ignore[arg-type]
        results = [client.get_result(w, timeout=60) for w in early + late]
    assert results == [2 * i for i in range(25)]
    ran = rows(db_url, "SELECT workflow_id, pid FROM fleet_runs")
    assert sorted(w for w, _p in ran) == sorted(early + late)  # each exactly once
    assert {p for _w, p in ran} == {new.pid}
    for wf_id in early + late:
        status, _e, _c, _u, attempts, _since = _status(db_url, wf_id)
        assert (status, attempts) == ("SUCCESS", 1)  # hand-backs undid their claims
    for w in (old, new):
        rc, _out, err = w.stop()
        assert rc == 0, err[-3000:]
