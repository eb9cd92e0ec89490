"""Durable execution API against a real Postgres."""

from __future__ import annotations

import asyncio
import threading

import pytest

from dbos_queue import DBOS, DBOSConfiguredInstance, DBOSContextSetAuth, SetWorkflowID
from dbos_queue.error import (
    DBOSConflictingWorkflowError,
    DBOSException,
    DBOSMaxStepRetriesExceeded,
    DBOSNonExistentWorkflowError,
    DBOSNotAuthorizedError,
    DBOSSerializationError,
)
from tests.plugins.checks import must


class CustomError(Exception):
    pass


def test_steps_recorded_and_listed(dbos):
    @DBOS.step()
    def add(a, b):
        return a + b

    @DBOS.workflow()
    def wf():
        return add(1, 2) + add(3, 4)

    h = DBOS.start_workflow(wf)
    assert h.get_result() == 10
    steps = DBOS.list_workflow_steps(h.workflow_id)
    assert [(s["function_id"], s["output"]) for s in steps] == [(1, 3), (2, 7)]
    assert steps[0]["function_name"].endswith("add")
    st = h.get_status()
    assert st.status == "SUCCESS" and st.output == 10 and st.executor_id == "local"


def test_get_result_reraises_the_workflows_own_exception(dbos):
    @DBOS.workflow()
    def failing(msg):
        raise CustomError(msg)

    h = DBOS.start_workflow(failing, "boom")
    with pytest.raises(CustomError, match="boom"):
        h.get_result()
    with pytest.raises(CustomError):
        DBOS.retrieve_workflow(h.workflow_id).get_result()
    assert must(DBOS.get_workflow_status(h.workflow_id)).status == "ERROR"


def test_same_id_returns_recorded_result_without_rerunning(dbos):
    runs = []

    @DBOS.workflow()
    def wf(x):
        runs.append(x)
        return x * 10

    with SetWorkflowID("same"):
        assert wf(1) == 10
    with SetWorkflowID("same"):
        assert wf(1) == 10
    with SetWorkflowID("same"):
        assert DBOS.start_workflow(wf, 1).get_result() == 10
    assert runs == [1]


def test_id_reused_for_a_different_function_is_refused(dbos):
    @DBOS.workflow()
    def one():
        return 1

    @DBOS.workflow()
    def two():
        return 2

    with SetWorkflowID("dup"):
        one()
    with pytest.raises(DBOSConflictingWorkflowError):
        with SetWorkflowID("dup"):
            two()


def test_concurrent_starts_of_one_id_run_once(dbos):
    runs = []
    gate = threading.Event()

    @DBOS.workflow()
    def slow():
        runs.append(1)
        gate.wait(10)
        return "done"

    results = []

    def starter():
        with SetWorkflowID("race"):
            results.append(slow())

    threads = [threading.Thread(target=starter) for _ in range(6)]
    for t in threads:
        t.start()
    while not runs:
        threading.Event().wait(0.01)
    gate.set()
    for t in threads:
        t.join(20)
    assert results == ["done"] * 6
    assert len(runs) == 1


def test_child_workflows_get_deterministic_ids(dbos):
    @DBOS.workflow()
    def child(x):
        return x + 1

    @DBOS.workflow()
    def parent():
        a = child(1)
        h = DBOS.start_workflow(child, 10)
        return a, h.get_result(), h.workflow_id

    with SetWorkflowID("par"):
        a, b, cid = parent()
    assert (a, b) == (2, 11)
    assert cid == "par-2"
    assert must(DBOS.get_workflow_status("par-1")).status == "SUCCESS"
    steps = DBOS.list_workflow_steps("par")
    # As in DBOS, the handle's get_result is a step too, recorded with the child it read.
    assert [s["child_workflow_id"] for s in steps] == ["par-1", "par-2", "par-2"]
    assert steps[2]["function_name"] == "DBOS.getResult"


def test_step_retries_then_raises_max_retries(dbos):
    attempts = []

    @DBOS.step(retries_allowed=True, interval_seconds=0.01, max_attempts=3, backoff_rate=1.0)
    def flaky():
        attempts.append(1)
        raise ValueError("nope")

    @DBOS.workflow()
    def wf():
        flaky()

    with pytest.raises(DBOSMaxStepRetriesExceeded):
        wf()
    assert len(attempts) == 3


def test_step_retry_succeeds(dbos):
    attempts = []

    @DBOS.step(retries_allowed=True, interval_seconds=0.01, max_attempts=5)
    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError("later")
        return "ok"

    @DBOS.workflow()
    def wf():
        return flaky()

    assert wf() == "ok"
    assert len(attempts) == 3


def test_async_workflows_and_steps(dbos):
    @DBOS.step()
    async def astep(x):
        await asyncio.sleep(0)
        return x * 2

    @DBOS.workflow()
    async def awf(x):
        return await astep(x) + 1

    async def main():
        assert await awf(5) == 11
        h = await DBOS.start_workflow_async(awf, 7)
        assert await h.get_result() == 15
        return h.workflow_id

    wid = asyncio.run(main())
    assert DBOS.retrieve_workflow(wid).get_result() == 15
    h = DBOS.start_workflow(awf, 1)
    assert h.get_result() == 3


def test_workflow_context_ids(dbos):
    seen = {}

    @DBOS.step()
    def s():
        seen["step"] = (DBOS.workflow_id, DBOS.step_id)

    @DBOS.workflow()
    def wf():
        seen["wf"] = DBOS.workflow_id
        s()

    with SetWorkflowID("ctx"):
        wf()
    assert seen == {"wf": "ctx", "step": ("ctx", 1)}
    assert DBOS.workflow_id is None


def test_send_recv_exactly_once_and_timeout(dbos):
    @DBOS.workflow()
    def receiver():
        a = DBOS.recv("t", timeout_seconds=10)
        b = DBOS.recv("t", timeout_seconds=0.2)
        return a, b

    with SetWorkflowID("rx"):
        h = DBOS.start_workflow(receiver)
    DBOS.send("rx", {"hello": 1}, "t")
    assert h.get_result() == ({"hello": 1}, None)


def test_message_sent_before_recv_is_delivered(dbos):
    started = threading.Event()
    go = threading.Event()

    @DBOS.workflow()
    def receiver():
        started.set()
        go.wait(10)
        return DBOS.recv(timeout_seconds=5), DBOS.recv(timeout_seconds=0.1)

    h = DBOS.start_workflow(receiver)
    started.wait(10)
    DBOS.send(h.workflow_id, "m1")
    go.set()
    assert h.get_result() == ("m1", None)


def test_send_to_missing_workflow(dbos):
    with pytest.raises(DBOSNonExistentWorkflowError):
        DBOS.send("nobody", "x")


def test_events(dbos):
    @DBOS.workflow()
    def wf():
        DBOS.set_event("k", "v1")
        DBOS.set_event("k", "v2")
        DBOS.set_event("other", [1, 2])
        return DBOS.recv(timeout_seconds=10)

    h = DBOS.start_workflow(wf)
    assert DBOS.get_event(h.workflow_id, "other", timeout_seconds=10) == [1, 2]
    assert DBOS.get_event(h.workflow_id, "k", timeout_seconds=10) == "v2"
    assert DBOS.get_event(h.workflow_id, "missing", timeout_seconds=0.1) is None
    DBOS.send(h.workflow_id, "bye")
    assert h.get_result() == "bye"
    assert DBOS.get_all_events(h.workflow_id) == {"k": "v2", "other": [1, 2]}


def test_streams(dbos):
    @DBOS.workflow()
    def producer(n):
        for i in range(n):
            DBOS.write_stream("s", i)
        DBOS.close_stream("s")
        return n

    h = DBOS.start_workflow(producer, 5)
    assert list(DBOS.read_stream(h.workflow_id, "s")) == [0, 1, 2, 3, 4]
    assert h.get_result() == 5


def test_stream_ends_with_workflow(dbos):
    @DBOS.workflow()
    def producer():
        DBOS.write_stream("s", "a")
        return 1

    h = DBOS.start_workflow(producer)
    h.get_result()
    assert list(DBOS.read_stream(h.workflow_id, "s")) == ["a"]


def test_durable_sleep_records_deadline(dbos):
    @DBOS.workflow()
    def sleeper():
        DBOS.sleep(0.2)
        return "woke"

    h = DBOS.start_workflow(sleeper)
    assert h.get_result() == "woke"
    steps = DBOS.list_workflow_steps(h.workflow_id)
    assert steps[0]["function_name"] == "DBOS.sleep"


def test_configured_instances_and_class_methods(dbos):
    @DBOS.dbos_class()
    class Greeter(DBOSConfiguredInstance):
        def __init__(self, greeting):
            self.greeting = greeting
            super().__init__(config_name=greeting)

        @DBOS.workflow()
        def greet(self, name):
            return f"{self.greeting}, {name}"

        @classmethod
        @DBOS.workflow()
        def shout(cls, name):
            return name.upper()

    g = Greeter("hi")
    with SetWorkflowID("g1"):
        assert g.greet("bob") == "hi, bob"
    st = must(DBOS.get_workflow_status("g1"))
    assert (st.class_name, st.config_name) == ("Greeter", "hi")
    assert st.input == {"args": ("bob",), "kwargs": {}} or must(st.input)["args"] in (
        ["bob"],
        ("bob",),
    )
    assert Greeter.shout("x") == "X"


def test_required_roles(dbos):
    @DBOS.required_roles(["admin"])
    @DBOS.workflow()
    def secret():
        return DBOS.authenticated_user, DBOS.assumed_role

    with pytest.raises(DBOSNotAuthorizedError):
        secret()
    with DBOSContextSetAuth("eve", ["user"]):
        with pytest.raises(DBOSNotAuthorizedError):
            secret()
    with DBOSContextSetAuth("ann", ["user", "admin"]):
        with SetWorkflowID("auth1"):
            assert secret() == ("ann", "admin")
    st = must(DBOS.get_workflow_status("auth1"))
    assert st.authenticated_user == "ann" and st.assumed_role == "admin"
    assert st.authenticated_roles == ["user", "admin"]


def test_default_required_roles(dbos):
    @DBOS.default_required_roles(["ops"])
    class Ops:
        @staticmethod
        @DBOS.workflow()
        def restart():
            return "ok"

    with pytest.raises(DBOSNotAuthorizedError):
        Ops.restart()
    with DBOSContextSetAuth("o", ["ops"]):
        assert Ops.restart() == "ok"


def test_unserialisable_argument_is_refused_and_nothing_written(dbos):
    @DBOS.workflow()
    def wf(x):
        return 1

    with pytest.raises(DBOSSerializationError, match="lock"):
        with SetWorkflowID("bad-arg"):
            wf(threading.Lock())
    assert DBOS.get_workflow_status("bad-arg") is None


def test_unserialisable_output_fails_the_workflow(dbos):
    @DBOS.workflow()
    def wf():
        return threading.Lock()

    with pytest.raises(DBOSSerializationError):
        with SetWorkflowID("bad-out"):
            wf()
    assert must(DBOS.get_workflow_status("bad-out")).status == "ERROR"


def test_retrieve_unknown_workflow(dbos):
    with pytest.raises(DBOSNonExistentWorkflowError):
        DBOS.retrieve_workflow("nope")
    assert DBOS.get_workflow_status("nope") is None


def test_calling_a_workflow_before_launch_is_a_clear_error(configured):
    @DBOS.workflow()
    def wf():
        return 1

    with pytest.raises(DBOSException, match="launch"):
        wf()
    configured()
    assert wf() == 1
