"""Prometheus metrics of one process, fed by the runtime's in-process events.

Counters and histograms are updated from events the engine already emits
(claim, dequeued, completed, takeover, fenced), so the claim path does no extra
work. Queue depth, oldest age and fleet-wide running counts are read from the
database when scraped (cached for a second).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from dbos_queue.db import sql as _sql
from dbos_queue.engine.events import (
    Claimed,
    Dequeued,
    StepRecorded,
    TakenOver,
    WorkflowFinished,
    WriteRefused,
)
from dbos_queue.model.records import Row

if TYPE_CHECKING:
    from dbos_queue.ops.host import OpsHost

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
# One queue's labelled children: claims, claimed, claim duration, batch size, wait.
_QueueChildren = tuple[Counter, Counter, Histogram, Histogram, Histogram]


class _QueueStateCollector:
    """Depth, oldest enqueued age and running per queue, from the database."""

    def __init__(self, rt: OpsHost) -> None:
        self.rt = rt
        self._cache: list[Row] = []
        self._at = 0.0
        self._lock = threading.Lock()

    def _rows(self) -> list[Row]:
        with self._lock:
            if time.monotonic() - self._at > 1.0:
                try:
                    self._cache = self.rt.engine.run(
                        self.rt.sysdb.fetchall(_sql.QUEUE_STATS), timeout=5
                    )
                except Exception:
                    pass
                self._at = time.monotonic()
            return self._cache

    def collect(self) -> Iterator[Any]:
        """Prometheus collector hook: the per-queue gauges, read at scrape time."""
        depth = GaugeMetricFamily(
            "dbos_queue_depth", "Workflows waiting (ENQUEUED) per queue", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "dbos_queue_oldest_enqueued_age_seconds",
            "Age of the oldest ENQUEUED workflow per queue",
            labels=["queue"],
        )
        running = GaugeMetricFamily(
            "dbos_queue_running",
            "Workflows running (PENDING) per queue, fleet-wide",
            labels=["queue"],
        )
        delayed = GaugeMetricFamily(
            "dbos_queue_delayed", "DELAYED workflows per queue", labels=["queue"]
        )
        now_ms = time.time() * 1000
        for row in self._rows():
            name, oldest = row.queue_name, row.oldest
            depth.add_metric([name], row.depth)
            running.add_metric([name], row.running)
            delayed.add_metric([name], row.delayed)
            age.add_metric([name], max(0.0, (now_ms - oldest) / 1000) if oldest else 0.0)
        yield depth
        yield age
        yield running
        yield delayed


class Metrics:
    """The metrics registry of one runtime."""

    def __init__(self, rt: OpsHost) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.claims = Counter("dbos_queue_claims", "Claim statements run", ["queue"], registry=r)
        self.claimed = Counter(
            "dbos_queue_claimed_workflows", "Workflows claimed", ["queue"], registry=r
        )
        self.claim_duration = Histogram(
            "dbos_queue_claim_duration_seconds",
            "Claim latency",
            ["queue"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.claim_batch = Histogram(
            "dbos_queue_claim_batch_size",
            "Workflows per claim",
            ["queue"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.enqueue_to_start = Histogram(
            "dbos_queue_enqueue_to_start_seconds",
            "Time from enqueue to claim",
            ["queue"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.completed = Counter(
            "dbos_queue_workflows_completed", "Workflows finished here", ["status"], registry=r
        )
        self.takeovers = Counter(
            "dbos_queue_takeovers", "Workflows taken over from dead processes", registry=r
        )
        self.fenced = Counter(
            "dbos_queue_fenced_writes", "Writes refused because ownership was lost", registry=r
        )
        self.steps = Counter("dbos_queue_steps", "Steps executed here", registry=r)
        self.local_running = Gauge(
            "dbos_queue_local_running",
            "Queued workflows running in this process",
            ["queue"],
            registry=r,
        )
        self.executor_up = Gauge(
            "dbos_queue_executor_up", "1 while this process holds its lease", registry=r
        )
        self.executor_up.set(1)
        r.register(_QueueStateCollector(rt))
        self._by_queue: dict[str, _QueueChildren] = {}
        self._completed: dict[str, Counter] = {}
        self._rt = rt
        ev = rt.events
        ev.subscribe(Claimed, self._on_claim)
        ev.subscribe(Dequeued, self._on_dequeued)
        ev.subscribe(WorkflowFinished, self._on_completed)
        ev.subscribe(TakenOver, lambda _e: self.takeovers.inc())
        ev.subscribe(WriteRefused, lambda _e: self.fenced.inc())
        ev.subscribe(StepRecorded, lambda _e: self.steps.inc())

    def _children(self, name: str) -> _QueueChildren:
        # labels() costs a lock and a tuple build per call: resolve once per queue.
        kids = self._by_queue.get(name)
        if kids is None:
            kids = (
                self.claims.labels(name),
                self.claimed.labels(name),
                self.claim_duration.labels(name),
                self.claim_batch.labels(name),
                self.enqueue_to_start.labels(name),
            )
            self._by_queue[name] = kids
        return kids

    def _on_claim(self, e: Claimed) -> None:
        name, n, seconds = e.queue, e.count, e.seconds
        claims, claimed, duration, batch, _lat = self._children(name)
        claims.inc()
        claimed.inc(n)
        duration.observe(seconds)
        batch.observe(n)

    def _on_dequeued(self, e: Dequeued) -> None:
        self._children(e.queue)[4].observe(max(e.wait_ms, 0) / 1000)

    def _on_completed(self, e: WorkflowFinished) -> None:
        status = e.status
        child = self._completed.get(status)
        if child is None:
            child = self._completed[status] = self.completed.labels(status)
        child.inc()

    def exposition(self) -> bytes:
        """The text exposition of every metric (the /metrics body)."""
        for name, n in list(self._rt.queues.running.items()):
            self.local_running.labels(name).set(n)
        return generate_latest(self.registry)
