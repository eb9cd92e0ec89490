"""The ``DBOS`` facade: DBOS Python's public API over the runtime.

The only global mutable state of the library lives here (the API requires a
process-wide ``DBOS``): the registry of decorated functions and the launched
runtime.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.invoke import (
    _finish_wrapper,
    _info,
    _invoke_async,
    _invoke_sync,
    _op_ctx,
    _register,
    _rt,
    _start_async_on_engine,
    current_ctx_vars,
)
from dbos_queue.api.runtime import Runtime
from dbos_queue.engine import comm as _comm
from dbos_queue.engine import core as _core
from dbos_queue.engine import transaction as _transaction
from dbos_queue.engine.context import current_workflow
from dbos_queue.engine.core import StepOptions
from dbos_queue.engine.registry import registry
from dbos_queue.error import (
    DBOSException,
    DBOSInitializationError,
    DBOSNonExistentWorkflowError,
)
from dbos_queue.model import serialization as ser
from dbos_queue.model.status import WorkflowStatus, status_from_row, step_dict
from dbos_queue.ops import management as mgmt

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("dbos_queue")

_instance: DBOS | None = None
_pending_listen: list[str] | None = None


class classproperty:
    def __init__(self, fget: Callable[[Any], Any]) -> None:
        self.fget = fget

    def __get__(self, obj: Any, owner: Any) -> Any:
        return self.fget(owner)


class DBOSConfiguredInstance:
    """Base for classes whose instances run workflows; ``config_name`` names the instance."""

    def __init__(self, config_name: str) -> None:
        self.config_name = config_name
        registry.instances[(type(self).__name__, config_name)] = self


class DBOS:
    """The process-wide entry point (DBOS Python's API)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> DBOS:
        global _instance
        if _instance is None:
            _instance = super().__new__(cls)
            _instance._initialized = False  # type: ignore[attr-defined]
        return _instance

    def __init__(self, *, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        from dbos_queue.model.config import resolve

        if getattr(self, "_initialized", False) and registry.process is not None:
            return
        unknown = set(kwargs) - {"fastapi", "flask", "conductor_key"}
        if unknown:
            raise DBOSInitializationError(f"DBOS() got unexpected arguments {sorted(unknown)}")
        self.settings = resolve(config)
        if kwargs.get("fastapi") is not None:
            from dbos_queue.integrations.fastapi import setup_fastapi

            setup_fastapi(kwargs["fastapi"], launch=DBOS.launch, destroy=DBOS.destroy)
        ser.configure(self.settings.serializer)
        self._initialized = True

    # --- lifecycle -----------------------------------------------------------------

    @classmethod
    def _settings(cls) -> Any:
        if _instance is None or not getattr(_instance, "_initialized", False):
            raise DBOSInitializationError(
                "DBOS is not configured: call DBOS(config={...}) (or add dbos-config.yaml) first"
            )
        return _instance.settings

    @classmethod
    def system_database_url(cls) -> str:
        from dbos_queue.db.embedded import server_url

        return cls._settings().system_database_url or server_url()

    @classmethod
    def launch(cls) -> None:
        """Connect, migrate, register this process, and resume its unfinished workflows."""
        if registry.process is not None:
            return
        settings = cls._settings()
        _configure_logging(settings.log_level)
        url = cls.system_database_url()
        rt = Runtime(settings, registry, url, settings.application_version or _app_version())
        if _pending_listen is not None:
            rt.queues.listen = list(_pending_listen)
        try:
            rt.launch()
        except Exception as exc:
            rt.engine.stop()
            raise _launch_error(exc, url) from exc
        _transaction.launch(rt, settings.application_database_url)
        registry.attach(rt)
        rt.start_background()
        recovered = rt.recover([rt.executor_id])
        if recovered:
            logger.info("recovering %d workflow(s): %s", len(recovered), recovered)

    @classmethod
    def destroy(
        cls, *, destroy_registry: bool = False, workflow_completion_timeout_sec: float = 0
    ) -> None:
        global _instance, _pending_listen
        rt = registry.process
        if rt is not None:
            assert isinstance(rt, Runtime)
            rt.destroy(workflow_completion_timeout_sec)  # drains before anything is torn down
            registry.detach()
            _transaction.shutdown(rt)
        if _instance is not None:
            _instance._initialized = False  # type: ignore[attr-defined]
        _instance = None
        if destroy_registry:
            registry.clear()
            _pending_listen = None

    @classmethod
    def reset_system_database(cls) -> None:
        """Drop every dbos_queue table in the system database (not while launched)."""
        import psycopg

        if registry.process is not None:
            raise DBOSException("reset_system_database() must be called before DBOS.launch()")
        url = cls.system_database_url()
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                conn.execute("DROP SCHEMA IF EXISTS dbos CASCADE")
        except psycopg.OperationalError as exc:
            if "does not exist" not in str(exc):
                raise _launch_error(exc, url) from exc

    # --- decorators ------------------------------------------------------------------

    @classmethod
    def workflow(
        cls, *, name: str | None = None, max_recovery_attempts: int | None = None
    ) -> Callable[[F], F]:
        """Make a function a durable workflow."""

        def deco(func: F) -> F:
            info = _register(func, "workflow", name, max_recovery_attempts=max_recovery_attempts)
            if info.is_async:

                @functools.wraps(func)
                async def awrapper(*args: Any, **kwargs: Any) -> Any:
                    return await _invoke_async(info, args, kwargs, background=False)

                return _finish_wrapper(info, awrapper)

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return _invoke_sync(info, args, kwargs, background=False)

            return _finish_wrapper(info, wrapper)

        return deco

    @classmethod
    def step(
        cls,
        *,
        name: str | None = None,
        retries_allowed: bool = False,
        interval_seconds: float = 1.0,
        max_attempts: int = 3,
        backoff_rate: float = 2.0,
    ) -> Callable[[F], F]:
        """Make a function a checkpointed step (its result is recorded once it succeeds)."""
        if max_attempts < 1 or interval_seconds < 0 or backoff_rate < 1:
            raise ValueError(
                "step needs max_attempts >= 1, interval_seconds >= 0, backoff_rate >= 1"
            )
        opts = StepOptions(retries_allowed, interval_seconds, max_attempts, backoff_rate)

        def deco(func: F) -> F:
            info = _register(func, "step", name)
            if info.is_async:

                @functools.wraps(func)
                async def awrapper(*args: Any, **kwargs: Any) -> Any:
                    _core.check_roles(info)
                    rt = registry.process
                    if rt is None:
                        return await func(*args, **kwargs)
                    return await _core.run_step_async(rt, info, opts, lambda: func(*args, **kwargs))

                return _finish_wrapper(info, awrapper)

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                _core.check_roles(info)
                rt = registry.process
                if rt is None:
                    return func(*args, **kwargs)
                return _core.run_step_sync(rt, info, opts, lambda: func(*args, **kwargs))

            return _finish_wrapper(info, wrapper)

        return deco

    @classmethod
    def transaction(
        cls, isolation_level: str = "SERIALIZABLE", *, name: str | None = None
    ) -> Callable[[F], F]:
        """Run a function in one application-database transaction, recorded exactly once."""
        return _transaction.decorator(isolation_level, name, _register, _finish_wrapper, _rt)

    @classproperty
    def sql_session(cls) -> Any:
        """The psycopg connection of the running ``@DBOS.transaction``."""
        return _transaction.current_session()

    @classmethod
    def dbos_class(cls, class_name: str | None = None) -> Callable[[type], type]:
        def deco(klass: type) -> type:
            registry.classes[class_name or klass.__name__] = klass
            return klass

        return deco

    @classmethod
    def required_roles(cls, roles: list[str]) -> Callable[[F], F]:
        def deco(func: F) -> F:
            info = getattr(func, "__dbos_info__", None)
            if info is not None:
                info.required_roles = list(roles)
            else:
                func.__dbos_required_roles__ = list(roles)  # type: ignore[attr-defined]
            return func

        return deco

    @classmethod
    def default_required_roles(cls, roles: list[str]) -> Callable[[type], type]:
        def deco(klass: type) -> type:
            for attr in vars(klass).values():
                fn = getattr(attr, "__func__", attr)
                info = getattr(fn, "__dbos_info__", None)
                if info is not None and info.required_roles is None:
                    info.required_roles = list(roles)
            registry.classes.setdefault(klass.__name__, klass)
            return klass

        return deco

    # --- running ---------------------------------------------------------------------

    @classmethod
    def start_workflow(cls, func: Callable[..., Any], *args: Any, **kwargs: Any) -> WorkflowHandle:
        """Start a workflow in the background; returns once it is durably recorded."""
        info = _info(func)
        if info.is_async:
            rt = _rt()
            return rt.engine.run(_start_async_on_engine(info, args, kwargs, current_ctx_vars()))
        return _invoke_sync(info, args, kwargs, background=True)

    @classmethod
    async def start_workflow_async(
        cls, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> WorkflowHandleAsync:
        return await _invoke_async(_info(func), args, kwargs, background=True)

    @classmethod
    def retrieve_workflow(cls, workflow_id: str, existing_workflow: bool = True) -> WorkflowHandle:
        rt = _rt()
        if existing_workflow and rt.engine.run(rt.sysdb.get_status_row(workflow_id)) is None:
            raise DBOSNonExistentWorkflowError(workflow_id)
        return WorkflowHandle(rt, workflow_id)

    @classmethod
    async def retrieve_workflow_async(
        cls, workflow_id: str, existing_workflow: bool = True
    ) -> WorkflowHandleAsync:
        rt = _rt()
        if existing_workflow and await rt.engine.arun(rt.sysdb.get_status_row(workflow_id)) is None:
            raise DBOSNonExistentWorkflowError(workflow_id)
        return WorkflowHandleAsync(rt, workflow_id)

    @classmethod
    def get_workflow_status(cls, workflow_id: str) -> WorkflowStatus | None:
        rt = _rt()
        row = rt.engine.run(rt.sysdb.get_status_row(workflow_id))
        return status_from_row(row) if row is not None else None

    @classmethod
    async def get_workflow_status_async(cls, workflow_id: str) -> WorkflowStatus | None:
        rt = _rt()
        row = await rt.engine.arun(rt.sysdb.get_status_row(workflow_id))
        return status_from_row(row) if row is not None else None

    @classmethod
    def get_result(cls, workflow_id: str, timeout: float | None = None) -> Any:
        rt = _rt()
        return rt.engine.run(_core.await_result(rt, workflow_id, timeout))

    @classmethod
    def list_workflow_steps(cls, workflow_id: str) -> list[dict[str, Any]]:
        rt = _rt()
        return [step_dict(r) for r in rt.engine.run(rt.sysdb.list_steps(workflow_id))]

    # --- management --------------------------------------------------------------------

    @classmethod
    def list_workflows(cls, **filters: Any) -> list[WorkflowStatus]:
        """Workflows matching the filters (ids, status, name, queue_name, start_time, ...)."""
        return _rt().engine.run(mgmt.list_workflows(_rt(), **filters))

    @classmethod
    async def list_workflows_async(cls, **filters: Any) -> list[WorkflowStatus]:
        return await _rt().engine.arun(mgmt.list_workflows(_rt(), **filters))

    @classmethod
    def list_queued_workflows(cls, **filters: Any) -> list[WorkflowStatus]:
        """Workflows waiting or running on a queue."""
        return _rt().engine.run(mgmt.list_queued_workflows(_rt(), **filters))

    @classmethod
    def cancel_workflow(cls, workflow_id: str, *, cancel_children: bool = False) -> None:
        """Cancel: a queued workflow never runs; a running or sleeping one stops at its next step."""
        _rt().engine.run(mgmt.cancel(_rt(), [workflow_id], cancel_children))

    @classmethod
    def cancel_workflows(cls, workflow_ids: list[str], *, cancel_children: bool = False) -> None:
        _rt().engine.run(mgmt.cancel(_rt(), workflow_ids, cancel_children))

    @classmethod
    async def cancel_workflow_async(
        cls, workflow_id: str, *, cancel_children: bool = False
    ) -> None:
        await _rt().engine.arun(mgmt.cancel(_rt(), [workflow_id], cancel_children))

    @classmethod
    def resume_workflow(cls, workflow_id: str, *, queue_name: str | None = None) -> WorkflowHandle:
        """Continue a workflow from its last recorded step (once); returns its handle."""
        _rt().engine.run(mgmt.resume(_rt(), workflow_id, queue_name))
        return WorkflowHandle(_rt(), workflow_id)

    @classmethod
    async def resume_workflow_async(
        cls, workflow_id: str, *, queue_name: str | None = None
    ) -> WorkflowHandleAsync:
        await _rt().engine.arun(mgmt.resume(_rt(), workflow_id, queue_name))
        return WorkflowHandleAsync(_rt(), workflow_id)

    @classmethod
    def fork_workflow(
        cls, workflow_id: str, start_step: int, *, application_version: str | None = None
    ) -> WorkflowHandle:
        """Start a copy of a workflow that re-runs from ``start_step`` (earlier steps reused)."""
        from dbos_queue.engine.context import take_workflow_id

        forked = _rt().engine.run(
            mgmt.fork(
                _rt(),
                workflow_id,
                start_step,
                new_id=take_workflow_id(),
                app_version=application_version,
            )
        )
        return WorkflowHandle(_rt(), forked)

    @classmethod
    def garbage_collect(
        cls, *, older_than_sec: float | None = None, keep_rows: int | None = None
    ) -> int:
        """Delete finished workflows by age and/or beyond the newest ``keep_rows``."""
        return _rt().engine.run(
            mgmt.garbage_collect(_rt(), older_than_sec=older_than_sec, keep_rows=keep_rows)
        )

    # --- schedules (implementation in _scheduler) --------------------------------------

    @classmethod
    def scheduled(cls, cron: str) -> Callable[[F], F]:
        """Run the decorated workflow on a 6-field cron schedule (seconds first); it receives
        ``(scheduled_time, actual_time)``. Each tick runs once across the fleet."""
        from dbos_queue.queue import schedules as _scheduler

        return _scheduler.scheduled(cron)

    @classmethod
    def create_schedule(
        cls,
        *,
        schedule_name: str,
        workflow_fn: Callable[..., Any],
        schedule: str,
        context: Any = None,
        **options: Any,
    ) -> None:
        """Store a schedule; ``workflow_fn`` receives ``(scheduled_time, context)``."""
        from dbos_queue.queue import schedules as _scheduler

        _rt().engine.run(
            _scheduler.create_schedule(
                _rt(),
                schedule_name=schedule_name,
                workflow_fn=workflow_fn,
                schedule=schedule,
                context=context,
                **options,
            )
        )

    @classmethod
    def list_schedules(cls, **filters: Any) -> list[dict[str, Any]]:
        from dbos_queue.queue import schedules as _scheduler

        return _rt().engine.run(_scheduler.list_schedules(_rt(), **filters))

    @classmethod
    def get_schedule(cls, name: str) -> dict[str, Any] | None:
        from dbos_queue.queue import schedules as _scheduler

        return _rt().engine.run(_scheduler.get_schedule(_rt(), name))

    @classmethod
    def delete_schedule(cls, name: str) -> None:
        from dbos_queue.queue import schedules as _scheduler

        _rt().engine.run(_scheduler.delete_schedule(_rt(), name))

    # --- queues ----------------------------------------------------------------------

    @classmethod
    def register_queue(
        cls,
        name: str,
        *,
        worker_concurrency: int | None = None,
        global_concurrency: int | None = None,
        partition_concurrency: int | None = None,
        partition_worker_concurrency: int | None = None,
        partition_limiter: dict[str, Any] | None = None,
        limiter: dict[str, Any] | None = None,
        polling_interval_sec: float = 1.0,
        concurrency: int | None = None,
        **_ignored: Any,
    ) -> Any:
        """Declare (or update) a database-backed queue; the DBOS 3.x spelling of ``Queue``."""
        from dbos_queue.api.queue import Queue

        return Queue(
            name,
            concurrency,
            limiter,
            worker_concurrency=worker_concurrency,
            global_concurrency=global_concurrency,
            partition_concurrency=partition_concurrency,
            partition_worker_concurrency=partition_worker_concurrency,
            partition_limiter=partition_limiter,
            polling_interval_sec=polling_interval_sec,
            priority_enabled=True,
        )

    @classmethod
    def retrieve_queue(cls, name: str) -> Any:
        """The queue named ``name`` as declared here or stored in the database, else None."""
        from dbos_queue.api.queue import queue_from_row
        from dbos_queue.db import sql as _sql

        if name in registry.queues:
            return registry.queues[name]
        rt = registry.process
        if rt is None:
            return None
        row = _rt().engine.run(_rt().sysdb.fetchone(_sql.GET_QUEUE, (name,)))
        return queue_from_row(row) if row is not None else None

    @classmethod
    def listen_queues(cls, queues: list[Any]) -> None:
        """Dequeue only from these queues in this process (call before launch)."""
        if registry.process is not None:
            raise DBOSException("DBOS.listen_queues must be called before DBOS.launch()")
        global _pending_listen
        _pending_listen = [q if isinstance(q, str) else q.name for q in queues]

    # --- context ---------------------------------------------------------------------

    @classproperty
    def workflow_id(cls) -> str | None:
        ctx = current_workflow.get()
        return ctx.workflow_id if ctx is not None else None

    @classproperty
    def step_id(cls) -> int | None:
        ctx = current_workflow.get()
        return ctx.step_id if ctx is not None else None

    @classproperty
    def logger(cls) -> logging.Logger:
        return logger

    @classproperty
    def executor_id(cls) -> str:
        return _rt().executor_id if registry.process else cls._settings().executor_id

    @classproperty
    def application_version(cls) -> str:
        return _rt().app_version

    @classproperty
    def authenticated_user(cls) -> str | None:
        return _core.current_auth()[0]

    @classproperty
    def authenticated_roles(cls) -> list[str] | None:
        return _core.current_auth()[1]

    @classproperty
    def request(cls) -> Any:
        """The HTTP request being handled (FastAPI integration), else None."""
        from dbos_queue.integrations.fastapi import get_request

        return get_request()

    @classproperty
    def assumed_role(cls) -> str | None:
        ctx = current_workflow.get()
        return ctx.assumed_role if ctx is not None else None

    # --- communication -----------------------------------------------------------------

    @classmethod
    def send(cls, destination_id: str, message: Any, topic: str | None = None) -> None:
        ctx, fid = _op_ctx(required=False)
        _rt().engine.run(_comm.send(_rt(), ctx, fid, destination_id, message, topic))

    @classmethod
    async def send_async(cls, destination_id: str, message: Any, topic: str | None = None) -> None:
        ctx, fid = _op_ctx(required=False)
        await _rt().engine.arun(_comm.send(_rt(), ctx, fid, destination_id, message, topic))

    @classmethod
    def recv(cls, topic: str | None = None, timeout_seconds: float = 60) -> Any:
        ctx, fid = _op_ctx(required=True, what="recv")
        return _rt().engine.run(_comm.recv(_rt(), ctx, fid, topic, timeout_seconds))

    @classmethod
    async def recv_async(cls, topic: str | None = None, timeout_seconds: float = 60) -> Any:
        ctx, fid = _op_ctx(required=True, what="recv")
        return await _rt().engine.arun(_comm.recv(_rt(), ctx, fid, topic, timeout_seconds))

    @classmethod
    def set_event(cls, key: str, value: Any) -> None:
        ctx, fid = _op_ctx(required=True, what="set_event", allow_step=True)
        _rt().engine.run(_comm.set_event(_rt(), ctx, fid, key, value))

    @classmethod
    async def set_event_async(cls, key: str, value: Any) -> None:
        ctx, fid = _op_ctx(required=True, what="set_event", allow_step=True)
        await _rt().engine.arun(_comm.set_event(_rt(), ctx, fid, key, value))

    @classmethod
    def get_event(cls, workflow_id: str, key: str, timeout_seconds: float = 60) -> Any:
        ctx, fid = _op_ctx(required=False)
        return _rt().engine.run(_comm.get_event(_rt(), ctx, fid, workflow_id, key, timeout_seconds))

    @classmethod
    async def get_event_async(cls, workflow_id: str, key: str, timeout_seconds: float = 60) -> Any:
        ctx, fid = _op_ctx(required=False)
        return await _rt().engine.arun(
            _comm.get_event(_rt(), ctx, fid, workflow_id, key, timeout_seconds)
        )

    @classmethod
    def get_all_events(cls, workflow_id: str) -> dict[str, Any]:
        rows = _rt().engine.run(_rt().sysdb.get_all_events(workflow_id))
        return {k: ser.deserialize(v) for k, v in rows}

    @classmethod
    def sleep(cls, seconds: float) -> None:
        """Durable sleep inside a workflow (time.sleep elsewhere)."""
        import time

        ctx, fid = _op_ctx(required=False)
        if ctx is None:
            time.sleep(seconds)
            return
        _rt().engine.run(_comm.sleep(_rt(), ctx, fid, seconds))

    @classmethod
    async def sleep_async(cls, seconds: float) -> None:
        import asyncio

        ctx, fid = _op_ctx(required=False)
        if ctx is None:
            await asyncio.sleep(seconds)
            return
        await _rt().engine.arun(_comm.sleep(_rt(), ctx, fid, seconds))

    @classmethod
    def write_stream(cls, key: str, value: Any) -> None:
        ctx, fid = _op_ctx(required=True, what="write_stream", allow_step=True)
        _rt().engine.run(_comm.write_stream(_rt(), ctx, fid, key, value))

    @classmethod
    async def write_stream_async(cls, key: str, value: Any) -> None:
        ctx, fid = _op_ctx(required=True, what="write_stream", allow_step=True)
        await _rt().engine.arun(_comm.write_stream(_rt(), ctx, fid, key, value))

    @classmethod
    def close_stream(cls, key: str) -> None:
        ctx, fid = _op_ctx(required=True, what="close_stream", allow_step=True)
        _rt().engine.run(_comm.write_stream(_rt(), ctx, fid, key, None, closing=True))

    @classmethod
    async def close_stream_async(cls, key: str) -> None:
        ctx, fid = _op_ctx(required=True, what="close_stream", allow_step=True)
        await _rt().engine.arun(_comm.write_stream(_rt(), ctx, fid, key, None, closing=True))

    @classmethod
    def read_stream(cls, workflow_id: str, key: str) -> Iterator[Any]:
        """Yield the stream's values as they are written, until it is closed or the workflow ends."""
        rt, offset = _rt(), 0
        while True:
            values, finished = rt.engine.run(_comm.read_stream_chunk(rt, workflow_id, key, offset))
            yield from values
            offset += len(values)
            if finished:
                return

    @classmethod
    def read_stream_async(cls, workflow_id: str, key: str) -> AsyncIterator[Any]:
        return _comm.read_stream(_rt(), workflow_id, key)


def _configure_logging(level: str) -> None:
    """Give the dbos_queue logger a console handler unless the application set one up."""
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s dbos_queue: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)


def _app_version() -> str:
    """A hash of the registered workflows' source, like DBOS's default application version."""
    h = hashlib.sha256()
    for name in sorted(registry.workflows):
        func = registry.workflows[name].func
        try:
            h.update(inspect.getsource(func).encode())
        except (OSError, TypeError):
            h.update(name.encode())
    return h.hexdigest()[:32]


def _launch_error(exc: Exception, url: str) -> Exception:
    import psycopg

    from dbos_queue.model.pgurl import redact

    if isinstance(exc, psycopg.OperationalError):
        from dbos_queue.error import DBOSDatabaseUnavailableError

        return DBOSDatabaseUnavailableError(
            f"Cannot connect to the system database at {redact(url)}: {str(exc).strip()}. "
            "Check that Postgres is running and the URL is right (system_database_url in the "
            "config, DBOS_SYSTEM_DATABASE_URL, or dbos-config.yaml), or unset them all to use "
            "the embedded Postgres."
        )
    return exc
