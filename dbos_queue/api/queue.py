"""``Queue`` and ``DBOS.register_queue``: one database-backed queue behind both spellings.

A queue's settings live in ``dbos.queues``; its contents are ``workflow_status``
rows with ``status = 'ENQUEUED'``. Declaring a queue validates the settings at
once (so a misconfigured queue fails loudly instead of holding work forever)
and, when DBOS is launched, writes them to the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, TypedDict

from dbos_queue.engine.registry import registry
from dbos_queue.error import DBOSException

if TYPE_CHECKING:
    from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync

MAX_PRIORITY = 2**31 - 1


class QueueRateLimit(TypedDict):
    """At most ``limit`` workflow starts in any rolling window of ``period`` seconds."""

    limit: int
    period: float


def _check_positive(name: str, value: Optional[int]) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise DBOSException(f"Queue {name} must be a positive integer or None, got {value!r}")


def _check_limiter(name: str, limiter: Optional[QueueRateLimit]) -> None:
    if limiter is None:
        return
    if not isinstance(limiter, dict) or set(limiter) != {"limit", "period"}:
        raise DBOSException(f"Queue {name} must be {{'limit': int, 'period': seconds}}, got {limiter!r}")
    _check_positive(f"{name} limit", limiter["limit"])
    period = limiter["period"]
    if not isinstance(period, (int, float)) or not math.isfinite(period) or period <= 0:
        raise DBOSException(f"Queue {name} period must be a positive number of seconds, got {period!r}")


@dataclass
class QueueSettings:
    """The stored settings of one queue (``dbos.queues`` row)."""

    name: str
    global_concurrency: Optional[int] = None
    worker_concurrency: Optional[int] = None
    rate_limit_max: Optional[int] = None
    rate_limit_period_sec: Optional[float] = None
    partition_concurrency: Optional[int] = None
    partition_worker_concurrency: Optional[int] = None
    partition_rate_limit_max: Optional[int] = None
    partition_rate_limit_period_sec: Optional[float] = None
    polling_interval_sec: float = 1.0
    paused: bool = False
    source: str = "code"

    @property
    def partitioned(self) -> bool:
        return (self.partition_concurrency is not None or self.partition_rate_limit_max is not None
                or self.partition_worker_concurrency is not None)

    def as_params(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("paused", "source")}


class Queue:
    """A durable work queue; many worker processes dequeue from it.

    ``Queue(name, concurrency, limiter, worker_concurrency=...)`` (DBOS 1.x/2.x) and
    ``DBOS.register_queue(name, global_concurrency=...)`` (DBOS 3.x) make the same thing.
    """

    def __init__(
        self,
        name: str,
        concurrency: Optional[int] = None,
        limiter: Optional[QueueRateLimit] = None,
        *,
        worker_concurrency: Optional[int] = None,
        global_concurrency: Optional[int] = None,
        partition_concurrency: Optional[int] = None,
        partition_worker_concurrency: Optional[int] = None,
        partition_limiter: Optional[QueueRateLimit] = None,
        polling_interval_sec: float = 1.0,
        priority_enabled: bool = False,
        partition_queue: bool = False,
        **_ignored: Any,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise DBOSException("Queue needs a non-empty string name")
        if concurrency is not None and global_concurrency is not None:
            raise DBOSException(f"Queue {name}: give concurrency or global_concurrency, not both")
        global_concurrency = global_concurrency if global_concurrency is not None else concurrency
        if partition_queue:
            # DBOS 2.x spelling: concurrency and limiter apply to each partition.
            partition_concurrency = partition_concurrency or global_concurrency
            partition_limiter = partition_limiter or limiter
            global_concurrency, limiter = None, None
        for label, value in (("concurrency", global_concurrency),
                             ("worker_concurrency", worker_concurrency),
                             ("partition_concurrency", partition_concurrency),
                             ("partition_worker_concurrency", partition_worker_concurrency)):
            _check_positive(f"{name} {label}", value)
        _check_limiter(f"{name} limiter", limiter)
        _check_limiter(f"{name} partition_limiter", partition_limiter)
        if (worker_concurrency is not None and global_concurrency is not None
                and worker_concurrency > global_concurrency):
            raise DBOSException(
                f"Queue {name}: worker_concurrency ({worker_concurrency}) cannot exceed "
                f"concurrency ({global_concurrency}); workers could never use the extra slots"
            )
        if polling_interval_sec <= 0:
            raise DBOSException(f"Queue {name}: polling_interval_sec must be positive")
        self.name = name
        self.priority_enabled = priority_enabled
        self.settings = QueueSettings(
            name=name, global_concurrency=global_concurrency,
            worker_concurrency=worker_concurrency,
            rate_limit_max=limiter["limit"] if limiter else None,
            rate_limit_period_sec=float(limiter["period"]) if limiter else None,
            partition_concurrency=partition_concurrency,
            partition_worker_concurrency=partition_worker_concurrency,
            partition_rate_limit_max=partition_limiter["limit"] if partition_limiter else None,
            partition_rate_limit_period_sec=(
                float(partition_limiter["period"]) if partition_limiter else None),
            polling_interval_sec=polling_interval_sec,
        )
        registry.queues[name] = self
        from dbos_queue.api import dbos as _dbos

        if _dbos._runtime is not None:
            _dbos._runtime.engine.run(_dbos._runtime.queues.declare(self.settings))

    # DBOS names for the limits
    @property
    def concurrency(self) -> Optional[int]:
        return self.settings.global_concurrency

    @property
    def worker_concurrency(self) -> Optional[int]:
        return self.settings.worker_concurrency

    @property
    def limiter(self) -> Optional[QueueRateLimit]:
        s = self.settings
        if s.rate_limit_max is None:
            return None
        return {"limit": s.rate_limit_max, "period": s.rate_limit_period_sec or 0.0}

    @property
    def partition_queue(self) -> bool:
        return self.settings.partitioned

    def _set(self, **changes: Any) -> None:
        from dbos_queue.api import dbos as _dbos

        rt = _dbos._rt()
        if not rt.engine.run(rt.queues.set_limits(self.name, **changes)):
            raise DBOSException(f"Queue {self.name} is not stored in the database")
        self.settings = rt.engine.run(rt.queues.refresh(self.name))

    def set_concurrency(self, value: Optional[int]) -> None:
        """Change the fleet-wide concurrency at runtime (None: unlimited)."""
        self._set(global_concurrency=value)

    set_global_concurrency = set_concurrency

    def set_worker_concurrency(self, value: Optional[int]) -> None:
        self._set(worker_concurrency=value)

    def set_limiter(self, value: Optional[QueueRateLimit]) -> None:
        self._set(limiter=value)

    def pause(self) -> None:
        """Stop every worker from claiming from this queue (enqueueing still works)."""
        self._set(paused=True)

    def resume(self) -> None:
        self._set(paused=False)

    def enqueue(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> "WorkflowHandle":
        """Add a run of workflow ``func`` to this queue; returns its handle at once."""
        from dbos_queue.api.dbos import enqueue_sync

        return enqueue_sync(self, func, args, kwargs)

    async def enqueue_async(self, func: Callable[..., Any], *args: Any,
                            **kwargs: Any) -> "WorkflowHandleAsync":
        from dbos_queue.api.dbos import enqueue_async

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
