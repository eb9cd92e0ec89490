"""Workflow management: list, cancel, resume, fork, timeouts, garbage collection."""

from __future__ import annotations

import threading
import time

import pytest

from dbos_queue import DBOS, Queue, SetWorkflowID, SetWorkflowTimeout
from dbos_queue.error import DBOSAwaitedWorkflowCancelledError
from tests.plugins.waiting import wait_until


def test_list_workflows_filters(dbos):
    q = Queue("lq")

    @DBOS.workflow()
    def a(x):
        return x

    @DBOS.workflow()
    def b(x):
        raise ValueError(x)

    for i in range(3):
        with SetWorkflowID(f"a{i}"):
            a(i)
    with SetWorkflowID("b0"), pytest.raises(ValueError):
        b(0)
    q.enqueue(a, 9).get_result()
    assert [w.workflow_id for w in DBOS.list_workflows(name=a.__qualname__)][:3] == [
        "a0",
        "a1",
        "a2",
    ]
    assert [w.workflow_id for w in DBOS.list_workflows(status="ERROR")] == ["b0"]
    assert len(DBOS.list_workflows(status=["SUCCESS", "ERROR"])) == 5
    assert [w.workflow_id for w in DBOS.list_workflows(workflow_ids=["a1", "b0"])] == ["a1", "b0"]
    # (random uuids may start with "a" too: the prefix names ours exactly)
    assert [
        w.workflow_id
        for w in DBOS.list_workflows(workflow_ids=["a0", "a1", "a2"], sort_desc=True, limit=2)
    ] == ["a2", "a1"]
    assert [
        w.workflow_id
        for w in DBOS.list_workflows(workflow_ids=["a0", "a1", "a2"], limit=2, offset=1)
    ] == ["a1", "a2"]
    assert [w.workflow_id for w in DBOS.list_workflows(workflow_id_prefix="a1")] == ["a1"]
    assert [w.output for w in DBOS.list_workflows(queue_name="lq")] == [9]
    wf = DBOS.list_workflows(workflow_ids=["a1"], load_input=False, load_output=False)[0]
    assert wf.input is None and wf.output is None
    assert (
        DBOS.list_workflows(start_time="2000-01-01T00:00:00Z", end_time="2001-01-01T00:00:00") == []
    )


def test_cancel_queued_workflow_never_runs(dbos):
    q = Queue("cq", concurrency=1)
    gate = threading.Event()
    ran = []

    @DBOS.workflow()
    def blocker():
        gate.wait(10)

    @DBOS.workflow()
    def victim():
        ran.append(1)

    h1 = q.enqueue(blocker)
    h2 = q.enqueue(victim)
    DBOS.cancel_workflow(h2.workflow_id)
    gate.set()
    h1.get_result()
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        h2.get_result()
    assert ran == [] and h2.get_status().status == "CANCELLED"
    assert [w.workflow_id for w in DBOS.list_queued_workflows(queue_name="cq")] == []


def test_cancel_running_workflow_stops_at_next_step_and_resume_continues(dbos):
    in_step = threading.Event()
    release = threading.Event()
    executed = []

    @DBOS.step()
    def step(n):
        executed.append(n)
        if n == 1:
            in_step.set()
            release.wait(10)
        return n

    @DBOS.workflow()
    def wf():
        return [step(1), step(2), step(3)]

    h = DBOS.start_workflow(wf)
    in_step.wait(10)
    DBOS.cancel_workflow(h.workflow_id)
    release.set()
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        h.get_result()
    assert executed == [1]  # step 2 never started
    resumed = DBOS.resume_workflow(h.workflow_id)
    assert resumed.get_result() == [1, 2, 3]
    assert executed == [1, 1, 2, 3]  # step 1's result was refused at cancel: it re-ran once
    DBOS.resume_workflow(h.workflow_id)  # resuming a finished workflow does nothing
    assert h.get_status().status == "SUCCESS" and executed == [1, 1, 2, 3]


def test_cancel_wakes_a_sleeping_workflow(dbos):
    @DBOS.workflow()
    def sleeper():
        DBOS.sleep(30)
        return "woke"

    h = DBOS.start_workflow(sleeper)
    wait_until(lambda: DBOS.list_workflow_steps(h.workflow_id), 30, "the sleep to be recorded")
    t0 = time.monotonic()
    DBOS.cancel_workflow(h.workflow_id)
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        h.get_result(timeout=10)
    assert time.monotonic() - t0 < 10


def test_fork_reruns_from_a_step(dbos):
    executed = []

    @DBOS.step()
    def step(n):
        executed.append(n)
        return n * 10

    @DBOS.workflow()
    def wf():
        return [step(1), step(2), step(3)]

    with SetWorkflowID("orig"):
        assert wf() == [10, 20, 30]
    with SetWorkflowID("forked"):
        h = DBOS.fork_workflow("orig", 2)
    assert h.workflow_id == "forked"
    assert h.get_result() == [10, 20, 30]
    assert executed == [1, 2, 3, 2, 3]
    assert h.get_status().forked_from == "orig"


def test_timeout_cancels_and_awaiters_see_it(dbos):
    @DBOS.step()
    def slow():
        time.sleep(0.5)

    @DBOS.workflow()
    def wf():
        for _ in range(20):
            slow()

    with SetWorkflowTimeout(0.3):
        h = DBOS.start_workflow(wf)
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        h.get_result(timeout=15)
    st = h.get_status()
    assert st.status == "CANCELLED" and st.workflow_timeout_ms == 300
    assert len(DBOS.list_workflow_steps(h.workflow_id)) <= 1
    with SetWorkflowTimeout(0.3), pytest.raises(DBOSAwaitedWorkflowCancelledError):
        wf()


def test_garbage_collection(dbos):
    @DBOS.workflow()
    def wf(i):
        return i

    for i in range(10):
        wf(i)
    assert DBOS.garbage_collect(keep_rows=4) == 6
    assert len(DBOS.list_workflows()) == 4
    assert DBOS.garbage_collect(older_than_sec=0) == 4
    assert DBOS.list_workflows() == []


def test_cancel_wakes_a_workflow_waiting_in_recv(dbos):
    waiting = threading.Event()

    @DBOS.workflow()
    def waiter():
        waiting.set()
        return DBOS.recv(timeout_seconds=30)

    h = DBOS.start_workflow(waiter)
    waiting.wait(10)
    DBOS.cancel_workflow(h.workflow_id)
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        h.get_result(timeout=10)
    # A workflow thread blocked at destroy time must not keep the process alive: the
    # fixture's destroy() below cancels every pending engine call.


def test_destroy_releases_threads_blocked_in_waits(config):
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config)
    DBOS.launch()
    waiting = threading.Event()

    @DBOS.workflow()
    def waiter():
        waiting.set()
        return DBOS.recv(timeout_seconds=60)

    h = DBOS.start_workflow(waiter)
    waiting.wait(10)
    from dbos_queue.api.dbos import _rt

    fut = _rt().running[h.workflow_id]
    DBOS.destroy(destroy_registry=True)
    fut.result(timeout=10)  # the workflow thread returned instead of waiting 60 s
