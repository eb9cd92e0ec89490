"""A worker's pool grows when its checkouts keep waiting, not at every brief overlap.

psycopg_pool opens another connection as soon as one checkout has to wait. A launching
worker starts a dozen background tasks at once, and a light steady load sometimes
overlaps a claim, a batched write and a tick: either grows the pool to four or five
connections that it never needed and never gives back (checkouts rotate through all
of them, so none stays idle long enough to be closed). Each Postgres backend costs a
fork, its catalog caches, and its own plans and prepared statements for every
statement the worker runs (the first executions on each are planned in full): at 16
workers on one machine that was a sixth of Postgres's CPU per job (issue 12).

So the pool opens at two connections with its maximum held there, and one more
connection is allowed when a checkout waited longer than ``GROW_AFTER_WAIT_SEC`` with
every connection in use, at most once per ``GROW_GAP_SEC``: when 16 workers launch
together on two cores every checkout is slow for half a second, and each slow checkout
used to widen again while the last new connection was still being opened (pools of 5
to 10 right after launch); and nothing widens in the pool's first second
(``GROW_SETTLE_SEC``), when a launch's own background tasks overlap, or for a wait on a
connection still being opened. A checkout still waiting after ``STUCK_SEC`` with every
connection in use (a task holding connections and asking for another) opens one more
at once, whatever those rules say. Real demand (a drain with many workflows at
once) still widens it by four connections a second, up to the configured
``sys_db_pool_size``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger("dbos_queue")

GROW_AFTER_WAIT_SEC = 0.005
GROW_GAP_SEC = 0.25  # at most one more connection per this interval
GROW_SETTLE_SEC = 1.0  # none in the first second: a launch's background tasks overlap
STUCK_SEC = 0.05  # a checkout still waiting this long with all in use widens at once


class GrowingPool:
    """Checkouts from ``pool`` that raise its ``max_size`` by one after a long wait."""

    def __init__(self, pool: AsyncConnectionPool[Any], limit: int) -> None:
        self.pool = pool
        self.limit = limit  # the configured maximum
        self._opened = time.monotonic()
        self._last_widened = 0.0  # time.monotonic() of the last widening
        self.in_use = 0  # connections checked out through this wrapper now
        self._task: asyncio.Task[None] | None = None  # a widening under way

    @property
    def full(self) -> bool:
        """Whether the maximum has reached the configured size (nothing left to gate)."""
        return self.pool.max_size >= self.limit

    def connection(self, timeout: float | None = None) -> _Checkout:
        """``async with growing.connection() as conn`` (as ``pool.connection(timeout)``)."""
        return _Checkout(self, timeout)

    def widen_soon(self, *, stuck: bool = False) -> None:
        """``widen`` in a task of its own (a reference is kept until it is done).
        ``stuck``: a checkout is still waiting after ``STUCK_SEC`` (widen whatever the
        time since the start or the last widening)."""
        if self.full or self._task is not None:
            return  # full, or one widening at a time
        self._task = asyncio.get_running_loop().create_task(self.widen(stuck=stuck))
        self._task.add_done_callback(self._widened)

    def widen_stuck(self) -> None:
        """``widen_soon(stuck=True)`` (a timer's callback)."""
        self.widen_soon(stuck=True)

    def _widened(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if not task.cancelled() and task.exception() is not None:
            logger.debug("widening the pool failed: %s", task.exception())

    async def widen(self, *, stuck: bool = False) -> None:
        """Allow one more connection (run by ``widen_soon``, one at a time)."""
        if self.full:
            return
        now = time.monotonic()
        if not stuck and now - self._opened < GROW_SETTLE_SEC:
            return  # the launch's own tasks (claims, recovery, the fleet's first reads)
        if not stuck and now - self._last_widened < GROW_GAP_SEC:
            return  # the last one may still be connecting: slow checkouts then prove nothing
        self._last_widened = now
        pool = self.pool
        if not stuck:  # the next checkout that waits opens the new connection
            await pool.resize(pool.min_size, pool.max_size + 1)
            return
        # A checkout already waiting is not served by a larger maximum alone (the pool
        # grows when a checkout starts waiting): one more connection is opened now, for
        # it, by raising the minimum for a moment (the extra one may idle out later).
        low = pool.min_size
        await pool.resize(low + 1, pool.max_size + 1)
        await pool.resize(low, pool.max_size)


class _Checkout:
    __slots__ = ("_cm", "_owner", "_timeout")

    def __init__(self, owner: GrowingPool, timeout: float | None = None) -> None:
        self._owner = owner
        self._cm: Any = None
        self._timeout = timeout

    async def __aenter__(self) -> Any:
        owner = self._owner
        started = time.monotonic()
        # A wait counts only when every allowed connection was in use when we asked: one
        # for a connection still being opened (the first, or the last widening's) says
        # nothing about demand.
        all_busy = owner.in_use >= owner.pool.max_size
        self._cm = owner.pool.connection(self._timeout)
        # A checkout still waiting after STUCK_SEC with every connection in use widens
        # the pool from a timer: a task that holds every connection and asks for one
        # more would otherwise wait for the pool's timeout.
        stuck = (
            asyncio.get_running_loop().call_later(STUCK_SEC, owner.widen_stuck)
            if all_busy and not owner.full
            else None
        )
        try:
            conn = await self._cm.__aenter__()
        finally:
            if stuck is not None:
                stuck.cancel()
        owner.in_use += 1
        if all_busy and time.monotonic() - started > GROW_AFTER_WAIT_SEC:
            # In a task of its own: a cancellation here (a drain stopping its claim loops)
            # must not leave this connection checked out with no __aexit__ to return it.
            owner.widen_soon()  # the next checkout that waits opens the new connection
        return conn

    async def __aexit__(self, *exc: Any) -> Any:
        self._owner.in_use -= 1
        return await self._cm.__aexit__(*exc)
