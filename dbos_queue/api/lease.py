"""This process's lease: heartbeats, confirming it before a step, and losing it.

The lease row in ``dbos.executors`` is what makes this process the owner of the
workflows it holds (owner tokens ``"<process_id>:<n>"``), whatever its executor id.
A heartbeat renews it unless another process declared it dead (lease 0, see
``_sql.MARK_DEAD_EXECUTORS``). When that happened — the process was paused or cut
off past its lease and a takeover scan judged it — every local execution holding
one of its tokens stops at its next step (its work is being taken over), and the
process registers again under a fresh id.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from dbos_queue.api import drain as _drain
from dbos_queue.db.leases import renew_lease
from dbos_queue.db.rows import ROW_FACTORY
from dbos_queue.engine.events import LeaseLost

logger = logging.getLogger("dbos_queue")

RETRY_SEC = 0.25  # heartbeat cadence while the database is unreachable
POOL_WAIT_SEC = 0.5  # a beat waits this long for a pooled connection, then uses its own


class LeaseKeeper:
    """Renews one runtime's lease; one heartbeat at a time.

    Heartbeats use a pooled connection when one is free at once, else a connection of
    their own: a pool busy with workflows (or reconnecting with backoff after an
    outage) must not delay the one statement that keeps this process alive in the
    others' eyes.
    """

    def __init__(self, rt: Any) -> None:  # the api.runtime.Runtime (no import: no cycle)
        self.rt = rt
        self._lock = asyncio.Lock()
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self.retired = False  # the row was removed at shutdown: nothing renews it again

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            engine = self.rt.engine
            self._conn = await psycopg.AsyncConnection.connect(
                engine.url,
                autocommit=True,
                prepare_threshold=engine.prepare_threshold,
                row_factory=ROW_FACTORY,
                connect_timeout=max(2, int(self.rt.lease_ms / 1000)),
            )
        return self._conn

    async def close(self) -> None:
        """Close the heartbeat's own connection (a new one opens at the next beat)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def beat(self, only_if_stale: bool = False) -> bool:
        """Heartbeat once now; False when the lease had been lost (and is handled).
        With ``only_if_stale``, nothing is sent if another beat renewed it meanwhile."""
        rt = self.rt
        async with self._lock:
            if self.retired or (only_if_stale and rt.lease.fresh()):
                return True
            try:
                ok, sent = await self._renew()
            except Exception:
                await self.close()  # reconnect at the next attempt
                raise
            if ok:
                rt.lease.renewed(sent)
                return True
            await self._lost()
            return False

    async def _renew(self) -> tuple[bool, int]:
        """One renewal: on a pooled connection when one is free within ``POOL_WAIT_SEC``,
        else on this keeper's own connection (opened then, closed again once the pool
        serves a beat): a fleet of 16 had 16 backends open for one statement every three
        seconds, and a busy or reconnecting pool still cannot hold the beat up."""
        rt = self.rt
        try:
            async with rt.engine.connection(timeout=POOL_WAIT_SEC) as conn:
                renewed = await renew_lease(conn, rt.process_id, rt.lease_ms)
        except PoolTimeout:
            return await renew_lease(await self._connection(), rt.process_id, rt.lease_ms)
        if self._conn is not None:
            await self.close()
        return renewed

    async def retire(self) -> None:
        """Remove this process's row at a clean shutdown, after any heartbeat in flight.

        A heartbeat that ran after the row was gone would read as "declared dead" and
        register the departing process again, a row nobody renews (issue 12's launch
        probe saw it in 16-worker shutdowns).
        """
        async with self._lock:
            self.retired = True
            await self.rt.sysdb.unregister_executor(self.rt.process_id)

    async def confirm(self) -> None:
        """Before a step starts on a stale lease: renew it, or stop what it no longer owns.

        Waits (retrying) while the database is unreachable: starting a step body
        without knowing whether another process took the workflow over could run it
        twice.
        """
        while not self.rt.lease.fresh():
            try:
                await self.beat(only_if_stale=True)  # one statement for all waiting steps
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the heartbeat loop logs the outage; steps just wait
                self.rt.lease.failed()
                logger.debug("cannot confirm this process's lease (%s); retrying", exc)
                await asyncio.sleep(RETRY_SEC)

    async def forever(
        self, interval: float, before_beat: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """The heartbeat loop: every ``interval`` s, every ``RETRY_SEC`` s after a failure."""
        delay = interval
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    await self.beat()
                    delay = interval
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.rt.lease.failed()
                    logger.warning("heartbeat failed: %s", exc)
                    delay = min(interval, RETRY_SEC)
                    continue
                if before_beat is not None:
                    try:
                        await before_beat()
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        logger.warning("after the heartbeat: %s", exc)
        finally:
            await self.close()

    async def _lost(self) -> None:
        rt = self.rt
        old = rt.process_id
        held = [c for c in rt.local.values() if c.owner.startswith(f"{old}:")]
        logger.warning(
            "lease of process %s expired and another process declared it dead (paused or "
            "cut off longer than executor_lease_sec=%gs): stopping %d workflow(s) at their "
            "next step, left to the process taking them over; re-registering",
            old,
            rt.lease_ms / 1000,
            len(held),
        )
        rt.lease.lost = True
        rt.lease_lost = True
        _drain.stop_local(rt, "this process's lease expired and it was declared dead", held)
        rt.events.emit(LeaseLost(old))
        rt.process_id = secrets.token_hex(8)
        await rt._register()
