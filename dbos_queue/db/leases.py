"""Process leases and hand-back: the statements that decide who may run a workflow.

A process holds its workflows through owner tokens ``"<process_id>:<n>"`` and its
lease row in ``dbos.executors``. A lapsed lease does not make a process dead; a
takeover scan declares it dead (lease 0) first, serialised against its heartbeat by
the row lock, and only then may its workflows be taken. See DESIGN-NOTES.md point 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from dbos_queue.db import sql as _sql
from dbos_queue.db.runner import StatementRunner, now_ms
from dbos_queue.model.records import Row


class ExecutorStatements(StatementRunner):
    """This process's row in ``dbos.executors`` (``SystemDatabase``'s executor part)."""

    async def register_executor(self, **params: Any) -> None:
        """Insert (or refresh) this process's row in ``dbos.executors``."""
        await self.execute(_sql.REGISTER_EXECUTOR, params)

    async def heartbeat(self, process_id: str, now: int, lease_ms: int) -> bool:
        """Extend this process's lease; False when it was declared dead meanwhile."""
        row = await self.fetchone(
            _sql.HEARTBEAT, {"process_id": process_id, "now": now, "lease_ms": lease_ms}
        )
        return row is not None

    async def unregister_executor(self, process_id: str) -> None:
        """Remove this process's executor row at a clean shutdown."""
        await self.execute(_sql.UNREGISTER_EXECUTOR, (process_id,))

    async def local_executors(self, hostname: str, process_id: str) -> list[Row]:
        """The other executor rows registered from this host."""
        return await self.fetchall(_sql.LOCAL_EXECUTORS, (hostname, process_id))

    async def expire_executors(self, process_ids: Sequence[str]) -> None:
        """End the leases of these processes (known gone), so their work can be taken."""
        if process_ids:
            await self.execute(_sql.EXPIRE_EXECUTORS, (list(process_ids),))


async def renew_lease(
    conn: AsyncConnection[Any], process_id: str, lease_ms: int
) -> tuple[bool, int]:
    """One heartbeat attempt on ``conn``, stamped when it is sent: (lease held, sent at).

    Not retried here: a retried statement would stamp a stale time, and the
    heartbeat loop wants to see every failure (it retries sooner than the backoff).
    """
    now = now_ms()
    cur = await conn.execute(
        _sql.HEARTBEAT, {"process_id": process_id, "now": now, "lease_ms": lease_ms}
    )
    return await cur.fetchone() is not None, now


async def mark_dead_executors(sysdb: StatementRunner, process_id: str) -> list[Row]:
    """Declare dead every other process whose lease lapsed (time read per attempt)."""

    async def go(conn: AsyncConnection[Any]) -> list[Row]:
        cur = await conn.execute(
            _sql.MARK_DEAD_EXECUTORS, {"now": now_ms(), "process_id": process_id}
        )
        return await cur.fetchall()

    return await sysdb.with_retry(go)


async def held_since(sysdb: StatementRunner, process_id: str, before_ms: int) -> list[Row]:
    """(workflow id, owner token) of the PENDING rows this process has held since before."""
    return await sysdb.fetchall(_sql.HELD_SINCE, {"prefix": f"{process_id}:%", "before": before_ms})


async def release_tokens(sysdb: StatementRunner, tokens: Sequence[str]) -> list[Row]:
    """Hand back the PENDING rows held by exactly these owner tokens: (id, queue)."""
    if not tokens:
        return []
    return await sysdb.fetchall(_sql.RELEASE_TOKENS, {"tokens": list(tokens), "now": now_ms()})
