"""DBOS 3.4.0 queue API: Queue getters/setters (sync and async) on the stored row,
list/retrieve/delete queues, enqueue by queue name or by options, and the client's
queue methods, with a real worker process where another process matters."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient, EnqueueOptions, Queue, SetWorkflowID
from dbos_queue.engine.context import SetEnqueueOptions
from tests.plugins.checks import must


def _row(db_url: str, name: str) -> tuple | None:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT global_concurrency, worker_concurrency, rate_limit_max, rate_limit_period_sec,"
            " partition_concurrency, partition_worker_concurrency, partition_rate_limit_max,"
            " polling_interval_sec FROM dbos.queues WHERE name = %s",
            (name,),
        ).fetchone()


def test_queue_setters_write_the_row_and_getters_reread_it(dbos: type[DBOS], db_url: str) -> None:
    q = DBOS.register_queue("tunable", global_concurrency=10, worker_concurrency=2)
    assert (q.global_concurrency, q.worker_concurrency, q.polling_interval_sec) == (10, 2, 1.0)
    q.set_global_concurrency(5)
    q.set_limiter({"limit": 7, "period": 2.0})
    q.set_polling_interval_sec(0.5)
    assert _row(db_url, "tunable") == (5, 2, 7, 2.0, None, None, None, 0.5)
    # Another process changes the row: the getters read it again.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE dbos.queues SET worker_concurrency = 3 WHERE name = 'tunable'")
    assert q.worker_concurrency == 3
    assert q.limiter == {"limit": 7, "period": 2.0}
    with pytest.raises(ValueError, match="worker_concurrency"):
        q.set_global_concurrency(2)  # below the stored worker concurrency
    with pytest.raises(ValueError, match="polling_interval_sec"):
        q.set_polling_interval_sec(0)
    q.set_concurrency(None)
    assert q.concurrency is None and q.global_concurrency is None

    async def async_side() -> tuple:
        await q.set_worker_concurrency_async(4)
        await q.set_partition_limiter_async({"limit": 3, "period": 1.0})
        return (
            await q.get_worker_concurrency_async(),
            await q.get_partition_limiter_async(),
            await q.get_global_concurrency_async(),
            await q.get_polling_interval_sec_async(),
        )

    assert asyncio.run(async_side()) == (4, {"limit": 3, "period": 1.0}, None, 0.5)
    assert must(_row(db_url, "tunable"))[6] == 3
    assert q.database_backed_queue is True


def test_list_retrieve_and_delete_queues(dbos: type[DBOS], db_url: str) -> None:
    @DBOS.workflow()
    def job(x: int) -> int:
        return x

    doomed = Queue("doomed")
    Queue("alive", concurrency=4)
    names = [q.name for q in DBOS.list_queues()]
    assert {"doomed", "alive"} <= set(names)
    alive = DBOS.retrieve_queue("alive")
    assert alive is not None and alive.global_concurrency == 4
    assert asyncio.run(DBOS.list_queues_async())  # the async twin lists the same rows
    DBOS.delete_queue("doomed")
    assert _row(db_url, "doomed") is None
    from dbos_queue.api.invoke import _rt

    _rt().engine.run(_rt().queues.refresh("doomed"))  # the claim loop's next settings read
    with SetWorkflowID("stuck"):
        stuck = doomed.enqueue(job, 1)
    with SetWorkflowID("runs"):
        ran = DBOS.enqueue_workflow("alive", job, 2)  # by name
    assert ran.get_result() == 2
    assert stuck.get_status().status == "ENQUEUED"  # a deleted queue is not dequeued
    DBOS.register_queue("doomed")  # stored again: its work runs
    assert stuck.get_result() == 1


def test_enqueue_with_options_runs_in_a_worker_that_has_the_function(
    dbos: type[DBOS], app_db: str, start_worker: Any
) -> None:
    start_worker("free")

    @DBOS.workflow()
    def parent() -> str:
        h = DBOS.enqueue_workflow_with_options(
            {"queue_name": "free", "workflow_name": "timed", "priority": 0}, "free", "opt", 0.0
        )
        return h.get_result()

    with SetWorkflowID("opt-parent"):
        assert parent() == "opt"
    child = DBOS.list_workflows(parent_workflow_id="opt-parent")
    assert [(c.workflow_id, c.name, c.queue_name) for c in child] == [
        ("opt-parent-1", "timed", "free")
    ]
    assert child[0].app_version is None or child[0].app_version != ""
    with SetWorkflowID("opt-parent"):
        assert parent() == "opt"  # replayed: no second child
    assert len(DBOS.list_workflows(name="timed")) == 1


def test_client_queue_methods_bind_queues_to_the_client(app_db: str, start_worker: Any) -> None:
    with DBOSClient(app_db, application_name="ops") as client:
        q = client.register_queue("clientq", global_concurrency=2, polling_interval_sec=0.2)
        assert q.application_name == "ops"
        assert must(_row(app_db, "clientq"))[0] == 2
        q.set_global_concurrency(1)
        assert must(client.retrieve_queue("clientq")).global_concurrency == 1
        assert [x.name for x in client.list_queues(application_name="ops")] == ["clientq"]
        assert client.list_queues(application_name="someone-else") == []
        assert must(asyncio.run(client.retrieve_queue_async("clientq"))).polling_interval_sec == 0.2
        # A worker that declares the queue keeps the limit the client set at runtime.
        start_worker("free")
        h = client.enqueue({"queue_name": "free", "workflow_name": "timed"}, "free", "c", 0.0)
        assert h.get_result(timeout=60) == "c"
        client.delete_queue("clientq")
        assert client.retrieve_queue("clientq") is None


def test_partitioned_queue_by_name_uses_the_stored_settings(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def part_job(x: int) -> int:
        return x

    DBOS.register_queue("parted", partition_concurrency=1)
    with SetEnqueueOptions(queue_partition_key="a"):
        h = DBOS.enqueue_workflow("parted", part_job, 3)
    assert h.get_result() == 3
    assert h.get_status().queue_partition_key == "a"


def test_a_limit_set_at_runtime_binds_the_worker_that_declares_the_queue(
    app_db: str, start_worker: Any
) -> None:
    def peak(rows: list[tuple]) -> int:
        """Most runs in progress at once."""
        events = sorted([(s, 1) for s, _ in rows] + [(e, -1) for _, e in rows])
        level = most = 0
        for _, d in events:
            level += d
            most = max(most, level)
        return most

    with DBOSClient(app_db) as client:
        q = client.register_queue("perworker", worker_concurrency=2)
        q.set_worker_concurrency(1)  # changed at runtime: a code declaration keeps it
        opts: EnqueueOptions = {"queue_name": "perworker", "workflow_name": "timed"}
        handles = [client.enqueue(opts, "perworker", f"w{i}", 0.3) for i in range(4)]
        start_worker("perworker")  # its code says worker_concurrency=2
        for h in handles:
            h.get_result(timeout=60)
        assert must(client.retrieve_queue("perworker")).worker_concurrency == 1
    with psycopg.connect(app_db) as conn:
        rows = conn.execute("SELECT started, ended FROM runs WHERE queue = 'perworker'").fetchall()
    assert len(rows) == 4 and peak(rows) == 1
