"""The debouncer's one database step: extend a waiting debounced workflow, or say who
holds the debounce key (0011's ``is_debounced`` / ``debounce_deadline_epoch_ms``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import SystemDatabase, now_ms


@dataclass
class Bounce:
    """What a debounce attempt found (DBOS's DebounceResult)."""

    bounced_workflow_id: str | None  # the waiting workflow that was extended
    holder_workflow_id: str | None = None  # otherwise: who holds the key (None: nobody)
    holder_is_debounced: bool = False
    holder_workflow_name: str | None = None

    def action(self, workflow_name: str) -> str:
        """return (extended) | enqueue (key free) | raise (held by another) | retry."""
        if self.bounced_workflow_id is not None:
            return "return"
        if self.holder_workflow_id is None:
            return "enqueue"
        if not self.holder_is_debounced or self.holder_workflow_name != workflow_name:
            return "raise"
        return "retry"  # a debounced holder left DELAYED between the two statements


class Refused(Exception):
    """The caller's fenced step record was refused (another execution owns the workflow)."""


async def extend(
    sysdb: SystemDatabase,
    *,
    queue: str,
    dedup_id: str,
    name: str,
    delay_until: int,
    inputs: str,
    serialization: str | None,
    record: dict[str, Any] | None = None,
) -> Bounce:
    """Push out the waiting workflow's start and replace its inputs, in one transaction;
    with ``record`` (a step record whose ``output`` is filled in) atomically recorded too."""
    params = {
        "queue": queue,
        "dedup_id": dedup_id,
        "name": name,
        "delay_until": delay_until,
        "inputs": inputs,
        "serialization": serialization,
        "now": now_ms(),
    }

    async def go(conn: AsyncConnection[Any]) -> Bounce:
        row = await (await conn.execute(_sql.DEBOUNCE_EXTEND, params)).fetchone()
        if row is not None:
            result = Bounce(row.workflow_uuid)
        else:
            holder = await (await conn.execute(_sql.DEBOUNCE_HOLDER, (queue, dedup_id))).fetchone()
            result = (
                Bounce(None, holder.workflow_uuid, bool(holder.is_debounced), holder.name)
                if holder
                else Bounce(None)
            )
        if record is not None:
            from dbos_queue.model import serialization as ser

            record["output"] = ser.serialize(
                [
                    result.bounced_workflow_id,
                    result.holder_workflow_id,
                    result.holder_is_debounced,
                    result.holder_workflow_name,
                ]
            )
            cur = await conn.execute(_sql.RECORD_OPERATION, record)
            if await cur.fetchone() is None:
                raise Refused()
        return result

    return await sysdb.transaction(go)


def bounce_from_record(value: Any) -> Bounce:
    """A Bounce replayed from its step record."""
    return Bounce(value[0], value[1], bool(value[2]), value[3])
