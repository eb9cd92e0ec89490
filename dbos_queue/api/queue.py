"""``Queue`` and ``DBOS.register_queue``: one database-backed queue behind both spellings.

A queue's settings live in ``dbos.queues``; its contents are ``workflow_status``
rows with ``status = 'ENQUEUED'``. Declaring a queue validates the settings at
once (so a misconfigured queue fails loudly instead of holding work forever)
and, when DBOS is launched, writes them to the table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from dbos_queue.api.handles import SystemHost as StoreHost
from dbos_queue.db import sql as _sql
from dbos_queue.engine.registry import registry
from dbos_queue.error import DBOSException
from dbos_queue.model.records import Row
from dbos_queue.queue.settings import QueueRateLimit, QueueSettings, declared_settings

if TYPE_CHECKING:
    from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync

P = ParamSpec("P")
R = TypeVar("R")


def _settings_of(row: Row) -> QueueSettings:
    """The ``QueueSettings`` of a ``dbos.queues`` row (``_sql.QUEUE_COLUMNS``, by name)."""
    return QueueSettings(
        **{f.name: getattr(row, f.name) for f in dataclasses.fields(QueueSettings)}
    )


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
        on_conflict: str | None = None,
        **_ignored: Any,
    ) -> None:
        self.name = name
        # DBOS.register_queue's policy for a stored row (None: ``Queue(...)``'s own rule).
        self.on_conflict = on_conflict
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

    # --- DBOS 3.x: limits read from, and written to, the queue's stored row ----------
    # Each getter re-reads the row (another process may have changed it); a setter checks
    # the new value against the other stored limits, then changes that one column.

    database_backed_queue = True  # every dbos_queue queue lives in dbos.queues
    on_conflict: str | None = None
    application_name: str | None = None  # the owning application (None: unclaimed)
    _host: StoreHost | None = None  # the DBOSClient a queue from a client is bound to

    @classmethod
    def from_row(cls, row: Row, host: StoreHost | None = None) -> Queue:
        """A Queue for a ``dbos.queues`` row, not re-declared (see ``queue_from_row``)."""
        q = cls.__new__(cls)
        q.settings = _settings_of(row)
        q.name = q.settings.name
        q.priority_enabled = True
        q.application_name = row.application_name
        q._host = host
        return q

    def _target(self) -> StoreHost | None:
        # The launched process is registered as an engine-layer listener; it is a Runtime.
        host: object = self._host if self._host is not None else registry.process
        return cast(StoreHost, host) if host is not None and hasattr(host, "sysdb") else None

    def _adopt(self, row: Row | None) -> QueueSettings:
        if row is not None:
            self.settings = _settings_of(row)
            self.application_name = row.application_name
        return self.settings

    def _read(self) -> QueueSettings:
        host = self._target()
        if host is None or host.engine.on_loop():
            return self.settings  # not launched (or async code): the declared values
        return self._adopt(host.engine.run(host.sysdb.fetchone(_sql.GET_QUEUE_OWNED, (self.name,))))

    async def _aread(self) -> QueueSettings:
        host = self._target()
        if host is None:
            return self.settings
        row = await host.engine.arun(host.sysdb.fetchone(_sql.GET_QUEUE_OWNED, (self.name,)))
        return self._adopt(row)

    def _change(self, field: str, value: Any) -> tuple[StoreHost, dict[str, Any]]:
        """(host, set_queue_limits arguments) for one changed limit, checked against the rest."""
        from dbos_queue.queue.settings import check_limits

        host = self._target()
        if host is None:
            raise DBOSException(
                f"Queue {self.name}: launch DBOS (or use a DBOSClient's queue) to change it"
            )
        check_limits(self.name, replace_limit(self.settings, field, value))
        return host, {field: value}

    def _set(self, **changes: Any) -> None:
        from dbos_queue.queue.claim import set_queue_limits

        host = self._target()
        if host is None:
            raise DBOSException(f"Queue {self.name}: launch DBOS before changing it")
        if not host.engine.run(set_queue_limits(host.sysdb, self.name, **changes)):
            raise DBOSException(f"Queue {self.name} is not stored in the database")
        self._read()

    def _set_checked(self, field: str, value: Any) -> None:
        self._read()
        self._change(field, value)
        self._set(**{field: value})

    async def _aset_checked(self, field: str, value: Any) -> None:
        from dbos_queue.queue.claim import set_queue_limits

        await self._aread()
        host, changes = self._change(field, value)
        if not await host.engine.arun(set_queue_limits(host.sysdb, self.name, **changes)):
            raise DBOSException(f"Queue {self.name} is not stored in the database")
        await self._aread()

    @property
    def concurrency(self) -> int | None:
        """Deprecated name of ``global_concurrency``."""
        return self._read().global_concurrency

    async def get_concurrency_async(self) -> int | None:
        """``concurrency``, read without blocking the event loop."""
        return (await self._aread()).global_concurrency

    def set_concurrency(self, value: int | None) -> None:
        """Deprecated name of ``set_global_concurrency``."""
        self._set_checked("global_concurrency", value)

    async def set_concurrency_async(self, value: int | None) -> None:
        """``set_concurrency`` without blocking the event loop."""
        await self._aset_checked("global_concurrency", value)

    @property
    def global_concurrency(self) -> int | None:
        """Most workflows of this queue running at once across all workers (None: no limit)."""
        return self._read().global_concurrency

    async def get_global_concurrency_async(self) -> int | None:
        """``global_concurrency``, read without blocking the event loop."""
        return (await self._aread()).global_concurrency

    def set_global_concurrency(self, value: int | None) -> None:
        """Change the fleet-wide concurrency at runtime (None: unlimited)."""
        self._set_checked("global_concurrency", value)

    async def set_global_concurrency_async(self, value: int | None) -> None:
        """``set_global_concurrency`` without blocking the event loop."""
        await self._aset_checked("global_concurrency", value)

    @property
    def worker_concurrency(self) -> int | None:
        """Most workflows of this queue one worker process runs at once."""
        return self._read().worker_concurrency

    async def get_worker_concurrency_async(self) -> int | None:
        """``worker_concurrency``, read without blocking the event loop."""
        return (await self._aread()).worker_concurrency

    def set_worker_concurrency(self, value: int | None) -> None:
        """Change the per-worker concurrency at runtime."""
        self._set_checked("worker_concurrency", value)

    async def set_worker_concurrency_async(self, value: int | None) -> None:
        """``set_worker_concurrency`` without blocking the event loop."""
        await self._aset_checked("worker_concurrency", value)

    @property
    def limiter(self) -> QueueRateLimit | None:
        """At most ``limit`` starts per rolling ``period`` seconds (None: no rate limit)."""
        return _rate(self._read().rate_limit_max, self.settings.rate_limit_period_sec)

    async def get_limiter_async(self) -> QueueRateLimit | None:
        """``limiter``, read without blocking the event loop."""
        s = await self._aread()
        return _rate(s.rate_limit_max, s.rate_limit_period_sec)

    def set_limiter(self, value: QueueRateLimit | None) -> None:
        """Change the queue-wide rate limit at runtime."""
        self._set_checked("limiter", value)

    async def set_limiter_async(self, value: QueueRateLimit | None) -> None:
        """``set_limiter`` without blocking the event loop."""
        await self._aset_checked("limiter", value)

    @property
    def partition_concurrency(self) -> int | None:
        """Most workflows of any one partition running at once across all workers."""
        return self._read().partition_concurrency

    async def get_partition_concurrency_async(self) -> int | None:
        """``partition_concurrency``, read without blocking the event loop."""
        return (await self._aread()).partition_concurrency

    def set_partition_concurrency(self, value: int | None) -> None:
        """Change the per-partition concurrency (any partition limit makes it partitioned)."""
        self._set_checked("partition_concurrency", value)

    async def set_partition_concurrency_async(self, value: int | None) -> None:
        """``set_partition_concurrency`` without blocking the event loop."""
        await self._aset_checked("partition_concurrency", value)

    @property
    def partition_worker_concurrency(self) -> int | None:
        """Most workflows of any one partition one worker process runs at once."""
        return self._read().partition_worker_concurrency

    async def get_partition_worker_concurrency_async(self) -> int | None:
        """``partition_worker_concurrency``, read without blocking the event loop."""
        return (await self._aread()).partition_worker_concurrency

    def set_partition_worker_concurrency(self, value: int | None) -> None:
        """Change the per-partition, per-worker concurrency at runtime."""
        self._set_checked("partition_worker_concurrency", value)

    async def set_partition_worker_concurrency_async(self, value: int | None) -> None:
        """``set_partition_worker_concurrency`` without blocking the event loop."""
        await self._aset_checked("partition_worker_concurrency", value)

    @property
    def partition_limiter(self) -> QueueRateLimit | None:
        """The rate limit applied to each partition separately."""
        s = self._read()
        return _rate(s.partition_rate_limit_max, s.partition_rate_limit_period_sec)

    async def get_partition_limiter_async(self) -> QueueRateLimit | None:
        """``partition_limiter``, read without blocking the event loop."""
        s = await self._aread()
        return _rate(s.partition_rate_limit_max, s.partition_rate_limit_period_sec)

    def set_partition_limiter(self, value: QueueRateLimit | None) -> None:
        """Change the per-partition rate limit at runtime."""
        self._set_checked("partition_limiter", value)

    async def set_partition_limiter_async(self, value: QueueRateLimit | None) -> None:
        """``set_partition_limiter`` without blocking the event loop."""
        await self._aset_checked("partition_limiter", value)

    @property
    def polling_interval_sec(self) -> float:
        """How often (seconds) an idle worker looks for work here when no NOTIFY wakes it."""
        return self._read().polling_interval_sec

    async def get_polling_interval_sec_async(self) -> float:
        """``polling_interval_sec``, read without blocking the event loop."""
        return (await self._aread()).polling_interval_sec

    def set_polling_interval_sec(self, value: float) -> None:
        """Change the polling interval at runtime (positive seconds)."""
        self._set_checked("polling_interval_sec", value)

    async def set_polling_interval_sec_async(self, value: float) -> None:
        """``set_polling_interval_sec`` without blocking the event loop."""
        await self._aset_checked("polling_interval_sec", value)

    @property
    def partition_queue(self) -> bool:
        """Whether enqueues need a ``queue_partition_key`` (any partition limit is set)."""
        return self.settings.partitioned

    def pause(self) -> None:
        """Stop every worker from claiming from this queue (enqueueing still works)."""
        self._set(paused=True)

    def resume(self) -> None:
        """Let workers claim from this queue again after ``pause``."""
        self._set(paused=False)

    def enqueue(self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> WorkflowHandle[R]:
        """Add a run of workflow ``func`` to this queue; returns its handle at once."""
        from dbos_queue.api.invoke import enqueue_sync

        handle: WorkflowHandle[R] = enqueue_sync(self, func, args, kwargs)
        return handle

    @overload
    async def enqueue_async(
        self, func: Callable[P, Coroutine[Any, Any, R]], *args: P.args, **kwargs: P.kwargs
    ) -> WorkflowHandleAsync[R]: ...

    @overload  # a sync workflow may be enqueued from async code too
    async def enqueue_async(
        self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> WorkflowHandleAsync[R]: ...

    async def enqueue_async(
        self, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> WorkflowHandleAsync[Any]:
        """Add a run of workflow ``func`` to this queue without blocking the event loop."""
        from dbos_queue.api.invoke import enqueue_async

        return await enqueue_async(self, func, args, kwargs)

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"


def queue_from_row(row: Row, host: StoreHost | None = None) -> Queue:
    """A Queue object for a ``dbos.queues`` row (without re-declaring it); ``host`` is the
    DBOSClient its getters and setters use (default: the launched runtime)."""
    return Queue.from_row(row, host)


def named_queue(name: str, row: Row | None = None) -> Queue:
    """The queue ``name`` as declared here, else as stored (``row``: its partitioning
    decides the enqueue's checks), else a stand-in with default settings.

    ``DBOS.enqueue_workflow`` names a queue; the enqueue then refuses one that no worker
    declared (api/invoke.py ``require_stored_queue``).
    """
    declared = cast("Queue | None", registry.queues.get(name))
    if declared is not None:
        return declared
    if row is not None:
        return queue_from_row(row)
    # Not stored either: a row of default settings, owned by nobody.
    default = SimpleNamespace(**dataclasses.asdict(QueueSettings(name)), application_name=None)
    return queue_from_row(default)


def _rate(limit: int | None, period: float | None) -> QueueRateLimit | None:
    return None if limit is None else {"limit": limit, "period": period or 0.0}


def replace_limit(s: QueueSettings, field: str, value: Any) -> QueueSettings:
    """``s`` with one limit changed (``limiter``/``partition_limiter`` as rate dicts)."""
    from dataclasses import replace

    if field == "limiter":
        return replace(
            s,
            rate_limit_max=value["limit"] if value else None,
            rate_limit_period_sec=value["period"] if value else None,
        )
    if field == "partition_limiter":
        return replace(
            s,
            partition_rate_limit_max=value["limit"] if value else None,
            partition_rate_limit_period_sec=value["period"] if value else None,
        )
    return replace(s, **{field: value})
