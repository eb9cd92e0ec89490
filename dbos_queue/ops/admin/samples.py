"""Queue depth and throughput over the last minutes, for the dashboard's charts.

The admin server takes a sample every ``interval`` seconds on its own event loop
(never on the claim path): the ENQUEUED count of every queue and how many of its
workflows were started (dequeued, fleet-wide) since the previous sample. The last
``keep`` samples live in memory only; a restarted server starts a fresh history.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from dbos_queue.db import sql as _sql

logger = logging.getLogger("dbos_queue")


@dataclass(frozen=True)
class Sample:
    """One sample: at ``at_ms``, depth per queue, and starts per queue over ``span_ms``."""

    at_ms: int
    span_ms: int
    depth: dict[str, int]
    started: dict[str, int]

    def rate(self, queue: str | None = None) -> float:
        """Workflows started per second over the sample's span (all queues when None)."""
        n = sum(self.started.values()) if queue is None else self.started.get(queue, 0)
        return n * 1000 / self.span_ms if self.span_ms > 0 else 0.0

    def total_depth(self) -> int:
        """ENQUEUED workflows over all queues."""
        return sum(self.depth.values())


class SampleRing:
    """The last ``keep`` samples (thread-safe: the dashboard reads while the sampler adds)."""

    def __init__(self, interval: float, keep: int) -> None:
        if interval <= 0 or keep < 2:
            raise ValueError(f"sample interval must be > 0 and keep >= 2, got {interval}, {keep}")
        self.interval = interval
        self._samples: deque[Sample] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.added = threading.Condition(self._lock)

    def add(self, sample: Sample) -> None:
        """Append ``sample``, dropping the oldest beyond ``keep``."""
        with self._lock:
            self._samples.append(sample)
            self.added.notify_all()

    def snapshot(self) -> list[Sample]:
        """The samples, oldest first."""
        with self._lock:
            return list(self._samples)


async def take_sample(sysdb: Any, since_ms: int, until_ms: int) -> Sample:
    """Depth per queue now, and starts per queue in ``(since_ms, until_ms]``."""
    depth = {r.queue_name: int(r.depth) for r in await sysdb.fetchall(_sql.QUEUE_STATS)}
    names = sorted(set(depth) | {r.name for r in await sysdb.fetchall(_sql.LIST_QUEUES)})
    started: dict[str, int] = {}
    if names:
        rows = await sysdb.fetchall(
            _sql.QUEUE_STARTS_BETWEEN, {"names": names, "since": since_ms, "until": until_ms}
        )
        started = {r.queue_name: int(r.n) for r in rows}
    for name in names:
        depth.setdefault(name, 0)
    return Sample(until_ms, until_ms - since_ms, depth, started)


async def sample_forever(engine: Any, sysdb: Any, ring: SampleRing) -> None:
    """Fill ``ring`` until cancelled; a failed sample (database away) is skipped, not fatal."""
    last = int(time.time() * 1000 - ring.interval * 1000)
    while True:
        now = int(time.time() * 1000)
        try:
            ring.add(await engine.arun(take_sample(sysdb, last, now)))
            last = now
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.debug("admin: queue sample failed: %s", exc)
        await asyncio.sleep(ring.interval)


def sparkline(values: list[float], width: int = 240, height: int = 40) -> dict[str, Any]:
    """SVG polyline points scaled to the box (y grows down), and the largest value."""
    top = max(values, default=0.0)
    if len(values) < 2:
        return {"points": "", "max": top, "values": values}
    step = width / (len(values) - 1)
    scale = (height - 2) / top if top > 0 else 0.0
    points = " ".join(f"{i * step:.1f},{height - 1 - v * scale:.1f}" for i, v in enumerate(values))
    return {"points": points, "max": top, "values": values}
