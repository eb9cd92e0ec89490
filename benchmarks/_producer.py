"""One producer process for ``benchmarks.queue_bench --producers N``.

    python -m benchmarks._producer URL QUEUE START_AT SECONDS

Opens a ``DBOSClient``, enqueues a few workflows to warm up, waits until the wall
clock reaches START_AT (every producer of a run starts together), then calls
``DBOSClient.enqueue`` - one workflow, one transaction - in a loop for SECONDS and
prints one JSON line: how many it enqueued, its CPU seconds and the enqueue latency.

With ``--pgqueuer`` (run under an interpreter that has pgqueuer and asyncpg, e.g. the
peers' virtualenv) it does the same with pgqueuer's ``Queries.enqueue`` over one
asyncpg connection, for a same-run comparison.
"""

from __future__ import annotations

import json
import os
import sys
import time


def _report(n: int, lat: list[float], t0: float) -> None:
    t = os.times()
    lat.sort()
    print(
        json.dumps(
            {
                "enqueued": n,
                "wall_s": round(time.time() - t0, 3),
                "cpu_s": round(t.user + t.system, 3),
                "p50_ms": round(lat[len(lat) // 2] * 1e3, 3) if lat else None,
                "p99_ms": round(lat[int(len(lat) * 0.99)] * 1e3, 3) if lat else None,
            }
        ),
        flush=True,
    )


def run_dbos_queue(url: str, queue: str, start_at: float, seconds: float) -> None:
    """DBOSClient.enqueue in a loop."""
    from dbos_queue import DBOSClient

    opts = {"queue_name": queue, "workflow_name": "bench_q_one"}
    with DBOSClient(url) as client:
        for i in range(20):  # warm-up: pool connections, prepared statements
            client.enqueue(opts, i)  # type: ignore[arg-type]
        time.sleep(max(0.0, start_at - time.time()))
        t0 = time.time()
        end, n, lat = t0 + seconds, 0, []
        while True:
            t = time.perf_counter()
            client.enqueue(opts, n)  # type: ignore[arg-type]
            lat.append(time.perf_counter() - t)
            n += 1
            if time.time() >= end:
                break
        _report(n, lat, t0)


def run_pgqueuer(url: str, queue: str, start_at: float, seconds: float) -> None:
    """pgqueuer's Queries.enqueue in a loop (schema installed by the benchmark)."""
    import asyncio

    import asyncpg  # type: ignore[import-not-found]
    from pgqueuer import AsyncpgDriver, Queries  # type: ignore[import-not-found]

    async def main() -> None:
        conn = await asyncpg.connect(url)
        q = Queries(AsyncpgDriver(conn))
        for i in range(20):
            await q.enqueue(queue, str(i).encode(), 0)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        t0 = time.time()
        end, n, lat = t0 + seconds, 0, []
        while True:
            t = time.perf_counter()
            await q.enqueue(queue, str(n).encode(), 0)
            lat.append(time.perf_counter() - t)
            n += 1
            if time.time() >= end:
                break
        await conn.close()
        _report(n, lat, t0)

    asyncio.run(main())


def install_pgqueuer(url: str) -> None:
    """(Re)install pgqueuer's schema in the benchmark database."""
    import asyncio

    import asyncpg  # type: ignore[import-not-found]
    from pgqueuer import AsyncpgDriver, Queries  # type: ignore[import-not-found]

    async def main() -> None:
        conn = await asyncpg.connect(url)
        q = Queries(AsyncpgDriver(conn))
        if await q.schema_is_installed():
            await q.uninstall()
        await q.install()
        await conn.close()

    asyncio.run(main())


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--install-pgqueuer" in sys.argv:
        install_pgqueuer(args[0])
        sys.exit(0)
    url, queue, start_at, seconds = args[0], args[1], float(args[2]), float(args[3])
    if "--pgqueuer" in sys.argv:
        run_pgqueuer(url, queue, start_at, seconds)
    else:
        run_dbos_queue(url, queue, start_at, seconds)
