"""Fleet-wide maintenance: duties any live process may run, and whose turn it is.

The takeover scan's fleet-wide half (declaring lapsed processes dead, handing their
queued workflows back), deadlines past due and the purge of old executor rows need
running once per interval for the whole fleet, not once per process: each process's
background pass asks for the fleet's turn (``dbos.maintenance``, one conditional
upsert) and does them only when it gets it; the rest of its pass (taking over what it
can run itself, releasing what it holds but does not run) is its own.
"""

from __future__ import annotations

from typing import Any

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms

REAP_TASK = "reap"  # the fleet-wide half of the takeover pass
PURGE_EXECUTORS_AFTER_MS = 86_400_000  # a lapsed executor row is kept a day (listing)


def reap_turn_ms(lease_sec: float) -> int:
    """The fleet's interval between two fleet-wide passes: shorter than the shortest
    sleep of a process's own loop (a quarter lease), so a lone process gets every turn,
    and a fleet does the work about as often as one process did."""
    return int(lease_sec * 1000 * 0.2)


async def take_turn(h: Any, task: str, interval_ms: int) -> bool:
    """Whether this process has the fleet's turn at ``task`` now (at most one process
    per ``interval_ms``, by the installed clock)."""
    params = {"task": task, "now": now_ms(), "by": h.process_id, "interval_ms": interval_ms}
    return await h.sysdb.fetchone(_sql.TAKE_MAINTENANCE_TURN, params) is not None


async def expire_deadlines(h: Any) -> list[str]:
    """Cancel every workflow past its deadline."""
    rows = await h.sysdb.fetchall(_sql.EXPIRE_DEADLINES, {"now": now_ms()})
    ids = [r.workflow_uuid for r in rows]
    for wf_id in ids:
        h.engine.publish("cancel", wf_id)
        h.engine.publish("wf", wf_id)
    return ids


async def purge_old_executors(h: Any) -> None:
    """Forget executor rows whose lease lapsed over a day ago."""
    await h.sysdb.execute(_sql.PURGE_OLD_EXECUTORS, (now_ms() - PURGE_EXECUTORS_AFTER_MS,))
