"""Running workflows and steps: start or attach, checkpoint, complete — fenced.

A workflow execution owns its row through an ``owner_xid`` token; every write it
makes names that token (see ``_sql.RECORD_OPERATION``). When a write is refused
the execution finds out why (cancelled, timed out, or taken over) and stops.
User code runs in the caller's thread (sync) or task (async); database work is
handed to the engine.

This module runs steps (replay, retries, the fenced record); starting a workflow is
in engine/starting.py and completing and fencing in engine/fencing.py. Their names
are importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine import tail as _tail
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine.context import WorkflowContext, current_workflow
from dbos_queue.engine.events import StepRecorded
from dbos_queue.engine.fencing import (
    await_result,
    check_deadline,
    complete,
    complete_blocking,
    explain_refusal,
    outcome_of,
    result_from_row,
    step_outside_runtime,
    stop_if_handed_back,
)
from dbos_queue.engine.registry import FunctionInfo
from dbos_queue.engine.starting import (
    Start,
    attach,
    check_roles,
    current_auth,
    fresh_context,
    fresh_context_from_row,
    init_params,
    init_workflow,
    recovery_context,
    resolve_workflow_id,
    try_takeover,
)
from dbos_queue.error import DBOSMaxStepRetriesExceeded, DBOSUnexpectedStepError
from dbos_queue.model import serialization as ser

if TYPE_CHECKING:
    from dbos_queue.engine.host import Host

__all__ = [
    "Start",
    "StepOptions",
    "attach",
    "await_result",
    "check_deadline",
    "check_roles",
    "complete",
    "complete_blocking",
    "current_auth",
    "explain_refusal",
    "fresh_context",
    "fresh_context_from_row",
    "init_params",
    "init_workflow",
    "outcome_of",
    "recovery_context",
    "resolve_workflow_id",
    "result_from_row",
    "retry_delays",
    "run_step_async",
    "run_step_sync",
    "step_outside_runtime",
    "step_params",
    "step_replay",
    "stop_if_handed_back",
    "try_takeover",
]


@dataclass
class StepOptions:
    """How a step runs (the public spelling is the ``StepOptions`` TypedDict of the API)."""

    retries_allowed: bool = False
    interval_seconds: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    # Applied by the caller's wrapper (engine/steps.py), which raises StopRetries when
    # should_retry(exc) says no, DBOSStepTimeoutError past timeout_seconds (async steps).
    should_retry: Callable[[BaseException], Any] | None = None
    timeout_seconds: float | None = None
    preemptible: bool = False


def step_replay(ctx: WorkflowContext, fid: int, name: str) -> tuple[bool, Any]:
    """(True, recorded output) when this step already ran; raises its recorded error."""
    if ctx.fresh:
        return False, None
    rec = ctx.recorded.get(fid)
    if rec is None:
        return False, None
    fname = rec.function_name
    if fname and name and fname != name:
        raise DBOSUnexpectedStepError(ctx.workflow_id, fid, name, fname)
    if rec.error is not None:
        exc = ser.deserialize_exception(rec.error)
        raise exc if exc is not None else RuntimeError(rec.error)
    return True, ser.deserialize(rec.output)


def retry_delays(opts: StepOptions) -> Iterator[float]:
    """Sleep before each retry: interval, interval*rate, ... (max_attempts-1 of them)."""
    delay = opts.interval_seconds
    for _ in range(max(opts.max_attempts, 1) - 1):
        yield delay
        delay *= opts.backoff_rate


class _Retries:
    """Attempt bookkeeping shared by the sync and async step runners."""

    def __init__(self, rt: Host, info: FunctionInfo, opts: StepOptions) -> None:
        self.rt, self.info, self.opts = rt, info, opts
        self.delays = retry_delays(opts) if opts.retries_allowed else iter(())
        self.errors: list[BaseException] = []

    def failed(self, e: BaseException) -> tuple[BaseException, float | None]:
        """(error to record, delay before the next attempt or None when out of attempts)."""
        from dbos_queue.engine.options import StopRetries

        if isinstance(e, StopRetries):  # should_retry said no: the error itself, at once
            self.errors.append(e.original)
            return e.original, None
        self.errors.append(e)
        delay = next(self.delays, None)
        if delay is None:
            if self.opts.retries_allowed:
                return DBOSMaxStepRetriesExceeded(
                    self.info.name, self.opts.max_attempts, self.errors
                ), None
            return e, None
        self.rt.logger.warning("step %s failed (%s); retrying in %.2fs", self.info.name, e, delay)
        _tracing.step_attempt_failed(len(self.errors) - 1, e, delay)
        return e, delay


def _write_deferred(rt: Host, ctx: WorkflowContext) -> None:
    """Write the record an earlier step deferred to the completion (engine/tail.py)."""
    earlier = _tail.take(ctx)
    if earlier is not None and not rt.sysdb.record_operation_blocking(earlier):
        rt.engine.run(explain_refusal(rt, ctx))


def run_step_sync(
    rt: Host, info: FunctionInfo, opts: StepOptions, call: Callable[[], Any], fid: int | None = None
) -> Any:
    """Run a step in the current workflow (``fid``: a step id reserved earlier)."""
    ctx = current_workflow.get()
    if ctx is None or ctx.in_step:
        return call()
    fid = ctx.next_function_id() if fid is None else fid
    if check_deadline(ctx):
        rt.engine.run(rt.cancel_for_timeout(ctx))
    done, value = step_replay(ctx, fid, info.name)
    if done:
        return value
    started = now_ms()
    if not rt.lease.fresh():  # paused or cut off past the lease: confirm it first
        rt.engine.run(rt.confirm_lease())
    if _tail.pending(ctx):  # a step after a "last" step: its record must be durable first
        _write_deferred(rt, ctx)
    ctx.begin_step(fid)  # raises WorkflowStopped once stopped; atomic with ctx.stop()
    result, exc = None, None
    deferred = False
    try:
        try:
            retries = _Retries(rt, info, opts)
            while True:
                try:
                    result, exc = call(), None
                    break
                except Exception as e:
                    exc, delay = retries.failed(e)
                    if delay is None:
                        break
                    ctx.pause(delay)
                    ctx.begin_step(fid)  # a retry starts the body again: not once stopped
        finally:
            ctx.end_body()
        params, exc = step_params(rt, ctx, fid, info.name, started, result, exc)
        stop_if_handed_back(ctx)
        # The workflow's last act: its record goes with the completion (engine/tail.py).
        deferred = exc is None and _tail.defer(rt, ctx, params)
        if not deferred and not rt.sysdb.record_operation_blocking(params):
            rt.engine.run(explain_refusal(rt, ctx))
    finally:
        ctx.end_step()
    if not deferred:
        rt.events.emit(StepRecorded(ctx.workflow_id, info.name, fid))
    if exc is not None:
        raise exc
    return result


async def run_step_async(
    rt: Host, info: FunctionInfo, opts: StepOptions, call: Callable[[], Any], fid: int | None = None
) -> Any:
    """The async twin of ``run_step_sync``."""
    ctx = current_workflow.get()
    if ctx is None or ctx.in_step:
        return await call()
    fid = ctx.next_function_id() if fid is None else fid
    if check_deadline(ctx):
        await rt.engine.arun(rt.cancel_for_timeout(ctx))
    done, value = step_replay(ctx, fid, info.name)
    if done:
        return value
    started = now_ms()
    if not rt.lease.fresh():
        await rt.engine.arun(rt.confirm_lease())
    ctx.begin_step(fid)
    result, exc = None, None
    try:
        try:
            retries = _Retries(rt, info, opts)
            while True:
                try:
                    result, exc = await call(), None
                    break
                except Exception as e:
                    exc, delay = retries.failed(e)
                    if delay is None:
                        break
                    await ctx.apause(delay)
                    ctx.begin_step(fid)
        finally:
            ctx.end_body()
        params, exc = step_params(rt, ctx, fid, info.name, started, result, exc)
        stop_if_handed_back(ctx)
        if not await rt.engine.arun(rt.sysdb.record_operation(params)):
            await rt.engine.arun(explain_refusal(rt, ctx))
    finally:
        ctx.end_step()
    rt.events.emit(StepRecorded(ctx.workflow_id, info.name, fid))
    if exc is not None:
        raise exc
    return result


def step_params(
    rt: Host,
    ctx: WorkflowContext,
    fid: int,
    name: str,
    started: int,
    result: Any,
    exc: BaseException | None,
) -> tuple[dict[str, Any], BaseException | None]:
    """The fenced record of a finished step, and the error to raise (an output that
    cannot be stored fails the step with the serialization error)."""
    output = error = None
    if exc is None:
        try:
            output = ser.serialize(result, f"output of step {name}")
        except Exception as err:
            exc = err
    if exc is not None:
        error = ser.serialize_exception(exc)
    params = rt.sysdb.operation_params(
        ctx.workflow_id, ctx.owner, fid, name, output, error, started=started
    )
    return params, exc
