"""Queue rows for ``list_queues`` / ``retrieve_queue`` / ``delete_queue`` (facade, client).

Rows are ``_sql.QUEUE_COLUMNS`` plus the owning application; the API layer turns them
into ``Queue`` objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dbos_queue.db import sql as _sql
from dbos_queue.model.records import Row
from dbos_queue.ops.listing import app_name_of

# register_queue(on_conflict=...): DBOS's three policies.
CONFLICT_POLICIES = ("update_if_latest_version", "always_update", "never_update")


def _many(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [str(v) for v in value]


async def get_row(h: Any, name: str) -> Row | None:
    """The stored row of queue ``name``, or None."""
    return await h.sysdb.fetchone(_sql.GET_QUEUE_OWNED, (name,))


async def list_rows(h: Any, application_name: str | Sequence[str] | None = None) -> list[Row]:
    """Stored queues by name: ``application_name``'s (by default the caller's own, as in
    DBOS) and unclaimed ones."""
    apps = _many(application_name if application_name is not None else app_name_of(h))
    return await h.sysdb.fetchall(_sql.LIST_QUEUES_OF, {"apps": apps or None})


async def delete(h: Any, name: str) -> bool:
    """Delete the queue's row (workflows still on it are no longer dequeued)."""
    deleted = await h.sysdb.execute(_sql.DELETE_QUEUE, (name,))
    h.engine.publish("queue", name, count=0)  # claim loops re-read their settings
    return bool(deleted)
