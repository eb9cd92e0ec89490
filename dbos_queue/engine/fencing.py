"""Finishing a workflow and the fence around every write: results, completions,
refused writes explained, and the stop checks made before a step.

A write names the execution's ``owner_xid`` token; when one touches nothing,
``explain_refusal`` finds out why (cancelled, or another execution owns the row
now) and stops this execution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbos_queue.db.loop import NOT_YET
from dbos_queue.db.sysdb import TERMINAL, now_ms
from dbos_queue.engine import tail as _tail
from dbos_queue.engine.context import WorkflowContext, WorkflowStopped, current_workflow
from dbos_queue.engine.events import StepRecorded, WorkflowFinished, WriteRefused
from dbos_queue.error import (
    DBOSAwaitedWorkflowCancelledError,
    DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded,
    DBOSOwnershipLostError,
    DBOSWorkflowCancelledError,
)
from dbos_queue.model import serialization as ser

if TYPE_CHECKING:
    from dbos_queue.engine.host import Host


def result_from_row(wf_id: str, status: str, output: str | None, error: str | None) -> Any:
    """A finished workflow's return value, or its recorded error raised."""
    if status == "SUCCESS":
        return ser.deserialize(output)
    if status == "ERROR":
        exc = ser.deserialize_exception(error)
        raise exc if exc is not None else RuntimeError(f"workflow {wf_id} failed")
    if status == "CANCELLED":
        raise DBOSAwaitedWorkflowCancelledError(wf_id)
    if status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED":
        raise DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded(wf_id)
    raise RuntimeError(f"workflow {wf_id} is not finished ({status})")


async def await_result(rt: Host, wf_id: str, timeout: float | None = None) -> Any:
    """Wait for the workflow to finish; return its output or raise its error."""

    async def check() -> Any:
        row = await rt.sysdb.get_result_row(wf_id)
        if row is not None and row.status in TERMINAL:
            return row
        return NOT_YET

    row = await check()
    if row is NOT_YET:
        # "Done" is notified only to registered waiters (db/notify.py): register, then
        # re-check, so a completion committed in between is seen by one or the other.
        # Running here: the local wake-up is enough.
        local = wf_id in getattr(rt, "running", ())
        token = None if local else await rt.engine.notifier.register_waiter(wf_id)
        try:
            row = await rt.engine.wait_for(("wf", wf_id), check, timeout)
        finally:
            await rt.engine.notifier.unregister_waiter(wf_id, token)
    if row is NOT_YET:
        raise TimeoutError(f"workflow {wf_id} did not finish within {timeout}s")
    return result_from_row(wf_id, row.status, row.output, row.error)


def complete_blocking(
    rt: Host, ctx: WorkflowContext, status: str, output: str | None, error: str | None
) -> None:
    """``complete`` from a workflow thread.

    A background execution (nobody holds its thread's result: queued, start_workflow)
    does not wait: its thread is free for the next workflow at once, the completion is
    written with the next batch (group commit), and the drain waits for it
    (``writes_settled``) before handing anything back. Waiters read the status from the
    database, so they see it when it is durable, as before."""
    stop_if_handed_back(ctx)
    tail = _tail.take(ctx)  # its last step's record, written with the completion
    if ctx.background:
        done = _completed_later(rt, ctx, status, tail)
        ctx.completion_queued = True  # on_durable (if any) runs when it is written
        if tail is not None:
            rt.sysdb.complete_with_record(tail, status, output, error, done)
        else:
            rt.sysdb.complete_nowait(ctx.workflow_id, ctx.owner, status, output, error, done)
        return
    if tail is not None:
        ok = rt.sysdb.complete_with_record(tail, status, output, error)
        if ok:
            rt.events.emit(StepRecorded(ctx.workflow_id, tail["fname"], tail["fid"]))
    else:
        ok = rt.sysdb.complete_blocking(ctx.workflow_id, ctx.owner, status, output, error)
    rt.events.emit(WorkflowFinished(ctx.workflow_id, status if ok else "FENCED"))
    if not ok:
        rt.engine.run(explain_refusal(rt, ctx))


def _completed_later(
    rt: Host, ctx: WorkflowContext, status: str, tail: dict[str, Any] | None = None
) -> Any:
    """The engine-loop callback of a background completion (with its last step's record)."""

    def done(ok: bool, exc: BaseException | None) -> None:
        if ctx.on_durable is not None:
            ctx.on_durable()  # written (or refused): whatever slot it held is settled
        if exc is not None:
            rt.logger.error("completing workflow %s failed: %s", ctx.workflow_id, exc)
            return
        if ok and tail is not None:
            rt.events.emit(StepRecorded(ctx.workflow_id, tail["fname"], tail["fid"]))
        rt.events.emit(WorkflowFinished(ctx.workflow_id, status if ok else "FENCED"))
        if not ok:
            rt.engine.spawn(_explain_later(rt, ctx), f"refused-{ctx.workflow_id}")

    return done


async def _explain_later(rt: Host, ctx: WorkflowContext) -> None:
    try:
        await explain_refusal(rt, ctx)
    except Exception as exc:  # nobody waits for this thread: the log and events tell
        rt.logger.debug("background workflow %s ended with %r", ctx.workflow_id, exc)


async def complete(
    rt: Host, ctx: WorkflowContext, status: str, output: str | None, error: str | None
) -> None:
    """Record the outcome (unless the row was handed back); a refused write is explained."""
    stop_if_handed_back(ctx)
    ok = await rt.sysdb.complete(ctx.workflow_id, ctx.owner, status, output, error)
    rt.events.emit(WorkflowFinished(ctx.workflow_id, status if ok else "FENCED"))
    if not ok:
        await explain_refusal(rt, ctx)


async def explain_refusal(rt: Host, ctx: WorkflowContext) -> None:
    """A fenced write touched nothing: raise why — or return when it was ours after all.

    A write retried after a dropped connection finds its first attempt's row (a record
    conflicts, a completion sees the workflow finished) while this execution still
    holds the owner token: that write landed, so it is not refused.
    """
    row = await rt.sysdb.fence_state(ctx.workflow_id)
    if row is not None and row.status == "CANCELLED":
        raise DBOSWorkflowCancelledError(f"Workflow {ctx.workflow_id} was cancelled")
    if row is not None and row.owner_xid == ctx.owner and not ctx.handed_back:
        return
    ctx.stop("a write was refused: another execution owns the workflow now")
    rt.events.emit(WriteRefused(ctx.workflow_id))
    rt.logger.warning(
        "write refused: workflow %s is now owned by another execution; stopping this one",
        ctx.workflow_id,
    )
    raise DBOSOwnershipLostError(ctx.workflow_id)


def outcome_of(
    result: Any = None, exc: BaseException | None = None, serialization: str | None = None
) -> tuple[str, str | None, str | None]:
    """(status, output, error) to store for a finished body, in the workflow's format."""
    if exc is None:
        try:
            return "SUCCESS", ser.serialize(result, "output", serialization), None
        except Exception as err:
            return "ERROR", None, ser.serialize_exception(err, serialization)
    return "ERROR", None, ser.serialize_exception(exc, serialization)


def stop_if_handed_back(ctx: WorkflowContext) -> None:
    """Write nothing for an execution whose workflow this process has released already."""
    if ctx.handed_back:
        raise WorkflowStopped(ctx.workflow_id, ctx.stop_reason or "the workflow was handed back")


def step_outside_runtime() -> None:
    """A step called where no runtime is attached: fine outside any workflow; inside
    one, its runtime is gone (destroyed), so the execution stops instead of running
    the step as a plain, unrecorded function."""
    ctx = current_workflow.get()
    if ctx is not None and not ctx.in_step:
        ctx.stop("the DBOS runtime it ran under was destroyed")
        ctx.check_stop()


def check_deadline(ctx: WorkflowContext) -> bool:
    """True when the workflow must stop before its next step: past its deadline
    (the caller cancels it) — or already cancelled (raises)."""
    if ctx.cancelled:
        raise DBOSWorkflowCancelledError(f"Workflow {ctx.workflow_id} was cancelled")
    return ctx.deadline_ms is not None and now_ms() > ctx.deadline_ms
