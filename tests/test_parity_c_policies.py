"""DBOS 3.4's WorkflowIDReusePolicy and DuplicationPolicy: SetWorkflowID(...,
workflow_id_reuse_policy=), SetEnqueueOptions(duplication_policy=), and the
EnqueueOptions keys of DBOSClient.enqueue and DBOS.enqueue_workflow_with_options."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest

from dbos_queue import (
    DBOS,
    DBOSClient,
    DuplicationPolicy,
    EnqueueOptions,
    Queue,
    SetEnqueueOptions,
    SetWorkflowID,
    WorkflowIDReusePolicy,
)
from dbos_queue.api.invoke import require_runtime
from dbos_queue.error import (
    DBOSException,
    DBOSQueueDeduplicatedError,
    DBOSWorkflowIDInUseError,
)


def test_the_policy_types_have_dbos_values() -> None:
    assert DuplicationPolicy.__args__ == ("reject", "return-existing")  # type: ignore[attr-defined]
    assert WorkflowIDReusePolicy.__args__ == ("return-existing", "reject")  # type: ignore[attr-defined]
    with pytest.raises(DBOSException, match="workflow_id_reuse_policy"):
        SetWorkflowID("x", workflow_id_reuse_policy="never")  # type: ignore[arg-type]


def test_reuse_policy_on_started_and_enqueued_workflows(dbos: Any) -> None:
    runs: list[str] = []

    @DBOS.workflow()
    def work(x: str) -> str:
        runs.append(x)
        return x.upper()

    with SetWorkflowID("reuse-1"):
        assert work("a") == "A"
    with SetWorkflowID("reuse-1"):  # the default, "return-existing": the recorded result
        assert work("b") == "A"
    with SetWorkflowID("reuse-1", workflow_id_reuse_policy="return-existing"):
        assert DBOS.start_workflow(work, "c").get_result() == "A"
    with SetWorkflowID("reuse-1", workflow_id_reuse_policy="reject"):
        with pytest.raises(DBOSWorkflowIDInUseError) as err:
            work("d")
    assert err.value.workflow_id == "reuse-1"
    assert err.value.workflow_status == "SUCCESS"
    assert err.value.workflow_name == work.__qualname__
    with SetWorkflowID("reuse-1", workflow_id_reuse_policy="reject"):
        with pytest.raises(DBOSWorkflowIDInUseError):
            DBOS.start_workflow(work, "e")
    with SetWorkflowID("reuse-2", workflow_id_reuse_policy="reject"):  # a new id: it runs
        assert DBOS.start_workflow(work, "f").get_result() == "F"
    assert runs == ["a", "f"]

    q = Queue("reuse-q")
    with SetWorkflowID("reuse-3", workflow_id_reuse_policy="reject"):
        assert q.enqueue(work, "g").get_result(timeout=30) == "G"
    with SetWorkflowID("reuse-3"):
        assert q.enqueue(work, "h").get_result(timeout=30) == "G"
    with SetWorkflowID("reuse-3", workflow_id_reuse_policy="reject"):
        with pytest.raises(DBOSWorkflowIDInUseError):
            q.enqueue(work, "i")

    async def go() -> None:
        with SetWorkflowID("reuse-3", workflow_id_reuse_policy="reject"):
            with pytest.raises(DBOSWorkflowIDInUseError):
                await q.enqueue_async(work, "j")

    asyncio.run(go())
    assert runs == ["a", "f", "g"]


def test_a_retried_insert_of_ones_own_is_not_a_reuse(dbos: Any) -> None:
    """The creator token (0013): the same INIT sent again (its reply lost) finds its own row."""

    @DBOS.workflow()
    def noop() -> None:
        return None

    rt = require_runtime()
    wf_id = str(uuid.uuid4())
    params: dict[str, Any] = {
        "id": wf_id, "status": "ENQUEUED", "name": noop.__qualname__, "class_name": None,
        "config_name": None, "user": None, "assumed_role": None, "roles": None,
        "executor_id": None, "app_version": None, "app_id": None, "queue": "nobody",
        "timeout_ms": None, "deadline_ms": None, "inputs": '{"args": [], "kwargs": {}}',
        "started_ms": None, "dedup_id": None, "priority": 0, "partition_key": None,
        "owner": None, "attempts": 0, "now": 0, "delay_until": None,
        "reuse_policy": "reject",
    }  # fmt: skip
    assert rt.engine.run(rt.sysdb.init_workflow(params)).inserted
    assert rt.engine.run(rt.sysdb.init_workflow(params)).inserted  # same token: ours
    other = {**params, "creator": None}
    with pytest.raises(DBOSWorkflowIDInUseError):
        rt.engine.run(rt.sysdb.init_workflow(other))


def test_duplication_policy_on_queue_enqueue(dbos: Any) -> None:
    @DBOS.workflow()
    def waits(tag: str) -> str:
        return f"{tag}:{DBOS.recv('go', timeout_seconds=60)}"

    q = Queue("dedup-q")
    with SetEnqueueOptions(deduplication_id="d1"):
        holder = q.enqueue(waits, "first")
    with SetEnqueueOptions(deduplication_id="d1"):  # the default, "reject"
        with pytest.raises(DBOSQueueDeduplicatedError):
            q.enqueue(waits, "second")
    with SetEnqueueOptions(deduplication_id="d1", duplication_policy="reject"):
        with pytest.raises(DBOSQueueDeduplicatedError):
            q.enqueue(waits, "third")
    with SetEnqueueOptions(deduplication_id="d1", duplication_policy="return-existing"):
        attached = q.enqueue(waits, "fourth")
    assert attached.workflow_id == holder.workflow_id

    async def go() -> str:
        with SetEnqueueOptions(deduplication_id="d1", duplication_policy="return-existing"):
            h = await q.enqueue_async(waits, "fifth")
        return h.workflow_id

    assert asyncio.run(go()) == holder.workflow_id
    DBOS.send(holder.workflow_id, "ok", "go")
    assert attached.get_result(timeout=30) == "first:ok"  # the holder's result
    # Released once the holder finished: the next one is enqueued afresh.
    with SetEnqueueOptions(deduplication_id="d1", duplication_policy="return-existing"):
        fresh = q.enqueue(waits, "sixth")
    assert fresh.workflow_id != holder.workflow_id
    DBOS.send(fresh.workflow_id, "again", "go")
    assert fresh.get_result(timeout=30) == "sixth:again"


def test_duplication_policy_is_checked(dbos: Any) -> None:
    @DBOS.workflow()
    def plain() -> int:
        return 1

    q = Queue("dedup-check")
    with SetEnqueueOptions(duplication_policy="return-existing"):
        with pytest.raises(DBOSException, match="requires a deduplication_id"):
            q.enqueue(plain)
        with pytest.raises(DBOSException, match="requires a queue"):
            plain()
    with SetEnqueueOptions(deduplication_id="x", duplication_policy="maybe"):  # type: ignore[arg-type]
        with pytest.raises(DBOSException, match="Invalid duplication_policy"):
            q.enqueue(plain)


def test_children_record_what_the_policy_did(dbos: Any, db_url: str) -> None:
    """A child start under a policy is the parent's step: the error, or the workflow
    attached to; a replay of the parent (here a fork) gives the same answer."""

    @DBOS.workflow()
    def child(x: str) -> str:
        return x

    @DBOS.workflow()
    def held(tag: str) -> str:
        return f"{tag}:{DBOS.recv('go', timeout_seconds=60)}"

    q = Queue("child-q")

    @DBOS.workflow()
    def parent() -> list[str]:
        out: list[str] = []
        with SetWorkflowID("taken", workflow_id_reuse_policy="reject"):
            try:
                child("again")
                out.append("ran")
            except DBOSWorkflowIDInUseError as e:
                out.append(f"rejected {e.workflow_status}")
        with SetEnqueueOptions(deduplication_id="dd", duplication_policy="return-existing"):
            out.append(q.enqueue(held, "mine").workflow_id)
        return out

    with SetWorkflowID("taken"):
        child("first")
    with SetEnqueueOptions(deduplication_id="dd"):
        holder = q.enqueue(held, "holder")
    with SetWorkflowID("parent-1"):
        assert parent() == ["rejected SUCCESS", holder.workflow_id]
    steps = DBOS.list_workflow_steps("parent-1")
    assert isinstance(steps[0]["error"], DBOSWorkflowIDInUseError)
    assert steps[0]["child_workflow_id"] is None
    assert steps[1]["child_workflow_id"] == holder.workflow_id
    DBOS.send(holder.workflow_id, "ok", "go")
    assert holder.get_result(timeout=30) == "holder:ok"
    # A replay of both steps: the recorded error again, the recorded holder again (the
    # deduplication id is free by now, so a fresh enqueue would have made a new one).
    fork = DBOS.fork_workflow("parent-1", 3)
    assert fork.get_result() == ["rejected SUCCESS", holder.workflow_id]
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM dbos.workflow_status WHERE name = %s",
            (held.__qualname__,),
        ).fetchone()
    assert row is not None and row[0] == 1


def test_client_enqueue_options_policies(dbos: Any, db_url: str) -> None:
    @DBOS.workflow()
    def waits(tag: str) -> str:
        return f"{tag}:{DBOS.recv('go', timeout_seconds=60)}"

    q = Queue("client-q")
    base: EnqueueOptions = {"queue_name": q.name, "workflow_name": waits.__qualname__}
    with DBOSClient(db_url) as client:
        h = client.enqueue({**base, "workflow_id": "c1", "workflow_id_reuse_policy": "reject"}, "a")
        again = client.enqueue({**base, "workflow_id": "c1"}, "b")  # return-existing
        assert again.workflow_id == "c1"
        with pytest.raises(DBOSWorkflowIDInUseError):
            client.enqueue({**base, "workflow_id": "c1", "workflow_id_reuse_policy": "reject"})
        with pytest.raises(DBOSWorkflowIDInUseError):
            asyncio.run(
                client.enqueue_async(
                    {**base, "workflow_id": "c1", "workflow_id_reuse_policy": "reject"}
                )
            )
        with pytest.raises(DBOSException, match="workflow_id_reuse_policy"):
            client.enqueue({**base, "workflow_id_reuse_policy": "nope"})  # type: ignore[typeddict-item]

        dedup: EnqueueOptions = {**base, "deduplication_id": "cd"}
        holder = client.enqueue(dedup, "holder")
        with pytest.raises(DBOSQueueDeduplicatedError):
            client.enqueue(dedup, "x")
        attached = client.enqueue({**dedup, "duplication_policy": "return-existing"}, "y")
        assert attached.workflow_id == holder.workflow_id

        async def go() -> str:
            a = await client.enqueue_async({**dedup, "duplication_policy": "return-existing"})
            return a.workflow_id

        assert asyncio.run(go()) == holder.workflow_id
        with pytest.raises(DBOSException, match="requires a deduplication_id"):
            client.enqueue({**base, "duplication_policy": "return-existing"})
        with psycopg.connect(db_url) as conn:
            with pytest.raises(DBOSException, match="not supported by enqueue_in_transaction"):
                client.enqueue_in_transaction(
                    conn, {**dedup, "duplication_policy": "return-existing"}
                )
            with pytest.raises(DBOSQueueDeduplicatedError):
                client.enqueue_in_transaction(conn, dedup, "z")
            conn.rollback()
            with pytest.raises(DBOSWorkflowIDInUseError):
                client.enqueue_in_transaction(
                    conn, {**base, "workflow_id": "c1", "workflow_id_reuse_policy": "reject"}
                )
            conn.rollback()
        client.send("c1", "ok", "go")
        client.send(holder.workflow_id, "ok", "go")
        assert h.get_result(timeout=30) == "a:ok"
        assert attached.get_result(timeout=30) == "holder:ok"


def test_enqueue_workflow_with_options_policies(dbos: Any) -> None:
    @DBOS.workflow()
    def waits(tag: str) -> str:
        return f"{tag}:{DBOS.recv('go', timeout_seconds=60)}"

    q = Queue("named-q")
    base: dict[str, Any] = {"queue_name": q.name, "workflow_name": waits.__qualname__}
    first = DBOS.enqueue_workflow_with_options({**base, "workflow_id": "n1"}, "a")
    with pytest.raises(DBOSWorkflowIDInUseError):
        DBOS.enqueue_workflow_with_options(
            {**base, "workflow_id": "n1", "workflow_id_reuse_policy": "reject"}, "b"
        )
    with SetWorkflowID("n1", workflow_id_reuse_policy="reject"):  # the ambient id's policy
        with pytest.raises(DBOSWorkflowIDInUseError):
            DBOS.enqueue_workflow_with_options(base, "c")
    with SetEnqueueOptions(deduplication_id="nd"):
        holder = DBOS.enqueue_workflow_with_options(base, "holder")
    attached = DBOS.enqueue_workflow_with_options(
        {**base, "deduplication_id": "nd", "duplication_policy": "return-existing"}, "d"
    )
    assert attached.workflow_id == holder.workflow_id
    with SetEnqueueOptions(deduplication_id="nd", duplication_policy="return-existing"):
        assert DBOS.enqueue_workflow_with_options(base, "e").workflow_id == holder.workflow_id
    DBOS.send("n1", "ok", "go")
    DBOS.send(holder.workflow_id, "ok", "go")
    assert first.get_result(timeout=30) == "a:ok"
    assert attached.get_result(timeout=30) == "holder:ok"
