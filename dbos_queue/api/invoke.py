"""Calling and enqueueing workflows: the one path behind every facade spelling."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.runtime import Runtime
from dbos_queue.engine import core as _core
from dbos_queue.engine.context import current_workflow
from dbos_queue.engine.core import Start
from dbos_queue.engine.registry import FunctionInfo, method_kind, registry
from dbos_queue.error import (
    DBOSAwaitedWorkflowCancelledError,
    DBOSException,
    DBOSWorkflowCancelledError,
)


def _rt() -> Runtime:
    """The launched process; raises when DBOS is not launched."""
    rt = registry.process
    if rt is None:
        raise DBOSException(
            "DBOS is not launched: create DBOS(config=...) and call DBOS.launch() before "
            "running workflows or using the system database"
        )
    return rt  # type: ignore[no-any-return]


def _info(func: Callable[..., Any]) -> FunctionInfo:
    info = getattr(func, "__dbos_info__", None)
    if info is not None and info.kind != "workflow":
        # A step (or transaction) started or enqueued directly runs as a one-step workflow.
        info = getattr(func, "__dbos_temp_workflow__", None)
    if info is None or info.kind != "workflow":
        name = getattr(func, "__qualname__", repr(func))
        raise DBOSException(f"{name} is not a workflow; decorate it with @DBOS.workflow()")
    return info


def _bind(info: FunctionInfo, args: tuple) -> tuple[Any, tuple, str | None, str | None]:
    """Split self/cls off a method call: (bound, rest, class_name, config_name)."""
    if info.method is None or not args:
        return None, args, None, None
    bound = args[0]
    if info.method == "instance":
        return bound, args[1:], type(bound).__name__, getattr(bound, "config_name", None)
    return bound, args[1:], getattr(bound, "__name__", None), None


def _prepare(info: FunctionInfo, args: tuple, kwargs: dict[str, Any]):
    rt = _rt()
    role = _core.check_roles(info)
    bound, rest, class_name, config_name = _bind(info, args)
    wf_id, parent, pfid = _core.resolve_workflow_id(rt)
    s = Start(
        info=info,
        args=rest,
        kwargs=kwargs,
        wf_id=wf_id,
        bound=bound,
        class_name=class_name,
        config_name=config_name,
    )
    params = _core.init_params(rt, s, rt.new_owner(), role)
    return rt, s, params, parent, pfid


def _invoke_sync(info: FunctionInfo, args: tuple, kwargs: dict[str, Any], background: bool) -> Any:
    rt, s, params, parent, pfid = _prepare(info, args, kwargs)
    owned, ctx = rt.engine.run(_core.init_workflow(rt, params, parent, pfid, info.name))
    if owned:
        ctx = ctx or _core.fresh_context(params)
        if background:
            rt.submit(s, ctx)
        else:
            try:
                return rt.execute_sync(s, ctx)
            except DBOSWorkflowCancelledError:
                # Its caller awaited it: DBOS reports that as an awaited cancellation.
                raise DBOSAwaitedWorkflowCancelledError(s.wf_id) from None
    if background:
        return WorkflowHandle(rt, s.wf_id)
    return rt.engine.run(_core.await_result(rt, s.wf_id))


async def _invoke_async(
    info: FunctionInfo, args: tuple, kwargs: dict[str, Any], background: bool
) -> Any:
    rt, s, params, parent, pfid = _prepare(info, args, kwargs)
    owned, ctx = await rt.engine.arun(_core.init_workflow(rt, params, parent, pfid, info.name))
    if owned:
        ctx = ctx or _core.fresh_context(params)
        if background:
            rt.submit(s, ctx)
        else:
            try:
                return await rt.execute_async(s, ctx)
            except DBOSWorkflowCancelledError:
                raise DBOSAwaitedWorkflowCancelledError(s.wf_id) from None
    if background:
        return WorkflowHandleAsync(rt, s.wf_id)
    return await rt.engine.arun(_core.await_result(rt, s.wf_id))


def _enqueue_start(queue: Any, func: Callable[..., Any], args: tuple, kwargs: dict[str, Any]):
    from dbos_queue.db.sysdb import now_ms
    from dbos_queue.engine.context import next_enqueue

    info = _info(func)
    opts = next_enqueue.get()
    settings = queue.settings
    key = opts.queue_partition_key if opts else None
    if settings.partitioned and key is None:
        raise DBOSException(
            f"Queue {queue.name} is partitioned: enqueue inside "
            "SetEnqueueOptions(queue_partition_key=...)"
        )
    if key is not None and not settings.partitioned:
        raise DBOSException(f"Queue {queue.name} is not partitioned; drop queue_partition_key")
    if opts and opts.priority and not queue.priority_enabled:
        raise DBOSException(
            f"Queue {queue.name} was not declared with priority_enabled=True; "
            "declare it so, or enqueue without a priority"
        )
    rt, s, _params, parent, pfid = _prepare(info, args, kwargs)
    delay = opts.delay_seconds if opts else None
    s.status = "DELAYED" if delay else "ENQUEUED"
    s.queue_name = queue.name
    s.extra = {
        "priority": opts.priority if opts else 0,
        "deduplication_id": opts.deduplication_id if opts else None,
        "queue_partition_key": key,
        "delay_until": now_ms() + int(delay * 1000) if delay else None,
    }
    params = _core.init_params(rt, s, None, _params["assumed_role"])
    return rt, s, params, parent, pfid


def _after_enqueue(rt: Runtime, s: Start, owned: bool) -> None:
    if s.status == "DELAYED":
        from dbos_queue.queue.wakeup import DELAYED_SIGNAL

        rt.engine.loop.call_soon_threadsafe(rt.queues.wake_delayed)
        rt.engine.publish_threadsafe("queue", DELAYED_SIGNAL)  # other workers' timers
    else:
        rt.engine.publish_threadsafe("queue", s.queue_name or "")


def _named_only(name: str) -> bool:
    """A queue named (DBOS.enqueue_workflow) but not declared in this process."""
    from dbos_queue.model.status import INTERNAL_QUEUE

    return name not in registry.queues and name != INTERNAL_QUEUE


async def _require_stored_queue(rt: Runtime, name: str) -> None:
    """Refuse a queue no worker declared: nothing would ever run what it holds."""
    from dbos_queue.db import sql as _sql
    from dbos_queue.error import DBOSQueueNotDeclaredError

    row = await rt.sysdb.fetchone(_sql.QUEUE_EXISTS, (name,))
    if row is None or not row[0]:
        raise DBOSQueueNotDeclaredError(name)


def enqueue_sync(
    queue: Any, func: Callable[..., Any], args: tuple, kwargs: dict[str, Any]
) -> WorkflowHandle:
    rt, s, params, parent, pfid = _enqueue_start(queue, func, args, kwargs)
    if _named_only(queue.name):
        rt.engine.run(_require_stored_queue(rt, queue.name))
    rt.engine.run(_core.init_workflow(rt, params, parent, pfid, s.info.name))
    _after_enqueue(rt, s, True)
    return WorkflowHandle(rt, s.wf_id)


async def enqueue_async(
    queue: Any, func: Callable[..., Any], args: tuple, kwargs: dict[str, Any]
) -> WorkflowHandleAsync:
    rt, s, params, parent, pfid = _enqueue_start(queue, func, args, kwargs)
    if _named_only(queue.name):
        await rt.engine.arun(_require_stored_queue(rt, queue.name))
    await rt.engine.arun(_core.init_workflow(rt, params, parent, pfid, s.info.name))
    _after_enqueue(rt, s, True)
    return WorkflowHandleAsync(rt, s.wf_id)


def _register(func: Callable[..., Any], kind: str, name: str | None, **extra: Any) -> FunctionInfo:
    info = FunctionInfo(
        name=name or func.__qualname__,
        func=func,
        kind=kind,
        is_async=inspect.iscoroutinefunction(func),
        method=method_kind(func),
        required_roles=getattr(func, "__dbos_required_roles__", None),
        **extra,
    )
    if kind == "workflow":
        registry.workflows[info.name] = info
    return info


def _finish_wrapper(info: FunctionInfo, wrapper: Callable[..., Any]) -> Any:
    wrapper.__dbos_info__ = info  # type: ignore[attr-defined]
    info.wrapper = wrapper
    if info.kind in ("step", "transaction"):
        wrapper.__dbos_temp_workflow__ = _temp_workflow(info, wrapper)  # type: ignore[attr-defined]
    return wrapper


def _temp_workflow(info: FunctionInfo, wrapper: Callable[..., Any]) -> FunctionInfo:
    """The workflow ``<temp>.<name>`` that runs one step, registered like DBOS's: a step
    passed to ``start_workflow`` or ``Queue.enqueue`` runs as it, in any process that
    declares the step."""
    if info.is_async:

        async def body(*args: Any, **kwargs: Any) -> Any:
            return await wrapper(*args, **kwargs)

    else:

        def body(*args: Any, **kwargs: Any) -> Any:
            return wrapper(*args, **kwargs)

    temp = FunctionInfo(
        name=f"<temp>.{info.name}",
        func=body,
        wrapper=body,
        kind="workflow",
        is_async=info.is_async,
        method=info.method,
    )
    registry.workflows[temp.name] = temp
    return temp


def _op_ctx(required: bool, what: str = "", allow_step: bool = False):
    """(workflow context, function id) for a communication call made here."""
    ctx = current_workflow.get()
    if ctx is None:
        if required:
            raise DBOSException(f"DBOS.{what} must be called from within a workflow")
        return None, 0
    if ctx.in_step:
        if allow_step:
            return ctx, 0
        if required:
            raise DBOSException(f"DBOS.{what} cannot be called from within a step")
        return None, 0
    return ctx, ctx.next_function_id()


def current_ctx_vars() -> Any:
    import contextvars

    return contextvars.copy_context()


async def _start_async_on_engine(
    info: FunctionInfo, args: tuple, kwargs: dict[str, Any], cvars: Any
) -> WorkflowHandle:
    # Run the start in the caller's context (SetWorkflowID, auth, parent) but on the engine loop.
    import asyncio

    task = asyncio.get_running_loop().create_task(
        _invoke_async(info, args, kwargs, background=True), context=cvars
    )
    handle = await task
    return WorkflowHandle(_rt(), handle.workflow_id)
