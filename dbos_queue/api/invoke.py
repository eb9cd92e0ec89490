"""Calling and enqueueing workflows: the one path behind every facade spelling."""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable
from typing import Any, Literal, Protocol, cast, overload

from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.runtime import Runtime
from dbos_queue.engine import core as _core
from dbos_queue.engine import start_policy as _policy
from dbos_queue.engine.context import WorkflowContext, current_workflow, pending_reuse_policy
from dbos_queue.engine.core import Start
from dbos_queue.engine.registry import FunctionInfo, method_kind, registry
from dbos_queue.error import (
    DBOSAwaitedWorkflowCancelledError,
    DBOSException,
    DBOSWorkflowCancelledError,
)
from dbos_queue.queue.settings import QueueSettings

# What starting a workflow prepared: the runtime, the start, its status fields, the
# calling workflow (if any) and the function id the call takes in it.
Prepared = tuple[Runtime, Start, dict[str, Any], WorkflowContext | None, int]


class EnqueueTarget(Protocol):
    """The queue an enqueue writes to (``Queue``, or a queue named by a client)."""

    @property
    def name(self) -> str:
        """The queue's name."""
        ...

    @property
    def settings(self) -> QueueSettings:
        """Its declared limits (whether it is partitioned)."""
        ...

    @property
    def priority_enabled(self) -> bool:
        """Whether it accepts priorities."""
        ...


def require_runtime() -> Runtime:
    """The launched process; raises when DBOS is not launched."""
    rt = registry.process
    if rt is None:
        raise DBOSException(
            "DBOS is not launched: create DBOS(config=...) and call DBOS.launch() before "
            "running workflows or using the system database"
        )
    # The registry holds the process as its engine-layer listener; api attaches a Runtime.
    return cast(Runtime, rt)


def launched_runtime() -> Runtime | None:
    """The launched process, or None before launch / after destroy."""
    return cast("Runtime | None", registry.process)


def workflow_info(func: Callable[..., Any]) -> FunctionInfo:
    """The registered workflow a function (or step, as its one-step workflow) starts."""
    info: FunctionInfo | None = getattr(func, "__dbos_info__", None)
    if info is not None and info.kind != "workflow":
        # A step (or transaction) started or enqueued directly runs as a one-step workflow.
        info = getattr(func, "__dbos_temp_workflow__", None)
    if info is None or info.kind != "workflow":
        name = getattr(func, "__qualname__", repr(func))
        raise DBOSException(f"{name} is not a workflow; decorate it with @DBOS.workflow()")
    return info


def _bind(
    info: FunctionInfo, args: tuple[Any, ...]
) -> tuple[Any, tuple[Any, ...], str | None, str | None]:
    """Split self/cls off a method call: (bound, rest, class_name, config_name)."""
    if info.method is None or not args:
        return None, args, None, None
    bound = args[0]
    if info.method == "instance":
        return bound, args[1:], type(bound).__name__, getattr(bound, "config_name", None)
    return bound, args[1:], getattr(bound, "__name__", None), None


def prepare_start(info: FunctionInfo, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Prepared:
    """Check roles, pick the workflow id and build the start of a call to ``info``."""
    rt = require_runtime()
    role = _core.check_roles(info)
    bound, rest, class_name, config_name = _bind(info, args)
    reuse = pending_reuse_policy()  # SetWorkflowID's, taken with its id just below
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
    params["reuse_policy"] = reuse
    return rt, s, params, parent, pfid


def _not_enqueued() -> None:
    """Refuse SetEnqueueOptions(duplication_policy="return-existing") on a direct start."""
    from dbos_queue.engine.context import check_duplication_policy, next_enqueue

    opts = next_enqueue.get()
    if opts is not None and opts.duplication_policy is not None:
        check_duplication_policy(opts.duplication_policy, None, opts.deduplication_id)


def invoke_sync(
    info: FunctionInfo, args: tuple[Any, ...], kwargs: dict[str, Any], background: bool
) -> Any:
    """Call a sync workflow: run it here, or (``background``) start it and return a handle."""
    _not_enqueued()
    rt, s, params, parent, pfid = prepare_start(info, args, kwargs)
    owned, ctx = rt.engine.run(_policy.init_workflow(rt, params, parent, pfid, info.name))
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
        return WorkflowHandle[Any](rt, s.wf_id)
    return rt.engine.run(_core.await_result(rt, s.wf_id))


async def invoke_async(
    info: FunctionInfo, args: tuple[Any, ...], kwargs: dict[str, Any], background: bool
) -> Any:
    """Call a workflow from async code: await it, or (``background``) start it."""
    _not_enqueued()
    rt, s, params, parent, pfid = prepare_start(info, args, kwargs)
    owned, ctx = await rt.engine.arun(_policy.init_workflow(rt, params, parent, pfid, info.name))
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
        return WorkflowHandleAsync[Any](rt, s.wf_id)
    return await rt.engine.arun(_core.await_result(rt, s.wf_id))


def enqueue_start(
    queue: EnqueueTarget, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Prepared:
    """Check the enqueue options against the queue and build the queued start."""
    from dbos_queue.db.sysdb import now_ms
    from dbos_queue.engine.context import check_duplication_policy, next_enqueue

    info = workflow_info(func)
    opts = next_enqueue.get()
    if opts is not None:
        check_duplication_policy(opts.duplication_policy, queue.name, opts.deduplication_id)
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
    rt, s, _params, parent, pfid = prepare_start(info, args, kwargs)
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
    params["reuse_policy"] = _params["reuse_policy"]
    params["duplication_policy"] = opts.duplication_policy if opts else None
    return rt, s, params, parent, pfid


def after_enqueue(rt: Runtime, s: Start, owned: bool) -> None:
    """Wake whoever runs the queued workflow: delayed-work timers or the queue's workers."""
    if s.status == "DELAYED":
        from dbos_queue.queue.wakeup import DELAYED_SIGNAL

        rt.engine.loop.call_soon_threadsafe(rt.queues.wake_delayed)
        rt.engine.publish_threadsafe("queue", DELAYED_SIGNAL)  # other workers' timers
    else:
        rt.engine.publish_threadsafe("queue", s.queue_name or "")


def named_only(name: str) -> bool:
    """A queue named (DBOS.enqueue_workflow) but not declared in this process."""
    from dbos_queue.model.status import INTERNAL_QUEUE

    return name not in registry.queues and name != INTERNAL_QUEUE


async def require_stored_queue(rt: Runtime, name: str) -> None:
    """Refuse a queue no worker declared: nothing would ever run what it holds."""
    from dbos_queue.db import sql as _sql
    from dbos_queue.error import DBOSQueueNotDeclaredError

    row = await rt.sysdb.fetchone(_sql.QUEUE_EXISTS, (name,))
    if row is None or not row.found:
        raise DBOSQueueNotDeclaredError(name)


def enqueue_sync(
    queue: EnqueueTarget, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> WorkflowHandle[Any]:
    """Write an ENQUEUED (or DELAYED) workflow to ``queue`` and return its handle."""
    rt, s, params, parent, pfid = enqueue_start(queue, func, args, kwargs)
    if named_only(queue.name):
        rt.engine.run(require_stored_queue(rt, queue.name))
    rt.engine.run(_policy.init_workflow(rt, params, parent, pfid, s.info.name))
    after_enqueue(rt, s, True)
    return WorkflowHandle[Any](rt, params["id"])  # the holder, when attached by deduplication


async def enqueue_async(
    queue: EnqueueTarget, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> WorkflowHandleAsync[Any]:
    """The async twin of :func:`enqueue_sync`."""
    rt, s, params, parent, pfid = enqueue_start(queue, func, args, kwargs)
    if named_only(queue.name):
        await rt.engine.arun(require_stored_queue(rt, queue.name))
    await rt.engine.arun(_policy.init_workflow(rt, params, parent, pfid, s.info.name))
    after_enqueue(rt, s, True)
    return WorkflowHandleAsync[Any](rt, params["id"])


def register_function(
    func: Callable[..., Any], kind: str, name: str | None, **extra: Any
) -> FunctionInfo:
    """Record a decorated function (workflows by name, so recovery can find them)."""
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


def finish_wrapper(info: FunctionInfo, wrapper: Callable[..., Any]) -> Any:
    """Tag a decorator's wrapper with its registration (and a step's one-step workflow)."""
    # Function attributes are how DBOS finds a decorated function's registration.
    setattr(wrapper, "__dbos_info__", info)  # noqa: B010
    info.wrapper = wrapper
    if info.kind in ("step", "transaction"):
        setattr(wrapper, "__dbos_temp_workflow__", _temp_workflow(info, wrapper))  # noqa: B010
    return wrapper


def _temp_workflow(info: FunctionInfo, wrapper: Callable[..., Any]) -> FunctionInfo:
    """The workflow ``<temp>.<name>`` that runs one step, registered like DBOS's: a step
    passed to ``start_workflow`` or ``Queue.enqueue`` runs as it, in any process that
    declares the step."""

    async def abody(*args: Any, **kwargs: Any) -> Any:
        return await wrapper(*args, **kwargs)

    def body(*args: Any, **kwargs: Any) -> Any:
        return wrapper(*args, **kwargs)

    run: Callable[..., Any] = abody if info.is_async else body
    temp = FunctionInfo(
        name=f"<temp>.{info.name}",
        func=run,
        wrapper=run,
        kind="workflow",
        is_async=info.is_async,
        method=info.method,
    )
    registry.workflows[temp.name] = temp
    return temp


@overload
def op_context(
    required: Literal[True], what: str = "", allow_step: bool = False
) -> tuple[WorkflowContext, int]: ...


@overload
def op_context(
    required: bool, what: str = "", allow_step: bool = False
) -> tuple[WorkflowContext | None, int]: ...


def op_context(
    required: bool, what: str = "", allow_step: bool = False
) -> tuple[WorkflowContext | None, int]:
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


def current_ctx_vars() -> contextvars.Context:
    """The caller's context variables, to start a workflow with them on the engine loop."""
    return contextvars.copy_context()


async def start_async_on_engine(
    info: FunctionInfo, args: tuple[Any, ...], kwargs: dict[str, Any], cvars: contextvars.Context
) -> WorkflowHandle[Any]:
    """Start an async workflow in the background from sync code (DBOS.start_workflow)."""
    # Run the start in the caller's context (SetWorkflowID, auth, parent) but on the engine loop.
    import asyncio

    task = asyncio.get_running_loop().create_task(
        invoke_async(info, args, kwargs, background=True), context=cvars
    )
    handle = cast(WorkflowHandleAsync[Any], await task)
    return WorkflowHandle(require_runtime(), handle.workflow_id)


_rt = require_runtime  # the name tests reach the launched process by


def fork_options() -> dict[str, Any]:
    """What a fork takes from the caller's context: the id ``SetWorkflowID`` gives it (as
    in DBOS, for ``DBOS.fork_workflow`` and ``DBOSClient.fork_workflow`` alike)."""
    from dbos_queue.engine.context import take_workflow_id

    return {"new_id": take_workflow_id()}
