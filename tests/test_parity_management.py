"""DBOS 3.4.0 management calls: delete, resume_workflows, rewind, fork options,
set_workflow_delay, attributes, the named list filters and the new status fields."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOS, Queue, SetWorkflowAttributes, SetWorkflowID, WorkflowHandle
from dbos_queue.engine.context import SetEnqueueOptions
from dbos_queue.error import DBOSException, DBOSNonExistentWorkflowError
from tests.plugins.checks import must
from tests.plugins.waiting import wait_until


def _until(check: Any, timeout: float = 30.0) -> Any:
    """Poll ``check`` (a database read) until it returns something truthy."""
    return wait_until(check, timeout, "the condition", every=0.05)


def _status(wf_id: str) -> str | None:
    s = DBOS.get_workflow_status(wf_id)
    return s.status if s is not None else None


def test_delete_workflow_with_and_without_children(dbos: type[DBOS], db_url: str) -> None:
    @DBOS.workflow()
    def leaf(x: int) -> int:
        return x

    @DBOS.workflow()
    def parent(n: int) -> int:
        return sum(leaf(i) for i in range(n))

    with SetWorkflowID("p1"):
        assert parent(3) == 3
    with SetWorkflowID("p2"):
        assert parent(2) == 1
    kids = {s.workflow_id for s in DBOS.list_workflows(parent_workflow_id="p1")}
    assert kids == {"p1-1", "p1-2", "p1-3"}
    assert {s.parent_workflow_id for s in DBOS.list_workflows(workflow_ids=list(kids))} == {"p1"}

    DBOS.delete_workflow("p2")  # children stay
    assert DBOS.get_workflow_status("p2") is None
    assert _status("p2-1") == "SUCCESS"

    DBOS.delete_workflows(["p1"], delete_children=True)
    with psycopg.connect(db_url) as conn:
        left = must(
            conn.execute(
                "SELECT count(*) FROM dbos.workflow_status WHERE workflow_uuid LIKE 'p1%%'"
            ).fetchone()
        )[0]
        steps = must(
            conn.execute(
                "SELECT count(*) FROM dbos.operation_outputs WHERE workflow_uuid LIKE 'p1%%'"
            ).fetchone()
        )[0]
    assert (left, steps) == (0, 0)


def test_resume_workflows_is_all_or_nothing(dbos: type[DBOS]) -> None:
    gate = threading.Event()

    @DBOS.workflow()
    def waits(tag: str) -> str:
        DBOS.sleep(0.01)
        gate.wait(30)
        return tag

    q = Queue("resumable")
    with SetWorkflowID("r1"):
        h1 = q.enqueue(waits, "a")
    DBOS.cancel_workflows(["r1"])
    assert _status("r1") == "CANCELLED"
    with pytest.raises(DBOSNonExistentWorkflowError, match="nope"):
        DBOS.resume_workflows(["r1", "nope"])
    assert _status("r1") == "CANCELLED"  # nothing was resumed
    gate.set()
    handles = DBOS.resume_workflows(["r1"])
    assert [h.workflow_id for h in handles] == ["r1"]
    assert handles[0].get_result() == "a"
    assert h1.get_status().status == "SUCCESS"


def test_rewind_reruns_from_a_step_in_place(dbos: type[DBOS]) -> None:
    runs: list[int] = []

    @DBOS.step()
    def mark(i: int) -> int:
        runs.append(i)
        return i

    @DBOS.workflow()
    def three() -> list[int]:
        DBOS.set_event("stage", "start")
        out = [mark(1)]
        DBOS.set_event("stage", "middle")
        out += [mark(2), mark(3)]
        DBOS.set_event("stage", "end")
        return out

    with SetWorkflowID("rw"):
        assert three() == [1, 2, 3]
    assert DBOS.get_event("rw", "stage") == "end"
    assert runs == [1, 2, 3]
    steps = [s["function_name"] for s in DBOS.list_workflow_steps("rw")]
    mark_middle = steps.index("DBOS.setEvent", 1) + 1  # step id of the second set_event
    h = DBOS.rewind_workflow("rw", start_step=mark_middle, queue_name="rewound")
    Queue("rewound")
    assert h.workflow_id == "rw"
    assert h.get_result() == [1, 2, 3]
    assert runs == [1, 2, 3, 2, 3]  # only the steps from the cut ran again
    status = h.get_status()
    assert (status.status, status.queue_name, status.forked_from) == ("SUCCESS", "rewound", None)
    assert DBOS.get_event("rw", "stage") == "end"
    with pytest.raises(DBOSNonExistentWorkflowError):
        DBOS.rewind_workflow("missing")


def test_rewind_refuses_an_active_workflow(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def held() -> None:
        DBOS.recv("go", timeout_seconds=30)

    h = DBOS.start_workflow(held)
    _until(lambda: _status(h.workflow_id) == "PENDING")
    with pytest.raises(DBOSException, match="terminal state"):
        DBOS.rewind_workflow(h.workflow_id)
    DBOS.send(h.workflow_id, "x", "go")
    h.get_result()


def test_fork_with_queue_partition_timeout_and_replacement(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def child(x: int) -> int:
        return x * 10

    @DBOS.workflow()
    def main_wf() -> list[int]:
        h = DBOS.start_workflow(child, 1)
        got = h.get_result()
        return [got, child(2)]

    with SetWorkflowID("orig"):
        assert main_wf() == [10, 20]
    with SetWorkflowID("other-child"):
        assert child(7) == 70
    part = DBOS.register_queue("forks", partition_concurrency=1)
    with SetWorkflowID("forked"):
        h = DBOS.fork_workflow(
            "orig",
            2,  # step 1 (start child 1) comes from the original; 2 (its getResult) re-runs
            queue_name="forks",
            queue_partition_key="k",
            timeout_seconds=30,
            replacement_children={"orig-1": "other-child"},
        )
    # The fork's first child is the replacement, and the handle's get_result (a recorded
    # "DBOS.getResult" step, as in DBOS) is past the cut, so its result is read afresh.
    assert h.get_result() == [70, 20]
    s = h.get_status()
    assert (s.forked_from, s.queue_name, s.queue_partition_key) == ("orig", "forks", "k")
    assert s.workflow_timeout_ms == 30_000
    assert part.name == "forks"
    steps = DBOS.list_workflow_steps("forked")
    assert steps[0]["child_workflow_id"] == "other-child"
    original = DBOS.get_workflow_status("orig")
    assert original is not None and original.was_forked_from is True
    assert [w.workflow_id for w in DBOS.list_workflows(was_forked_from=True)] == ["orig"]
    assert [w.workflow_id for w in DBOS.list_workflows(is_fork=True)] == ["forked"]
    with pytest.raises(DBOSException, match="Timeouts must be positive"):
        DBOS.fork_workflow("orig", 1, timeout_seconds=0)


def test_set_workflow_delay_moves_a_delayed_workflow(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def later() -> str:
        return "ran"

    q = Queue("delays")
    with SetWorkflowID("d1"), SetEnqueueOptions(delay_seconds=3600):
        h = q.enqueue(later)
    assert h.get_status().status == "DELAYED"
    target = int(time.time() * 1000) + 7_200_000
    DBOS.set_workflow_delay("d1", delay_until_epoch_ms=target)
    assert h.get_status().delay_until_epoch_ms == target
    with pytest.raises(DBOSException, match="not both"):
        DBOS.set_workflow_delay("d1", delay_seconds=1, delay_until_epoch_ms=1)
    with pytest.raises(DBOSException, match=">= 0"):
        DBOS.set_workflow_delay("d1", delay_seconds=-1)
    DBOS.set_workflow_delay("d1", delay_seconds=0)
    assert h.get_result() == "ran"
    # Only DELAYED workflows move: a finished one keeps its value.
    DBOS.set_workflow_delay("d1", delay_until_epoch_ms=5)
    assert h.get_status().delay_until_epoch_ms != 5


def test_attributes_set_update_merge_and_filter(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def tagged(x: int) -> int:
        return x

    @DBOS.workflow()
    def outer() -> int:
        return tagged(1)  # a child does not inherit the caller's attributes

    with SetWorkflowAttributes({"customer": "acme", "tier": 1}):
        with SetWorkflowID("a1"):
            tagged(1)
        with SetWorkflowID("a2"):
            outer()
    assert must(DBOS.get_workflow_status("a1")).attributes == {"customer": "acme", "tier": 1}
    assert must(DBOS.get_workflow_status("a2-1")).attributes is None
    assert {w.workflow_id for w in DBOS.list_workflows(attributes={"customer": "acme"})} == {
        "a1",
        "a2",
    }
    DBOS.update_workflow_attributes("a1", {"tier": 2, "region": None}, merge=True)
    assert must(DBOS.get_workflow_status("a1")).attributes == {
        "customer": "acme",
        "tier": 2,
        "region": None,
    }
    DBOS.update_workflow_attributes("a2", {"only": True})
    assert must(DBOS.get_workflow_status("a2")).attributes == {"only": True}
    DBOS.update_workflow_attributes("a2", None)
    assert must(DBOS.get_workflow_status("a2")).attributes is None
    with pytest.raises(DBOSException, match="merge None"):
        DBOS.update_workflow_attributes("a2", None, merge=True)
    with pytest.raises(DBOSException, match="must be a dict"):
        SetWorkflowAttributes(["x"])  # type: ignore[arg-type]


def test_named_filters_and_misspelt_keywords(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def f(x: int) -> int:
        return x

    for wf_id in ("job-a-1", "job-b-1", "task-1"):
        with SetWorkflowID(wf_id):
            f(1)
    ids = lambda **kw: sorted(w.workflow_id for w in DBOS.list_workflows(**kw))  # noqa: E731
    assert ids(workflow_id_prefix="job-") == ["job-a-1", "job-b-1"]
    assert ids(workflow_id_prefix=["job-a", "task"]) == ["job-a-1", "task-1"]
    assert ids(executor_id=DBOS.executor_id, has_parent=False) == ["job-a-1", "job-b-1", "task-1"]
    assert ids(app_version="no-such-version") == []
    assert ids(app_version=DBOS.application_version) == ["job-a-1", "job-b-1", "task-1"]
    done = must(DBOS.get_workflow_status("task-1"))
    assert done.completed_at is not None and done.completed_at >= must(done.created_at)
    assert done.application_name == "test-app"
    assert done.was_forked_from is False and done.shard_key is None
    from datetime import UTC, datetime

    future = datetime.fromtimestamp(time.time() + 3600, UTC).isoformat()
    assert ids(completed_after=future) == []
    assert len(ids(completed_before=future)) == 3
    rows = DBOS.list_workflows(workflow_ids=["task-1"], load_output=False, load_input=False)
    assert rows[0].output is None and rows[0].input is None
    with pytest.raises(TypeError, match="workflow_id_prefx"):
        DBOS.list_workflows(workflow_id_prefx="job")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        DBOS.list_queued_workflows(was_forked_from=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        DBOS.cancel_workflow("task-1", cancel_childs=True)  # type: ignore[call-arg]


def test_management_from_a_workflow_is_one_recorded_step(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def victim() -> int:
        return 1

    @DBOS.workflow()
    def janitor(target: str) -> str:
        DBOS.delete_workflow(target)
        DBOS.update_workflow_attributes(must(DBOS.workflow_id), {"cleaned": target})
        return target

    with SetWorkflowID("v"):
        victim()
    with SetWorkflowID("j"):
        assert janitor("v") == "v"
    names = [s["function_name"] for s in DBOS.list_workflow_steps("j")]
    assert names == ["DBOS.deleteWorkflow", "DBOS.updateWorkflowAttributes"]
    assert DBOS.get_workflow_status("v") is None
    assert must(DBOS.get_workflow_status("j")).attributes == {"cleaned": "v"}


def test_retrieve_and_status_take_dbos_keywords(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def g() -> int:
        return 5

    with SetWorkflowID("g1"):
        g()
    h: WorkflowHandle = DBOS.retrieve_workflow("g1", shard_key=None)
    assert h.get_result() == 5
    assert DBOS.get_result("g1", shard_key=None) == 5
    with pytest.raises(DBOSNonExistentWorkflowError, match="Non-existent target workflow ID: zz"):
        DBOS.retrieve_workflow("zz")
