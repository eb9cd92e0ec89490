"""The ``DBOS`` facade: declaring, retrieving, listing and deleting queues; enqueueing by
queue name or by options."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from dbos_queue.api.facade.base import FacadeState
from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.invoke import require_runtime
from dbos_queue.engine.registry import registry
from dbos_queue.error import DBOSException
from dbos_queue.model.records import Row
from dbos_queue.ops import queues as _queues
from dbos_queue.queue.settings import QueueRateLimit

if TYPE_CHECKING:
    from dbos_queue.api.queue import Queue

P = ParamSpec("P")
R = TypeVar("R")

RESERVED_PREFIX = "_dbos_"  # DBOS's internal queues
CONFLICT_POLICIES = _queues.CONFLICT_POLICIES


def _queue_of(row: Row | None) -> Queue | None:
    from dbos_queue.api.queue import queue_from_row

    return queue_from_row(row) if row is not None else None


def _queues_of(rows: list[Row]) -> list[Queue]:
    from dbos_queue.api.queue import queue_from_row

    return [queue_from_row(r) for r in rows]


def _reserved(name: object) -> bool:
    """A name of DBOS's internal queues (a non-str name is left to Queue's own check)."""
    return isinstance(name, str) and name.startswith(RESERVED_PREFIX)


def _declared(name: str) -> Queue | None:
    """The queue declared in this process under ``name``."""
    queue: Queue | None = registry.queues.get(name)
    return queue


class Queues:
    """``DBOS`` class methods: queues and enqueueing."""

    @classmethod
    def register_queue(
        cls,
        name: str,
        *,
        worker_concurrency: int | None = None,
        global_concurrency: int | None = None,
        partition_concurrency: int | None = None,
        partition_worker_concurrency: int | None = None,
        partition_limiter: QueueRateLimit | None = None,
        limiter: QueueRateLimit | None = None,
        polling_interval_sec: float = 1.0,
        on_conflict: str = "update_if_latest_version",
        concurrency: int | None = None,
    ) -> Queue:
        """Declare (or update) a database-backed queue; the DBOS 3.x spelling of ``Queue``.

        Its row is stored (now, or at launch) under this application's name by DBOS's
        ``on_conflict`` policy: "update_if_latest_version" replaces the stored settings
        only when this process runs the application's latest version, "always_update"
        always, "never_update" never (only a missing row is inserted). A name another
        application registered raises ``DBOSException``.
        """
        from dbos_queue.api.queue import Queue

        if _reserved(name):
            raise ValueError(
                f"Queue name {name} is reserved: names starting with '{RESERVED_PREFIX}' "
                "belong to DBOS's internal queues."
            )
        if on_conflict not in CONFLICT_POLICIES:
            raise ValueError(f"on_conflict must be one of {CONFLICT_POLICIES}, got {on_conflict!r}")
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
            on_conflict=on_conflict,
        )

    @classmethod
    async def register_queue_async(
        cls,
        name: str,
        *,
        worker_concurrency: int | None = None,
        global_concurrency: int | None = None,
        partition_concurrency: int | None = None,
        partition_worker_concurrency: int | None = None,
        partition_limiter: QueueRateLimit | None = None,
        limiter: QueueRateLimit | None = None,
        polling_interval_sec: float = 1.0,
        on_conflict: str = "update_if_latest_version",
        concurrency: int | None = None,
    ) -> Queue:
        """``register_queue`` from async code (the declaration runs in a worker thread)."""
        options = dict(locals())
        options.pop("cls")
        return await asyncio.to_thread(lambda: cls.register_queue(**options))

    @classmethod
    def retrieve_queue(cls, name: str) -> Queue | None:
        """The queue named ``name`` as declared here or stored in the database, else None."""
        if name in registry.queues:
            return _declared(name)
        if registry.process is None:
            return None
        return _queue_of(require_runtime().engine.run(_queues.get_row(require_runtime(), name)))

    @classmethod
    async def retrieve_queue_async(cls, name: str) -> Queue | None:
        """``retrieve_queue`` from async code."""
        if name in registry.queues:
            return _declared(name)
        if registry.process is None:
            return None
        return _queue_of(
            await require_runtime().engine.arun(_queues.get_row(require_runtime(), name))
        )

    @classmethod
    def delete_queue(cls, name: str) -> None:
        """Delete a queue's stored row: workflows still waiting on it are not dequeued."""
        require_runtime().engine.run(_queues.delete(require_runtime(), name))

    @classmethod
    async def delete_queue_async(cls, name: str) -> None:
        """``delete_queue`` from async code."""
        await require_runtime().engine.arun(_queues.delete(require_runtime(), name))

    @classmethod
    def list_queues(cls, *, application_name: str | list[str] | None = None) -> list[Queue]:
        """The queues stored in the system database (those of ``application_name`` and
        unclaimed ones when it is given), by name."""
        rows = require_runtime().engine.run(_queues.list_rows(require_runtime(), application_name))
        return _queues_of(rows)

    @classmethod
    async def list_queues_async(
        cls, *, application_name: str | list[str] | None = None
    ) -> list[Queue]:
        """``list_queues`` from async code."""
        rows = await require_runtime().engine.arun(
            _queues.list_rows(require_runtime(), application_name)
        )
        return _queues_of(rows)

    @classmethod
    def enqueue_workflow(
        cls, queue_name: str, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> WorkflowHandle[R]:
        """``Queue(queue_name).enqueue(func, ...)`` without a Queue object. A queue neither
        declared here nor stored in ``dbos.queues`` is refused (``DBOSQueueNotDeclaredError``):
        nothing would ever run it."""
        from dbos_queue.api.queue import named_queue

        queue = _declared(queue_name)
        if queue is None:  # stored by another process: its settings decide partitioning
            queue = named_queue(
                queue_name,
                require_runtime().engine.run(_queues.get_row(require_runtime(), queue_name)),
            )
        return queue.enqueue(func, *args, **kwargs)

    @overload
    @classmethod
    async def enqueue_workflow_async(
        cls,
        queue_name: str,
        func: Callable[P, Coroutine[Any, Any, R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> WorkflowHandleAsync[R]: ...

    @overload  # a sync workflow may be enqueued from async code too
    @classmethod
    async def enqueue_workflow_async(
        cls, queue_name: str, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> WorkflowHandleAsync[R]: ...

    @classmethod
    async def enqueue_workflow_async(
        cls, queue_name: str, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> WorkflowHandleAsync[Any]:
        """``enqueue_workflow`` from async code."""
        from dbos_queue.api.queue import named_queue

        queue = _declared(queue_name)
        if queue is None:
            row = await require_runtime().engine.arun(
                _queues.get_row(require_runtime(), queue_name)
            )
            queue = named_queue(queue_name, row)
        return await queue.enqueue_async(func, *args, **kwargs)

    @classmethod
    def enqueue_workflow_with_options(
        cls, options: dict[str, Any], *args: Any, **kwargs: Any
    ) -> WorkflowHandle[Any]:
        """Enqueue by name from ``EnqueueOptions`` (as ``DBOSClient.enqueue``): the function
        need not be registered here. From a workflow the workflow is a recorded child;
        without ``app_version`` it runs on the latest application version."""
        from dbos_queue.api import enqueue_named as _named

        rt = require_runtime()
        params, parent, pfid = _named.prepare(rt, options, args, kwargs)
        return WorkflowHandle(rt, rt.engine.run(_named.insert(rt, params, parent, pfid)))

    @classmethod
    async def enqueue_workflow_with_options_async(
        cls, options: dict[str, Any], *args: Any, **kwargs: Any
    ) -> WorkflowHandleAsync[Any]:
        """``enqueue_workflow_with_options`` from async code."""
        from dbos_queue.api import enqueue_named as _named

        rt = require_runtime()
        params, parent, pfid = _named.prepare(rt, options, args, kwargs)
        wf_id = await rt.engine.arun(_named.insert(rt, params, parent, pfid))
        return WorkflowHandleAsync(rt, wf_id)

    @classmethod
    def listen_queues(cls, queues: list[Any]) -> None:
        """Dequeue only from these queues in this process (call before launch)."""
        if registry.process is not None:
            raise DBOSException("DBOS.listen_queues must be called before DBOS.launch()")
        FacadeState.pending_listen = [q if isinstance(q, str) else q.name for q in queues]
