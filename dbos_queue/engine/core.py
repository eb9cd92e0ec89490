"""Running workflows and steps: start or attach, checkpoint, complete — fenced.

A workflow execution owns its row through an ``owner_xid`` token; every write it
makes names that token (see ``_sql.RECORD_OPERATION``). When a write is refused
the execution finds out why (cancelled, timed out, or taken over) and stops.
User code runs in the caller's thread (sync) or task (async); database work is
handed to the engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbos_queue.db.loop import NOT_YET
from dbos_queue.db.sysdb import TERMINAL, InitResult, now_ms
from dbos_queue.engine import tail as _tail
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine.context import (
    WorkflowContext,
    WorkflowStopped,
    auth,
    current_workflow,
    next_timeout,
    take_workflow_id,
)
from dbos_queue.engine.events import StepRecorded, TakenOver, WorkflowFinished, WriteRefused
from dbos_queue.engine.registry import FunctionInfo
from dbos_queue.error import (
    DBOSAwaitedWorkflowCancelledError,
    DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded,
    DBOSConflictingWorkflowError,
    DBOSMaxStepRetriesExceeded,
    DBOSNotAuthorizedError,
    DBOSOwnershipLostError,
    DBOSUnexpectedStepError,
    DBOSWorkflowCancelledError,
    MaxRecoveryAttemptsExceededError,
)
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import Row

if TYPE_CHECKING:
    from dbos_queue.engine.host import Host


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


@dataclass
class Start:
    """Everything needed to start (or attach to) one workflow."""

    info: FunctionInfo
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    wf_id: str
    bound: Any = None  # self or cls for methods
    class_name: str | None = None
    config_name: str | None = None
    queue_name: str | None = None
    status: str = "PENDING"
    extra: dict[str, Any] = field(default_factory=dict[str, Any])  # priority, dedup, ...


# --- authorization -------------------------------------------------------------------


def current_auth() -> tuple[str | None, list[str] | None]:
    """The caller's user and roles: the running workflow's, else the request's."""
    ctx = current_workflow.get()
    if ctx is not None and (ctx.authenticated_user or ctx.authenticated_roles):
        return ctx.authenticated_user, ctx.authenticated_roles
    return auth.get() or (None, None)


def check_roles(info: FunctionInfo) -> str | None:
    """Raise unless the caller holds one of ``info.required_roles``; return the role assumed."""
    if not info.required_roles:
        return None
    user, roles = current_auth()
    if roles is None:
        raise DBOSNotAuthorizedError(
            f"Function {info.name} requires a role, but was called in a context without "
            "authentication information (use DBOSContextSetAuth)"
        )
    for role in info.required_roles:
        if role in roles:
            return role
    raise DBOSNotAuthorizedError(
        f"Function {info.name} has required roles {info.required_roles}, but user "
        f"{user!r} has roles {roles}"
    )


# --- starting -------------------------------------------------------------------------


def resolve_workflow_id(rt: Host) -> tuple[str, WorkflowContext | None, int]:
    """The id for a workflow started here, and (parent ctx, parent function id) if a child."""
    parent = current_workflow.get()
    assigned = take_workflow_id()
    if parent is None or parent.in_step:
        return assigned or rt.new_workflow_id(), None, 0
    fid = parent.next_function_id()
    recorded = parent.recorded.get(fid) if not parent.fresh else None
    if recorded is not None and recorded.child_workflow_id:
        return recorded.child_workflow_id, parent, fid
    return assigned or f"{parent.workflow_id}-{fid}", parent, fid


def init_params(rt: Host, s: Start, owner: str | None, role: str | None) -> dict[str, Any]:
    """The columns of a new status row for ``s`` (auth, deadline, parent, inputs)."""
    user, roles = current_auth()
    timeout = next_timeout.get()
    parent = current_workflow.get()
    deadline = None
    if timeout is None and parent is not None and parent.deadline_ms is not None:
        deadline = parent.deadline_ms  # children inherit the parent's deadline
    now = now_ms()
    if timeout is not None and s.status == "PENDING":
        deadline = now + int(timeout * 1000)
    return {
        "id": s.wf_id,
        "status": s.status,
        "name": s.info.name,
        "class_name": s.class_name,
        "config_name": s.config_name,
        "user": user,
        "assumed_role": role,
        "roles": json.dumps(roles) if roles is not None else None,
        "executor_id": rt.executor_id if s.status == "PENDING" else None,
        "app_version": s.extra.get("app_version") or rt.app_version,
        "app_id": None,
        "queue": s.queue_name,
        "timeout_ms": int(timeout * 1000) if timeout is not None else None,
        "deadline_ms": deadline,
        **_format_fields(s, parent),  # serializes the inputs: refuses bad input before any write
        "started_ms": now if s.status == "PENDING" else None,
        "dedup_id": s.extra.get("deduplication_id"),
        "priority": s.extra.get("priority") or 0,
        "partition_key": s.extra.get("queue_partition_key"),
        "owner": owner,
        "attempts": 1 if s.status == "PENDING" else 0,
        "now": now,
        "delay_until": s.extra.get("delay_until"),
        **_status_fields(rt, s, parent),
    }


def _format_fields(s: Start, parent: WorkflowContext | None) -> dict[str, Any]:
    """The inputs in the workflow's format (0011): its own serialization type, else its
    parent's; and the debounce columns a Debouncer sets."""
    kind = s.extra.get("serialization_type") or s.info.serialization_type
    inherited = parent.serialization if parent is not None and not parent.in_step else None
    fmt = ser.format_for(kind, inherited)
    return {
        "inputs": ser.serialize_args(s.args, s.kwargs, fmt),
        "serialization": fmt or ser.current_format(),
        "is_debounced": bool(s.extra.get("is_debounced")),
        "debounce_deadline": s.extra.get("debounce_deadline"),
    }


def _status_fields(rt: Host, s: Start, parent: WorkflowContext | None) -> dict[str, Any]:
    """INIT_WORKFLOW's DBOS 3.4 columns (0008): parent, owner, attributes, shard key."""
    from dbos_queue.engine.options import attributes_json, pending_attributes, pending_shard_key

    is_child = parent is not None and not parent.in_step
    attributes = s.extra["attributes"] if "attributes" in s.extra else pending_attributes()
    attributes = _tracing.with_carrier(attributes)  # a PropagateOtelContext block's trace
    return {
        "parent_id": parent.workflow_id if is_child and parent is not None else None,
        "app_name": s.extra.get("application_name") or getattr(rt.settings, "name", None),
        "attributes": attributes_json(attributes),
        "schedule_name": s.extra.get("schedule_name"),
        "shard_key": s.extra.get("shard_key") or pending_shard_key(),
        "creator": None,  # 0013: set by a start under workflow_id_reuse_policy "reject"
    }


async def init_workflow(
    rt: Host,
    params: dict[str, Any],
    parent: WorkflowContext | None,
    parent_fid: int,
    name: str,
) -> tuple[bool, WorkflowContext | None]:
    """Insert or attach. Returns (owned, context to run it under when owned)."""
    wf_id = params["id"]
    if parent is not None:
        rec = rt.sysdb.operation_params(
            parent.workflow_id, parent.owner, parent_fid, name, child=wf_id
        )
        await rt.sysdb.record_operation(rec)  # refused => parent fenced; it finds out next write
    return await attach(rt, params, await rt.sysdb.init_workflow(params), name)


async def attach(
    rt: Host, params: dict[str, Any], res: InitResult, name: str
) -> tuple[bool, WorkflowContext | None]:
    """What an INIT's result means for its caller: (owned, context to run it under)."""
    wf_id = params["id"]
    if res.holder is not None:  # duplication_policy "return-existing": attached to it
        params["id"] = res.holder
        return False, None
    if res.inserted:
        return params["status"] == "PENDING", None
    if res.name != name:
        raise DBOSConflictingWorkflowError(
            wf_id,
            f"Workflow already exists with a different function name: {res.name}, "
            f"but the provided function name is: {name}",
        )
    if res.status != "PENDING":
        return False, None
    return await try_takeover(rt, wf_id)


async def try_takeover(rt: Host, wf_id: str) -> tuple[bool, WorkflowContext | None]:
    """Own a PENDING workflow whose owner process is dead; (False, None) if it is alive."""
    owner = rt.new_owner()
    row = await rt.sysdb.takeover(wf_id, owner, rt.executor_id)
    if row is None:
        return False, None
    attempts = row.recovery_attempts
    info = rt.registry.workflows.get(row.name)
    limit = (info.max_recovery_attempts if info else None) or rt.settings.max_recovery_attempts
    if attempts > limit + 1:
        await rt.sysdb.mark_max_recovery(wf_id, owner)
        rt.engine.publish("wf", wf_id)
        rt.events.emit(WorkflowFinished(wf_id, "MAX_RECOVERY_ATTEMPTS_EXCEEDED"))
        raise MaxRecoveryAttemptsExceededError(wf_id, limit)
    rt.events.emit(TakenOver(wf_id))
    return True, await recovery_context(rt, wf_id, owner)


async def recovery_context(rt: Host, wf_id: str, owner: str) -> WorkflowContext:
    """Context to re-run a stored workflow: its row's auth and format, its recorded steps."""
    status = await rt.sysdb.get_status_row(wf_id)
    assert status is not None
    ctx = fresh_context_from_row(status, owner)
    ctx.fresh = False
    ctx.recorded = await rt.sysdb.load_operations(wf_id)
    return ctx


def fresh_context_from_row(row: Row, owner: str) -> WorkflowContext:
    """Context for a workflow's status row (``_sql.STATUS_COLUMNS``): a claimed queue row."""
    return WorkflowContext(
        workflow_id=row.workflow_uuid,
        owner=owner,
        name=row.name or "",
        authenticated_user=row.authenticated_user,
        assumed_role=row.assumed_role,
        authenticated_roles=json.loads(row.authenticated_roles)
        if row.authenticated_roles
        else None,
        deadline_ms=row.workflow_deadline_epoch_ms,
        queue_name=row.queue_name,
        shard_key=row.shard_key,
        otel_carrier=_tracing.carrier_of(row.attributes),
        serialization=ser.args_format(row.inputs),
    )


def fresh_context(params: dict[str, Any]) -> WorkflowContext:
    """Context for a workflow this process just inserted (``init_params`` columns)."""
    return WorkflowContext(
        workflow_id=params["id"],
        owner=params["owner"],
        name=params["name"],
        authenticated_user=params["user"],
        assumed_role=params["assumed_role"],
        authenticated_roles=json.loads(params["roles"]) if params["roles"] else None,
        deadline_ms=params["deadline_ms"],
        queue_name=params["queue"],
        shard_key=params.get("shard_key"),
        otel_carrier=_tracing.carrier_of_json(params.get("attributes")),
        serialization=params.get("serialization"),
    )


# --- results ----------------------------------------------------------------------------


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


# --- steps ------------------------------------------------------------------------------


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
