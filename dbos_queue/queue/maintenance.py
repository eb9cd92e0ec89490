"""Fleet-wide maintenance that any live process runs: deadlines past due."""

from __future__ import annotations

from typing import Any

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms


async def expire_deadlines(h: Any) -> list[str]:
    """Cancel every workflow past its deadline (run by every live process)."""
    rows = await h.sysdb.fetchall(_sql.EXPIRE_DEADLINES, {"now": now_ms()})
    for (wf_id,) in rows:
        h.engine.publish("cancel", wf_id)
        h.engine.publish("wf", wf_id)
    return [r[0] for r in rows]
