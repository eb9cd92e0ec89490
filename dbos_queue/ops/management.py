"""Workflow management: cancel, resume, fork, rewind, delete, delay, attributes, GC.

Each operation is one coroutine taking anything with ``.sysdb`` and ``.engine``
(the runtime or a ``DBOSClient``), so the facade, the client, the CLI and the
admin API share one implementation. Listing lives in ``ops.listing`` (re-exported
here for the callers that know it under this module).
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import time
from collections.abc import Sequence
from typing import Any, cast

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import TERMINAL, now_ms
from dbos_queue.engine import app_outputs as _app_outputs
from dbos_queue.error import DBOSException, DBOSNonExistentWorkflowError
from dbos_queue.model.ids import new_workflow_id
from dbos_queue.ops.listing import (
    app_name_of,
    list_params,
    list_queued_workflows,
    list_workflows,
)

__all__ = [
    "app_name_of",
    "cancel",
    "delete",
    "fork",
    "garbage_collect",
    "list_params",
    "list_queued_workflows",
    "list_workflows",
    "resume",
    "resume_many",
    "rewind",
    "set_delay",
    "update_attributes",
]

# The close marker of a stream (engine/comm.py STREAM_CLOSED): rewind deletes it.
_STREAM_CLOSED = "__DBOS_STREAM_CLOSED__"


async def cancel(h: Any, workflow_ids: Sequence[str], children: bool = False) -> list[str]:
    """Cancel unfinished workflows; a running one stops at its next step."""
    rows = await h.sysdb.fetchall(
        _sql.CANCEL_WORKFLOWS, {"ids": list(workflow_ids), "children": children, "now": now_ms()}
    )
    for r in rows:
        h.engine.publish("cancel", r.workflow_uuid)
        h.engine.publish("wf", r.workflow_uuid)
    return [r.workflow_uuid for r in rows]


async def resume(h: Any, workflow_id: str, queue_name: str | None = None) -> bool:
    """Put a workflow back on a queue to continue from its last recorded step (DBOS's rule).

    Cancelled, dead-lettered, queued, delayed and pending workflows are resumed (a pending
    one's current execution is fenced off and stops at its next write); a workflow that
    ended SUCCESS or ERROR is left as it is and False is returned.
    """
    row = await h.sysdb.fetchone(
        _sql.RESUME_WORKFLOW, {"id": workflow_id, "queue": queue_name, "now": now_ms()}
    )
    if row is None:
        if await h.sysdb.get_status_row(workflow_id) is None:
            raise DBOSNonExistentWorkflowError("target", workflow_id)
        return False
    h.engine.publish("queue", row.queue_name)
    return True


async def resume_many(
    h: Any, workflow_ids: Sequence[str], queue_name: str | None = None
) -> list[str]:
    """``resume`` for several workflows in one transaction; an unknown id raises (naming
    every missing one) before any is touched. Returns the ids put back on a queue."""
    ids = list(dict.fromkeys(workflow_ids))

    async def go(conn: Any) -> list[tuple[str, str]]:
        cur = await conn.execute(_sql.EXISTING_WORKFLOWS, (ids,))
        found = {r.workflow_uuid for r in await cur.fetchall()}
        missing = [i for i in ids if i not in found]
        if missing:
            raise DBOSNonExistentWorkflowError("target", ", ".join(missing))
        resumed: list[tuple[str, str]] = []
        for wf_id in ids:
            cur = await conn.execute(
                _sql.RESUME_WORKFLOW, {"id": wf_id, "queue": queue_name, "now": now_ms()}
            )
            row = await cur.fetchone()
            if row is not None:
                resumed.append((wf_id, row.queue_name))
        return resumed

    resumed = await h.sysdb.transaction(go)
    for q in {queue for _, queue in resumed}:
        h.engine.publish("queue", q)
    return [wf_id for wf_id, _ in resumed]


async def fork(
    h: Any,
    workflow_id: str,
    start_step: int,
    *,
    new_id: str | None = None,
    app_version: str | None = None,
    queue_name: str | None = None,
    queue_partition_key: str | None = None,
    replacement_children: dict[str, str] | None = None,
    timeout_seconds: float | None = None,
) -> str:
    """A new workflow with the same inputs that re-runs from ``start_step`` on.

    Steps, event history, events and stream entries recorded before ``start_step``
    are copied; ``replacement_children`` maps a child id the copied steps name to the
    child the fork should use instead. The original is marked ``was_forked_from``.
    """
    if not isinstance(cast(object, start_step), int) or start_step < 1:  # not type-checked
        raise DBOSException(f"start_step counts from 1, got {start_step!r}")
    if timeout_seconds is not None and not (timeout_seconds > 0 and math.isfinite(timeout_seconds)):
        raise DBOSException(
            f"Invalid workflow timeout {timeout_seconds}. Timeouts must be positive."
        )
    new_id = new_id or new_workflow_id()
    params = {
        "id": workflow_id,
        "new_id": new_id,
        "start_step": start_step,
        "app_version": app_version,
        "queue": queue_name,
        "partition_key": queue_partition_key,
        "timeout_ms": int(timeout_seconds * 1000) if timeout_seconds is not None else None,
        "app_name": app_name_of(h),
        "replace": json.dumps(replacement_children) if replacement_children else None,
        "now": now_ms(),
    }

    async def go(conn: Any) -> str | None:
        cur = await conn.execute(_sql.FORK_WORKFLOW, params)
        row = await cur.fetchone()
        if row is None:
            return None
        await conn.execute(_sql.FORK_MARK_ORIGINAL, params)
        for statement in (
            _sql.FORK_COPY_STEPS,
            _sql.FORK_COPY_EVENT_HISTORY,
            _sql.FORK_COPY_EVENTS,
            _sql.FORK_COPY_STREAMS,
        ):
            await conn.execute(statement, params)
        return row.queue_name

    queue = await h.sysdb.transaction(go)
    if queue is None:
        raise DBOSNonExistentWorkflowError("target", workflow_id)
    h.engine.publish("queue", queue)
    return new_id


async def rewind(
    h: Any,
    workflow_id: str,
    start_step: int = 1,
    *,
    app_version: str | None = None,
    queue_name: str | None = None,
    queue_partition_key: str | None = None,
    app_outputs: bool = False,
) -> None:
    """Re-run a finished workflow in place (same id) from ``start_step``.

    Only a workflow that is no longer PENDING/ENQUEUED/DELAYED can be rewound. What it
    recorded from ``start_step`` on is dropped (steps, event history; events go back to
    their value before the cut; messages read after it and unread ones are deleted; a
    stream close marker written after it goes, the entries stay), its output is
    cleared, and it is enqueued again (``queue_name``, default the internal queue).
    With ``app_outputs`` (a launched runtime: DBOS.rewind_workflow) the application
    database's checkpoints of the transactions it re-runs go first (engine/app_outputs.py).
    """
    if not isinstance(cast(object, start_step), int) or start_step < 1:  # not type-checked
        raise ValueError(f"start_step must be >= 1, got {start_step!r}")
    if app_outputs and _app_outputs.present(h):
        await _clear_app_outputs(h, workflow_id, start_step)
    params = {
        "id": workflow_id,
        "start_step": start_step,
        "closed": _STREAM_CLOSED,
        "app_version": app_version,
        "queue": queue_name,
        "partition_key": queue_partition_key,
        "now": now_ms(),
    }
    go = functools.partial(_rewind_in, workflow_id=workflow_id, params=params)
    queue = await h.sysdb.transaction(go)
    h.engine.publish("queue", queue)


async def _clear_app_outputs(h: Any, workflow_id: str, start_step: int) -> None:
    """Delete the application database's checkpoints a rewind from ``start_step`` re-runs.

    Checked first, so a running workflow keeps its checkpoints; the system database is
    touched last, so a failure here leaves the workflow as it was (retry is safe)."""
    status = await h.sysdb.get_status_row(workflow_id)
    if status is None:
        raise DBOSNonExistentWorkflowError("target", workflow_id)
    _check_rewindable(workflow_id, status.status)
    await asyncio.to_thread(_app_outputs.clear_from, h, workflow_id, start_step)


async def _rewind_in(conn: Any, workflow_id: str, params: dict[str, Any]) -> str:
    """The rewind's transaction: lock and check the workflow, drop what it recorded from
    the cut on, requeue it; the queue it went back on."""
    cur = await conn.execute(_sql.REWIND_LOCK, params)
    row = await cur.fetchone()
    if row is None:
        raise DBOSNonExistentWorkflowError("target", workflow_id)
    _check_rewindable(workflow_id, row.status)
    params["status"] = row.status
    for statement in (
        _sql.REWIND_DELETE_EVENTS,
        _sql.REWIND_RESTORE_EVENTS,
        _sql.REWIND_DELETE_STREAM_CLOSE,
        _sql.REWIND_DELETE_STEPS,
        _sql.REWIND_DELETE_EVENT_HISTORY,
        _sql.REWIND_DELETE_MESSAGES,
    ):
        await conn.execute(statement, params)
    cur = await conn.execute(_sql.REWIND_REQUEUE, params)
    queued = await cur.fetchone()
    assert queued is not None  # the row is locked and its status was just read
    return queued.queue_name


def _check_rewindable(workflow_id: str, status: str) -> None:
    if status not in TERMINAL:
        raise DBOSException(
            f"Cannot rewind {workflow_id} ({status}): only a workflow in a "
            "terminal state can be rewound, so cancel it first"
        )


async def delete(h: Any, workflow_ids: Sequence[str], children: bool = False) -> list[str]:
    """Delete workflows and everything recorded for them; with ``children``, every
    workflow they started (recursively) too. Returns the ids deleted."""
    rows = await h.sysdb.fetchall(
        _sql.DELETE_WORKFLOWS, {"ids": list(workflow_ids), "children": bool(children)}
    )
    return [r.workflow_uuid for r in rows]


async def set_delay(
    h: Any,
    workflow_id: str,
    *,
    delay_seconds: float | None = None,
    delay_until_epoch_ms: int | None = None,
) -> bool:
    """Move a DELAYED workflow's start (relative or absolute); other workflows are left
    alone. Returns whether a DELAYED workflow was changed."""
    if delay_seconds is not None and delay_until_epoch_ms is not None:
        raise DBOSException("Specify either delay_seconds or delay_until_epoch_ms, not both")
    if delay_until_epoch_ms is not None:
        if delay_until_epoch_ms < 0:
            raise DBOSException("delay_until_epoch_ms must be >= 0")
        until = int(delay_until_epoch_ms)
    elif delay_seconds is not None:
        if delay_seconds < 0:
            raise DBOSException("delay_seconds must be >= 0")
        until = int((time.time() + delay_seconds) * 1000)
    else:
        raise DBOSException("Must specify either delay_seconds or delay_until_epoch_ms")
    row = await h.sysdb.fetchone(
        _sql.SET_WORKFLOW_DELAY, {"id": workflow_id, "until": until, "now": now_ms()}
    )
    queues = getattr(h, "queues", None)
    if row is not None and queues is not None:
        queues.wake_delayed()  # this process's promoter re-reads the next due time now
    return row is not None


async def update_attributes(
    h: Any, workflow_id: str, attributes: dict[str, Any] | None, *, merge: bool = False
) -> None:
    """Replace a workflow's attributes (None clears them), or merge top-level keys."""
    from dbos_queue.engine.options import attributes_json

    text = attributes_json(attributes)
    if merge and attributes is None:
        raise DBOSException("Cannot merge None into workflow attributes")
    await h.sysdb.execute(
        _sql.UPDATE_WORKFLOW_ATTRIBUTES,
        {"id": workflow_id, "attributes": text, "merge": bool(merge), "now": now_ms()},
    )


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
    if keep_rows is not None and keep_rows < 1:
        raise DBOSException("keep_rows must be at least 1 (use older_than_sec=0 to delete all)")
    from dbos_queue.queue.retention import purge

    # Bounded batches, oldest first, pausing between them (queue/retention.py).
    return await purge(h.sysdb, older_than_sec=older_than_sec, keep_rows=keep_rows, batch=batch)
