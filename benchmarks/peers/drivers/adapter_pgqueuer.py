"""pgqueuer adapter (pgqueuer==1.6.0, asyncpg driver, uvloop when installed).

Worker: ``PgQueuer`` over one asyncpg connection, ``pgq.run(batch_size=10,
dequeue_timeout=30 s)`` (library defaults). Job = async no-op entrypoint.
Producer: ``Queries`` over one asyncpg connection; single = ``Queries.enqueue(scalar)``,
bulk = ``Queries.enqueue`` with lists (one call). Finished jobs leave the queue table
and land in ``pgqueuer_log``.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from . import dbcheck

ENTRYPOINT = "noop"
_PACK = struct.Struct("<qd")  # payload: seq (int64), t_enq (float64)


class PgqAdapter:
    name = "pgqueuer"

    def add_args(self, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--batch-size", type=int, default=10)
        ap.add_argument("--dequeue-timeout", type=float, default=30.0)

    def configure(self, a: argparse.Namespace) -> dict[str, Any]:
        self.batch_size, self.dequeue_timeout = a.batch_size, a.dequeue_timeout
        self.variant = f"batch{a.batch_size}"
        return {
            "driver": "asyncpg, one connection per process",
            "batch_size": a.batch_size,
            "dequeue_timeout_s": a.dequeue_timeout,
            "event_loop": self._loop_name(),
            "bulk_enqueue": "Queries.enqueue(lists), one call",
            "single_enqueue": "Queries.enqueue(scalar)",
            "job_body": "async no-op",
        }

    @staticmethod
    def _loop_name() -> str:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            return "asyncio"
        return "uvloop"

    def versions(self) -> dict[str, str]:
        import asyncpg
        import pgqueuer

        return {"pgqueuer": pgqueuer.__version__, "asyncpg": asyncpg.__version__}

    def run_async(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._loop_name() == "uvloop":
            import uvloop

            return uvloop.run(coro)
        return asyncio.run(coro)

    def setup(self, url: str) -> None:
        async def go() -> None:
            import asyncpg
            from pgqueuer import AsyncpgDriver, Queries

            conn = await asyncpg.connect(url)
            try:
                q = Queries(AsyncpgDriver(conn))
                if await q.schema_is_installed():
                    await q.uninstall()
                await q.install()
            finally:
                await conn.close()

        self.run_async(go())

    def producer(self, url: str) -> _Producer:
        return _Producer(url)

    async def worker_main(self, url: str, wctx: Any) -> None:
        import asyncpg
        from pgqueuer import PgQueuer
        from pgqueuer.models import Job

        conn = await asyncpg.connect(url)
        pgq = PgQueuer.from_asyncpg_connection(conn)
        record, unpack = wctx.record, _PACK.unpack

        @pgq.entrypoint(ENTRYPOINT)
        async def noop(job: Job) -> None:
            record(*unpack(job.payload))

        await wctx.ready_wait_go_async()
        task = asyncio.create_task(
            pgq.run(
                batch_size=self.batch_size, dequeue_timeout=timedelta(seconds=self.dequeue_timeout)
            )
        )
        stop = asyncio.create_task(wctx.wait_stop_async())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        pgq.shutdown.set()
        await task  # re-raises if the worker died on its own
        stop.cancel()
        await conn.close()

    def remaining(self, url: str) -> int:
        return int(dbcheck.scalar(url, "select count(*) from pgqueuer"))

    def db_counts(self, url: str) -> dict[str, Any]:
        c = dbcheck.conn(url)
        done, done_d = c.execute(
            "select count(*), count(distinct job_id) from pgqueuer_log where status = 'successful'"
        ).fetchone()
        failed = c.execute(
            "select count(*) from pgqueuer_log where status in ('exception', 'failed', 'canceled')"
        ).fetchone()[0]
        return {
            "remaining": self.remaining(url),
            "completed": done,
            "completed_distinct": done_d,
            "failed": failed,
        }


class _Producer:
    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> _Producer:
        import asyncpg
        from pgqueuer import AsyncpgDriver, Queries

        self.conn = await asyncpg.connect(self.url)
        self.q = Queries(AsyncpgDriver(self.conn))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()

    async def enqueue(self, seq: int, t_enq: float) -> None:
        await self.q.enqueue(ENTRYPOINT, _PACK.pack(seq, t_enq), 0)

    async def enqueue_bulk(self, items: list[tuple[int, float]]) -> dict[str, Any]:
        n = len(items)
        await self.q.enqueue([ENTRYPOINT] * n, [_PACK.pack(s, t) for s, t in items], [0] * n)
        return {"method": "Queries.enqueue(lists)", "batch": n, "calls": 1}


ADAPTER = PgqAdapter()
