"""The takeover scan: dead processes' work back into play, and nothing held but unrun.

Every live process runs it every ``executor_lease_sec / 2`` (jittered), on the engine
loop; steps 1 and 2 only when it has the fleet's turn (queue/maintenance.py), so a
fleet does them about once per fifth of a lease however many processes it has. One
pass:

1. declares dead the processes whose lease lapsed (``MARK_DEAD_EXECUTORS``) — but
   only once this process's own heartbeats have succeeded without a break for a
   whole lease: right after a database outage every lease looks lapsed, and the
   others must get the chance to reconnect and renew theirs first;
2. hands the queued workflows of dead processes back to their queues;
3. takes over (and runs here) the non-queued ones whose function it registers;
4. releases the rows this process holds but does not execute — a claim or takeover
   whose reply was lost to a dropped connection after it committed (seen so in two
   passes in a row, and held for at least ``STRANDED_MIN_MS``).

A pass that fails raises: the caller logs it and the next pass does it again; every
step above is idempotent, so nothing is skipped for good.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dbos_queue.db import sql as _sql
from dbos_queue.db.leases import held_since, mark_dead_executors, release_tokens
from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine import core as _core
from dbos_queue.engine.events import TakenOver

if TYPE_CHECKING:
    from dbos_queue.queue.host import QueueHost

logger = logging.getLogger("dbos_queue")
STRANDED_MIN_MS = 10_000


class TakeoverScan:
    """One process's takeover scan."""

    def __init__(self, rt: QueueHost) -> None:
        self.rt = rt
        self._suspects: set[str] = set()  # tokens held but not run at the last pass

    def judge_after_ms(self) -> int:
        """How long heartbeats must have succeeded before this process judges others: a
        whole lease (after an outage the others need that long to reconnect and renew)."""
        s = self.rt.settings
        interval = s.heartbeat_interval_sec or s.executor_lease_sec / 3
        return int((max(s.executor_lease_sec, interval * 1.5) + 0.25) * 1000)

    async def scan(self, *, fleet: bool = True) -> list[str]:
        """One pass; returns the ids handed back to queues or taken over here. Steps 1
        and 2 are the fleet's (``fleet=False`` leaves them to the process that has the
        fleet's turn, queue/maintenance.py); 3 and 4 are this process's own."""
        rt = self.rt
        # Judge nobody, take nothing while this process itself may have been declared
        # dead: a stale lease is confirmed first (a lost one re-registers us).
        if not rt.lease.fresh():
            await rt.confirm_lease()
        taken: list[str] = []
        if fleet:
            if rt.lease.steady_for(self.judge_after_ms()):
                dead = await mark_dead_executors(rt.sysdb, rt.process_id)
                if dead:
                    logger.info("declared %d process(es) dead (lease lapsed): %s", len(dead), dead)
            taken += await self.requeue_dead()
        taken += await self.take_orphans()
        await self.release_stranded()
        return taken

    async def requeue_dead(self) -> list[str]:
        """Hand the queued workflows of dead processes back to their queues."""
        rows = await self.rt.sysdb.fetchall(_sql.REQUEUE_DEAD_OWNERS, {"now": now_ms()})
        for q in {r.queue_name for r in rows}:
            self.rt.engine.publish("queue", q)
        for r in rows:
            self.rt.events.emit(TakenOver(r.workflow_uuid, requeued=True))
        return [r.workflow_uuid for r in rows]

    async def take_orphans(self) -> list[str]:
        """Non-queued workflows of dead processes whose function runs here."""
        rt = self.rt
        params = {
            "names": list(rt.registry.workflows),
            "app_version": rt.app_version,  # _sql.RUNS_HERE: only versions that run here
            "app_name": getattr(rt.settings, "name", None),
        }
        taken: list[str] = []
        for orphan in await rt.sysdb.fetchall(_sql.ORPHANED_DIRECT, params):
            wf_id = orphan.workflow_uuid
            row = await rt.sysdb.get_status_row(wf_id)
            if row is None:
                continue
            try:
                rt.start_for_row(wf_id, row)  # the function and instance exist here
                owned, ctx = await _core.try_takeover(rt, wf_id)
            except Exception as exc:
                logger.error("cannot take over workflow %s: %s", wf_id, exc)
                continue
            if owned and ctx is not None:
                rt.start_from_row(wf_id, ctx, row)
                taken.append(wf_id)
        return taken

    async def release_stranded(self) -> list[str]:
        """Release rows held under this process's tokens that no local execution runs."""
        rt = self.rt
        held_ms = max(STRANDED_MIN_MS, int(rt.settings.executor_lease_sec * 2000))
        rows = await held_since(rt.sysdb, rt.process_id, now_ms() - held_ms)
        running = {c.owner for c in list(rt.local.values())}
        suspects = {r.owner_xid for r in rows if r.owner_xid not in running}
        stale, self._suspects = suspects & self._suspects, suspects - self._suspects
        if not stale:
            return []
        released = await release_tokens(rt.sysdb, sorted(stale))
        for q in {r.queue_name for r in released if r.queue_name}:
            rt.engine.publish("queue", q)
        ids = [r.workflow_uuid for r in released]
        if ids:
            logger.warning(
                "released %d workflow(s) this process held but did not run (a claim or "
                "takeover whose reply a dropped connection lost): %s",
                len(ids),
                ids,
            )
        return ids
