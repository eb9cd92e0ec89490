"""Running statements on the system database: one statement, or a function of one pooled
connection (a transaction), retried on connection loss.

Each runs on the engine loop. Connection-class failures (a dropped connection,
a restarting server) are retried with backoff; everything else propagates.
``SystemDatabase`` (db/sysdb.py) is built on this, with its statement groups in
db/leases.py (executors) and db/messaging.py (messages, events, streams).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection

from dbos_queue.db.loop import Engine
from dbos_queue.model import clock as _clock
from dbos_queue.model.records import Row

logger = logging.getLogger("dbos_queue")
T = TypeVar("T")


def now_ms() -> int:
    """The installed clock's time in ms (model.clock; tests may install a manual one)."""
    return _clock.now_ms()


def retryable(exc: BaseException) -> bool:
    """Whether a failed statement may be sent again: connection loss or a lost race."""
    if isinstance(exc, psycopg.OperationalError):
        sqlstate = getattr(exc, "sqlstate", None)
        # Class 08 (connection exception), 57P01..03 (server shutting down / restarting),
        # or no SQLSTATE at all (the socket died).
        return sqlstate is None or sqlstate.startswith("08") or sqlstate.startswith("57P")
    # Batched fenced writes may rarely deadlock with a takeover; both are safe to retry.
    return isinstance(exc, (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected))


class StatementRunner:
    """Statements on the system database, retried on connection loss until a deadline."""

    def __init__(self, engine: Engine, *, retry_for_sec: float = 60.0) -> None:
        self.engine = engine
        self.retry_for_sec = retry_for_sec

    async def with_retry(self, fn: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection, again on connection loss until the deadline."""
        delay, deadline = 0.05, time.monotonic() + self.retry_for_sec
        while True:
            try:
                async with self.engine.connection() as conn:
                    return await fn(conn)
            except Exception as exc:
                if not retryable(exc) or time.monotonic() > deadline:
                    raise
                logger.warning("system database unavailable (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def execute(self, query: str, params: Any = None) -> int:
        """Run one statement (retried on connection loss); returns its row count."""

        async def go(conn: AsyncConnection[Any]) -> int:
            cur = await conn.execute(query, params)  # type: ignore[arg-type]
            return cur.rowcount

        return await self.with_retry(go)

    async def fetchone(self, query: str, params: Any = None) -> Row | None:
        """The first row of one statement, or None (retried on connection loss)."""

        async def go(conn: AsyncConnection[Any]) -> Row | None:
            cur = await conn.execute(query, params)  # type: ignore[arg-type]
            return await cur.fetchone()

        return await self.with_retry(go)

    async def fetchall(self, query: str, params: Any = None) -> list[Row]:
        """Every row of one statement (retried on connection loss)."""

        async def go(conn: AsyncConnection[Any]) -> list[Row]:
            cur = await conn.execute(query, params)  # type: ignore[arg-type]
            return await cur.fetchall()

        return await self.with_retry(go)

    async def transaction(self, fn: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run ``fn(conn)`` inside one transaction, retried as a whole on connection loss."""

        async def go(conn: AsyncConnection[Any]) -> T:
            async with conn.transaction():
                return await fn(conn)

        return await self.with_retry(go)
