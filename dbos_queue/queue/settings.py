"""Queue settings: validation of declared limits and the stored ``dbos.queues`` row."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, TypedDict, cast

from dbos_queue.error import DBOSQueueSettingsError
from dbos_queue.model.records import Row

MAX_PRIORITY = 2**31 - 1


class QueueRateLimit(TypedDict):
    """At most ``limit`` workflow starts in any rolling window of ``period`` seconds."""

    limit: int
    period: float


def check_positive(name: str, value: object) -> None:
    """Raise DBOSQueueSettingsError unless ``value`` is None or an integer of at least 1."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise DBOSQueueSettingsError(
            f"Queue {name} must be a positive integer or None, got {value!r}"
        )


def check_limiter(name: str, limiter: object) -> None:
    """Raise DBOSQueueSettingsError unless ``limiter`` is None or a ``QueueRateLimit``."""
    if limiter is None:
        return
    if not isinstance(limiter, dict) or set(cast(dict[str, Any], limiter)) != {"limit", "period"}:
        raise DBOSQueueSettingsError(
            f"Queue {name} must be {{'limit': int, 'period': seconds}}, got {limiter!r}"
        )
    given = cast(dict[str, Any], limiter)
    check_positive(f"{name} limit", given["limit"])
    period = given["period"]
    if not isinstance(period, (int, float)) or not math.isfinite(period) or period <= 0:
        raise DBOSQueueSettingsError(
            f"Queue {name} period must be a positive number of seconds, got {period!r}"
        )


@dataclass
class QueueSettings:
    """The stored settings of one queue (``dbos.queues`` row)."""

    name: str
    global_concurrency: int | None = None
    worker_concurrency: int | None = None
    rate_limit_max: int | None = None
    rate_limit_period_sec: float | None = None
    partition_concurrency: int | None = None
    partition_worker_concurrency: int | None = None
    partition_rate_limit_max: int | None = None
    partition_rate_limit_period_sec: float | None = None
    polling_interval_sec: float = 1.0
    paused: bool = False
    source: str = "code"

    @property
    def partitioned(self) -> bool:
        """Whether any limit applies per partition key (claims then go key by key)."""
        return (
            self.partition_concurrency is not None
            or self.partition_rate_limit_max is not None
            or self.partition_worker_concurrency is not None
        )

    @classmethod
    def from_row(cls, row: Row) -> QueueSettings:
        """The settings a row holds by name (``_sql.QUEUE_COLUMNS``, among other columns)."""
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    def as_params(self) -> dict[str, Any]:
        """The columns ``UPSERT_QUEUE`` stores."""
        return {k: v for k, v in self.__dict__.items() if k not in ("paused", "source")}


def declared_settings(
    name: str,
    *,
    concurrency: int | None,
    limiter: QueueRateLimit | None,
    worker_concurrency: int | None,
    global_concurrency: int | None,
    partition_concurrency: int | None,
    partition_worker_concurrency: int | None,
    partition_limiter: QueueRateLimit | None,
    polling_interval_sec: float,
    partition_queue: bool,
) -> QueueSettings:
    """Validate a queue declaration (both DBOS spellings) and return its settings.

    Raises ``DBOSQueueSettingsError`` (a ``ValueError``, as DBOS raises) naming the setting.
    """
    if not isinstance(cast(object, name), str) or not name:  # callers may not type-check
        raise DBOSQueueSettingsError("Queue needs a non-empty string name")
    if concurrency is not None and global_concurrency is not None:
        raise DBOSQueueSettingsError(
            f"Queue {name}: give concurrency or global_concurrency, not both"
        )
    global_concurrency = global_concurrency if global_concurrency is not None else concurrency
    if partition_queue:
        # DBOS 2.x spelling: concurrency and limiter apply to each partition.
        partition_concurrency = partition_concurrency or global_concurrency
        partition_limiter = partition_limiter or limiter
        global_concurrency, limiter = None, None
    counts = (global_concurrency, worker_concurrency, partition_concurrency)
    _check_declared(name, counts, partition_worker_concurrency, limiter, partition_limiter)
    if polling_interval_sec <= 0:
        raise DBOSQueueSettingsError(f"Queue {name}: polling_interval_sec must be positive")
    return QueueSettings(
        name=name,
        global_concurrency=global_concurrency,
        worker_concurrency=worker_concurrency,
        rate_limit_max=limiter["limit"] if limiter else None,
        rate_limit_period_sec=float(limiter["period"]) if limiter else None,
        partition_concurrency=partition_concurrency,
        partition_worker_concurrency=partition_worker_concurrency,
        partition_rate_limit_max=partition_limiter["limit"] if partition_limiter else None,
        partition_rate_limit_period_sec=(
            float(partition_limiter["period"]) if partition_limiter else None
        ),
        polling_interval_sec=polling_interval_sec,
    )


def _check_declared(
    name: str,
    counts: tuple[int | None, int | None, int | None],
    partition_worker_concurrency: int | None,
    limiter: QueueRateLimit | None,
    partition_limiter: QueueRateLimit | None,
) -> None:
    """``declared_settings``' checks of the limits: ``counts`` are the (global, worker,
    partition) concurrency. Raises ``DBOSQueueSettingsError`` naming the first bad one."""
    global_concurrency, worker_concurrency, partition_concurrency = counts
    for label, value in (
        ("concurrency", global_concurrency),
        ("worker_concurrency", worker_concurrency),
        ("partition_concurrency", partition_concurrency),
        ("partition_worker_concurrency", partition_worker_concurrency),
    ):
        check_positive(f"{name} {label}", value)
    check_limiter(f"{name} limiter", limiter)
    check_limiter(f"{name} partition_limiter", partition_limiter)
    if (
        worker_concurrency is not None
        and global_concurrency is not None
        and worker_concurrency > global_concurrency
    ):
        raise DBOSQueueSettingsError(
            f"Queue {name}: worker_concurrency ({worker_concurrency}) cannot exceed "
            f"concurrency ({global_concurrency}); workers could never use the extra slots"
        )


def check_limits(name: str, s: QueueSettings) -> None:
    """Raise ``DBOSQueueSettingsError`` (a ``ValueError``) unless ``s``'s limits fit together,
    as DBOS checks a queue's setters: no per-worker or per-partition limit above the one
    that contains it."""
    for label, value in (
        ("concurrency", s.global_concurrency),
        ("worker_concurrency", s.worker_concurrency),
        ("partition_concurrency", s.partition_concurrency),
        ("partition_worker_concurrency", s.partition_worker_concurrency),
    ):
        check_positive(f"{name} {label}", value)
    for label, limit, period in (
        ("limiter", s.rate_limit_max, s.rate_limit_period_sec),
        ("partition_limiter", s.partition_rate_limit_max, s.partition_rate_limit_period_sec),
    ):
        if limit is not None:
            check_limiter(f"{name} {label}", {"limit": limit, "period": period})
    pairs = (
        ("worker_concurrency", s.worker_concurrency, "concurrency", s.global_concurrency),
        ("partition_concurrency", s.partition_concurrency, "global_concurrency",
         s.global_concurrency),
        ("partition_worker_concurrency", s.partition_worker_concurrency, "partition_concurrency",
         s.partition_concurrency),
        ("partition_worker_concurrency", s.partition_worker_concurrency, "worker_concurrency",
         s.worker_concurrency),
        ("partition_worker_concurrency", s.partition_worker_concurrency, "concurrency",
         s.global_concurrency),
    )  # fmt: skip
    for inner, inner_value, outer, outer_value in pairs:
        if inner_value is not None and outer_value is not None and inner_value > outer_value:
            raise DBOSQueueSettingsError(
                f"Queue {name}: {inner} ({inner_value}) must be less than or equal to "
                f"{outer} ({outer_value})"
            )
    poll = cast(object, s.polling_interval_sec)  # as given: callers may not type-check
    if not (isinstance(poll, (int, float)) and poll > 0):
        raise DBOSQueueSettingsError(f"Queue {name}: polling_interval_sec must be positive")
