"""Workflow statuses and the row types read back from the system database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from dbos_queue.model import serialization as ser

# The queue that resume, fork and schedules use when the caller names none.
INTERNAL_QUEUE = "_dbos_internal_queue"

# Every status a workflow row can hold, in the order a row moves through them.
STATUSES = (
    "DELAYED",
    "ENQUEUED",
    "PENDING",
    "SUCCESS",
    "ERROR",
    "CANCELLED",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
)
# The statuses a workflow never leaves.
TERMINAL_STATUSES = ("SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")


class WorkflowStatusString(Enum):
    """The states a workflow row moves through."""

    DELAYED = "DELAYED"
    ENQUEUED = "ENQUEUED"
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    MAX_RECOVERY_ATTEMPTS_EXCEEDED = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"


@dataclass
class WorkflowStatus:
    """One workflow's status row, deserialized (DBOS's field names)."""

    workflow_id: str
    status: str
    name: str
    class_name: str | None = None
    config_name: str | None = None
    authenticated_user: str | None = None
    assumed_role: str | None = None
    authenticated_roles: list[str] | None = None
    input: dict[str, Any] | None = None
    output: Any | None = None
    error: BaseException | None = None
    created_at: int | None = None
    updated_at: int | None = None
    queue_name: str | None = None
    executor_id: str | None = None
    app_version: str | None = None
    app_id: str | None = None
    recovery_attempts: int | None = None
    workflow_timeout_ms: int | None = None
    workflow_deadline_epoch_ms: int | None = None
    deduplication_id: str | None = None
    priority: int | None = None
    queue_partition_key: str | None = None
    forked_from: str | None = None
    dequeued_at: int | None = None
    owner_xid: str | None = None
    # DBOS 3.4.0 fields (migration 0008)
    was_forked_from: bool = False
    parent_workflow_id: str | None = None
    delay_until_epoch_ms: int | None = None
    completed_at: int | None = None
    attributes: dict[str, Any] | None = None
    schedule_name: str | None = None
    application_name: str | None = None
    shard_key: str | None = None
    parent_shard_key: str | None = None


def status_from_row(
    row: tuple[Any, ...], load_input: bool = True, load_output: bool = True
) -> WorkflowStatus:
    """Build a WorkflowStatus from ``_sql.STATUS_COLUMNS`` order."""
    inputs = None
    if load_input and row[20] is not None:
        try:
            args, kwargs = ser.deserialize_args(row[20])
            inputs = {"args": args, "kwargs": kwargs}
        except Exception:
            inputs = None
    output = error = None
    if load_output:
        try:
            output = ser.deserialize(row[9]) if row[9] is not None else None
        except Exception:
            output = None
        error = ser.deserialize_exception(row[10]) if row[10] is not None else None
    return WorkflowStatus(
        workflow_id=row[0],
        status=row[1],
        name=row[2],
        class_name=row[3],
        config_name=row[4],
        authenticated_user=row[5],
        assumed_role=row[6],
        authenticated_roles=json.loads(row[7]) if row[7] else None,
        input=inputs,
        output=output,
        error=error,
        executor_id=row[11],
        app_version=row[12],
        app_id=row[13],
        created_at=row[14],
        updated_at=row[15],
        recovery_attempts=row[16],
        queue_name=row[17],
        workflow_timeout_ms=row[18],
        workflow_deadline_epoch_ms=row[19],
        dequeued_at=row[21],
        deduplication_id=row[22],
        priority=row[23],
        queue_partition_key=row[24],
        forked_from=row[25],
        owner_xid=row[26],
        **_later_fields(row),
    )


# Columns after owner_xid in ``_sql.STATUS_COLUMNS`` (0008), in order.
_LATER: tuple[str, ...] = (
    "delay_until_epoch_ms",
    "parent_workflow_id",
    "was_forked_from",
    "completed_at",
    "attributes",
    "schedule_name",
    "application_name",
    "shard_key",
    "parent_shard_key",
)


def _later_fields(row: tuple[Any, ...]) -> dict[str, Any]:
    """The 0008 fields of a status row; rows of a shorter column list (e.g. a claim's
    RETURNING list built before them) leave the defaults."""
    out: dict[str, Any] = dict(zip(_LATER, row[27:], strict=False))
    out["was_forked_from"] = bool(out.get("was_forked_from"))
    return out


def step_dict(r: tuple[Any, ...], load_output: bool = True) -> dict[str, Any]:
    """A ``StepInfo`` dict from ``_sql.LIST_STEPS`` order (output and error left out
    unless ``load_output``)."""
    output = ser.deserialize(r[2]) if load_output and r[2] is not None else None
    error = ser.deserialize_exception(r[3]) if load_output and r[3] is not None else None
    return {
        "function_id": r[0],
        "function_name": r[1],
        "output": output,
        "error": error,
        "child_workflow_id": r[4],
        "child_shard_key": None,  # unsharded database
        "started_at_epoch_ms": r[5],
        "completed_at_epoch_ms": r[6],
    }
