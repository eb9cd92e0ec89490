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
from typing import Any

from dbos_queue.api import drain as _drain
from dbos_queue.db.leases import renew_lease
from dbos_queue.engine.events import LeaseLost

logger = logging.getLogger("dbos_queue")

RETRY_SEC = 0.25  # heartbeat cadence while the database is unreachable


class LeaseKeeper:
    """Renews one runtime's lease; one heartbeat at a time."""

    def __init__(self, rt: Any) -> None:  # the api.runtime.Runtime (no import: no cycle)
        self.rt = rt
        self._lock = asyncio.Lock()

    async def beat(self) -> bool:
        """Heartbeat once now; False when the lease had been lost (and is handled)."""
        rt = self.rt
        async with self._lock:
            ok, sent = await renew_lease(rt.sysdb, rt.process_id, rt.lease_ms)
            if ok:
                rt.lease.renewed(sent)
                return True
            await self._lost()
            return False

    async def confirm(self) -> None:
        """Before a step starts on a stale lease: renew it, or stop what it no longer owns.

        Waits (retrying) while the database is unreachable: starting a step body
        without knowing whether another process took the workflow over could run it
        twice.
        """
        while not self.rt.lease.fresh():
            try:
                await self.beat()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.rt.lease.failed()
                logger.warning("cannot confirm this process's lease (%s); retrying", exc)
                await asyncio.sleep(RETRY_SEC)

    async def forever(self, interval: float, before_beat: object = None) -> None:
        """The heartbeat loop: every ``interval`` s, every ``RETRY_SEC`` s after a failure."""
        delay = interval
        while True:
            await asyncio.sleep(delay)
            try:
                if callable(before_beat):
                    await before_beat()
                await self.beat()
                delay = interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.rt.lease.failed()
                logger.warning("heartbeat failed: %s", exc)
                delay = min(interval, RETRY_SEC)

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
