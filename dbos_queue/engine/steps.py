"""Step options of DBOS 3.4.0 around one attempt: ``should_retry``, ``timeout_seconds``,
``preemptible``, and the attempt number ``DBOS.step_status`` reports.

The runners in ``engine.core`` own the loop over attempts, its delays and the record;
what one attempt does is wrapped here, so the runners only need to know that a
``StopRetries`` (engine/options.py) ends the loop with its original error.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, cast

from dbos_queue.engine.context import WorkflowContext, current_workflow
from dbos_queue.engine.core import StepOptions
from dbos_queue.engine.options import StopRetries, step_attempt
from dbos_queue.error import DBOSException, DBOSStepTimeoutError, DBOSWorkflowCancelledError

# How often a preemptible step looks whether its workflow was cancelled meanwhile.
PREEMPT_POLL_SEC = 0.2

_KEYS = {
    "name",
    "retries_allowed",
    "interval_seconds",
    "max_attempts",
    "backoff_rate",
    "should_retry",
    "preemptible",
    "timeout_seconds",
}


def options_from(options: Mapping[str, Any] | None) -> tuple[str | None, StepOptions]:
    """(name, runner options) from a DBOS ``StepOptions`` dict (missing keys: defaults)."""
    opts = dict(options or {})
    unknown = set(opts) - _KEYS
    if unknown:
        raise TypeError(f"unknown StepOptions keys {sorted(unknown)}; expected some of {_KEYS}")
    return opts.get("name"), StepOptions(
        retries_allowed=bool(opts.get("retries_allowed", False)),
        interval_seconds=opts.get("interval_seconds", 1.0),
        max_attempts=opts.get("max_attempts", 3),
        backoff_rate=opts.get("backoff_rate", 2.0),
        should_retry=opts.get("should_retry"),
        timeout_seconds=opts.get("timeout_seconds"),
        preemptible=bool(opts.get("preemptible", False)),
    )


def check_options(name: str, is_async: bool, opts: StepOptions) -> None:
    """Refuse what DBOS refuses: async-only options on a sync step, a bad timeout."""
    if opts.max_attempts < 1 or opts.interval_seconds < 0 or opts.backoff_rate < 1:
        raise ValueError("step needs max_attempts >= 1, interval_seconds >= 0, backoff_rate >= 1")
    if opts.should_retry is not None and not is_async:
        if inspect.iscoroutinefunction(opts.should_retry):
            raise DBOSException(
                f"Step {name} is sync but should_retry is async. "
                "Use an async step to pair with an async validator."
            )
    if opts.preemptible and not is_async:
        raise DBOSException(
            f"Step {name} is sync but preemptible=True. "
            "Preemption is only supported for async steps."
        )
    timeout = opts.timeout_seconds
    if timeout is not None:
        if not is_async:
            raise DBOSException(
                f"Step {name} is sync but timeout_seconds is set. "
                "Step timeouts are only supported for async steps."
            )
        finite = isinstance(cast(object, timeout), (int, float)) and math.isfinite(timeout)
        if not (finite and timeout > 0):  # callers may not type-check
            raise DBOSException(
                f"Step {name} has timeout_seconds={timeout}. "
                "Step timeouts must be positive and finite."
            )


def step_view(ctx: WorkflowContext) -> WorkflowContext:
    """A view of ``ctx`` for one async step: steps of concurrent tasks of one workflow
    (asyncio.gather, DBOS.asyncio_wait) each see themselves, not the others, "in a step".

    The view shares the recorded steps, owner and stop state; the step id is taken from
    the workflow (``ctx.next_function_id()``) by the caller, in call order.
    """
    view = copy.copy(ctx)
    view.in_step, view.step_id = False, None
    view._origin = getattr(ctx, "_origin", ctx)  # type: ignore[attr-defined]
    return view


class _Attempts:
    """Counts attempts and publishes (attempt, max) for ``DBOS.step_status``."""

    def __init__(self, opts: StepOptions) -> None:
        self.opts = opts
        self.n = 0

    def enter(self) -> Any:
        n, self.n = self.n, self.n + 1
        if not self.opts.retries_allowed:
            return None
        return step_attempt.set((n, self.opts.max_attempts))

    @staticmethod
    def leave(token: Any) -> None:
        if token is not None:
            step_attempt.reset(token)


def wrap_sync(opts: StepOptions, call: Callable[[], Any]) -> Callable[[], Any]:
    """One attempt of a sync step, with ``should_retry`` applied to its failure."""
    attempts = _Attempts(opts)

    def attempt() -> Any:
        token = attempts.enter()
        try:
            return call()
        except Exception as exc:
            if opts.retries_allowed and opts.should_retry is not None:
                if not opts.should_retry(exc):
                    raise StopRetries(exc) from exc
            raise
        finally:
            attempts.leave(token)

    return attempt


def wrap_async(name: str, opts: StepOptions, call: Callable[[], Any]) -> Callable[[], Any]:
    """One attempt of an async step: timed out, preempted by cancellation, ``should_retry``."""
    attempts = _Attempts(opts)

    async def attempt() -> Any:
        token = attempts.enter()
        try:
            if opts.timeout_seconds is not None or opts.preemptible:
                return await _supervise(name, opts, call)
            return await call()
        except Exception as exc:
            if opts.retries_allowed and opts.should_retry is not None:
                verdict = opts.should_retry(exc)
                if inspect.isawaitable(verdict):
                    verdict = await verdict
                if not verdict:
                    raise StopRetries(exc) from exc
            raise
        finally:
            attempts.leave(token)

    return attempt


async def _supervise(name: str, opts: StepOptions, call: Callable[[], Any]) -> Any:
    """Await the step body; cancel it past its timeout, or when its workflow is cancelled."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(call())
    timeout = opts.timeout_seconds
    deadline = loop.time() + timeout if timeout is not None else None
    ctx = current_workflow.get()
    ctx = getattr(ctx, "_origin", ctx)  # cancellation reaches the workflow's own context
    try:
        while True:
            wait = PREEMPT_POLL_SEC if opts.preemptible else None
            if deadline is not None:
                remaining = max(0.0, deadline - loop.time())
                wait = remaining if wait is None else min(wait, remaining)
            done, _ = await asyncio.wait({task}, timeout=wait)
            if task in done:
                return task.result()  # a step that finished keeps its outcome
            abort: BaseException | None = None
            if opts.preemptible and ctx is not None and ctx.cancelled:
                # Cancellation outranks a deadline: the cancelled step is not recorded.
                abort = DBOSWorkflowCancelledError(
                    f"Workflow {ctx.workflow_id} is cancelled. Aborting preemptible step."
                )
            elif deadline is not None and loop.time() >= deadline:
                abort = DBOSStepTimeoutError(name, timeout)  # type: ignore[arg-type]
            if abort is not None:
                task.cancel()
                await asyncio.wait({task})  # let its cleanup finish first
                raise abort
    finally:
        if not task.done():
            task.cancel()
