"""A hand-back that stops: drain timeout, refused write, lost lease, destroyed runtime.

Real worker processes and signals where a process is stopped; in-process DBOS where
the test needs to see the exception a stopped execution ends with. Every step body
run leaves a row in ``effects``, so duplicates and losses are counted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient, EnqueueOptions, SetWorkflowID
from dbos_queue.api.dbos import _rt
from dbos_queue.engine.context import WorkflowStopped, current_workflow
from dbos_queue.engine.events import HandedBack, LeaseLost, WriteRefused
from dbos_queue.error import DBOSOwnershipLostError
from tests.plugins.checks import must
from tests.plugins.waiting import EventWaiter, wait_until
from tests.reliability_support import (
    check_bookkeeping,
    effects,
    status,
    wait_status,
    wait_steps,
)

pytest_plugins = ["tests.plugins.reliability"]  # fixtures: effects_db, spawn

pytestmark = pytest.mark.slow


# --- worker processes ---------------------------------------------------------------


def test_sigterm_hands_back_and_the_terminated_worker_runs_no_further_step(spawn, effects_db):
    """The issue's scenario: two workers, drain timeout 1 s, SIGTERM to the one running a
    24-step workflow (0.25 s steps) after its 4th step."""
    a = spawn("worker", "--drain-timeout", "1")
    b = spawn("worker", "--drain-timeout", "1")
    with DBOSClient(effects_db) as client:
        opts: EnqueueOptions = {
            "queue_name": "work",
            "workflow_name": "many",
            "workflow_id": "drain24",
        }
        h = client.enqueue(opts, 24, 0.25)
        first = wait_steps(effects_db, "drain24", 5)  # 4 steps done, the 5th running
        victim, other = (a, b) if first[0][1] == a.pid else (b, a)
        victim.signal(signal.SIGTERM)
        assert h.get_result(timeout=90) == sum(range(1, 25))
        assert victim.wait(30) == 0
    assert "handed back 1 workflow" in victim.out
    rows = effects(effects_db, "drain24")
    # Every step once: the step running when the drain timed out finished and was
    # recorded before the hand-back, and the terminated worker began nothing after it.
    runs = check_bookkeeping(rows, 24, max_twice=0)
    assert sum(runs.values()) == 24
    mine = [r for r in rows if r[1] == victim.pid]
    theirs = [r for r in rows if r[1] == other.pid]
    assert len(mine) >= 6, "the drain let it keep running until its timeout"
    assert theirs and {r[0] for r in theirs} == set(range(len(mine) + 1, 25))
    assert must(status(effects_db, "drain24"))[2] == 2  # claimed twice: once by each worker


def test_a_paused_worker_whose_work_was_taken_over_starts_no_further_step(spawn, effects_db):
    env = {"RELIABILITY_LEASE": "2"}
    a = spawn("worker", env=env)
    with DBOSClient(effects_db) as client:
        opts: EnqueueOptions = {
            "queue_name": "work",
            "workflow_name": "many",
            "workflow_id": "paused",
        }
        h = client.enqueue(opts, 20, 0.25)
        wait_steps(effects_db, "paused", 4)
        a.signal(signal.SIGSTOP)
        paused_at = time.time()
        b = spawn("worker", env=env)
        wait_until(
            lambda: sum(1 for r in effects(effects_db, "paused") if r[1] == b.pid) >= 3,
            60,
            "the rescuer to run three steps",
        )
        a.signal(signal.SIGCONT)
        assert h.get_result(timeout=90) == sum(range(1, 21))
        a.signal(signal.SIGTERM)
        assert a.wait(30) == 0
    rows = effects(effects_db, "paused")
    assert all(started < paused_at for _s, pid, started, _e in rows if pid == a.pid), rows
    check_bookkeeping(rows, 20, max_twice=1, strict_handoff=False)
    assert "declared it dead" in a.stderr()
    assert "handed back 0 workflow" in a.out


def test_a_paused_worker_nobody_declared_dead_renews_its_lease_and_goes_on(spawn, effects_db):
    a = spawn("worker", env={"RELIABILITY_LEASE": "1"})
    with DBOSClient(effects_db) as client:
        opts: EnqueueOptions = {
            "queue_name": "work",
            "workflow_name": "many",
            "workflow_id": "napping",
        }
        h = client.enqueue(opts, 12, 0.25)
        wait_steps(effects_db, "napping", 3)
        a.signal(signal.SIGSTOP)

        def lapsed() -> bool:
            with psycopg.connect(effects_db) as conn:
                row = conn.execute(
                    "SELECT lease_expires_at_epoch_ms FROM dbos.executors WHERE pid = %s",
                    (a.pid,),
                ).fetchone()
            return row is not None and row[0] < time.time() * 1000

        wait_until(lambda: lapsed(), 30, "the paused worker's lease to lapse")
        a.signal(signal.SIGCONT)
        assert h.get_result(timeout=60) == sum(range(1, 13))
    rows = effects(effects_db, "napping")
    check_bookkeeping(rows, 12, max_twice=0)
    assert must(status(effects_db, "napping"))[2] == 1, "never taken over"


# --- in-process: the exception a stopped execution ends with --------------------------


def _tick(url: str, step: int, seconds: float = 0.0) -> int:
    """An in-process step body's side effect; ``pid`` holds a number per execution."""
    ctx = current_workflow.get()
    execution = hash(ctx.owner) % 2**31 if ctx is not None else os.getpid()
    with psycopg.connect(url, autocommit=True) as conn:
        rid = must(
            conn.execute(
                "INSERT INTO effects (workflow_id, step, pid, started) VALUES (%s, %s, %s, %s)"
                " RETURNING id",
                (DBOS.workflow_id, step, execution, time.time()),
            ).fetchone()
        )[0]
        time.sleep(seconds)
        conn.execute("UPDATE effects SET ended = %s WHERE id = %s", (time.time(), rid))
    return step


def _relaunch(config: dict) -> None:
    DBOS(config=config)
    DBOS.launch()


def test_destroy_with_a_timeout_hands_back_and_a_relaunch_finishes(configured, effects_db, config):
    stopped: list[BaseException] = []

    @DBOS.step()
    def tick(i: int) -> int:
        return _tick(effects_db, i, 0.1)

    @DBOS.workflow()
    def forty() -> int:
        try:
            return sum(tick(i) for i in range(1, 41))
        except BaseException as e:
            stopped.append(e)
            raise

    configured()
    handed = EventWaiter(_rt().events, HandedBack)
    with SetWorkflowID("dx"):
        DBOS.start_workflow(forty)
    wait_steps(effects_db, "dx", 3)
    DBOS.destroy(workflow_completion_timeout_sec=0.3)
    assert [e.workflow_id for e in handed.seen] == ["dx"]
    wait_until(lambda: stopped, 10, "the old execution to stop")
    assert isinstance(stopped[0], WorkflowStopped), stopped
    assert "drain timeout" in str(stopped[0])
    st = must(status(effects_db, "dx"))
    assert st[0] == "PENDING" and st[1] is None, "handed back: unowned, left for takeover"
    _relaunch(config)
    assert DBOS.retrieve_workflow("dx").get_result(timeout=60) == sum(range(1, 41))
    check_bookkeeping(effects(effects_db, "dx"), 40, max_twice=0)


def test_a_workflow_thread_that_outlives_its_runtime_stops_at_its_next_step(configured, effects_db):
    gate, waiting = threading.Event(), threading.Event()
    stopped: list[BaseException] = []

    @DBOS.step()
    def tick(i: int) -> int:
        return _tick(effects_db, i)

    @DBOS.workflow()
    def gated() -> str:
        tick(1)
        waiting.set()
        gate.wait(30)  # plain workflow code, no step running: the drain releases at once
        try:
            tick(2)
        except BaseException as e:
            stopped.append(e)
            raise
        return "never"

    configured()
    with SetWorkflowID("g1"):
        DBOS.start_workflow(gated)
    assert waiting.wait(10)
    DBOS.destroy()
    gate.set()
    wait_until(lambda: stopped, 10, "the orphaned thread to reach its next step")
    assert isinstance(stopped[0], WorkflowStopped), stopped
    assert "g1" in str(stopped[0])
    assert [r[0] for r in effects(effects_db, "g1")] == [1], "step 2 never ran unrecorded"
    st = must(status(effects_db, "g1"))
    assert st[0] == "PENDING" and st[1] is None


def test_a_step_still_running_after_the_grace_period_is_not_recorded(configured, effects_db):
    gate, inside = threading.Event(), threading.Event()
    stopped: list[BaseException] = []

    @DBOS.step()
    def stuck(i: int) -> int:
        _tick(effects_db, i)
        if i == 2:
            inside.set()
            gate.wait(60)
        return i

    @DBOS.workflow()
    def three() -> int:
        try:
            return stuck(1) + stuck(2) + stuck(3)
        except BaseException as e:
            stopped.append(e)
            raise

    configured()
    with SetWorkflowID("s1"):
        DBOS.start_workflow(three)
    assert inside.wait(10)
    DBOS.destroy()  # waits the grace period for step 2, then hands back anyway
    assert must(status(effects_db, "s1"))[1] is None
    gate.set()
    wait_until(lambda: stopped, 10, "the execution to stop after its step returned")
    assert isinstance(stopped[0], WorkflowStopped)
    assert [r[0] for r in effects(effects_db, "s1")] == [1, 2]
    with psycopg.connect(effects_db) as conn:
        fids = conn.execute(
            "SELECT function_id FROM dbos.operation_outputs WHERE workflow_uuid = 's1'"
        ).fetchall()
    assert fids == [(1,)], "the late step 2 was not recorded"


def test_dbos_sleep_during_a_drain_finishes_in_time(configured, effects_db):
    @DBOS.step()
    def tick(i: int) -> int:
        return _tick(effects_db, i)

    @DBOS.workflow()
    def napper() -> str:
        tick(1)
        DBOS.sleep(0.6)
        tick(2)
        return "rested"

    configured()
    with SetWorkflowID("n1"):
        DBOS.start_workflow(napper)
    wait_steps(effects_db, "n1", 1)
    DBOS.destroy(workflow_completion_timeout_sec=20)
    st = must(status(effects_db, "n1"))
    assert st[0] == "SUCCESS", st
    assert [r[0] for r in effects(effects_db, "n1")] == [1, 2]


def test_dbos_sleep_past_the_drain_timeout_is_handed_back_not_failed(
    configured, effects_db, config
):
    stopped: list[BaseException] = []

    @DBOS.step()
    def tick(i: int) -> int:
        return _tick(effects_db, i)

    @DBOS.workflow()
    def napper() -> str:
        tick(1)
        try:
            DBOS.sleep(2.0)
        except BaseException as e:
            stopped.append(e)
            raise
        tick(2)
        return "rested"

    configured()
    with SetWorkflowID("n2"):
        DBOS.start_workflow(napper)
    wait_steps(effects_db, "n2", 1)
    DBOS.destroy(workflow_completion_timeout_sec=0.3)
    wait_until(lambda: stopped, 10, "the sleeping execution to stop")
    assert isinstance(stopped[0], WorkflowStopped), stopped
    st = must(status(effects_db, "n2"))
    assert st[0] == "PENDING" and st[1] is None, st  # not ERROR "DBOS is not launched"
    _relaunch(config)
    assert DBOS.retrieve_workflow("n2").get_result(timeout=30) == "rested"
    rows = effects(effects_db, "n2")
    assert [r[0] for r in rows] == [1, 2]
    assert rows[1][2] - rows[0][2] >= 2.0 - 0.05, "the recorded wake-up time was kept"


def test_a_refused_write_stops_the_execution_even_when_the_code_swallows_it(dbos, effects_db):
    gate, inside = threading.Event(), threading.Event()
    seen: list[BaseException] = []

    @DBOS.step()
    def slow(i: int) -> int:
        _tick(effects_db, i)
        if i == 1:
            inside.set()
            gate.wait(30)
        return i

    @DBOS.workflow()
    def stubborn() -> list:
        out = []
        for i in (1, 2, 3):
            try:
                out.append(slow(i))
            except BaseException as e:  # even this does not let it run steps on
                seen.append(e)
        return out

    refused = EventWaiter(_rt().events, WriteRefused)
    with SetWorkflowID("r1"):
        DBOS.start_workflow(stubborn)
    assert inside.wait(10)
    with psycopg.connect(effects_db, autocommit=True) as conn:
        # Another live process takes the workflow over while step 1 runs here.
        conn.execute(
            "INSERT INTO dbos.executors (process_id, executor_id, hostname, pid,"
            " application_version, started_at_epoch_ms, heartbeat_at_epoch_ms,"
            " lease_expires_at_epoch_ms) VALUES ('rival', 'local', 'elsewhere', 1, 'v', 0, 0,"
            " 9000000000000)"
        )
        conn.execute(
            "UPDATE dbos.workflow_status SET owner_xid = 'rival:1' WHERE workflow_uuid = 'r1'"
        )
    gate.set()
    refused.wait(lambda e: e.workflow_id == "r1", timeout=10)
    wait_until(lambda: len(seen) == 3, 10, "all three step calls to return")
    assert isinstance(seen[0], DBOSOwnershipLostError)
    assert all(isinstance(e, WorkflowStopped) for e in seen[1:]), seen
    assert [r[0] for r in effects(effects_db, "r1")] == [1], "steps 2 and 3 never ran"
    wait_status(effects_db, "r1", "PENDING")
    assert must(status(effects_db, "r1"))[1] == "rival:1", "nothing was written over the rival"


def test_an_async_workflow_is_stopped_and_handed_back_too(configured, effects_db, config):
    stopped: list[BaseException] = []

    @DBOS.step()
    async def atick(i: int) -> int:
        return await asyncio.to_thread(_tick, effects_db, i, 0.1)

    @DBOS.workflow()
    async def athirty() -> int:
        try:
            total = 0
            for i in range(1, 31):
                total += await atick(i)
            return total
        except BaseException as e:
            stopped.append(e)
            raise

    configured()
    with SetWorkflowID("ax"):
        DBOS.start_workflow(athirty)
    wait_steps(effects_db, "ax", 3)
    DBOS.destroy(workflow_completion_timeout_sec=0.3)
    wait_until(lambda: stopped, 10, "the async execution to stop")
    assert isinstance(stopped[0], WorkflowStopped), stopped
    assert must(status(effects_db, "ax"))[:2] == ("PENDING", None)
    _relaunch(config)
    assert DBOS.retrieve_workflow("ax").get_result(timeout=60) == sum(range(1, 31))
    check_bookkeeping(effects(effects_db, "ax"), 30, max_twice=0)


def test_a_process_declared_dead_stops_its_execution_and_it_finishes_anew(dbos, effects_db):
    gate, inside = threading.Event(), threading.Event()
    ended: list[BaseException] = []

    @DBOS.step()
    def slow(i: int) -> int:
        _tick(effects_db, i)
        if i == 1 and not gate.is_set():
            inside.set()
            gate.wait(30)
        return i

    @DBOS.workflow()
    def two() -> int:
        try:
            return slow(1) + slow(2)
        except BaseException as e:
            ended.append(e)
            raise

    rt = _rt()
    old = rt.process_id
    lost = EventWaiter(rt.events, LeaseLost)
    with SetWorkflowID("ll1"):
        h = DBOS.start_workflow(two)
    assert inside.wait(10)
    with psycopg.connect(effects_db, autocommit=True) as conn:  # another process judged us
        conn.execute(
            "UPDATE dbos.executors SET lease_expires_at_epoch_ms = 0 WHERE process_id = %s",
            (old,),
        )
    lost.wait(lambda e: e.process_id == old, timeout=10)
    wait_until(lambda: rt.process_id != old, 10, "registering again under a fresh id")
    gate.set()
    assert h.get_result(timeout=30) == 3
    wait_until(lambda: ended, 10, "the old execution to end")
    assert isinstance(ended[0], DBOSOwnershipLostError), ended
    rows = effects(effects_db, "ll1")
    check_bookkeeping(rows, 2, max_twice=1, strict_handoff=False)
    assert [r[0] for r in rows].count(2) == 1, "the old execution never started step 2"


def test_a_heartbeat_after_shutdown_removed_the_row_does_not_register_again(dbos, effects_db):
    """A beat that lands after destroy deleted this process's row is not a lost lease."""
    rt = _rt()
    lost = EventWaiter(rt.events, LeaseLost)
    pid = rt.process_id
    rt.engine.run(rt.lease_keeper.retire())  # what DBOS.destroy() does
    assert rt.engine.run(rt.lease_keeper.beat()) is True
    assert rt.process_id == pid and not lost.seen
    with psycopg.connect(effects_db, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM dbos.executors WHERE pid = %s", (os.getpid(),)
        ).fetchone()
    assert must(rows)[0] == 0, "the departing process registered itself again"
