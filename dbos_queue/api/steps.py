"""Steps without a decorator: ``DBOS.run_step``, ``DBOS.reserve_step``, ``StepOptions``.

``run_step(options, func, *args)`` runs ``func`` as a checkpointed step of the calling
workflow with the options of ``@DBOS.step`` (name defaults to ``func.__qualname__``);
outside a workflow it just calls ``func``. ``reserve_step()`` takes a step id now so a
step can run at it later — concurrent tasks of one workflow then record their steps
under ids fixed by the order of the reservations, not by scheduling.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict, cast

from dbos_queue.engine import core as _core
from dbos_queue.engine import steps as _steps
from dbos_queue.engine.context import WorkflowContext, current_workflow
from dbos_queue.engine.registry import FunctionInfo, registry
from dbos_queue.error import DBOSException

if TYPE_CHECKING:
    from dbos_queue.engine.core import StepOptions as RunnerOptions
    from dbos_queue.engine.host import Host


class StepOptions(TypedDict, total=False):
    """Options of ``DBOS.run_step`` / ``StepReservation.run`` (those of ``@DBOS.step``)."""

    name: str | None
    retries_allowed: bool
    interval_seconds: float
    max_attempts: int
    backoff_rate: float
    should_retry: Callable[[BaseException], Any] | None
    preemptible: bool
    timeout_seconds: float | None


def _prepare(
    options: StepOptions | None, func: Callable[..., Any]
) -> tuple[FunctionInfo, RunnerOptions]:
    name, opts = _steps.options_from(options)
    is_async = inspect.iscoroutinefunction(func)
    name = name or getattr(func, "__qualname__", None) or repr(func)
    _steps.check_options(name, is_async, opts)
    return FunctionInfo(name=name, func=func, kind="step", is_async=is_async), opts


def _in_workflow() -> WorkflowContext | None:
    ctx = current_workflow.get()
    return ctx if ctx is not None and not ctx.in_step else None


def _launched() -> Host | None:
    """The launched process (a Runtime, registered as the registry's listener)."""
    return cast("Host | None", registry.process)


async def _async_step(
    rt: Host, info: FunctionInfo, opts: RunnerOptions, call: Callable[[], Any], fid: int | None
) -> Any:
    ctx = current_workflow.get()
    if fid is not None or ctx is None or ctx.in_step:
        wrapped = _steps.wrap_async(info.name, opts, call)
        return await _core.run_step_async(rt, info, opts, wrapped, fid)
    # Concurrent steps of one workflow: take the id in call order, run under a view.
    fid = ctx.next_function_id()
    token = current_workflow.set(_steps.step_view(ctx))
    try:
        wrapped = _steps.wrap_async(info.name, opts, call)
        return await _core.run_step_async(rt, info, opts, wrapped, fid)
    finally:
        current_workflow.reset(token)


def run_sync(
    options: StepOptions | None,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    fid: int | None = None,
) -> Any:
    """``DBOS.run_step`` (and ``StepReservation.run``) from synchronous code."""
    info, opts = _prepare(options, func)
    rt = _launched()
    call = lambda: func(*args, **kwargs)  # noqa: E731 - the step body, called per attempt
    if info.is_async:
        if rt is None or (_in_workflow() is None and fid is None):
            return asyncio.run(call()) if rt is None else rt.engine.run(call())
        # The step body runs on the engine loop, in this caller's context (its workflow).
        cvars = contextvars.copy_context()

        async def on_loop() -> Any:
            task = asyncio.get_running_loop().create_task(
                _async_step(rt, info, opts, call, fid), context=cvars
            )
            return await task

        return rt.engine.run(on_loop())
    if rt is None:
        return call()
    return _core.run_step_sync(rt, info, opts, _steps.wrap_sync(opts, call), fid)


async def run_async(
    options: StepOptions | None,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    fid: int | None = None,
) -> Any:
    """``DBOS.run_step_async`` (and ``StepReservation.run_async``)."""
    info, opts = _prepare(options, func)
    rt = _launched()
    call = lambda: func(*args, **kwargs)  # noqa: E731 - the step body, called per attempt
    if info.is_async:
        if rt is None:
            return await call()
        return await _async_step(rt, info, opts, call, fid)
    # A sync body runs in a worker thread (context copied), so it never blocks the loop.
    return await asyncio.to_thread(run_sync, options, func, args, kwargs, fid)


class StepReservation:
    """A step id drawn by ``DBOS.reserve_step``; ``run``/``run_async`` it exactly once,
    from the workflow that reserved it (a reservation never run leaves a gap)."""

    def __init__(self, step_ctx: WorkflowContext) -> None:
        # A snapshot of the reserving workflow whose function_id is the reserved step id.
        self._ctx = step_ctx
        self._step_id = step_ctx.function_id
        self._used = False

    @property
    def step_id(self) -> int:
        """The reserved step id."""
        return self._step_id

    def _claim(self) -> contextvars.Token[WorkflowContext | None]:
        """Mark it used; run the step under a view of the workflow of its own, so steps of
        concurrent tasks (the reason to reserve) do not see each other as "in a step"."""
        if self._used:
            raise DBOSException("A step reservation can only be run once")
        ctx = current_workflow.get()
        if ctx is None or ctx.workflow_id != self._ctx.workflow_id:
            raise DBOSException(
                f"Step {self._step_id} was reserved in workflow {self._ctx.workflow_id} "
                "and must be run from that workflow, outside any step"
            )
        self._used = True
        view = copy.copy(self._ctx)  # shares recorded steps, owner and stop state
        view.in_step, view.step_id = False, None
        return current_workflow.set(view)

    def run(
        self,
        dbos_step_options: StepOptions | None,
        func: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Run ``func`` as the step at the reserved id and checkpoint its result."""
        token = self._claim()
        try:
            return run_sync(dbos_step_options, func, args, kwargs, self._step_id)
        finally:
            current_workflow.reset(token)

    async def run_async(
        self,
        dbos_step_options: StepOptions | None,
        func: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """``run`` from async code (an async ``func`` runs on the caller's loop)."""
        token = self._claim()
        try:
            return await run_async(dbos_step_options, func, args, kwargs, self._step_id)
        finally:
            current_workflow.reset(token)


def reserve() -> StepReservation:
    """Take the calling workflow's next step id (``DBOS.reserve_step``)."""
    ctx = _in_workflow()
    if ctx is None:
        raise DBOSException(
            "DBOS.reserve_step must be called from a workflow, outside any step or transaction"
        )
    fid = ctx.next_function_id()
    snapshot = copy.copy(ctx)
    snapshot.function_id = fid
    return StepReservation(snapshot)
