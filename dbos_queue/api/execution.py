"""Running owned workflow bodies in this process: tracking, deadlines, outcomes.

``WorkflowRunner`` is the part of ``api.runtime.Runtime`` that executes a workflow this
process owns (in the caller's thread or task, or in the background), records its
outcome, and turns a stored row back into a ``Start`` (recovery, dequeue). The runtime
builds the attributes declared here; this module never imports it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
from collections.abc import Callable
from typing import Any

from dbos_queue.api import drain as _drain
from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine import core as _core
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine import validation as _validation
from dbos_queue.engine.context import BodyScope, WorkflowContext, enter_body, leave_body
from dbos_queue.engine.core import Start
from dbos_queue.engine.host import Host
from dbos_queue.engine.threads import WorkflowThreads
from dbos_queue.error import (
    DBOSOwnershipLostError,
    DBOSWorkflowCancelledError,
    DBOSWorkflowFunctionNotFoundError,
)
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import Row

logger = logging.getLogger("dbos_queue")


class WorkflowRunner(Host):
    """Executions of this process (the runtime's base class; it sets these attributes)."""

    threads: WorkflowThreads  # sync bodies run in the background (engine/threads.py)
    running: dict[str, Any]  # workflow id -> Future executing here
    local: dict[str, WorkflowContext]  # workflow id -> context executing here
    draining: bool  # drain began: claim and take over nothing more
    handing_back: bool  # drain released its rows: start nothing more

    # --- cancellation and timeouts ---------------------------------------------------

    def _on_cancel(self, wf_id: str) -> None:
        ctx = self.local.get(wf_id)
        if ctx is not None:
            ctx.cancelled = True

    def _track(self, ctx: WorkflowContext) -> None:
        prev = self.local.get(ctx.workflow_id)
        if prev is ctx:
            return  # tracked at submit already
        if prev is not None:  # this process took the workflow over from its own older run
            _drain.stop_local(self, "a newer execution took the workflow over", [prev])
        if self.handing_back:  # began after the drain released its rows: never runs here
            _drain.stop_local(self, "it began after this process handed its work back", [ctx])
            ctx.handed_back = True
        self.local[ctx.workflow_id] = ctx
        if ctx.deadline_ms is not None:
            delay = max(0.0, (ctx.deadline_ms - now_ms()) / 1000)
            self.engine.loop.call_soon_threadsafe(
                self.engine.loop.call_later, delay, self._deadline_passed, ctx
            )

    def _untrack(self, ctx: WorkflowContext) -> None:
        if self.local.get(ctx.workflow_id) is ctx:
            del self.local[ctx.workflow_id]

    def _deadline_passed(self, ctx: WorkflowContext) -> None:
        if self.local.get(ctx.workflow_id) is not ctx:
            return  # finished in time
        ctx.cancelled = True
        self.engine.spawn(self._cancel_on_deadline(ctx), f"deadline-{ctx.workflow_id}")

    async def _cancel_on_deadline(self, ctx: WorkflowContext) -> None:
        await self.sysdb.cancel_owned(ctx.workflow_id, ctx.owner)
        self.engine.publish("cancel", ctx.workflow_id)
        self.engine.publish("wf", ctx.workflow_id)

    async def cancel_for_timeout(self, ctx: WorkflowContext) -> None:
        """Cancel a workflow whose deadline passed and stop it (as DBOS's timeout does)."""
        await self.sysdb.cancel_owned(ctx.workflow_id, ctx.owner)
        self.engine.publish("wf", ctx.workflow_id)
        raise DBOSWorkflowCancelledError(f"Workflow {ctx.workflow_id} exceeded its timeout")

    # --- executing -----------------------------------------------------------------

    def call_args(self, s: Start) -> tuple[Any, ...]:
        """The body's positional arguments: self/cls of a method first."""
        return ((s.bound,) if s.bound is not None else ()) + tuple(s.args)

    def execute_sync(self, s: Start, ctx: WorkflowContext) -> Any:
        """Run a sync workflow body we own, in this thread, and record its outcome."""
        with _tracing.workflow_span(ctx, s.info.name):  # a no-op unless tracing is on
            return self._execute_sync(s, ctx)

    def _execute_sync(self, s: Start, ctx: WorkflowContext) -> Any:
        scope = enter_body(ctx)
        self._track(ctx)
        result, exc = None, None
        try:  # tracked until its outcome is written: a drain waits for that
            try:
                ctx.check_stop()  # stopped before it began (drain, lease loss): run nothing
                _raise_input_error(s)
                result = s.info.func(*self.call_args(s), **s.kwargs)
            except DBOSOwnershipLostError as lost:
                return self._after_lost(ctx, lost)
            except DBOSWorkflowCancelledError:
                raise
            except Exception as e:
                exc = e
            finally:
                leave_body(scope)
            return self._finish_sync(ctx, result, exc)
        finally:
            self._untrack(ctx)

    def _after_lost(self, ctx: WorkflowContext, lost: DBOSOwnershipLostError) -> Any:
        """This execution stopped or lost its row: a direct caller of a live runtime gets
        the new owner's result; otherwise (background, drain, destroy) it ends here."""
        self._untrack(ctx)
        if ctx.background or self.draining or ctx.handed_back:
            raise lost
        return self.engine.run(_core.await_result(self, ctx.workflow_id))

    def _finish_sync(self, ctx: WorkflowContext, result: Any, exc: BaseException | None) -> Any:
        status, out, err = _core.outcome_of(result, exc, ctx.serialization)
        try:
            _core.complete_blocking(self, ctx, status, out, err)
        except DBOSOwnershipLostError as lost:
            return self._after_lost(ctx, lost)
        if exc is not None:
            raise exc
        if status == "ERROR":
            raise _unstorable(result, ctx.serialization)
        return result

    async def execute_async(self, s: Start, ctx: WorkflowContext) -> Any:
        """Run an async workflow body we own, in this task, and record its outcome."""
        with _tracing.workflow_span(ctx, s.info.name):
            return await self._execute_async(s, ctx)

    async def _execute_async(self, s: Start, ctx: WorkflowContext) -> Any:
        scope = enter_body(ctx)
        self._track(ctx)
        try:
            return await self._run_async(s, ctx, scope)
        finally:
            self._untrack(ctx)

    async def _after_lost_async(self, ctx: WorkflowContext, lost: DBOSOwnershipLostError) -> Any:
        self._untrack(ctx)
        if ctx.background or self.draining or ctx.handed_back:
            raise lost
        return await self.engine.arun(_core.await_result(self, ctx.workflow_id))

    async def _run_async(self, s: Start, ctx: WorkflowContext, scope: BodyScope) -> Any:
        result, exc = None, None
        try:
            ctx.check_stop()
            _raise_input_error(s)
            result = await s.info.func(*self.call_args(s), **s.kwargs)
        except DBOSOwnershipLostError as lost:
            return await self._after_lost_async(ctx, lost)
        except DBOSWorkflowCancelledError:
            raise
        except Exception as e:
            exc = e
        finally:
            leave_body(scope)
        status, out, err = _core.outcome_of(result, exc, ctx.serialization)
        try:
            await self.engine.arun(_core.complete(self, ctx, status, out, err))
        except DBOSOwnershipLostError as lost:
            return await self._after_lost_async(ctx, lost)
        if exc is not None:
            raise exc
        if status == "ERROR":
            raise _unstorable(result, ctx.serialization)
        return result

    def submit(self, s: Start, ctx: WorkflowContext) -> concurrent.futures.Future[Any]:
        """Run an owned workflow in the background (thread pool or engine loop)."""
        wf_id = ctx.workflow_id
        self._begin_background(ctx)
        try:
            if s.info.is_async:
                coro = self._guarded_async(s, ctx)
                fut = asyncio.run_coroutine_threadsafe(coro, self.engine.loop)
            else:
                fut = self.threads.submit(contextvars.Context().run, self._guarded_sync, s, ctx)
        except BaseException:
            self._untrack(ctx)
            raise
        self.running[wf_id] = fut
        fut.add_done_callback(lambda _f: self.running.pop(wf_id, None))
        return fut

    def run_background(self, s: Start, ctx: WorkflowContext, done: Callable[[], None]) -> None:
        """``submit`` for a sync workflow when nobody needs its Future (the claim loop's
        fast path): ``done()`` runs on the workflow's thread once it has ended."""
        wf_id = ctx.workflow_id
        self._begin_background(ctx)
        running, guarded = self.running, self._guarded_sync

        def work() -> None:
            try:
                contextvars.Context().run(guarded, s, ctx)
            finally:
                running.pop(wf_id, None)
                done()

        running[wf_id] = ctx
        try:
            self.threads.run(work)
        except BaseException:
            running.pop(wf_id, None)
            self._untrack(ctx)
            raise

    def _begin_background(self, ctx: WorkflowContext) -> None:
        """What ``submit`` and ``run_background`` do before handing ``ctx`` on."""
        ctx.otel_parent = _tracing.capture()  # the body's thread/task would not inherit it
        ctx.background = True
        self._track(ctx)  # from now on, not only once a thread picks it up: a drain sees it

    def _guarded_sync(self, s: Start, ctx: WorkflowContext) -> Any:
        try:
            return self.execute_sync(s, ctx)
        except BaseException as exc:
            logger.debug("workflow %s ended with %r", ctx.workflow_id, exc)
            return None

    async def _guarded_async(self, s: Start, ctx: WorkflowContext) -> Any:
        try:
            return await self.execute_async(s, ctx)
        except BaseException as exc:
            logger.debug("workflow %s ended with %r", ctx.workflow_id, exc)
            return None

    # --- starting from a stored row (recovery, dequeue, takeover) --------------------

    def start_from_row(self, wf_id: str, ctx: WorkflowContext, row: Row) -> None:
        """Run an owned workflow from its stored row (recovery, dequeue)."""
        s = self.start_for_row(wf_id, row)
        self.submit(s, ctx)

    def start_for_row(self, wf_id: str, row: Row) -> Start:
        """The start of a stored workflow: its function, inputs and bound instance or class."""
        name, inputs = row.name, row.inputs
        class_name, config_name = row.class_name, row.config_name
        info = self.registry.workflows.get(name)
        if info is None:
            raise DBOSWorkflowFunctionNotFoundError(
                wf_id,
                f"no workflow named {name!r} is registered in this process; import the "
                "module that defines it before DBOS.launch()",
            )
        args, kwargs = ser.deserialize_args(inputs)
        extra: dict[str, Any] = {}
        try:  # validate_args, portable dates (0011): a refusal ends the run in ERROR
            args, kwargs = _validation.row_inputs(info, args, kwargs, ser.args_format(inputs))
        except Exception as exc:
            extra["input_error"] = exc
        bound = None
        if info.method == "instance":
            bound = self.registry.instances.get((class_name or "", config_name or ""))
            if bound is None:
                raise DBOSWorkflowFunctionNotFoundError(
                    wf_id, f"no configured instance {class_name}/{config_name} is registered"
                )
        elif info.method == "class":
            bound = self.registry.classes.get(class_name or "")
        return Start(
            info=info,
            args=tuple(args),
            kwargs=kwargs,
            wf_id=wf_id,
            bound=bound,
            class_name=class_name,
            config_name=config_name,
            extra=extra,
        )


def _unstorable(result: Any, serialization: str | None) -> BaseException:
    """The error a body's output raised when stored (what its caller gets, as in DBOS)."""
    try:
        ser.serialize(result, "output", serialization)
    except Exception as exc:
        return exc
    return RuntimeError("the workflow's output could not be stored")


def _raise_input_error(s: Start) -> None:
    """Inputs from a row that ``validate_args`` refused: the run ends with that error."""
    err = s.extra.get("input_error")
    if err is not None:
        raise err
