"""Worker app for the schedule tests: ``dbos-queue worker tests.apps.schedule_app``.

Every scheduled execution records its tick in the table ``sched_runs`` (created by
the test): one row per (schedule, scheduled_at), ``runs`` counting executions, so a
tick run twice shows up as ``runs = 2`` rather than as a failed insert.
``manage`` lets a test create and delete schedules inside a running worker.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

import psycopg

from dbos_queue import DBOS, Queue

URL = os.environ["SCHEDULE_APP_URL"]

DBOS(
    config={
        "name": "schedule-app",
        "system_database_url": URL,
        "executor_lease_sec": float(os.environ.get("SCHEDULE_APP_LEASE", "2")),
    }
)

Queue("sched_admin")


@DBOS.step()
def record_tick(schedule: str, scheduled_time: datetime, second: Any) -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sched_runs (schedule, scheduled_at, workflow_id, pid, second)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (schedule, scheduled_at) DO UPDATE SET runs = sched_runs.runs + 1",
            (schedule, scheduled_time, DBOS.workflow_id, os.getpid(), repr(second)),
        )


@DBOS.scheduled("* * * * * *")
@DBOS.workflow()
def every_second(scheduled_time: datetime, actual_time: datetime) -> None:
    record_tick("every_second", scheduled_time, actual_time)


@DBOS.workflow()
def api_tick(scheduled_time: datetime, context: Any) -> None:
    record_tick(context["tag"], scheduled_time, context)


@DBOS.step()
def change_schedule(action: str, name: str, cron: str | None, tag: str | None) -> float:
    if action == "create":
        assert cron is not None, "create needs a cron expression"
        DBOS.create_schedule(
            schedule_name=name, workflow_fn=api_tick, schedule=cron, context={"tag": tag}
        )
    else:
        DBOS.delete_schedule(name)
    return time.time()


@DBOS.workflow()
def manage(action: str, name: str, cron: str | None = None, tag: str | None = None) -> float:
    """Create or delete a schedule from inside a worker; returns when it was done."""
    return change_schedule(action, name, cron, tag)
