"""Workflow management: list, cancel, resume, fork, deadlines, garbage collection.

Each operation is one coroutine taking anything with ``.sysdb`` and ``.engine``
(the runtime or a ``DBOSClient``), so the facade, the client, the CLI and the
admin API share one implementation.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Optional

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.error import DBOSException, DBOSNonExistentWorkflowError
from dbos_queue.model.status import WorkflowStatus, status_from_row

Many = Optional[str | Sequence[str]]


def _many(value: Many) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _epoch_ms(value: Any) -> int | None:
    """ISO-8601 text, datetime, or epoch milliseconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    raise DBOSException(f"expected an ISO-8601 time, a datetime or epoch ms, got {value!r}")


def list_params(
    *,
    workflow_ids: Many = None,
    status: Many = None,
    name: Many = None,
    queue_name: Many = None,
    executor_id: Many = None,
    app_version: Many = None,
    user: Many = None,
    forked_from: Many = None,
    workflow_id_prefix: str | None = None,
    start_time: Any = None,
    end_time: Any = None,
    limit: int | None = None,
    offset: int | None = None,
    queues_only: bool = False,
    **_ignored: Any,
) -> dict[str, Any]:
    if (limit is not None and limit < 0) or (offset is not None and offset < 0):
        raise DBOSException("limit and offset must not be negative")
    return {
        "ids": _many(workflow_ids),
        "statuses": _many(status),
        "names": _many(name),
        "queues": _many(queue_name),
        "executors": _many(executor_id),
        "versions": _many(app_version),
        "users": _many(user),
        "forked_from": _many(forked_from),
        "prefix": workflow_id_prefix,
        "start": _epoch_ms(start_time),
        "end": _epoch_ms(end_time),
        "limit": limit,
        "offset": offset or 0,
        "queues_only": queues_only,
    }


async def list_workflows(
    h: Any,
    *,
    sort_desc: bool = False,
    load_input: bool = True,
    load_output: bool = True,
    **filters: Any,
) -> list[WorkflowStatus]:
    query = _sql.LIST_WORKFLOWS_DESC if sort_desc else _sql.LIST_WORKFLOWS_ASC
    rows = await h.sysdb.fetchall(query, list_params(**filters))
    return [status_from_row(r, load_input, load_output) for r in rows]


async def list_queued_workflows(h: Any, **filters: Any) -> list[WorkflowStatus]:
    """Workflows waiting or running on a queue (ENQUEUED, DELAYED, PENDING)."""
    filters.setdefault("status", ["ENQUEUED", "DELAYED", "PENDING"])
    filters["queues_only"] = True
    return await list_workflows(h, **filters)


async def cancel(h: Any, workflow_ids: Sequence[str], children: bool = False) -> list[str]:
    """Cancel unfinished workflows; a running one stops at its next step."""
    rows = await h.sysdb.fetchall(
        _sql.CANCEL_WORKFLOWS, {"ids": list(workflow_ids), "children": children, "now": now_ms()}
    )
    for (wf_id,) in rows:
        h.engine.publish("cancel", wf_id)
        h.engine.publish("wf", wf_id)
    return [r[0] for r in rows]


async def resume(h: Any, workflow_id: str, queue_name: str | None = None) -> bool:
    """Continue a cancelled/failed/dead-lettered (or still queued) workflow from its last step.

    Returns False when there is nothing to resume (finished successfully, or already running).
    """
    row = await h.sysdb.fetchone(
        _sql.RESUME_WORKFLOW, {"id": workflow_id, "queue": queue_name, "now": now_ms()}
    )
    if row is None:
        if await h.sysdb.get_status_row(workflow_id) is None:
            raise DBOSNonExistentWorkflowError(workflow_id)
        return False
    h.engine.publish("queue", row[0])
    return True


async def fork(
    h: Any,
    workflow_id: str,
    start_step: int,
    *,
    new_id: str | None = None,
    app_version: str | None = None,
    queue_name: str | None = None,
) -> str:
    """A new workflow with the same inputs that re-runs from ``start_step`` on."""
    if start_step < 1:
        raise DBOSException(f"start_step counts from 1, got {start_step}")
    new_id = new_id or str(uuid.uuid4())
    params = {
        "id": workflow_id,
        "new_id": new_id,
        "start_step": start_step,
        "app_version": app_version,
        "queue": queue_name,
        "now": now_ms(),
    }

    async def go(conn: Any) -> str | None:
        cur = await conn.execute(_sql.FORK_WORKFLOW, params)
        row = await cur.fetchone()
        if row is None:
            return None
        await conn.execute(_sql.FORK_COPY_STEPS, params)
        return row[0]

    queue = await h.sysdb.transaction(go)
    if queue is None:
        raise DBOSNonExistentWorkflowError(workflow_id)
    h.engine.publish("queue", queue)
    return new_id


async def garbage_collect(
    h: Any,
    *,
    older_than_sec: float | None = None,
    keep_rows: int | None = None,
    batch: int = 5000,
) -> int:
    """Delete finished workflows older than a cutoff and/or beyond the newest ``keep_rows``."""
    if older_than_sec is None and keep_rows is None:
        raise DBOSException("garbage_collect needs older_than_sec or keep_rows")
    deleted = 0
    if older_than_sec is not None:
        cutoff = now_ms() - int(older_than_sec * 1000)
        while n := await h.sysdb.execute(_sql.GC_OLDER_THAN, {"cutoff": cutoff, "batch": batch}):
            deleted += n
    if keep_rows is not None and keep_rows < 1:
        raise DBOSException("keep_rows must be at least 1 (use older_than_sec=0 to delete all)")
    if keep_rows is not None:
        while n := await h.sysdb.execute(_sql.GC_KEEP_NEWEST, {"keep": keep_rows, "batch": batch}):
            deleted += n
    return deleted
