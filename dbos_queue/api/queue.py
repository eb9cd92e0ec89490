"""``Queue`` and ``DBOS.register_queue``: one database-backed queue behind both spellings.

A queue's settings live in ``dbos.queues``; its contents are ``workflow_status``
rows with ``status = 'ENQUEUED'``. Declaring a queue validates the settings at
once (so a misconfigured queue fails loudly instead of holding work forever)
and, when DBOS is launched, writes them to the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dbos_queue.engine.registry import registry
from dbos_queue.error import DBOSException
from dbos_queue.queue.settings import QueueRateLimit, QueueSettings, declared_settings

if TYPE_CHECKING:
    from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync


class Queue:
    """A durable work queue; many worker processes dequeue from it.

    ``Queue(name, concurrency, limiter, worker_concurrency=...)`` (DBOS 1.x/2.x) and
    ``DBOS.register_queue(name, global_concurrency=...)`` (DBOS 3.x) make the same thing.
    """

    def __init__(
        self,
        name: str,
        concurrency: int | None = None,
        limiter: QueueRateLimit | None = None,
        *,
        worker_concurrency: int | None = None,
        global_concurrency: int | None = None,
        partition_concurrency: int | None = None,
        partition_worker_concurrency: int | None = None,
        partition_limiter: QueueRateLimit | None = None,
        polling_interval_sec: float = 1.0,
        priority_enabled: bool = False,
        partition_queue: bool = False,
        **_ignored: Any,
    ) -> None:
        self.name = name
        self.priority_enabled = priority_enabled
        self.settings = declared_settings(
            name,
            concurrency=concurrency,
            limiter=limiter,
            worker_concurrency=worker_concurrency,
            global_concurrency=global_concurrency,
            partition_concurrency=partition_concurrency,
            partition_worker_concurrency=partition_worker_concurrency,
            partition_limiter=partition_limiter,
            polling_interval_sec=polling_interval_sec,
            partition_queue=partition_queue,
        )
        registry.declare_queue(self)

    # DBOS names for the limits
    @property
    def concurrency(self) -> int | None:
        return self.settings.global_concurrency

    @property
    def worker_concurrency(self) -> int | None:
        return self.settings.worker_concurrency

    @property
    def limiter(self) -> QueueRateLimit | None:
        s = self.settings
        if s.rate_limit_max is None:
            return None
        return {"limit": s.rate_limit_max, "period": s.rate_limit_period_sec or 0.0}

    @property
    def partition_queue(self) -> bool:
        return self.settings.partitioned

    def _set(self, **changes: Any) -> None:
        from dbos_queue.api.invoke import _rt

        rt = _rt()
        if not rt.engine.run(rt.queues.set_limits(self.name, **changes)):
            raise DBOSException(f"Queue {self.name} is not stored in the database")
        self.settings = rt.engine.run(rt.queues.refresh(self.name))

    def set_concurrency(self, value: int | None) -> None:
        """Change the fleet-wide concurrency at runtime (None: unlimited)."""
        self._set(global_concurrency=value)

    set_global_concurrency = set_concurrency

    def set_worker_concurrency(self, value: int | None) -> None:
        self._set(worker_concurrency=value)

    def set_limiter(self, value: QueueRateLimit | None) -> None:
        self._set(limiter=value)

    def pause(self) -> None:
        """Stop every worker from claiming from this queue (enqueueing still works)."""
        self._set(paused=True)

    def resume(self) -> None:
        self._set(paused=False)

    def enqueue(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> WorkflowHandle:
        """Add a run of workflow ``func`` to this queue; returns its handle at once."""
        from dbos_queue.api.invoke import enqueue_sync

        return enqueue_sync(self, func, args, kwargs)

    async def enqueue_async(
        self, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> WorkflowHandleAsync:
        from dbos_queue.api.invoke import enqueue_async

        return await enqueue_async(self, func, args, kwargs)

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"


def queue_from_row(row: tuple) -> Queue:
    """A Queue object for a ``dbos.queues`` row (without re-declaring it)."""
    q = Queue.__new__(Queue)
    q.name = row[0]
    q.priority_enabled = True
    q.settings = QueueSettings(*row)
    return q
