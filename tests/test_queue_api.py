"""Queue API in one process: enqueue paths, options, validation, claim invariants."""

from __future__ import annotations

import asyncio
import json
import time
from typing import LiteralString, cast

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbos_queue import DBOS, DBOSClient, Queue, SetEnqueueOptions, SetWorkflowID
from dbos_queue.error import DBOSException
from tests.plugins.checks import must


def test_enqueue_sync_and_async_workflows(dbos):
    q = Queue("basic")

    @DBOS.workflow()
    def double(x):
        return x * 2

    @DBOS.workflow()
    async def adouble(x):
        return x * 2

    handles = [q.enqueue(double, i) for i in range(10)]
    assert [h.get_result() for h in handles] == [i * 2 for i in range(10)]

    async def main():
        h = await q.enqueue_async(adouble, 21)
        return await h.get_result()

    assert asyncio.run(main()) == 42
    assert q.enqueue(adouble, 4).get_result() == 8
    st_ = must(DBOS.get_workflow_status(handles[0].workflow_id))
    assert st_.queue_name == "basic" and st_.status == "SUCCESS"


def test_enqueue_from_inside_a_workflow(dbos):
    q = Queue("inner")

    @DBOS.workflow()
    def child(x):
        return x + 1

    @DBOS.workflow()
    def parent():
        hs = [q.enqueue(child, i) for i in range(3)]
        return [h.get_result() for h in hs]

    with SetWorkflowID("p"):
        assert parent() == [1, 2, 3]
    assert must(DBOS.get_workflow_status("p-1")).queue_name == "inner"


def test_delayed_workflow_is_delayed_until_due(dbos):
    q = Queue("later")

    @DBOS.workflow()
    def wf():
        return time.time()

    t0 = time.time()
    with SetEnqueueOptions(delay_seconds=0.6):
        h = q.enqueue(wf)
    assert h.get_status().status == "DELAYED"
    assert h.get_result() - t0 >= 0.6


def test_deduplication_id(dbos):
    q = Queue("dedup")

    @DBOS.workflow()
    def wf(x):
        return x

    with SetEnqueueOptions(deduplication_id="d"):
        h = q.enqueue(wf, 1)
        h.get_result()
    with SetEnqueueOptions(deduplication_id="d"):
        assert q.enqueue(wf, 2).get_result() == 2  # the first finished: id is free again


def test_invalid_queue_settings_fail_at_declaration():
    with pytest.raises(DBOSException, match="positive"):
        Queue("bad1", concurrency=-1)
    with pytest.raises(DBOSException, match="cannot exceed"):
        Queue("bad2", concurrency=2, worker_concurrency=5)
    with pytest.raises(DBOSException, match="period"):
        Queue("bad3", limiter={"limit": 5, "period": 0})
    with pytest.raises(ValueError, match="priority"):
        SetEnqueueOptions(priority=-1)
    with pytest.raises(ValueError, match="priority"):
        SetEnqueueOptions(priority=2**31)


def test_partition_key_rules_checked_at_enqueue(dbos):
    part = DBOS.register_queue("parts", partition_concurrency=1)
    plain = Queue("plainq")

    @DBOS.workflow()
    def wf():
        return 1

    with pytest.raises(DBOSException, match="partitioned"):
        part.enqueue(wf)
    with pytest.raises(DBOSException, match="not partitioned"):
        with SetEnqueueOptions(queue_partition_key="k"):
            plain.enqueue(wf)
    with SetEnqueueOptions(queue_partition_key="k"):
        assert part.enqueue(wf).get_result() == 1
    with DBOSClient(_rt_url()) as client:
        with pytest.raises(DBOSException, match="partitioned"):
            client.enqueue({"queue_name": "parts", "workflow_name": wf.__qualname__})


def _rt_url():
    from dbos_queue.api.dbos import _rt

    return _rt().url


def test_client_batch_transaction_and_sql_function(dbos, db_url):
    Queue("prod")  # declared: the client enqueues to it below

    @DBOS.workflow()
    def add(a, b=0):
        return a + b

    with DBOSClient(db_url) as client:
        ids = client.enqueue_many(
            {"queue_name": "prod", "workflow_name": add.__qualname__}, [(i, 1) for i in range(50)]
        )
        assert [client.get_result(i, timeout=30) for i in ids] == [i + 1 for i in range(50)]

        with psycopg.connect(db_url) as conn:
            with conn.transaction():
                wid = client.enqueue_in_transaction(
                    conn, {"queue_name": "prod", "workflow_name": add.__qualname__}, 5, b=6
                )
            assert client.get_result(wid, timeout=30) == 11
            try:
                with conn.transaction():
                    gone = client.enqueue_in_transaction(
                        conn, {"queue_name": "prod", "workflow_name": add.__qualname__}, 1
                    )
                    raise RuntimeError("roll back")
            except RuntimeError:
                pass
            assert client.get_workflow(gone) is None
            sql_id = must(
                conn.execute(
                    "SELECT dbos.enqueue_workflow('prod', %s, '[40, 2]'::jsonb)",
                    (add.__qualname__,),
                ).fetchone()
            )[0]
            conn.commit()
        assert client.get_result(sql_id, timeout=30) == 42


def test_claim_uses_the_partial_index(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, created_at)"
            " SELECT 'done-' || g, 'SUCCESS', 'f', 'q', g FROM generate_series(1, 20000) g"
        )
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, created_at)"
            " SELECT 'todo-' || g, 'ENQUEUED', 'f', 'q', g FROM generate_series(1, 50) g"
        )
        conn.execute("ANALYZE dbos.workflow_status")
        from dbos_queue.db import sql as _sql

        plan = must(
            conn.execute(
                # CLAIM is built from sql.py constants (typed str), not from input.
                cast(LiteralString, "EXPLAIN (FORMAT JSON) " + _sql.CLAIM),
                {
                    "queue": "q",
                    "limit": 10,
                    "owner": "x:1",
                    "executor_id": "e",
                    "app_version": "v",
                    "app_name": None,
                    "is_latest": True,
                    "now": 0,
                },
            ).fetchone()
        )[0]
    text = json.dumps(plan)
    assert "workflow_status_enqueued_index" in text, text


@pytest.fixture
def claimer(dbos):
    """A launched DBOS that listens to no queue, so only the test claims."""
    return dbos


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 60),
    claimers=st.integers(1, 6),
    limit=st.one_of(st.none(), st.integers(1, 20)),
    batch=st.integers(1, 16),
)
def test_concurrent_claims_are_disjoint_complete_and_within_limits(
    claimer, n, claimers, limit, batch
):
    from dbos_queue.api.dbos import _rt

    rt = _rt()
    name = f"h{time.monotonic_ns()}"
    rt.engine.run(rt.queues.stop_claiming())  # only this test claims
    Queue(name, concurrency=limit)
    with DBOSClient(rt.url) as client:
        client.enqueue_many({"queue_name": name, "workflow_name": "nothing"}, [()] * n)

    async def claim_all():
        claimed = []
        while True:
            rounds = await asyncio.gather(*[rt.queues.claim(name, batch) for _ in range(claimers)])
            got = [r[0] for rows in rounds for r in rows]
            if not got:
                return claimed
            claimed.extend(got)

    claimed = rt.engine.run(claim_all())
    assert len(claimed) == len(set(claimed)), "a workflow was claimed twice"
    assert len(claimed) == (n if limit is None else min(n, limit))
