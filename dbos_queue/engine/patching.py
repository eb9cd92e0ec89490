"""Workflow patching (``DBOS.patch`` / ``DBOS.deprecate_patch``), as DBOS records it.

A patch is a marker operation named ``DBOS.patch-<name>`` at the workflow's next
operation id. Code that gained ``if DBOS.patch("x"): new() else: old()`` must keep
replaying executions recorded before the change down the old branch:

* nothing recorded at the next id (a new execution, or one that has not got this far):
  record the marker there, take the id, return True — the new branch;
* the marker is recorded there (replay of an execution that took the new branch): take
  the id, return True;
* another operation is recorded there (an execution recorded before the patch existed):
  take nothing, return False — the old branch, whose operations then replay in place.

``deprecate_patch`` is for once every pre-patch execution has finished: it never
records a marker, takes the id only when the marker is there, and always returns True.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from dbos_queue.db import sql as _sql
from dbos_queue.engine.context import WorkflowContext, current_workflow
from dbos_queue.engine.core import explain_refusal
from dbos_queue.error import DBOSException, DBOSPatchNondeterminismError

if TYPE_CHECKING:
    from dbos_queue.engine.host import Host

MARKER_PREFIX = "DBOS.patch-"


def _no_event_loop(fn: str) -> None:
    # As DBOS: the blocking spelling inside a running loop would stall it.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{fn}() was called while an event loop is running. Use await {fn}_async(...) instead."
    )


def _workflow_ctx(what: str) -> WorkflowContext:
    ctx = current_workflow.get()
    if ctx is None or ctx.in_step:
        raise DBOSException(f"DBOS.{what} must be called from a workflow")
    return ctx


def _recorded_name(ctx: WorkflowContext, fid: int) -> str | None:
    """The operation recorded at ``fid`` by an earlier execution, from the replay log."""
    if ctx.fresh:
        return None
    rec = ctx.recorded.get(fid)
    return rec.function_name if rec is not None else None


def patch(rt: Host, name: str) -> bool:
    """``DBOS.patch``: True for executions that take the patched (new) code path."""
    _no_event_loop("patch")
    ctx = _workflow_ctx("patch")
    marker = MARKER_PREFIX + name
    fid = ctx.function_id + 1
    recorded = _recorded_name(ctx, fid)
    if recorded is not None and recorded != marker:
        return False  # recorded before the patch existed: the old branch
    ctx.next_function_id()
    if recorded is None:
        params = rt.sysdb.operation_params(ctx.workflow_id, ctx.owner, fid, marker)
        if not rt.sysdb.record_operation_blocking(params):
            rt.engine.run(explain_refusal(rt, ctx))
    return True


def deprecate_patch(rt: Host, name: str) -> bool:
    """``DBOS.deprecate_patch``: always True; consumes the marker where one was recorded."""
    _no_event_loop("deprecate_patch")
    ctx = _workflow_ctx("deprecate_patch")
    if _recorded_name(ctx, ctx.function_id + 1) == MARKER_PREFIX + name:
        ctx.next_function_id()
    return True


async def _probe(rt: Host, ctx: WorkflowContext, what: str, marker: str) -> tuple[int, str | None]:
    """(id checked, name recorded there) read from the database, then checked against
    sibling tasks that took ids meanwhile (which would make the marker's place racy)."""
    fid = ctx.function_id + 1
    probe = rt.sysdb.fetchone(_sql.RECORDED_OPERATION_NAME, (ctx.workflow_id, fid))
    row = await rt.engine.arun(probe)
    if ctx.function_id != fid - 1:
        raise DBOSPatchNondeterminismError(
            ctx.workflow_id,
            marker,
            f"DBOS.{what} was called concurrently with other operations in the same "
            "workflow, so the position of its marker would depend on task scheduling; call "
            "it from sequential workflow code",
        )
    return fid, (row.function_name if row is not None else None)


async def patch_async(rt: Host, name: str) -> bool:
    """``DBOS.patch_async``: ``patch`` for async workflows."""
    ctx = _workflow_ctx("patch_async")
    marker = MARKER_PREFIX + name
    fid, recorded = await _probe(rt, ctx, "patch_async", marker)
    if recorded is not None and recorded != marker:
        return False
    ctx.next_function_id()  # no await since the probe: sibling tasks cannot interleave
    if recorded is None:
        params = rt.sysdb.operation_params(ctx.workflow_id, ctx.owner, fid, marker)
        if not await rt.engine.arun(rt.sysdb.record_operation(params)):
            await rt.engine.arun(explain_refusal(rt, ctx))
    return True


async def deprecate_patch_async(rt: Host, name: str) -> bool:
    """``DBOS.deprecate_patch_async``: ``deprecate_patch`` for async workflows."""
    ctx = _workflow_ctx("deprecate_patch_async")
    marker = MARKER_PREFIX + name
    _fid, recorded = await _probe(rt, ctx, "deprecate_patch_async", marker)
    if recorded == marker:
        ctx.next_function_id()
    return True
