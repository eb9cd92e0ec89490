"""The stored schedule row (``dbos.workflow_schedules``) as the scheduler reads it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any

from dbos_queue.error import DBOSException
from dbos_queue.model import serialization as ser
from dbos_queue.model.status import INTERNAL_QUEUE

if TYPE_CHECKING:
    pass

from dbos_queue.queue.schedules.crons import from_ms, zone_of

logger = logging.getLogger("dbos_queue")


@dataclass
class ScheduleRow:
    """One row of the schedules table, in ``_sql.SCHEDULE_COLUMNS`` order."""

    name: str
    schedule_id: str
    workflow_name: str
    class_name: str | None
    cron: str
    cron_timezone: str | None
    context: str
    status: str
    queue_name: str | None
    kind: str
    automatic_backfill: bool
    watermark: int
    last_fired: int | None
    created_at: int
    updated_at: int
    application_name: str | None = None  # the owning application (None: unclaimed)

    @property
    def tz(self) -> tzinfo:
        """The schedule's time zone (UTC when the stored name is no longer known)."""
        try:
            return zone_of(self.cron_timezone)
        except DBOSException:
            return UTC

    @property
    def queue(self) -> str:
        """The queue its ticks are enqueued on (DBOS's internal queue by default)."""
        return self.queue_name or INTERNAL_QUEUE


def as_dict(row: ScheduleRow) -> dict[str, Any]:
    """A ``WorkflowSchedule`` as DBOS returns it (plus ``kind``)."""
    try:
        context = ser.deserialize(row.context)
    except Exception:
        context = row.context
    return {
        "schedule_id": row.schedule_id,
        "schedule_name": row.name,
        "workflow_name": row.workflow_name,
        "workflow_class_name": row.class_name,
        "schedule": row.cron,
        "status": row.status,
        "context": context,
        "last_fired_at": (
            from_ms(row.last_fired, row.tz).isoformat() if row.last_fired is not None else None
        ),
        "automatic_backfill": row.automatic_backfill,
        "cron_timezone": row.cron_timezone,
        "queue_name": row.queue_name,
        "application_name": row.application_name,
        "shard_key": None,
        "kind": row.kind,
    }
