"""Damped wake-up: a queue notification wakes as many workers as there is work.

Without it every listener of a queue runs a claim on every NOTIFY, and with N
workers N-1 of those claims find nothing: each worker added to a fleet makes every
job dearer (issue 12). A counted notification (db/notify.py) says how many
workflows arrived; the live processes that claim from the queue (``dbos.executors.
queues``, migration 0010) take turns by rank, rotated by the notification's
sequence number, and only ``FANOUT`` x count of them claim. A worker without free
room claims nothing now but remembers the queue (it claims as soon as room frees
up). Uncounted notifications (the SQL producer, ``enqueue_in_transaction``) and
"look again" ones (count 0: settings changed) still wake everyone.

What a missed turn costs: if every chosen worker is gone or full, the work waits for
a worker that gets room back, or for the claim loop's backstop poll; the backstop is
slow (``backstop_sec``) while the LISTEN connection is up, which is what makes an idle
fleet cost nothing between heartbeats.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms

if TYPE_CHECKING:
    from dbos_queue.queue.claim import QueueService

logger = logging.getLogger("dbos_queue")

FANOUT = 2  # claimers per arrived workflow: one spare for a chosen worker that is busy
# A "queue" notification with this name says: a DELAYED workflow was stored, re-read
# when the next one is due (nothing to claim yet).
DELAYED_SIGNAL = "__dbos_delayed__"


def backstop_sec(rt: Any, polling_interval: float) -> float:
    """How long a claim loop sleeps without a notification: the queue's polling
    interval without LISTEN, else at least half a lease (a safety net only)."""
    engine = rt.engine
    if not getattr(engine, "listen", True) or not engine.listener_connected.is_set():
        return polling_interval
    return max(polling_interval, rt.settings.executor_lease_sec / 2)


class Wakeup:
    """Which notifications this process acts on, and the fleet it shares them with."""

    def __init__(self, service: QueueService) -> None:
        self.service = service
        self.members: dict[str, list[str]] = {}  # queue -> live claimers, in rank order
        self._written: tuple[str, tuple[str, ...]] | None = None
        self.accepted = 0  # counters for tests and benchmarks
        self.skipped = 0

    def accept(self, name: str, count: int | None, seq: int) -> bool:
        """Engine.queue_filter: does this remote notification wake our claim loop?"""
        svc = self.service
        if name == DELAYED_SIGNAL:
            svc.wake_delayed()
            return False
        if name not in svc._loops:
            return True  # not a claim loop (e.g. the scheduler's wake-up): pass it on
        if count is None:  # an unknown amount (the SQL producer): everyone looks
            svc.wake_delayed()  # it may have stored delayed work too
            return True
        if count <= 0:  # "look again": settings changed
            svc.rt.engine.spawn(svc.refresh_and_wake(name), f"refresh-{name}")
            return False
        if svc.room(name) <= 0:  # no free room: claim when some frees up (room() noted it)
            self.skipped += 1
            return False
        if self.chosen(name, count, seq):
            self.accepted += 1
            return True
        self.skipped += 1
        return False

    def chosen(self, name: str, count: int, seq: int) -> bool:
        """Whether this process's turn covers notification ``seq`` of ``count`` workflows."""
        me = self.service.rt.process_id
        members = self.members.get(name) or []
        if me not in members:
            members = sorted([*members, me])
        w = len(members)
        k = min(w, count * FANOUT)
        if k >= w:
            return True
        return (members.index(me) - seq) % w < k

    async def refresh(self) -> None:
        """Publish the queues we claim from (when that changed) and read each queue's
        live claimers."""
        svc = self.service
        queues = tuple(sorted(svc._loops))
        if not queues:
            return
        me = svc.rt.process_id
        if self._written != (me, queues):
            await svc.rt.sysdb.execute(
                _sql.SET_EXECUTOR_QUEUES, {"queues": list(queues), "process_id": me}
            )
            self._written = (me, queues)
        rows = await svc.rt.sysdb.fetchall(
            _sql.FLEET_LISTENERS, {"queues": list(queues), "now": now_ms()}
        )
        self.members = {q: list(ids) for q, ids in rows}

    async def run_forever(self) -> None:
        """Refresh at the heartbeat's pace (the fleet changes slowly)."""
        rt = self.service.rt
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("reading the fleet's claimers failed: %s", exc)
            interval = rt.settings.heartbeat_interval_sec or rt.settings.executor_lease_sec / 3
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))
