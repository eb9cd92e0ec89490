"""procrastinate adapter (procrastinate==3.10.0, PsycopgConnector, plain asyncio).

Worker: ``app.run_worker_async(concurrency=1, listen_notify=True,
fetch_job_polling_interval=5.0)`` (library defaults), async no-op task.
Producer: the same App; single = ``Task.defer_async``, bulk = ``Task.batch_defer_async``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from . import dbcheck

TASK = "noop"
QUEUE = "bench"


def make_app(url: str, record: Callable[[int, float], None] | None = None) -> tuple[Any, Any]:
    """A procrastinate App with the benchmark's one task."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name=TASK, queue=QUEUE)
    async def noop(seq: int, t: float) -> None:
        if record is not None:
            record(seq, t)

    return app, noop


class ProcAdapter:
    name = "procrastinate"

    def add_args(self, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--concurrency", type=int, default=1)
        ap.add_argument("--poll", type=float, default=5.0, help="fetch_job_polling_interval s")

    def configure(self, a: argparse.Namespace) -> dict[str, Any]:
        self.concurrency, self.poll = a.concurrency, a.poll
        self.variant = f"c{a.concurrency}"
        return {
            "connector": "PsycopgConnector (default pool)",
            "concurrency": a.concurrency,
            "fetch_job_polling_interval_s": a.poll,
            "listen_notify": True,
            "bulk_enqueue": "Task.batch_defer_async, one call",
            "single_enqueue": "Task.defer_async",
            "job_body": "async no-op",
        }

    def versions(self) -> dict[str, str]:
        import procrastinate
        import psycopg

        return {"procrastinate": procrastinate.__version__, "psycopg": psycopg.__version__}

    def setup(self, url: str) -> None:
        async def go() -> None:
            app, _ = make_app(url)
            async with app.open_async():
                await app.schema_manager.apply_schema_async()

        asyncio.run(go())

    def producer(self, url: str) -> _Producer:
        return _Producer(url)

    async def worker_main(self, url: str, wctx: Any) -> None:
        app, _ = make_app(url, wctx.record)
        async with app.open_async():
            await wctx.ready_wait_go_async()
            task = asyncio.create_task(
                app.run_worker_async(
                    queues=[QUEUE],
                    concurrency=self.concurrency,
                    wait=True,
                    listen_notify=True,
                    fetch_job_polling_interval=self.poll,
                    install_signal_handlers=False,
                )
            )
            stop = asyncio.create_task(wctx.wait_stop_async())
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                task.cancel()  # the documented graceful stop of run_worker_async
            try:
                await task
            except asyncio.CancelledError:
                pass
            stop.cancel()

    def remaining(self, url: str) -> int:
        return int(
            dbcheck.scalar(
                url, "select count(*) from procrastinate_jobs where status in ('todo', 'doing')"
            )
        )

    def db_counts(self, url: str) -> dict[str, Any]:
        c = dbcheck.conn(url)
        rows = dict(
            c.execute("select status::text, count(*) from procrastinate_jobs group by 1").fetchall()
        )
        started, started_d = c.execute(
            "select count(*), count(distinct job_id) from "
            "procrastinate_events where type = 'started'"
        ).fetchone()
        return {
            "remaining": rows.get("todo", 0) + rows.get("doing", 0),
            "completed": rows.get("succeeded", 0),
            "failed": rows.get("failed", 0),
            "started_events": started,
            "by_status": rows,
            "consistent": started == started_d == rows.get("succeeded", 0),
        }


class _Producer:
    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> _Producer:
        self.app, self.task = make_app(self.url)
        await self.app.open_async()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.close_async()

    async def enqueue(self, seq: int, t_enq: float) -> None:
        await self.task.defer_async(seq=seq, t=t_enq)

    async def enqueue_bulk(self, items: list[tuple[int, float]]) -> dict[str, Any]:
        await self.task.batch_defer_async(*[{"seq": s, "t": t} for s, t in items])
        return {"method": "Task.batch_defer_async", "batch": len(items), "calls": 1}


ADAPTER = ProcAdapter()
