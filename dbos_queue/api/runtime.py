"""The launched state of a process: engine, system database, lease, executions."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import itertools
import logging
import os
import secrets
import socket
import uuid
from typing import TYPE_CHECKING, Any

from dbos_queue.api import drain as _drain
from dbos_queue.api import recovery as _recovery
from dbos_queue.api.lease import LeaseKeeper
from dbos_queue.db import migrate as _migrate
from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import SystemDatabase, now_ms
from dbos_queue.engine import core as _core
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine import validation as _validation
from dbos_queue.engine.context import Lease, WorkflowContext, current_workflow
from dbos_queue.engine.core import Start
from dbos_queue.engine.events import EventBus
from dbos_queue.engine.registry import Registry
from dbos_queue.error import (
    DBOSOwnershipLostError,
    DBOSWorkflowCancelledError,
    DBOSWorkflowFunctionNotFoundError,
)
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import Row

if TYPE_CHECKING:
    from dbos_queue.ops.admin.server import AdminServer

logger = logging.getLogger("dbos_queue")


class Runtime:
    """One per launched ``DBOS`` instance."""

    def __init__(self, settings: Any, registry: Registry, url: str, app_version: str) -> None:
        self.settings = settings
        self.registry = registry
        self.url = url
        self.app_version = app_version
        self.executor_id: str = settings.executor_id
        self.process_id = secrets.token_hex(8)
        self.hostname = socket.gethostname()
        self.logger = logger
        self._owner_seq = itertools.count(1)
        self.engine = Engine(
            url,
            pool_size=settings.sys_db_pool_size or 20,
            prepare_threshold=settings.prepare_threshold,
            poll_fallback_sec=settings.notification_listener_polling_interval_sec or 1.0,
            listen_url=settings.listen_database_url,
            listen=settings.use_listen_notify,
        )
        self.sysdb = SystemDatabase(self.engine)
        self.lease_ms = int(settings.executor_lease_sec * 1000)
        self.threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.max_executor_threads or 64, thread_name_prefix="dbos-wf"
        )
        self.running: dict[str, Any] = {}  # workflow id -> Future executing here
        self.local: dict[str, WorkflowContext] = {}  # workflow id -> context executing here
        from dbos_queue.queue.claim import QueueService

        self.queues = QueueService(self)
        self.events = EventBus()
        self.lease_lost = False
        self.lease = Lease(settings.executor_lease_sec)
        self.lease_keeper = LeaseKeeper(self)
        self.draining = False  # drain began: claim and take over nothing more
        self.handing_back = False  # drain released its rows: start nothing more
        self.drained: list[str] | None = None  # what the (one) drain handed back
        self._announced = 0  # how many workflow names dbos.executors lists for us
        self.admin: AdminServer | None = None  # the admin server, once started

    # --- declarations made after launch (engine.registry.DeclarationListener) ---------

    def queue_declared(self, queue: Any) -> None:
        """A queue declared after launch: store its settings now (registry hook)."""
        self.engine.run(self.queues.declare(queue.settings))

    def schedules_changed(self) -> None:
        """A schedule decorated after launch: let the scheduler pick it up (registry hook)."""
        from dbos_queue.queue import schedules

        schedules.declared_after_launch(self)

    # --- ids -----------------------------------------------------------------------

    def new_owner(self) -> str:
        """A fresh execution token of this process (which execution owns a workflow)."""
        return f"{self.process_id}:{next(self._owner_seq):x}"

    @staticmethod
    def new_workflow_id() -> str:
        """A fresh workflow id (a UUID, as DBOS's)."""
        return str(uuid.uuid4())

    # --- lifecycle -----------------------------------------------------------------

    def launch(self) -> None:
        """Migrate (if configured), start the engine, register this executor and its version,
        start the heartbeat."""
        if self.settings.run_migrations:
            _migrate.ensure_database(self.url)
            _migrate.migrate(self.url)
        self.engine.start()
        self.engine.run(self._register())
        self.engine.run(self._register_version())
        self.engine.spawn_threadsafe(self._heartbeat_forever(), "heartbeat")
        self.engine.hooks["cancel"].append(self._on_cancel)
        if not self.settings.use_listen_notify:  # no NOTIFY will say "cancelled": look
            from dbos_queue.api.cancel_poll import poll_cancellations_forever

            interval = self.settings.notification_listener_polling_interval_sec
            self.engine.spawn_threadsafe(poll_cancellations_forever(self, interval), "cancel-poll")

    async def _register_version(self) -> None:
        """Record this application version (a new one becomes the latest), as DBOS does."""
        from dbos_queue.db import versions as _versions

        app = getattr(self.settings, "name", None)
        await _versions.register(self.sysdb, self.app_version, app)
        latest = await _versions.latest(self.sysdb, app)
        if latest["version_name"] != self.app_version:
            logger.warning(
                "Current version %r is not the latest version. Latest version is %r: this "
                "process runs only workflows of its own version",
                self.app_version,
                latest["version_name"],
            )

    def start_background(self) -> None:
        """Start dequeuing and serving (after the facade knows this runtime)."""
        for q in list(self.registry.queues.values()):
            self.engine.run(self.queues.declare(q.settings))
        self.engine.run(self.queues.start(list(self.registry.queues)))
        from dbos_queue.ops.metrics import Metrics

        self.metrics = Metrics(self)
        from dbos_queue.queue import schedules as _scheduler

        self.engine.run(_scheduler.start(self))
        self.admin = None
        if self.settings.run_admin_server:
            self.start_admin(self.settings.admin_host, self.settings.admin_port)

    def start_admin(self, host: str, port: int, **options: Any) -> None:
        """Serve the admin API on ``host``:``port`` (options: ``AdminServer``'s keywords)."""
        from dbos_queue.ops.admin.server import AdminServer

        if self.admin is not None:
            self.admin.stop()  # one server per runtime
            self.admin = None
        try:
            admin = AdminServer(self, host, port, self.settings.admin_token, **options)
            admin.start()
        except (OSError, RuntimeError) as exc:
            logger.warning("admin server not started on %s:%d: %s", host, port, exc)
            return
        self.admin = admin

    def recover_executors(self, executor_ids: list[str]) -> list[str]:
        """Recover the named executors' workflows now, without waiting for lease expiry."""
        return _recovery.recover_executors(self, executor_ids)

    async def _register(self) -> None:
        now = now_ms()
        await self.sysdb.register_executor(
            process_id=self.process_id,
            executor_id=self.executor_id,
            hostname=self.hostname,
            pid=os.getpid(),
            app_version=self.app_version,
            now=now,
            lease_ms=self.lease_ms,
        )
        self.lease.renewed(now)
        await self._announce_workflows()
        await self._expire_dead_local_processes()

    async def _announce_workflows(self) -> None:
        """Tell the fleet which workflows this process runs (for mixed fleets)."""
        from dbos_queue.queue.unrunnable import announce_workflows

        self._announced = len(self.registry.workflows)
        await announce_workflows(self)

    async def _expire_dead_local_processes(self) -> None:
        await _recovery.expire_dead_local_processes(self)

    async def _heartbeat_forever(self) -> None:
        interval = self.settings.heartbeat_interval_sec or self.settings.executor_lease_sec / 3
        await self.lease_keeper.forever(interval, before_beat=self._announce_if_changed)

    async def _announce_if_changed(self) -> None:
        if len(self.registry.workflows) != self._announced:
            await self._announce_workflows()  # some were decorated after launch

    async def confirm_lease(self) -> None:
        """Renew the lease before a step when it looks stale (engine.host.Host)."""
        await self.lease_keeper.confirm()

    def drain(self, timeout: float) -> list[str]:
        """Stop claiming, wait up to ``timeout`` s for running work, hand back the rest
        once no step of it runs here any more (api/drain.py)."""
        return _drain.drain(self, timeout)

    def destroy(self, timeout: float = 0.0) -> None:
        """Drain (up to ``timeout`` s), then tear down: nothing runs steps on a dead runtime."""
        try:
            self.drain(timeout)
        except Exception as exc:
            logger.warning("drain at destroy failed (%s); its workflows wait for takeover", exc)
        # Whatever still runs here (or began during the drain) stops at its next step.
        reason = "DBOS.destroy() shut down the runtime it ran under"
        _drain.stop_local(self, reason, list(self.local.values()), handed_back=True)
        try:
            self.engine.run(self.sysdb.unregister_executor(self.process_id), timeout=10)
        except Exception:
            logger.debug("unregistering at destroy failed", exc_info=True)
        if self.admin is not None:
            self.admin.stop()
        self.engine.stop()
        self.threads.shutdown(wait=False, cancel_futures=True)

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
        token = current_workflow.set(ctx)
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
                current_workflow.reset(token)
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
        token = current_workflow.set(ctx)
        self._track(ctx)
        try:
            return await self._run_async(s, ctx, token)
        finally:
            self._untrack(ctx)

    async def _after_lost_async(self, ctx: WorkflowContext, lost: DBOSOwnershipLostError) -> Any:
        self._untrack(ctx)
        if ctx.background or self.draining or ctx.handed_back:
            raise lost
        return await self.engine.arun(_core.await_result(self, ctx.workflow_id))

    async def _run_async(self, s: Start, ctx: WorkflowContext, token: Any) -> Any:
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
            current_workflow.reset(token)
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
        ctx.otel_parent = _tracing.capture()  # the body's thread/task would not inherit it
        ctx.background = True
        self._track(ctx)  # from now on, not only once a thread picks it up: a drain sees it
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

    # --- recovery ------------------------------------------------------------------

    def start_from_row(self, wf_id: str, ctx: WorkflowContext, row: Row) -> None:
        """Run an owned workflow from its stored row (recovery, dequeue)."""
        s = self.start_for_row(wf_id, row)
        self.submit(s, ctx)

    def start_for_row(self, wf_id: str, row: Row) -> Start:
        """The start of a stored workflow: its function, inputs and bound instance or class."""
        name, class_name, config_name, inputs = (
            row.name,
            row.class_name,
            row.config_name,
            row.inputs,
        )
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

    def recover(self, executor_ids: list[str]) -> list[str]:
        """Take over and resume the PENDING workflows of dead processes of these executors."""
        return _recovery.recover(self, executor_ids)


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
