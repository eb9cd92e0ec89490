"""The ``DBOS`` facade: steps without a decorator, and what a running step sees."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast, overload

from dbos_queue.api import steps as _steps
from dbos_queue.api.facade.base import classproperty
from dbos_queue.engine.context import auth, current_workflow
from dbos_queue.engine.options import step_attempt
from dbos_queue.model.records import StepStatus

P = ParamSpec("P")
R = TypeVar("R")


class Steps:
    """``DBOS`` class methods: run_step, reserve_step, step_status, shard_key, auth."""

    @overload
    @classmethod
    def run_step(
        cls,
        dbos_step_options: _steps.StepOptions | None,
        func: Callable[P, Coroutine[Any, Any, R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R: ...

    @overload
    @classmethod
    def run_step(
        cls,
        dbos_step_options: _steps.StepOptions | None,
        func: Callable[P, R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R: ...

    @classmethod
    def run_step(
        cls,
        dbos_step_options: _steps.StepOptions | None,
        func: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Run ``func(*args, **kwargs)`` as a checkpointed step with ``StepOptions``
        (retries, ``should_retry``, ``timeout_seconds`` ...); outside a workflow, just call it."""
        return _steps.run_sync(dbos_step_options, func, args, kwargs)

    @overload
    @classmethod
    async def run_step_async(
        cls,
        dbos_step_options: _steps.StepOptions | None,
        func: Callable[P, Coroutine[Any, Any, R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R: ...

    @overload
    @classmethod
    async def run_step_async(
        cls,
        dbos_step_options: _steps.StepOptions | None,
        func: Callable[P, R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R: ...

    @classmethod
    async def run_step_async(
        cls,
        dbos_step_options: _steps.StepOptions | None,
        func: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """``run_step`` from async code."""
        return await _steps.run_async(dbos_step_options, func, args, kwargs)

    @classmethod
    def reserve_step(cls) -> _steps.StepReservation:
        """Take the next step id now; run the step at it later with the reservation's ``run``."""
        return _steps.reserve()

    @classmethod
    async def asyncio_wait(
        cls,
        fs: list[Awaitable[Any]],
        *,
        timeout: float | None = None,
        return_when: str = asyncio.ALL_COMPLETED,
    ) -> tuple[set[asyncio.Task[Any]], set[asyncio.Task[Any]]]:
        """``asyncio.wait`` whose outcome a workflow replays: the first execution records
        which of ``fs`` were done (step "DBOS.asyncio_wait"); a replay waits for exactly
        those and reports the others pending. Outside a workflow, plain ``asyncio.wait``."""
        from dbos_queue.api.invoke import op_context, require_runtime
        from dbos_queue.engine.recorded import as_step, replayed_value

        ctx, fid = op_context(required=False)  # the step id is taken before any future runs
        tasks = [asyncio.ensure_future(f) for f in fs]
        if ctx is None:
            return await asyncio.wait(tasks, timeout=timeout, return_when=return_when)
        rt = require_runtime()
        found, recorded = replayed_value(ctx, fid, "DBOS.asyncio_wait")
        indices = cast(list[int], recorded)  # what the first execution recorded below
        if not found:

            async def wait_and_note() -> list[int]:
                done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=return_when)
                return [i for i, t in enumerate(tasks) if t in done]

            indices = await wait_and_note()
            await rt.engine.arun(as_step(rt, ctx, fid, "DBOS.asyncio_wait", _value(indices)))
        done = {tasks[i] for i in indices}
        if done:
            await asyncio.wait(done)
        return done, {t for t in tasks if t not in done}

    @classproperty
    def step_status(cls) -> StepStatus | None:
        """Inside a step: its id, and for retried steps the attempt (from 0) and the maximum."""
        ctx = current_workflow.get()
        if ctx is None or not ctx.in_step or ctx.step_id is None:
            return None
        attempt = step_attempt.get()
        if attempt is None:
            return StepStatus(ctx.step_id)
        return StepStatus(ctx.step_id, attempt[0], attempt[1])

    @classproperty
    def shard_key(cls) -> str | None:
        """The running workflow's recorded shard key (None outside a workflow)."""
        ctx = current_workflow.get()
        return ctx.shard_key if ctx is not None else None

    @classmethod
    def set_authentication(
        cls, authenticated_user: str | None, authenticated_roles: list[str] | None
    ) -> None:
        """Run the rest of this context as ``authenticated_user`` with these roles: workflows
        started from here record them (what ``DBOSContextSetAuth`` does, without a block)."""
        roles = list(authenticated_roles) if authenticated_roles is not None else None
        auth.set((authenticated_user, roles))
        ctx = current_workflow.get()
        if ctx is not None:
            ctx.authenticated_user, ctx.authenticated_roles = authenticated_user, roles


def _value(value: Any) -> Callable[[], Awaitable[Any]]:
    """An operation returning ``value`` (records an already-known result as a step)."""

    async def op() -> Any:
        return value

    return op
