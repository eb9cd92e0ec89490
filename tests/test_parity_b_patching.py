"""Workflow patching (DBOS.patch / deprecate_patch) across a real recovery.

Each "version" of the code registers the same workflow name with different bodies.
A run blocks in its last step; the process is destroyed (the workflow is handed back
PENDING), the next version is declared and launched, and recovery replays the
recorded steps under the new code.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOS, SetWorkflowID
from dbos_queue.error import (
    DBOSException,
    DBOSPatchNondeterminismError,
    DBOSUnexpectedStepError,
)

GATE = threading.Event()  # blocker() waits on it while BLOCK is set
ENTERED = threading.Event()
BLOCK = {"on": False}
RUNS: list[str] = []


def declare(version: str) -> Callable[..., Any]:
    """Register version ``version`` of workflow "pwf" (v1: before the patch; v2: patched;
    v3: patch deprecated; v1b: the patch removed without deprecating it)."""

    @DBOS.step(name="one")
    def one() -> str:
        RUNS.append("one")
        return "one"

    @DBOS.step(name="old_step")
    def old_step() -> str:
        RUNS.append("old")
        return "old"

    @DBOS.step(name="new_step")
    def new_step() -> str:
        RUNS.append("new")
        return "new"

    @DBOS.step(name="blocker")
    def blocker() -> str:
        RUNS.append("blocker")
        if BLOCK["on"]:
            ENTERED.set()
            GATE.wait(30)
        return "done"

    @DBOS.workflow(name="pwf")
    def pwf() -> list[str]:
        a = one()
        if version == "v2":
            b = new_step() if DBOS.patch("p") else old_step()
        elif version == "v3":
            DBOS.deprecate_patch("p")
            b = new_step()
        else:
            b = old_step()
        return [a, b, blocker()]

    return pwf


@pytest.fixture
def versions(config: dict[str, Any]) -> Iterator[Callable[[str], Callable[..., Any]]]:
    """Launch a version of the app; the same application_version for all (as DBOS needs
    for patching), so the next version recovers the previous one's workflows."""
    cfg = dict(config, application_version="fixed")

    def launch(version: str) -> Callable[..., Any]:
        DBOS.destroy(destroy_registry=True)
        wf = declare(version)
        DBOS(config=cfg)
        DBOS.launch()
        return wf

    yield launch
    GATE.set()
    DBOS.destroy(destroy_registry=True)


def _crash_in_blocker(wf: Callable[..., Any], wf_id: str) -> None:
    """Start ``wf`` and stop the process while the run blocks in its last step."""
    GATE.clear()
    ENTERED.clear()
    BLOCK["on"] = True
    with SetWorkflowID(wf_id):
        DBOS.start_workflow(wf)
    assert ENTERED.wait(30), "the run never reached its blocking step"
    DBOS.destroy(destroy_registry=True)  # hands the PENDING workflow back
    BLOCK["on"] = False
    GATE.set()  # the old thread's late write is fenced off


def _steps(wf_id: str) -> list[str]:
    """The operations recorded for ``wf_id``, in order (read from the system database)."""
    url = DBOS.system_database_url()
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT function_name FROM dbos.operation_outputs WHERE workflow_uuid = %s"
            " ORDER BY function_id",
            (wf_id,),
        ).fetchall()
    return [r[0] for r in rows]


def test_recovery_takes_the_old_branch_new_runs_the_new(versions) -> None:
    RUNS.clear()
    _crash_in_blocker(versions("v1"), "pre-patch")
    assert RUNS == ["one", "old", "blocker"]

    pwf = versions("v2")  # launch recovers "pre-patch" under the patched code
    h = DBOS.retrieve_workflow("pre-patch")
    assert h.get_result() == ["one", "old", "done"]
    assert _steps("pre-patch") == ["one", "old_step", "blocker"]  # no marker recorded
    assert RUNS[3:] == ["blocker"]  # one and old_step replayed, not run again

    with SetWorkflowID("post-patch"):
        assert pwf() == ["one", "new", "done"]
    assert _steps("post-patch") == ["one", "DBOS.patch-p", "new_step", "blocker"]


def test_deprecate_patch_replays_marker_and_records_none(versions) -> None:
    RUNS.clear()
    _crash_in_blocker(versions("v2"), "patched-run")
    assert RUNS == ["one", "new", "blocker"]

    pwf = versions("v3")
    assert DBOS.retrieve_workflow("patched-run").get_result() == ["one", "new", "done"]
    assert _steps("patched-run") == ["one", "DBOS.patch-p", "new_step", "blocker"]
    with SetWorkflowID("post-deprecation"):
        assert pwf() == ["one", "new", "done"]
    assert _steps("post-deprecation") == ["one", "new_step", "blocker"]


def test_replay_that_disagrees_with_the_recorded_patch_raises(versions) -> None:
    _crash_in_blocker(versions("v2"), "marker-then-unpatched")
    versions("v1b")  # the patch removed without deprecate_patch: old_step meets the marker
    h = DBOS.retrieve_workflow("marker-then-unpatched")
    with pytest.raises(DBOSUnexpectedStepError, match=r"DBOS\.patch-p"):
        h.get_result()
    assert h.get_status().status == "ERROR"


def test_patch_outside_a_workflow_or_in_a_step_is_refused(dbos) -> None:
    with pytest.raises(DBOSException, match="must be called from a workflow"):
        DBOS.patch("x")

    @DBOS.step()
    def inner() -> bool:
        return DBOS.deprecate_patch("x")

    @DBOS.workflow()
    def outer() -> bool:
        return inner()

    with pytest.raises(DBOSException, match="must be called from a workflow"):
        outer()


def test_patch_async_and_its_race_with_sibling_operations(dbos) -> None:
    @DBOS.step()
    async def sibling() -> int:
        return 1

    @DBOS.workflow()
    async def sequential() -> tuple[bool, bool, int]:
        first = await DBOS.patch_async("a")
        again = await DBOS.deprecate_patch_async("a")  # next id holds no marker
        return first, again, await sibling()

    @DBOS.workflow()
    async def racy() -> Any:
        return await asyncio.gather(DBOS.patch_async("b"), sibling())

    h = asyncio.run(_start(sequential))
    assert h == (True, True, 1)
    with pytest.raises(DBOSPatchNondeterminismError, match="concurrently"):
        asyncio.run(_start(racy))


async def _start(wf: Callable[..., Any]) -> Any:
    handle = await DBOS.start_workflow_async(wf)
    return await handle.get_result()


def test_sync_patch_inside_an_async_workflow_is_refused(dbos) -> None:
    @DBOS.workflow()
    async def wrong() -> bool:
        return DBOS.patch("x")

    with pytest.raises(RuntimeError, match="patch_async"):
        asyncio.run(_start(wrong))
