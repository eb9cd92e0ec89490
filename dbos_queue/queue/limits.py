"""Queue limits changed at runtime (``set_queue_limits``): stored in ``dbos.queues``, marked
as set at runtime (a declaration in code no longer overrides them), announced to every
worker, which applies them at its next settings refresh."""

from __future__ import annotations

from typing import Any

from dbos_queue.db import sql as _sql
from dbos_queue.error import DBOSQueueSettingsError
from dbos_queue.queue.settings import check_limiter, check_positive

_UNSET: Any = object()


async def set_queue_limits(
    sysdb: Any,
    name: str,
    *,
    global_concurrency: Any = _UNSET,
    worker_concurrency: Any = _UNSET,
    limiter: Any = _UNSET,
    partition_concurrency: Any = _UNSET,
    partition_worker_concurrency: Any = _UNSET,
    partition_limiter: Any = _UNSET,
    polling_interval_sec: float | None = None,
    paused: bool | None = None,
) -> bool:
    """Store new limits for ``name`` (marked as set at runtime); False if no such queue.

    Only the limits given change (None clears a limit); every worker applies them at
    its next settings refresh (within a second), and at once in this process.
    """
    for label, value in (
        ("concurrency", global_concurrency),
        ("worker_concurrency", worker_concurrency),
        ("partition_concurrency", partition_concurrency),
        ("partition_worker_concurrency", partition_worker_concurrency),
    ):
        if value is not _UNSET:
            check_positive(f"{name} {label}", value)
    for label, value in (("limiter", limiter), ("partition_limiter", partition_limiter)):
        if value is not _UNSET:
            check_limiter(f"{name} {label}", value)
    if polling_interval_sec is not None and not polling_interval_sec > 0:
        raise DBOSQueueSettingsError(f"Queue {name}: polling_interval_sec must be positive")

    def given(value: Any) -> Any:
        return None if value is _UNSET else value

    def rate(value: Any, key: str) -> Any:
        return None if value in (_UNSET, None) else value[key]

    params: dict[str, Any] = {
        "name": name,
        "set_global": global_concurrency is not _UNSET,
        "global_concurrency": given(global_concurrency),
        "set_worker": worker_concurrency is not _UNSET,
        "worker_concurrency": given(worker_concurrency),
        "set_rate": limiter is not _UNSET,
        "rate_limit_max": rate(limiter, "limit"),
        "rate_limit_period_sec": rate(limiter, "period"),
        "set_pconc": partition_concurrency is not _UNSET,
        "partition_concurrency": given(partition_concurrency),
        "set_pworker": partition_worker_concurrency is not _UNSET,
        "partition_worker_concurrency": given(partition_worker_concurrency),
        "set_prate": partition_limiter is not _UNSET,
        "partition_rate_limit_max": rate(partition_limiter, "limit"),
        "partition_rate_limit_period_sec": rate(partition_limiter, "period"),
        "polling_interval_sec": polling_interval_sec,
        "paused": paused,
    }
    for key in ("rate_limit_period_sec", "partition_rate_limit_period_sec"):
        if params[key] is not None:
            params[key] = float(params[key])
    row = await sysdb.fetchone(_sql.SET_QUEUE_LIMITS, params)
    if row is not None:
        sysdb.engine.publish("queue", name, count=0)  # count 0: every worker re-reads them
    return row is not None
