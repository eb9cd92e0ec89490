"""Creating, listing, pausing, resuming, backfilling and triggering schedules."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine.host import app_name_of
from dbos_queue.engine.registry import FunctionInfo, class_name_of
from dbos_queue.error import DBOSException
from dbos_queue.model import clock as _clock
from dbos_queue.model import serialization as ser
from dbos_queue.model.status import INTERNAL_QUEUE

if TYPE_CHECKING:
    from dbos_queue.queue.host import QueueHost

from dbos_queue.queue.schedules.crons import check_cron, cron_ticks, to_ms, zone_of
from dbos_queue.queue.schedules.rows import ScheduleRow, as_dict
from dbos_queue.queue.schedules.scheduler import notify_schedules, scheduler_of, tick_params

logger = logging.getLogger("dbos_queue")


def workflow_info(rt: QueueHost, workflow_fn: Any) -> FunctionInfo:
    """The registered workflow a schedule names; DBOSException when it cannot run one."""
    info = getattr(workflow_fn, "__dbos_info__", None)
    name = getattr(workflow_fn, "__qualname__", None) or repr(workflow_fn)
    if info is None or info.kind != "workflow" or info.name not in rt.registry.workflows:
        raise DBOSException(
            f"Workflow function {name!r} is not registered; decorate it with "
            "@DBOS.workflow() (and import its module) before scheduling it"
        )
    if info.method == "instance":
        raise DBOSException(
            f"Configured instance methods cannot be used as scheduled workflows ({info.name})"
        )
    return info


async def check_queue(rt: QueueHost, queue_name: str | None) -> None:
    """Refuse a schedule on a queue that is neither declared here nor stored."""
    from dbos_queue.queue.settings import QueueSettings

    if queue_name is None or queue_name == INTERNAL_QUEUE:
        return
    q = rt.registry.queues.get(queue_name)
    settings = q.settings if q is not None else None
    if settings is None:
        row = await rt.sysdb.fetchone(_sql.GET_QUEUE, (queue_name,))
        settings = QueueSettings(*row) if row is not None else None
    if settings is None:
        raise DBOSException(
            f"Queue {queue_name!r} is not declared. Please create the queue "
            "before using it in a schedule."
        )
    if settings.partitioned:
        raise DBOSException(
            f"Queue {queue_name!r} is partitioned; a schedule cannot supply a "
            "queue_partition_key. Use an unpartitioned queue."
        )


async def create_schedule(
    rt: QueueHost,
    *,
    schedule_name: str,
    workflow_fn: Callable[..., Any],
    schedule: str,
    context: Any = None,
    automatic_backfill: bool = False,
    cron_timezone: str | None = None,
    queue_name: str | None = None,
    shard_key: str | None = None,
    **unknown: Any,
) -> None:
    """Store a schedule; ``workflow_fn`` receives ``(scheduled_time, context)``."""
    if unknown:
        raise DBOSException(f"create_schedule() got unexpected options {sorted(unknown)}")
    if shard_key is not None:
        raise DBOSException(
            "create_schedule(shard_key=...) needs a sharded system database, "
            "which dbos_queue does not support"
        )
    if not isinstance(cast(object, schedule_name), str) or not schedule_name:  # not type-checked
        raise DBOSException(f"schedule_name must be a non-empty string, got {schedule_name!r}")
    tz = zone_of(cron_timezone)
    check_cron(schedule, f"schedule {schedule_name}", tz)
    info = workflow_info(rt, workflow_fn)
    await check_queue(rt, queue_name)
    row = await rt.sysdb.fetchone(
        _sql.CREATE_SCHEDULE,
        {
            "name": schedule_name,
            "id": str(uuid.uuid4()),
            "workflow_name": info.name,
            "class_name": class_name_of(info.func) if info.method == "class" else None,
            "cron": schedule,
            "tz": cron_timezone,
            "context": ser.serialize(context, "schedule context"),
            "queue": queue_name,
            "backfill": bool(automatic_backfill),
            "now": now_ms(),
            "app": app_name_of(rt),
        },
    )
    if row is None:
        raise DBOSException(
            f"Schedule {schedule_name!r} already exists; delete it first or choose another name"
        )
    notify_schedules(rt)


def _many(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [str(v) for v in value]


async def list_schedules(
    rt: Any,
    *,
    status: str | Sequence[str] | None = None,
    workflow_name: str | Sequence[str] | None = None,
    schedule_name_prefix: str | Sequence[str] | None = None,
    kind: str | Sequence[str] | None = None,
    application_name: Any = None,
    **unknown: Any,
) -> list[dict[str, Any]]:
    """Schedules as DBOS ``WorkflowSchedule`` dicts, oldest first: those of
    ``application_name`` (by default the caller's own, as in DBOS) and unclaimed ones."""
    if unknown:
        raise DBOSException(f"list_schedules() got unexpected filters {sorted(unknown)}")
    rows = await rt.sysdb.fetchall(
        _sql.LIST_SCHEDULES,
        {
            "statuses": [v.upper() for v in _many(status) or []] if status is not None else None,
            "workflows": _many(workflow_name),
            "kinds": _many(kind),
            "prefixes": _many(schedule_name_prefix),
            "apps": _many(application_name if application_name is not None else app_name_of(rt)),
        },
    )
    return [as_dict(ScheduleRow(*r)) for r in rows]


async def get_schedule(rt: Any, name: str) -> dict[str, Any] | None:
    """The schedule called ``name`` as DBOS describes it, or None."""
    row = await rt.sysdb.fetchone(_sql.GET_SCHEDULE, (name,))
    return as_dict(ScheduleRow(*row)) if row is not None else None


async def delete_schedule(rt: Any, name: str) -> bool:
    """Delete a schedule; False when there was none. No tick of it fires after this returns."""
    row = await rt.sysdb.fetchone(_sql.DELETE_SCHEDULE, (name,))
    if row is not None and row.kind == "decorator":
        sched = scheduler_of(rt)
        if sched is not None and name in sched.declared:
            logger.info(
                "deleted decorated schedule %s; a process declaring it re-creates it "
                "when it launches (pause_schedule keeps it stopped)",
                name,
            )
    return row is not None


async def _set_status(rt: Any, name: str, status: str) -> None:
    row = await rt.sysdb.fetchone(
        _sql.SET_SCHEDULE_STATUS, {"name": name, "status": status, "now": now_ms()}
    )
    if row is None:
        raise DBOSException(f"Schedule {name!r} does not exist")
    notify_schedules(rt)


async def pause_schedule(rt: Any, name: str) -> None:
    """Stop firing ``name`` (takes effect at once, kept across restarts)."""
    await _set_status(rt, name, "PAUSED")


async def resume_schedule(rt: Any, name: str) -> None:
    """Fire ``name`` again from now on (ticks due while it was paused are not run)."""
    await _set_status(rt, name, "ACTIVE")


async def backfill_schedule(rt: QueueHost, name: str, start: datetime, end: datetime) -> list[str]:
    """Enqueue every tick in [start, end) that has not run; returns all their workflow ids."""
    r = await rt.sysdb.fetchone(_sql.GET_SCHEDULE, (name,))
    if r is None:
        raise DBOSException(f"Schedule {name!r} does not exist")
    row = ScheduleRow(*r)
    tz = row.tz
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    context = ser.deserialize(row.context) if row.kind == "api" else None
    ticks, _ = cron_ticks(row.cron, tz, to_ms(start) - 1, to_ms(end) - 1, 1_000_000)
    ids: list[str] = []
    for tick in ticks:
        params = tick_params(rt, row, tick, context)
        await rt.sysdb.init_workflow(params)
        ids.append(params["id"])
    if ids:
        rt.engine.publish("queue", row.queue)
    return ids


async def trigger_schedule(rt: QueueHost, name: str) -> str:
    """Enqueue one run of ``name`` now (id ``sched-<name>-trigger-<ISO time>``)."""
    r = await rt.sysdb.fetchone(_sql.GET_SCHEDULE, (name,))
    if r is None:
        raise DBOSException(f"Schedule {name!r} does not exist")
    row = ScheduleRow(*r)
    now = _clock.now_datetime().astimezone(row.tz)
    context = ser.deserialize(row.context) if row.kind == "api" else None
    params = tick_params(rt, row, now, context, wf_id=f"sched-{name}-trigger-{now.isoformat()}")
    await rt.sysdb.init_workflow(params)
    rt.engine.publish("queue", row.queue)
    return params["id"]
