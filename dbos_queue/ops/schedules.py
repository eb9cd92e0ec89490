"""Schedule operations of DBOS 3.4.0 beyond ``queue.schedules``: ``apply_schedules``, and
what ``DBOSClient`` does without the application's code (schedules named by workflow
name; backfill and trigger from outside the application).

``apply_schedules`` validates every entry first and then writes them all in one
transaction, so a bad entry changes nothing; schedules not listed are kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine.host import app_name_of
from dbos_queue.engine.registry import Registry, class_name_of
from dbos_queue.error import DBOSException
from dbos_queue.model import serialization as ser
from dbos_queue.queue.schedules import manage as _manage
from dbos_queue.queue.schedules.crons import check_cron, zone_of
from dbos_queue.queue.schedules.scheduler import notify_schedules


@dataclass
class ClientHost:
    """A ``DBOSClient`` as the schedule code sees a runtime: no registered functions,
    no executor, no application version (the latest version runs what it enqueues)."""

    client: Any
    registry: Registry = field(default_factory=Registry)
    executor_id: str | None = None
    app_version: str | None = None

    @property
    def sysdb(self) -> Any:
        """The client's system database."""
        return self.client.sysdb

    @property
    def engine(self) -> Any:
        """The client's engine loop."""
        return self.client.engine

    @property
    def settings(self) -> Any:
        """Settings as the schedule code reads them: only the application name."""
        return SimpleNamespace(name=getattr(self.client, "application_name", None))


def _row(
    entry: dict[str, Any], i: int, workflow_name: str, class_name: str | None
) -> dict[str, Any]:
    tz = entry.get("cron_timezone")
    zone_of(tz)  # an unknown zone raises DBOSException
    check_cron(entry["schedule"], f"schedule {entry['schedule_name']}")
    return {
        "name": entry["schedule_name"],
        "id": str(uuid.uuid4()),
        "workflow_name": workflow_name,
        "class_name": class_name,
        "cron": entry["schedule"],
        "tz": tz,
        "context": ser.serialize(entry.get("context"), f"context of schedule entry {i}"),
        "queue": entry.get("queue_name"),
        "backfill": bool(entry.get("automatic_backfill", False)),
        "now": now_ms(),
    }


def _require(entry: Any, i: int, keys: Sequence[str]) -> None:
    if not isinstance(entry, dict):
        raise DBOSException(f"Schedule entry {i} must be a dict, got {entry!r}")
    for key in keys:
        if key not in entry:
            raise DBOSException(f"Schedule entry {i} is missing required field {key!r}")


async def apply(h: Any, schedules: Sequence[Any], *, by_name: bool = False) -> None:
    """Create or replace these schedules together (``by_name``: ``ClientScheduleInput``)."""
    rows: list[dict[str, Any]] = []
    for i, entry in enumerate(schedules):
        fn_key = "workflow_name" if by_name else "workflow_fn"
        _require(entry, i, ("schedule_name", fn_key, "schedule"))
        if entry.get("shard_key") is not None:
            raise DBOSException("Scheduling under a shard key requires a sharded system database")
        if by_name:
            rows.append(_row(entry, i, entry["workflow_name"], entry.get("workflow_class_name")))
        else:
            info = _manage.workflow_info(h, entry["workflow_fn"])
            class_name = class_name_of(info.func) if info.method == "class" else None
            rows.append(_row(entry, i, info.name, class_name))
        await _manage.check_queue(h, entry.get("queue_name"))

    owner = app_name_of(h)

    async def go(conn: Any) -> None:
        for params in rows:
            cur = await conn.execute(_sql.APPLY_SCHEDULE, {**params, "app": owner})
            if await cur.fetchone() is None:  # the name is another application's: undo all
                raise DBOSException(
                    f"Schedule '{params['name']}' is already registered by another "
                    "application in this system database. Schedule names must be unique "
                    f"across applications sharing a system database: give '{owner}' a "
                    "different schedule name"
                )

    await h.sysdb.transaction(go)
    notify_schedules(h)


async def create_named(
    h: Any,
    *,
    schedule_name: str,
    workflow_name: str,
    schedule: str,
    context: Any = None,
    workflow_class_name: str | None = None,
    automatic_backfill: bool = False,
    cron_timezone: str | None = None,
    queue_name: str | None = None,
    shard_key: str | None = None,
    application_name: str | None = None,
) -> None:
    """``DBOSClient.create_schedule``: the workflow is named, not passed; owned by
    ``application_name``, else by the client's application (None: unclaimed)."""
    if shard_key is not None:
        raise DBOSException("Scheduling under a shard key requires a sharded system database")
    if not isinstance(cast(object, schedule_name), str) or not schedule_name:  # not type-checked
        raise DBOSException(f"schedule_name must be a non-empty string, got {schedule_name!r}")
    entry: dict[str, Any] = {
        "schedule_name": schedule_name,
        "schedule": schedule,
        "context": context,
        "automatic_backfill": automatic_backfill,
        "cron_timezone": cron_timezone,
        "queue_name": queue_name,
    }
    params = _row(entry, 0, workflow_name, workflow_class_name)
    params["app"] = application_name if application_name is not None else app_name_of(h)
    await _manage.check_queue(h, queue_name)
    if await h.sysdb.fetchone(_sql.CREATE_SCHEDULE, params) is None:
        raise DBOSException(
            f"Schedule {schedule_name!r} already exists; delete it first or choose another name"
        )
    notify_schedules(h)


async def backfill(h: Any, name: str, start: datetime, end: datetime) -> list[str]:
    """``backfill_schedule`` for a runtime or a client (through ``ClientHost``)."""
    return await _manage.backfill_schedule(h, name, start, end)


async def trigger(h: Any, name: str) -> str:
    """``trigger_schedule`` for a runtime or a client (through ``ClientHost``)."""
    return await _manage.trigger_schedule(h, name)
