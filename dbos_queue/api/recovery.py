"""Recovery: resuming the workflows of dead processes (launch, operator request).

Ownership is the process lease, not the executor id: a process recovers only
workflows whose owner process was declared dead (or that have no owner), so a
live process sharing the executor id (a rolling restart, one ``DBOS__VMID`` for
every pod) keeps what it runs.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from dbos_queue.db import sql as _sql
from dbos_queue.engine import core as _core

logger = logging.getLogger("dbos_queue")


def recover(rt: Any, executor_ids: list[str]) -> list[str]:
    """Take over and resume the PENDING workflows of dead processes of these executors.

    A workflow that cannot be taken now (unknown function, a database error) stays
    as it is; the takeover scan, every ``executor_lease_sec / 2``, tries again.
    """
    recovered: list[str] = []
    versions = (rt.app_version, getattr(rt.settings, "name", None))
    for wf_id in rt.engine.run(rt.sysdb.recoverable(executor_ids, *versions)):
        row = rt.engine.run(rt.sysdb.get_status_row(wf_id))
        if row is None:
            continue
        try:
            rt.start_for_row(wf_id, row)  # check the function is known before owning it
            owned, ctx = rt.engine.run(_core.try_takeover(rt, wf_id))
        except Exception as exc:
            logger.error("cannot recover workflow %s: %s", wf_id, exc)
            continue
        if owned and ctx is not None:
            rt.start_from_row(wf_id, ctx, row)
            recovered.append(wf_id)
    return recovered


def recover_executors(rt: Any, executor_ids: list[str]) -> list[str]:
    """Operator request: these executors' other processes are dead now; recover them."""
    rt.engine.run(rt.sysdb.execute(_sql.EXPIRE_EXECUTOR_IDS, (executor_ids, rt.process_id)))
    requeued = rt.engine.run(rt.queues.reap())
    return requeued + [w for w in recover(rt, executor_ids) if w not in requeued]


async def expire_dead_local_processes(rt: Any) -> None:
    """Processes on this host that no longer run are dead now, not at lease expiry."""
    dead: list[str] = []
    for process_id, pid in await rt.sysdb.local_executors(rt.hostname, rt.process_id):
        if pid == os.getpid() or not pid_alive(pid):
            dead.append(process_id)
    await rt.sysdb.expire_executors(dead)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
