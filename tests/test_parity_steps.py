"""DBOS 3.4.0 step options and undecorated steps: timeout_seconds, should_retry,
step_status, run_step (sync/async), reserve_step."""

from __future__ import annotations

import asyncio

import pytest

from dbos_queue import DBOS, SetWorkflowID, StepOptions
from dbos_queue.error import DBOSException, DBOSMaxStepRetriesExceeded, DBOSStepTimeoutError
from tests.plugins.checks import must


def test_step_timeout_raises_and_is_recorded(dbos: type[DBOS]) -> None:
    attempts: list[int] = []

    @DBOS.step(timeout_seconds=0.2)
    async def slow() -> str:
        attempts.append(1)
        await asyncio.sleep(30)
        return "never"

    @DBOS.workflow()
    async def wf() -> str:
        try:
            return await slow()
        except DBOSStepTimeoutError as exc:
            return f"timed out: {exc.step_name} {exc.timeout_seconds}"

    with SetWorkflowID("to"):
        out = asyncio.run(wf())
    assert out.startswith("timed out: ") and out.endswith(" 0.2")
    step = DBOS.list_workflow_steps("to")[0]
    assert isinstance(step["error"], DBOSStepTimeoutError)
    assert attempts == [1]


def test_step_timeout_is_per_attempt_with_retries(dbos: type[DBOS]) -> None:
    calls: list[int] = []

    @DBOS.step(timeout_seconds=0.2, retries_allowed=True, max_attempts=3, interval_seconds=0)
    async def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            await asyncio.sleep(30)
        return len(calls)

    @DBOS.workflow()
    async def wf() -> int:
        return await flaky()

    assert asyncio.run(wf()) == 3


def test_sync_step_refuses_async_only_options(dbos: type[DBOS]) -> None:
    with pytest.raises(DBOSException, match="timeout_seconds"):

        @DBOS.step(timeout_seconds=1)
        def sync_step() -> None: ...

    with pytest.raises(DBOSException, match="preemptible"):

        @DBOS.step(preemptible=True)
        def sync_step2() -> None: ...

    with pytest.raises(DBOSException, match="positive"):

        @DBOS.step(timeout_seconds=0)
        async def async_step() -> None: ...


def test_should_retry_stops_retries(dbos: type[DBOS]) -> None:
    seen: list[str] = []

    def only_transient(exc: BaseException) -> bool:
        return isinstance(exc, ConnectionError)

    @DBOS.step(
        retries_allowed=True, max_attempts=5, interval_seconds=0, should_retry=only_transient
    )
    def fails(kind: str) -> None:
        seen.append(kind)
        if kind == "transient" and len(seen) < 3:
            raise ConnectionError("again")
        raise KeyError(kind)

    @DBOS.workflow()
    def wf(kind: str) -> str:
        try:
            fails(kind)
        except KeyError as exc:
            return f"KeyError {exc}"
        except DBOSMaxStepRetriesExceeded:
            return "exhausted"
        return "ok"

    assert wf("permanent") == "KeyError 'permanent'"
    assert seen == ["permanent"]  # should_retry said no: no second attempt
    seen.clear()
    assert wf("transient") == "KeyError 'transient'"
    assert seen == ["transient"] * 3  # retried while transient, stopped at the KeyError


def test_async_should_retry_and_step_status(dbos: type[DBOS]) -> None:
    statuses: list[tuple] = []

    async def verdict(exc: BaseException) -> bool:
        return "retry" in str(exc)

    @DBOS.step(retries_allowed=True, max_attempts=4, interval_seconds=0, should_retry=verdict)
    async def counted() -> int:
        s = must(DBOS.step_status)
        statuses.append((s.step_id, s.current_attempt, s.max_attempts))
        attempt = must(s.current_attempt)
        if attempt < 2:
            raise RuntimeError("retry please")
        return attempt

    @DBOS.step()
    def plain() -> tuple:
        s = must(DBOS.step_status)
        return (s.step_id, s.current_attempt, s.max_attempts)

    @DBOS.workflow()
    async def wf() -> tuple:
        return await counted(), plain()

    assert asyncio.run(wf()) == (2, (2, None, None))
    assert statuses == [(1, 0, 4), (1, 1, 4), (1, 2, 4)]
    assert DBOS.step_status is None


def test_run_step_checkpoints_undecorated_functions(dbos: type[DBOS]) -> None:
    calls: list[str] = []

    def add(a: int, b: int) -> int:
        calls.append("add")
        return a + b

    async def mul(a: int, b: int) -> int:
        calls.append("mul")
        return a * b

    @DBOS.workflow()
    def wf() -> tuple:
        opts: StepOptions = {"name": "adder", "retries_allowed": True, "max_attempts": 2}
        return DBOS.run_step(opts, add, 2, 3), DBOS.run_step(None, mul, 2, 3)

    with SetWorkflowID("rs"):
        assert wf() == (5, 6)
    names = [s["function_name"] for s in DBOS.list_workflow_steps("rs")]
    assert names == ["adder", mul.__qualname__]
    with SetWorkflowID("rs"):
        assert wf() == (5, 6)  # finished: returns the recorded result
    assert calls == ["add", "mul"]
    assert DBOS.run_step(None, add, 1, 1) == 2  # outside a workflow: a plain call
    with pytest.raises(TypeError, match="retrys"):
        DBOS.run_step({"retrys": 1}, add, 1, 1)  # type: ignore[typeddict-unknown-key]


def test_run_step_async_and_reserve_step(dbos: type[DBOS]) -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0.01 * (3 - x))  # the later reservation finishes first
        return 2 * x

    @DBOS.workflow()
    async def wf() -> list:
        first, second = DBOS.reserve_step(), DBOS.reserve_step()
        results = await asyncio.gather(
            second.run_async(None, double, 2), first.run_async(None, double, 1)
        )
        with pytest.raises(DBOSException, match="only be run once"):
            await first.run_async(None, double, 1)
        tail = await DBOS.run_step_async({"name": "tail"}, double, 5)
        return [first.step_id, second.step_id, *results, tail]

    with SetWorkflowID("rsv"):
        assert asyncio.run(wf()) == [1, 2, 4, 2, 10]
    steps = DBOS.list_workflow_steps("rsv")
    assert [(s["function_id"], s["output"]) for s in steps] == [(1, 2), (2, 4), (3, 10)]
    with pytest.raises(DBOSException, match="from a workflow"):
        DBOS.reserve_step()


def test_concurrent_steps_and_asyncio_wait_replay(dbos: type[DBOS]) -> None:
    ran: list[int] = []

    @DBOS.step()
    async def nap(i: int) -> int:
        ran.append(i)
        await asyncio.sleep(0.3 * i)
        return i

    @DBOS.workflow()
    async def racer() -> list:
        done, pending = await DBOS.asyncio_wait(
            [nap(1), nap(2), nap(3)], return_when=asyncio.FIRST_COMPLETED
        )
        winners = sorted(t.result() for t in done)
        for t in pending:
            await t  # let the others finish (and be recorded)
        return [winners, len(pending)]

    with SetWorkflowID("race"):
        assert asyncio.run(racer()) == [[1], 2]
    steps = DBOS.list_workflow_steps("race")
    assert [(s["function_id"], s["output"]) for s in steps] == [(1, [0]), (2, 1), (3, 2), (4, 3)]
    # A fork after the steps replays them from their records, where all three finish at
    # once; asyncio_wait still reports the recorded winner only.
    fork = DBOS.fork_workflow("race", 5)
    assert fork.get_result() == [[1], 2]
    assert sorted(ran) == [1, 2, 3]  # no step body ran again
