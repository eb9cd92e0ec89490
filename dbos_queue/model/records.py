"""Small public record types of DBOS 3.4.0's API: steps, messages, schedules.

Plain data, shared by the facade, ``DBOSClient`` and the operations below them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias, TypedDict

# One result row of a system-database statement: a psycopg named tuple whose fields are
# the statement's column names (db/rows.py), read as ``row.status``, never ``row[1]``.
# Typed loosely because each statement has its own fields; tests/test_sql_rows.py checks
# that every statement names its columns.
Row: TypeAlias = Any


class StepInfo(TypedDict):
    """One recorded step of a workflow (``list_workflow_steps``)."""

    function_id: int
    function_name: str
    output: Any | None
    error: Exception | None
    child_workflow_id: str | None
    child_shard_key: str | None
    started_at_epoch_ms: int | None
    completed_at_epoch_ms: int | None


@dataclass
class StepStatus:
    """What ``DBOS.step_status`` reports inside a step.

    ``current_attempt`` (from 0) and ``max_attempts`` are set only for steps with
    ``retries_allowed``; both are None otherwise.
    """

    step_id: int
    current_attempt: int | None = None
    max_attempts: int | None = None


@dataclass
class SendMessage:
    """One message of ``send_bulk``: to ``destination_id`` on ``topic``.

    With ``idempotency_key``, sending the same key to the same destination again
    delivers nothing more. ``shard_key`` is recorded only (unsharded database).
    """

    destination_id: str
    message: Any
    topic: str | None = None
    idempotency_key: str | None = None
    shard_key: str | None = None


class WorkflowSchedule(TypedDict):
    """A stored schedule, as ``list_schedules`` / ``get_schedule`` return it."""

    schedule_id: str
    schedule_name: str
    workflow_name: str
    workflow_class_name: str | None
    schedule: str
    status: str
    context: Any
    last_fired_at: str | None
    automatic_backfill: bool
    cron_timezone: str | None
    queue_name: str | None
    application_name: str | None
    shard_key: str | None


class ScheduleInput(TypedDict, total=False):
    """One schedule for ``DBOS.apply_schedules`` (the arguments of ``create_schedule``)."""

    schedule_name: str
    workflow_fn: (
        Callable[[datetime, Any], None] | Callable[[datetime, Any], Coroutine[Any, Any, None]]
    )
    schedule: str
    context: Any
    automatic_backfill: bool
    cron_timezone: str | None
    queue_name: str | None
    shard_key: str | None


class ClientScheduleInput(TypedDict, total=False):
    """One schedule for ``DBOSClient.apply_schedules``: the workflow is named, not passed."""

    schedule_name: str
    workflow_name: str
    workflow_class_name: str | None
    schedule: str
    context: Any
    automatic_backfill: bool
    cron_timezone: str | None
    queue_name: str | None
    application_name: str | None
    shard_key: str | None
