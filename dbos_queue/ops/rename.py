"""``DBOSClient.rename_application``: give an application the rows another name holds,
the rows nobody holds, or both (DBOS 3.4.0's semantics).

Queues, application versions and the workflows a worker may still claim or run
(PENDING, ENQUEUED, DELAYED) move in one transaction, so no worker of either name sees
half a rename; finished workflows only scope lists and retention, so they move after,
``batch_size`` at a time in key ranges (a re-run resumes where an interrupted one
stopped). Schedules and steps record no owner here, so none of theirs move.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from dbos_queue.db import sql as _sql
from dbos_queue.error import DBOSException

DEFAULT_RENAME_BATCH_SIZE = 10_000
_APP_NAME = re.compile(r"^[a-z0-9_-]{3,256}$")


class ApplicationRowCounts(TypedDict):
    """Rows a rename moved, by table."""

    queues: int
    schedules: int
    versions: int
    workflows: int
    steps: int


def check_rename(old_name: str | None, new_name: str, batch_size: int | None, adopt: bool) -> None:
    """Refuse a rename DBOS refuses (checked before anything is written)."""
    if old_name is not None and not old_name:
        raise DBOSException("The application's previous name cannot be empty.")
    if old_name is None and not adopt:
        raise DBOSException(
            "Nothing to re-own: name the application to rename, adopt unclaimed rows, or both."
        )
    if not _APP_NAME.match(new_name):
        raise DBOSException(
            f"Invalid application name '{new_name}'. Application names must be between 3 "
            "and 256 characters long and contain only lowercase letters, numbers, dashes, "
            "and underscores."
        )
    if old_name == new_name:
        raise DBOSException(f"Application '{new_name}' already holds that name; nothing to rename.")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")


async def rename_application(
    h: Any,
    old_name: str | None,
    new_name: str,
    *,
    batch_size: int | None = DEFAULT_RENAME_BATCH_SIZE,
    adopt_unclaimed_rows: bool = False,
) -> ApplicationRowCounts:
    """Re-own the rows (``h``: anything with ``.sysdb``); the counts moved, by table."""
    check_rename(old_name, new_name, batch_size, adopt_unclaimed_rows)
    params: dict[str, Any] = {"old": old_name, "new": new_name, "adopt": adopt_unclaimed_rows}

    async def at_once(conn: Any) -> tuple[int, int, int, int]:
        queues = (await conn.execute(_sql.RENAME_APP_QUEUES, params)).rowcount
        schedules = (await conn.execute(_sql.RENAME_APP_SCHEDULES, params)).rowcount
        versions = (await conn.execute(_sql.RENAME_APP_VERSIONS, params)).rowcount
        in_flight = (await conn.execute(_sql.RENAME_APP_IN_FLIGHT, params)).rowcount
        return queues, schedules, versions, in_flight

    queues, schedules, versions, in_flight = await h.sysdb.transaction(at_once)
    finished = 0
    after: str | None = None
    while True:
        upto: str | None = None
        if batch_size is not None:
            end = await h.sysdb.fetchone(
                _sql.RENAME_APP_BATCH_END, {**params, "after": after, "skip": batch_size - 1}
            )
            upto = end.workflow_uuid if end is not None else None
        if upto is None:
            after = None  # the last batch: whatever is left, also below the watermark
        finished += await h.sysdb.execute(
            _sql.RENAME_APP_BATCH, {**params, "after": after, "upto": upto}
        )
        if upto is None:
            break
        after = upto
    return ApplicationRowCounts(
        queues=queues,
        schedules=schedules,
        versions=versions,
        workflows=in_flight + finished,
        steps=0,
    )
