"""The workloads, identical for every peer; each returns (metrics, verify, errors).

Every job carries ``(seq, t_enq)``: seq is 0..N-1 (negative for warm-up jobs) and t_enq
is ``time.time()`` taken just before the enqueue call.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import traceback
from collections.abc import Callable
from typing import Any

from . import measure
from .pool import WorkerPool, run_maybe_async

WARMUP_JOBS = 5
Result = tuple[dict[str, Any], dict[str, Any], list[str]]


def wait_until(pred: Callable[[], Any], timeout: float, interval: float) -> bool:
    """Poll ``pred`` until truthy (True) or ``timeout`` seconds pass (False)."""
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            return False
        time.sleep(interval)
    return True


def remaining(adapter: Any, url: str) -> int:
    fn = getattr(adapter, "remaining", None)
    return int(fn(url) if fn else adapter.db_counts(url)["remaining"])


def with_producer(
    adapter: Any, url: str, body_sync: Callable[[Any], Any], body_async: Callable[[Any], Any]
) -> Any:
    """Open ``adapter.producer(url)`` (sync or async context manager) and run a body."""
    cm = adapter.producer(url)
    if hasattr(cm, "__aenter__"):

        async def go() -> Any:
            async with cm as p:
                return await body_async(p)

        return run_maybe_async(adapter, go)
    with cm as p:
        return body_sync(p)


def _timed_calls(adapter: Any, url: str, n: int, interval: float) -> tuple[float, list[float], int]:
    """Enqueue seq 0..n-1 one call each, paced at ``interval`` s (0 = flat out).
    Returns (seconds, per-call durations, times the producer fell behind)."""
    late = [0]

    def pace(t0: float, i: int) -> float:
        d = t0 + i * interval - time.perf_counter()
        if d < -interval:
            late[0] += 1
        return d

    def body_sync(p: Any) -> tuple[float, list[float]]:
        calls: list[float] = []
        t0 = time.perf_counter()
        for i in range(n):
            d = pace(t0, i) if interval else 0
            if d > 0:
                time.sleep(d)
            c0 = time.perf_counter()
            p.enqueue(i, time.time())
            calls.append(time.perf_counter() - c0)
        return time.perf_counter() - t0, calls

    async def body_async(p: Any) -> tuple[float, list[float]]:
        calls: list[float] = []
        t0 = time.perf_counter()
        for i in range(n):
            d = pace(t0, i) if interval else 0
            if d > 0:
                await asyncio.sleep(d)
            c0 = time.perf_counter()
            await p.enqueue(i, time.time())
            calls.append(time.perf_counter() - c0)
        return time.perf_counter() - t0, calls

    secs, calls = with_producer(adapter, url, body_sync, body_async)
    return secs, calls, late[0]


def _bulk(adapter: Any, url: str, n: int) -> tuple[dict[str, Any], float]:
    """Enqueue seq 0..n-1 with the library's fastest bulk call; returns (info, seconds)."""
    items = [(i, 0.0) for i in range(n)]

    def bs(p: Any) -> tuple[dict[str, Any], float]:
        t0 = time.perf_counter()
        info = p.enqueue_bulk(items)
        return info, time.perf_counter() - t0

    async def ba(p: Any) -> tuple[dict[str, Any], float]:
        t0 = time.perf_counter()
        info = await p.enqueue_bulk(items)
        return info, time.perf_counter() - t0

    result: tuple[dict[str, Any], float] = with_producer(adapter, url, bs, ba)
    return result


def _warm_up(adapter: Any, url: str, pool: WorkerPool) -> None:
    """A few jobs (negative seq) before measuring, so every connection is open."""

    def bs(p: Any) -> None:
        for k in range(WARMUP_JOBS):
            p.enqueue(-1 - k, time.time())

    async def ba(p: Any) -> None:
        for k in range(WARMUP_JOBS):
            await p.enqueue(-1 - k, time.time())

    with_producer(adapter, url, bs, ba)
    if not wait_until(lambda: pool.executed() >= WARMUP_JOBS, 120, 0.005):
        raise RuntimeError("warm-up jobs never ran")


def w1_drain(adapter: Any, a: argparse.Namespace) -> Result:
    """N jobs bulk-enqueued, then W workers released together drain them."""
    n = a.n
    adapter.setup(a.url)
    info, enq_s = _bulk(adapter, a.url, n)
    pool = WorkerPool(adapter, a.url, a.workers)
    pool.start_and_wait_ready()
    t_go = pool.release()
    ok_bodies = wait_until(lambda: pool.executed() >= n, a.timeout, 0.002)
    t_bodies = time.time()
    # durable completion may lag the bodies; allow the rest of --timeout for it
    tail = max(60.0, a.timeout - (t_bodies - t_go)) if ok_bodies else 1.0
    ok_db = wait_until(lambda: remaining(adapter, a.url) == 0, tail, 0.01)
    t_done = time.time()
    time.sleep(a.grace)  # late duplicates, if any, get a chance to show up
    records, errors = pool.shutdown()
    v = measure.verify(records, n, adapter.db_counts(a.url), n)
    starts = sorted(r[1] for r in records if r[0] >= 0)
    steady = (
        (len(starts) - 1) / (starts[-1] - starts[0])
        if len(starts) > 1 and starts[-1] > starts[0]
        else None
    )
    m = {
        "bulk_s": round(enq_s, 4),
        "bulk_jobs_per_s": round(n / enq_s, 1),
        "bulk_method": info,
        "drain_s": round(t_done - t_go, 4),
        "jobs_per_s": round(n / (t_done - t_go), 1) if ok_db else None,
        "bodies_done_s": round(t_bodies - t_go, 4),
        "durable_tail_s": round(t_done - t_bodies, 4),
        "first_start_s": round(starts[0] - t_go, 4) if starts else None,
        "steady_jobs_per_s": round(steady, 1) if steady else None,
        "per_worker_executed": pool.per_worker,
        "timed_out": not (ok_bodies and ok_db),
    }
    return m, v, errors


def w2_latency(adapter: Any, a: argparse.Namespace) -> Result:
    """A producer enqueues ``rate`` jobs/s for ``duration`` s; enqueue-to-start latency."""
    n = a.n
    adapter.setup(a.url)
    pool = WorkerPool(adapter, a.url, a.workers)
    pool.start_and_wait_ready()
    pool.release()
    errors: list[str] = []
    calls: list[float] = []
    secs, late = float("nan"), 0
    try:
        _warm_up(adapter, a.url, pool)
        cpu0 = measure.cpu_snapshot(a.pg_pid)
        secs, calls, late = _timed_calls(adapter, a.url, n, 1.0 / a.rate)
    except Exception:
        errors.append(traceback.format_exc())
        cpu0 = measure.cpu_snapshot(a.pg_pid)
    total = n + WARMUP_JOBS
    ok_bodies = wait_until(lambda: pool.executed() >= total, a.timeout, 0.005)
    ok_db = wait_until(lambda: remaining(adapter, a.url) == 0, 60 if ok_bodies else 1, 0.01)
    cpu1 = measure.cpu_snapshot(a.pg_pid)
    time.sleep(a.grace)
    records, werr = pool.shutdown()
    v = measure.verify(records, n, adapter.db_counts(a.url), total)
    m = {
        "rate_target_per_s": a.rate,
        "duration_s": a.duration,
        "produced": len(calls),
        "produce_s": round(secs, 3),
        "produce_rate_achieved": round(len(calls) / secs, 1) if calls else None,
        "producer_fell_behind": late,
        "enqueue_call": measure.dist(calls),
        "latency": measure.dist([r[1] - r[2] for r in records if r[0] >= 0]),
        "cpu_ms_per_job": measure.cpu_ms_per_job(cpu0, cpu1, len(calls)),
        "timed_out": not (ok_bodies and ok_db),
    }
    return m, v, errors + werr


def w3_single(adapter: Any, a: argparse.Namespace) -> Result:
    """N single enqueues, one call (one transaction) each, flat out; no worker."""
    adapter.setup(a.url)
    secs, calls, _ = _timed_calls(adapter, a.url, a.n, 0.0)
    v = measure.verify_queued(a.n, adapter.db_counts(a.url))
    m = {
        "enqueue_s": round(secs, 4),
        "jobs_per_s": round(a.n / secs, 1),
        "enqueue_call": measure.dist(calls),
    }
    return m, v, []


def bulk_enqueue(adapter: Any, a: argparse.Namespace) -> Result:
    """N jobs with the library's fastest bulk call; no worker."""
    adapter.setup(a.url)
    info, secs = _bulk(adapter, a.url, a.n)
    v = measure.verify_queued(a.n, adapter.db_counts(a.url))
    m = {"bulk_s": round(secs, 4), "bulk_jobs_per_s": round(a.n / secs, 1), "bulk_method": info}
    return m, v, []


WORKLOADS: dict[str, Callable[[Any, argparse.Namespace], Result]] = {
    "W1": w1_drain,
    "W2": w2_latency,
    "W3": w3_single,
    "bulk": bulk_enqueue,
}
