"""Handing claimed workflows to the threads that run them, with as few hops as possible.

The common case of a claim - a sync workflow of a registered function, claimed for the
first time - goes straight from the claim loop to the thread pool: its arguments are
decoded and its context built on the loop, the pool's queue holds it until a thread
is free (a bounded prefetch, see ``QueueService.room``), and the thread's end releases
its slot with one callback. No task, coroutine or asyncio future per workflow. Anything
else (an async workflow, a replay after a takeover or drain, an unknown function, the
recovery-attempt limit) takes the general path, ``QueueService._run``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbos_queue.db.sysdb import Row
from dbos_queue.engine import core as _core

if TYPE_CHECKING:
    from dbos_queue.queue.claimer import Claimer


def dispatch_fast(svc: Claimer, name: str, key: str | None, row: Row) -> bool:
    """Start ``row`` (a claimed ``_sql.STATUS_COLUMNS`` row) on the thread pool if it is
    the common case; False otherwise."""
    rt = svc.rt
    info = rt.registry.workflows.get(row.name)
    if info is None or info.is_async or row.recovery_attempts != 1:
        return False
    wf_id, owner = row.workflow_uuid, row.owner_xid
    try:
        s = rt.start_for_row(wf_id, row)
    except Exception:
        return False  # the general path reports it (and knows what to do with it)
    ctx = _core.fresh_context_from_row(row, owner)
    try:
        fut = rt.submit(s, ctx)
    except Exception:
        return False  # e.g. the pool is shutting down: the general path logs it
    loop = rt.engine.loop
    release = svc.release

    def done(_f: Any) -> None:
        try:
            loop.call_soon_threadsafe(release, name, key)
        except RuntimeError:  # the engine loop is closed: nothing left to account
            pass

    fut.add_done_callback(done)
    return True
