"""Worker app for ``benchmarks.queue_bench``: ``dbos-queue worker benchmarks._queue_app``.

Configured by the environment the benchmark sets:

- ``BENCH_QUEUE_URL``: the system database.
- ``BENCH_STATS_DIR``: when set, every psycopg round trip of this process is counted
  (``benchmarks._counting.StatementCounter``) and, on SIGUSR1, the counts and the CPU
  time of each thread (grouped by thread name) are written atomically to
  ``$BENCH_STATS_DIR/<pid>.json`` with a rising ``seq``. The benchmark sends SIGUSR1
  only after the worker printed its "ready" line (before that the signal would kill it).

Every workflow returns ``time.time()`` taken as the first thing its body does, so the
benchmark can compute enqueue-to-start latency from the stored output.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

from dbos_queue import DBOS, Queue

DBOS(
    config={
        "name": "queue-bench",
        "system_database_url": os.environ["BENCH_QUEUE_URL"],
        "log_level": "WARNING",
    }
)

# One queue per workload, so a worker started with --queue NAME runs one claim loop.
Queue("w1")  # drain, unlimited
Queue("w2")  # latency, default polling (1 s fallback)
Queue("w5free")  # throughput without limits
Queue("w5lim", concurrency=50)  # throughput under a global concurrency limit of 50


@DBOS.step(name="bench_q_step")
def q_step(i: int) -> int:
    return i


@DBOS.workflow(name="bench_q_one")
def one_step(i: int) -> float:
    started = time.time()
    q_step(i)
    return started


@DBOS.workflow(name="bench_q_zero")
def zero_step(i: int) -> float:
    return time.time()


# --- statement counting and per-thread CPU, on request --------------------------------

_STATS_DIR = os.environ.get("BENCH_STATS_DIR")


def _thread_group(name: str) -> str:
    # ThreadPoolExecutor names its threads "<prefix>_<n>".
    return name.rsplit("_", 1)[0] if name.startswith("dbos-wf") else name


def _threads_cpu() -> dict:
    """CPU seconds of each live thread, summed by thread name group. Read from
    /proc/self/task/TID/schedstat (nanoseconds; /proc stat ticks are 10 ms and would
    round the many short-lived pool threads' time down to nothing)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                cpu = int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            continue
        group = _thread_group(names.get(int(tid), "unnamed"))
        out[group] = round(out.get(group, 0.0) + cpu, 4)
    return out


def _time_statements(counter: object) -> dict:
    """Add up, by statement, the time from sending each async statement to having its
    result (as the engine loop sees it: round trip, server time, and the loop's delay
    in resuming the coroutine)."""
    import psycopg

    from benchmarks._counting import _label

    seconds: dict = {}
    orig = psycopg.AsyncCursor.execute

    async def execute(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return await orig(self, query, *args, **kwargs)
        finally:
            label = _label(query)
            seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - t0

    psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]
    return seconds


if _STATS_DIR:
    from benchmarks._counting import StatementCounter

    _stats_dir: str = _STATS_DIR
    _counter = StatementCounter().__enter__()
    _seconds = _time_statements(_counter)
    _seq = 0

    def _dump(_signum: int, _frame: object) -> None:
        global _seq
        _seq += 1
        with _counter._lock:
            counts = dict(_counter.counts)
        t = os.times()
        doc = {
            "seq": _seq,
            "pid": os.getpid(),
            "time": time.time(),
            "counts": counts,
            "statement_seconds": {k: round(v, 6) for k, v in list(_seconds.items())},
            "process_cpu_s": round(t.user + t.system, 3),
            "threads_cpu_s": _threads_cpu(),
        }
        path = os.path.join(_stats_dir, f"{os.getpid()}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f)
        os.replace(path + ".tmp", path)

    signal.signal(signal.SIGUSR1, _dump)
