"""Worker processes behind a start barrier, with a lock-free executed-jobs counter.

Each worker is a fresh ``spawn`` process that calls ``adapter.worker_main(url, wctx)``.
The adapter prepares (imports, connects), then waits on the barrier
(``wctx.ready_wait_go``), runs its library's worker and calls ``wctx.record`` first
thing in every job body; the records come back to the parent at shutdown.
"""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing as mp
import os
import queue as queue_mod
import sys
import threading
import time
import traceback
from typing import Any

from .measure import Record


class WorkerContext:
    """Handed to ``adapter.worker_main`` inside each worker process."""

    def __init__(self, idx: int, counts: Any, ready: Any, go: Any, stop: Any) -> None:
        self.idx = idx
        self._counts = counts  # mp.Array('q', W) without lock: one writer per slot
        self._ready, self._go, self.stop = ready, go, stop
        self.records: list[Record] = []
        self._pub = threading.Thread(target=self._publish, daemon=True)
        self._pub_stop = threading.Event()

    def record(self, seq: int, t_enq: float) -> None:
        """Call first thing in a job body (any thread; list.append is atomic)."""
        self.records.append((seq, time.time(), t_enq))

    def _publish(self) -> None:
        while not self._pub_stop.wait(0.002):
            self._counts[self.idx] = len(self.records)
        self._counts[self.idx] = len(self.records)

    def ready_wait_go(self) -> None:
        """Signal ready, then block until the parent releases every worker at once."""
        self._pub.start()
        self._ready.release()
        self._go.wait()

    async def ready_wait_go_async(self) -> None:
        self._pub.start()
        self._ready.release()
        while not self._go.is_set():
            await asyncio.sleep(0.001)

    def wait_stop(self) -> None:
        self.stop.wait()

    async def wait_stop_async(self) -> None:
        while not self.stop.is_set():
            await asyncio.sleep(0.02)

    def finish(self) -> None:
        self._pub_stop.set()
        if self._pub.is_alive():
            self._pub.join()


def run_maybe_async(adapter: Any, fn: Any, *args: Any) -> Any:
    """Call ``fn``; if it is a coroutine function, run it on the adapter's loop."""
    if inspect.iscoroutinefunction(fn):
        runner = getattr(adapter, "run_async", None) or asyncio.run
        return runner(fn(*args))
    return fn(*args)


def _worker_entry(
    adapter: Any, url: str, idx: int, counts: Any, ready: Any, go: Any, stop: Any, results: Any
) -> None:
    wctx = WorkerContext(idx, counts, ready, go, stop)
    err: str | None = None
    try:
        run_maybe_async(adapter, adapter.worker_main, url, wctx)
    except BaseException:  # report it, never hang the parent
        err = traceback.format_exc()
    wctx.finish()
    results.put((idx, wctx.records, err))
    results.close()
    results.join_thread()  # flush the queue's feeder thread before the hard exit
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # some libraries leave non-daemon threads behind


class WorkerPool:
    """``n`` worker processes; start, release together, count, shut down."""

    def __init__(self, adapter: Any, url: str, n: int) -> None:
        ctx = mp.get_context("spawn")
        self.n = n
        self.counts = ctx.Array("q", n, lock=False)
        self.ready, self.go, self.stop = ctx.Semaphore(0), ctx.Event(), ctx.Event()
        self.results = ctx.Queue()
        self.per_worker: list[int] = [0] * n
        self.procs = [
            ctx.Process(
                target=_worker_entry,
                name=f"bench-worker-{i}",
                args=(adapter, url, i, self.counts, self.ready, self.go, self.stop, self.results),
            )
            for i in range(n)
        ]

    def start_and_wait_ready(self, timeout: float = 120.0) -> None:
        for p in self.procs:
            p.start()
        deadline = time.time() + timeout
        for _ in range(self.n):
            if not self.ready.acquire(timeout=max(0.1, deadline - time.time())):
                raise RuntimeError("workers did not become ready in time")

    def release(self) -> float:
        """Open the barrier; returns the wall-clock time it opened."""
        t = time.time()
        self.go.set()
        return t

    def executed(self) -> int:
        """Job bodies started so far, summed over workers (including warm-up jobs)."""
        return sum(self.counts[:])

    def _collect(self, deadline: float) -> tuple[list[Record], list[str], int]:
        records: list[Record] = []
        errors: list[str] = []
        got = 0
        while got < self.n and time.time() < deadline:
            try:
                idx, recs, err = self.results.get(timeout=0.5)
            except queue_mod.Empty:
                if not any(p.is_alive() for p in self.procs) and self.results.empty():
                    break
                continue
            got += 1
            records.extend(recs)
            self.per_worker[idx] = sum(1 for r in recs if r[0] >= 0)
            if err:
                errors.append(f"worker {idx}: {err}")
        return records, errors, got

    def shutdown(self, timeout: float = 60.0) -> tuple[list[Record], list[str]]:
        """Stop every worker; returns all body records and any worker errors."""
        self.stop.set()
        self.go.set()
        deadline = time.time() + timeout
        records, errors, got = self._collect(deadline)
        for p in self.procs:
            p.join(timeout=max(0.1, deadline - time.time()))
            if p.is_alive():
                errors.append(f"worker {p.name} (pid {p.pid}) did not exit; killed")
                p.kill()
                p.join(5)
        if got < self.n:
            errors.append(f"only {got}/{self.n} workers reported records")
        return records, errors
