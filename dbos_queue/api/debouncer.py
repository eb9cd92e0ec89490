"""``Debouncer`` and ``DebouncerClient``: run a workflow once a burst of calls has settled.

``debouncer.debounce(key, period, *args)`` starts the workflow ``period`` seconds from
now, unless a call with the same key is still waiting: then that waiting workflow is
pushed out to ``period`` seconds from now and gets these (the newest) arguments. With
``debounce_timeout_sec`` a workflow waits at most that long after the first call of
its burst. As in DBOS, the waiting workflow is a DELAYED row whose deduplication id is
``"<workflow name>-<key>"``; once it becomes ENQUEUED the key is free again, so a later
call starts a fresh workflow. Every call returns the handle of the workflow that will
run with its arguments.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.invoke import prepare_start, require_runtime, workflow_info
from dbos_queue.db import debounce as _debounce
from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine import core as _core
from dbos_queue.engine.context import current_workflow, next_enqueue, next_workflow_id
from dbos_queue.engine.registry import FunctionInfo, registry
from dbos_queue.error import DBOSException, DBOSQueueDeduplicatedError
from dbos_queue.model import serialization as ser
from dbos_queue.model.status import INTERNAL_QUEUE

if TYPE_CHECKING:
    from dbos_queue.api.client import DBOSClient, EnqueueOptions
    from dbos_queue.api.runtime import Runtime

R = TypeVar("R")
STEP_NAME = "DBOS.debounce_delayed_workflow"


def _queue_name(queue: Any) -> str | None:
    return queue if queue is None or isinstance(queue, str) else queue.name


def reject_conflicts(*, dedup: bool, delay: bool, priority: bool, partition: bool) -> None:
    """A debounce owns the deduplication id (the key) and the delay (the period)."""
    for given, what, why in (
        (dedup, "a deduplication_id", "the debounce key is the workflow's deduplication ID"),
        (delay, "a delay", "the debounce period controls the workflow's delay"),
        (priority, "a priority", "priority is not supported for debounced workflows"),
        (partition, "a queue partition key", "partitioned queues cannot deduplicate"),
    ):
        if given:
            raise DBOSException(f"Cannot debounce a workflow with {what} set: {why}.")


def _is_number(value: object) -> bool:
    """An int or float, not a bool (callers may pass anything)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_period(period: float, timeout: float | None) -> None:
    if not _is_number(period) or period < 0:
        raise DBOSException(f"debounce_period_sec must be a number >= 0, got {period!r}")
    if timeout is not None and not timeout > 0:
        raise DBOSException(f"debounce_timeout_sec must be positive, got {timeout!r}")


def _start_times(period: float, timeout: float | None) -> tuple[int, int | None]:
    """(delay until, debounce deadline) of a fresh debounced workflow."""
    now = now_ms()
    deadline = now + int(timeout * 1000) if timeout else None
    until = now + int(period * 1000)
    return (min(until, deadline) if deadline is not None else until), deadline


class Debouncer(Generic[R]):
    """Debounce a workflow of this application (by its registered name)."""

    def __init__(
        self,
        workflow_name: str,
        *,
        debounce_timeout_sec: float | None = None,
        queue: Any = None,
        application_name: str | None = None,
    ) -> None:
        self.func_name = workflow_name
        self.debounce_timeout_sec = debounce_timeout_sec
        self.queue_name = _queue_name(queue)
        self.application_name = application_name

    @staticmethod
    def create(
        workflow: Callable[..., Any],
        *,
        debounce_timeout_sec: float | None = None,
        queue: Any = None,
        application_name: str | None = None,
    ) -> Debouncer[Any]:
        """A Debouncer for a decorated workflow function (not a bound method)."""
        if isinstance(workflow, types.MethodType):
            raise TypeError("Only workflow functions may be debounced, not methods")
        return Debouncer(
            workflow_info(workflow).name,
            debounce_timeout_sec=debounce_timeout_sec,
            queue=queue,
            application_name=application_name,
        )

    create_async = create  # the same for an async workflow function

    def _queue(self, rt: Runtime) -> str:
        name = self.queue_name
        if not name:
            return INTERNAL_QUEUE
        declared = registry.queues.get(name)
        row = None if declared else rt.engine.run(rt.sysdb.fetchone(_sql.GET_QUEUE, (name,)))
        if declared is None and row is None:
            raise DBOSException(f"Invalid queue name provided to debouncer: {name}")
        settings = declared.settings if declared is not None else None
        if settings is not None and settings.partitioned:
            raise DBOSException(
                f"Cannot debounce onto partitioned queue {name}: partitioned queues cannot "
                "deduplicate, which debouncing requires"
            )
        return name

    def debounce(
        self, debounce_key: str, debounce_period_sec: float, *args: Any, **kwargs: Any
    ) -> WorkflowHandle[R]:
        """Start (or push out and re-argue) the debounced workflow; returns its handle."""
        rt = require_runtime()
        opts = next_enqueue.get()
        reject_conflicts(
            dedup=bool(opts and opts.deduplication_id),
            delay=bool(opts and opts.delay_seconds),
            priority=bool(opts and opts.priority),
            partition=bool(opts and opts.queue_partition_key),
        )
        _check_period(debounce_period_sec, self.debounce_timeout_sec)
        info = registry.workflows.get(self.func_name)
        if info is None:
            raise DBOSException(f"Invalid workflow name provided to debouncer: {self.func_name}")
        queue = self._queue(rt)
        dedup = f"{self.func_name}-{debounce_key}"
        pinned = next_workflow_id.get()  # reapplied on every attempt, then consumed
        next_workflow_id.set(None)
        while True:
            bounce = self._bounce(rt, info, queue, dedup, debounce_period_sec, args, kwargs)
            action = bounce.action(self.func_name)
            if action == "return":
                return WorkflowHandle(rt, bounce.bounced_workflow_id or "")
            if action == "raise":
                raise DBOSQueueDeduplicatedError(bounce.holder_workflow_id or "", queue, dedup)
            if action == "retry":
                continue
            until, deadline = _start_times(debounce_period_sec, self.debounce_timeout_sec)
            next_workflow_id.set(pinned)
            try:
                wf_id = _enqueue_debounced(rt, info, queue, args, kwargs, dedup, until, deadline)
            except DBOSQueueDeduplicatedError:
                continue  # another caller took the key meanwhile: extend theirs instead
            finally:
                next_workflow_id.set(None)
            return WorkflowHandle(rt, wf_id)

    def _bounce(
        self,
        rt: Runtime,
        info: FunctionInfo,
        queue: str,
        dedup: str,
        period: float,
        args: tuple[Any, ...],
        kw: dict[str, Any],
    ) -> _debounce.Bounce:
        fmt = ser.format_for(info.serialization_type)
        values: dict[str, Any] = {
            "queue": queue,
            "dedup_id": dedup,
            "name": self.func_name,
            "delay_until": now_ms() + int(period * 1000),
            "inputs": ser.serialize_args(args, kw, fmt),
            "serialization": fmt or ser.current_format(),
        }
        ctx = current_workflow.get()
        if ctx is None or ctx.in_step:
            return rt.engine.run(_debounce.extend(rt.sysdb, **values))
        # In a workflow the attempt is a step, committed with its own record: a replay
        # returns what it found instead of bouncing again.
        fid = ctx.next_function_id()
        done, recorded = _core.step_replay(ctx, fid, STEP_NAME)
        if done:
            return _debounce.bounce_from_record(recorded)
        record = rt.sysdb.operation_params(ctx.workflow_id, ctx.owner, fid, STEP_NAME)
        try:
            return rt.engine.run(_debounce.extend(rt.sysdb, record=record, **values))
        except _debounce.Refused:
            rt.engine.run(_core.explain_refusal(rt, ctx))
            raise

    async def debounce_async(
        self, debounce_key: str, debounce_period_sec: float, *args: Any, **kwargs: Any
    ) -> WorkflowHandleAsync[R]:
        """``debounce`` from async code (it runs in a worker thread)."""
        handle = await asyncio.to_thread(
            self.debounce, debounce_key, debounce_period_sec, *args, **kwargs
        )
        return WorkflowHandleAsync(require_runtime(), handle.workflow_id)


def _enqueue_debounced(
    rt: Runtime,
    info: FunctionInfo,
    queue: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    dedup: str,
    until: int,
    deadline: int | None,
) -> str:
    """A fresh DELAYED, debounced workflow (a child when called from a workflow)."""
    rt, s, params, parent, pfid = prepare_start(info, args, kwargs)
    s.status, s.queue_name = "DELAYED", queue
    s.extra = {
        "priority": 0,
        "deduplication_id": dedup,
        "delay_until": until,
        "is_debounced": True,
        "debounce_deadline": deadline,
    }
    params = _core.init_params(rt, s, None, params["assumed_role"])
    params["deadline_ms"] = None  # a caller's deadline would expire during a long debounce
    rt.engine.run(_core.init_workflow(rt, params, parent, pfid, info.name))
    rt.engine.loop.call_soon_threadsafe(rt.queues.wake_delayed)
    return s.wf_id


class DebouncerClient:
    """Debounce a workflow from outside the application (through a ``DBOSClient``)."""

    def __init__(
        self,
        client: DBOSClient,
        workflow_options: EnqueueOptions,
        *,
        debounce_timeout_sec: float | None = None,
        queue: Any = None,
        application_name: str | None = None,
    ) -> None:
        self.client = client
        self.workflow_options = workflow_options
        self.debounce_timeout_sec = debounce_timeout_sec
        self.queue_name = _queue_name(queue)
        self.application_name = application_name

    def debounce(
        self, debounce_key: str, debounce_period_sec: float, *args: Any, **kwargs: Any
    ) -> WorkflowHandle[Any]:
        """Start (or push out and re-argue) the debounced workflow; returns its handle."""
        opts: dict[str, Any] = dict(self.workflow_options)
        reject_conflicts(
            dedup=opts.get("deduplication_id") is not None,
            delay=opts.get("delay_seconds") is not None,
            priority=opts.get("priority") is not None,
            partition=opts.get("queue_partition_key") is not None,
        )
        _check_period(debounce_period_sec, self.debounce_timeout_sec)
        name = opts["workflow_name"]
        queue = self.queue_name or opts["queue_name"]
        dedup = f"{name}-{debounce_key}"
        client = self.client
        while True:
            fields = ser.input_fields(args, kwargs, opts.get("serialization_type"))
            bounce = client.engine.run(
                _debounce.extend(
                    client.sysdb,
                    queue=queue,
                    dedup_id=dedup,
                    name=name,
                    delay_until=now_ms() + int(debounce_period_sec * 1000),
                    **fields,
                )
            )
            action = bounce.action(name)
            if action == "return":
                return WorkflowHandle(client, bounce.bounced_workflow_id or "")
            if action == "raise":
                raise DBOSQueueDeduplicatedError(bounce.holder_workflow_id or "", queue, dedup)
            if action == "retry":
                continue
            try:
                wf_id = client.engine.run(
                    client.store_enqueued(
                        self._params(opts, queue, dedup, debounce_period_sec, args, kwargs)
                    )
                )
            except DBOSQueueDeduplicatedError:
                continue
            return WorkflowHandle(client, wf_id)

    def _params(
        self,
        opts: dict[str, Any],
        queue: str,
        dedup: str,
        period: float,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        until, deadline = _start_times(period, self.debounce_timeout_sec)
        options = cast("EnqueueOptions", {**opts, "queue_name": queue})
        params = self.client.enqueue_params(options, args, kwargs)
        params.update(
            status="DELAYED",
            dedup_id=dedup,
            delay_until=until,
            is_debounced=True,
            debounce_deadline=deadline,
        )
        if self.application_name is not None:
            params["app_name"] = self.application_name
        return params

    async def debounce_async(
        self, debounce_key: str, debounce_period_sec: float, *args: Any, **kwargs: Any
    ) -> WorkflowHandleAsync[Any]:
        """``debounce`` from async code (it runs in a worker thread)."""
        handle = await asyncio.to_thread(
            self.debounce, debounce_key, debounce_period_sec, *args, **kwargs
        )
        return WorkflowHandleAsync(self.client, handle.workflow_id)
