"""Handing claimed workflows to the threads that run them, with as few hops as possible.

The common case of a claim - a sync workflow of a registered function, claimed for the
first time - goes straight from the claim loop to the thread pool: its arguments are
decoded and its context built on the loop, the pool's queue holds it until a thread
is free (a bounded prefetch, see ``QueueService.room``), and the thread's end releases
its slot with one callback. No task, coroutine or asyncio future per workflow. Anything
else (an async workflow, a replay after a takeover or drain, an unknown function, the
recovery-attempt limit) takes the general path, ``run_claimed``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from dbos_queue.db.sysdb import Row
from dbos_queue.engine import core as _core
from dbos_queue.engine.context import WorkflowContext
from dbos_queue.engine.events import WorkflowFinished
from dbos_queue.error import DBOSWorkflowFunctionNotFoundError, MaxRecoveryAttemptsExceededError

if TYPE_CHECKING:
    from dbos_queue.queue.claimer import Claimer

logger = logging.getLogger("dbos_queue")


def dispatch_fast(svc: Claimer, name: str, key: str | None, row: Row) -> bool:
    """Start ``row`` (a claimed ``_sql.STATUS_COLUMNS`` row) on the thread pool if it is
    the common case; False otherwise."""
    rt = svc.rt
    info = rt.registry.workflows.get(row.name)
    if info is None or info.is_async or row.recovery_attempts != 1:
        return False
    wf_id, owner = row.workflow_uuid, row.owner_xid
    try:
        s = rt.start_for_row(wf_id, row)
    except Exception:
        return False  # the general path reports it (and knows what to do with it)
    ctx = _core.fresh_context_from_row(row, owner)
    wake_when_durable(svc, name, ctx)
    loop = rt.engine.loop
    release = svc.release

    def done() -> None:
        try:
            loop.call_soon_threadsafe(release, name, key, not woken_later(ctx))
        except RuntimeError:  # the engine loop is closed: nothing left to account
            pass

    try:
        rt.run_background(s, ctx, done)
    except Exception:
        return False  # e.g. the pool is shutting down: the general path logs it
    return True


def wake_when_durable(svc: Claimer, name: str, ctx: WorkflowContext) -> None:
    """On a queue with a fleet-wide limit (global or partition concurrency), a finished
    workflow frees its slot for every worker only once its completion is written: the
    thread's end (``release``) comes first, and a claim made then still counts the row
    as running. So the fleet is woken again when the background write lands."""
    s = svc.settings.get(name)
    if s is not None and (s.global_concurrency is not None or s.partition_concurrency is not None):
        publish = svc.rt.engine.publish
        ctx.on_durable = lambda: publish("queue", name)


def woken_later(ctx: WorkflowContext) -> bool:
    """Whether the fleet is woken when this execution's completion is written (so its
    ``release`` need not): the completion went to the background writer with an
    ``on_durable`` wake-up. Otherwise (it stopped, was cancelled or lost its row) the
    release wakes the fleet itself."""
    return ctx.on_durable is not None and ctx.completion_queued


async def run_claimed(
    svc: Claimer, name: str, key: str | None, wf_id: str, owner: str, row: Row
) -> None:
    """The general path: run a claimed ``row`` as a task (an async workflow, a replay after
    a takeover or drain, an unknown function, the recovery-attempt limit), then free its
    slot."""
    rt = svc.rt
    ctx: WorkflowContext | None = None
    try:
        limit = rt.settings.max_recovery_attempts
        try:
            s = rt.start_for_row(wf_id, row)
            limit = s.info.max_recovery_attempts or limit
        except DBOSWorkflowFunctionNotFoundError as exc:
            # Mixed fleet: leave it for a process that has the function; ERROR only
            # once none has shown up for unknown_workflow_wait_sec.
            from dbos_queue.queue.unrunnable import leave_or_fail

            outcome = await leave_or_fail(rt, wf_id, owner, row.name, exc, svc)
            (logger.error if outcome == "error" else logger.info)("%s (%s)", exc, outcome)
            return
        if row.recovery_attempts > limit + 1:
            await rt.sysdb.mark_max_recovery(wf_id, owner)
            rt.engine.publish("wf", wf_id)
            rt.events.emit(WorkflowFinished(wf_id, "MAX_RECOVERY_ATTEMPTS_EXCEEDED"))
            logger.error("%s", MaxRecoveryAttemptsExceededError(wf_id, limit))
            return
        ctx = _core.fresh_context_from_row(row, owner)
        wake_when_durable(svc, name, ctx)
        if row.recovery_attempts > 1:  # ran before (taken over, drained): replay its steps
            ctx.fresh = False
            ctx.recorded = await rt.sysdb.load_operations(wf_id)
        fut = rt.submit(s, ctx)
        await asyncio.wrap_future(fut)
    except Exception:
        logger.exception("queued workflow %s failed to run", wf_id)
    finally:
        svc.release(name, key, ctx is None or not woken_later(ctx))
