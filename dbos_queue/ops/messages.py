"""Messages in bulk and waiting for the first of several workflows.

``send_bulk`` is the one implementation behind ``DBOS.send_bulk`` and
``DBOSClient.send_bulk`` (and ``send(send_to_forks=True)``): every message of the
call is inserted in one transaction, so either all are delivered or, when a
destination does not exist, none is. Inside a workflow the call is one recorded
step, written in that same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import psycopg

from dbos_queue.db import sql as _sql
from dbos_queue.db.loop import NOT_YET
from dbos_queue.db.sysdb import NULL_TOPIC, now_ms
from dbos_queue.engine.context import WorkflowContext
from dbos_queue.engine.core import explain_refusal
from dbos_queue.error import DBOSException, DBOSNonExistentWorkflowError
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import SendMessage


class _Refused(Exception):
    """The step record of this send was refused (ownership lost): roll the messages back."""


def check_messages(messages: Sequence[SendMessage]) -> None:
    """Refuse (DBOSException) anything but a list or tuple of SendMessage with distinct keys."""
    if not isinstance(cast(object, messages), (list, tuple)):  # callers may not type-check
        raise DBOSException(f"send_bulk needs a list of SendMessage, got {messages!r}")
    for m in messages:
        if not isinstance(cast(object, m), SendMessage):
            raise DBOSException(f"send_bulk needs SendMessage items, got {m!r}")
    keys = [m.idempotency_key for m in messages if m.idempotency_key]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise DBOSException(
            f"send_bulk received duplicate idempotency keys: {', '.join(duplicates)}"
        )


async def _rows(conn: Any, messages: Sequence[SendMessage], to_forks: bool) -> list[list[Any]]:
    """Columns (destinations, topics, messages, uuids) with forks fanned out."""
    forks: dict[str, list[str]] = {}
    if to_forks:
        cur = await conn.execute(_sql.FORK_DESCENDANTS, ([m.destination_id for m in messages],))
        for r in await cur.fetchall():
            forks.setdefault(r.root, []).append(r.id)
    cols: list[list[Any]] = [[], [], [], []]
    for m in messages:
        text = ser.serialize(m.message, "message")
        for dest in [m.destination_id, *sorted(set(forks.get(m.destination_id, ())))]:
            # A key is scoped per destination, so one key can fan out to every fork.
            uuid = f"{m.idempotency_key}::{dest}" if m.idempotency_key else None
            for col, value in zip(cols, (dest, m.topic or NULL_TOPIC, text, uuid), strict=True):
                col.append(value)
    return cols


async def send_bulk(
    h: Any,
    messages: Sequence[SendMessage],
    *,
    send_to_forks: bool = False,
    ctx: WorkflowContext | None = None,
    fid: int = 0,
    name: str = "DBOS.send_bulk",
) -> None:
    """Deliver ``messages`` in one transaction (recorded as step ``name`` in a workflow)."""
    check_messages(messages)
    if ctx is not None and fid and not ctx.fresh and fid in ctx.recorded:
        return  # replay: sent by an earlier execution
    record = (
        h.sysdb.operation_params(ctx.workflow_id, ctx.owner, fid, name, started=now_ms())
        if ctx is not None and fid
        else None
    )

    async def go(conn: Any) -> list[str]:
        if record is not None:
            cur = await conn.execute(_sql.RECORD_OPERATION, record)
            if await cur.fetchone() is None:
                raise _Refused()
        cols = await _rows(conn, messages, send_to_forks)
        if cols[0]:
            await conn.execute(_sql.SEND_MESSAGES, cols)
        return [f"{d}::{t}" for d, t in zip(cols[0], cols[1], strict=True)]

    try:
        woken = await h.sysdb.transaction(go)
    except _Refused:
        assert ctx is not None
        await explain_refusal(h, ctx)
        return
    except psycopg.errors.ForeignKeyViolation:
        dests = ", ".join(sorted({m.destination_id for m in messages}))
        raise DBOSNonExistentWorkflowError("`send` destination", dests) from None
    for key in woken:
        h.engine.wake(("msg", key))


async def wait_first(h: Any, workflow_ids: Sequence[str], polling_interval_sec: float) -> str:
    """The id of one of these workflows once it is no longer PENDING/ENQUEUED/DELAYED."""
    ids = list(workflow_ids)

    async def check() -> Any:
        row = await h.sysdb.fetchone(_sql.FIRST_FINISHED, (ids,))
        return row.workflow_uuid if row is not None else NOT_YET

    # Woken at once when one of the first two finishes; otherwise polled at DBOS's interval.
    poll = max(0.01, float(polling_interval_sec))
    also = ("wf", ids[1]) if len(ids) > 1 else None
    while True:
        found = await h.engine.wait_for(("wf", ids[0]), check, None, poll=poll, also=also)
        if found is not NOT_YET:
            return found


def check_handles(handles: Sequence[Any]) -> list[str]:
    """The ids of ``wait_first``'s handles: a non-empty list without duplicates."""
    if not handles:
        raise ValueError("handles must not be empty")
    ids = [h.workflow_id for h in handles]
    if len(set(ids)) != len(ids):
        raise ValueError("handles must not contain duplicate workflow IDs")
    return ids
