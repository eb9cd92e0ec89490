"""Workflow statuses and the row types read back from the system database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from dbos_queue.model import serialization as ser
from dbos_queue.model.records import Row

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


def status_from_row(row: Row, load_input: bool = True, load_output: bool = True) -> WorkflowStatus:
    """Build a WorkflowStatus from a row of ``_sql.STATUS_COLUMNS``."""
    inputs = None
    if load_input and row.inputs is not None:
        try:
            args, kwargs = ser.deserialize_args(row.inputs)
            inputs = {"args": args, "kwargs": kwargs}
        except Exception:
            inputs = None
    output = error = None
    if load_output:
        try:
            output = ser.deserialize(row.output) if row.output is not None else None
        except Exception:
            output = None
        error = ser.deserialize_exception(row.error) if row.error is not None else None
    return WorkflowStatus(
        workflow_id=row.workflow_uuid,
        status=row.status,
        name=row.name,
        class_name=row.class_name,
        config_name=row.config_name,
        authenticated_user=row.authenticated_user,
        assumed_role=row.assumed_role,
        authenticated_roles=json.loads(row.authenticated_roles)
        if row.authenticated_roles
        else None,
        input=inputs,
        output=output,
        error=error,
        executor_id=row.executor_id,
        app_version=row.application_version,
        app_id=row.application_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        recovery_attempts=row.recovery_attempts,
        queue_name=row.queue_name,
        workflow_timeout_ms=row.workflow_timeout_ms,
        workflow_deadline_epoch_ms=row.workflow_deadline_epoch_ms,
        dequeued_at=row.started_at_epoch_ms,
        deduplication_id=row.deduplication_id,
        priority=row.priority,
        queue_partition_key=row.queue_partition_key,
        forked_from=row.forked_from,
        owner_xid=row.owner_xid,
        delay_until_epoch_ms=row.delay_until_epoch_ms,
        parent_workflow_id=row.parent_workflow_id,
        was_forked_from=bool(row.was_forked_from),
        completed_at=row.completed_at,
        attributes=row.attributes,
        schedule_name=row.schedule_name,
        application_name=row.application_name,
        shard_key=row.shard_key,
        parent_shard_key=row.parent_shard_key,
    )


def step_dict(r: Row, load_output: bool = True) -> dict[str, Any]:
    """A ``StepInfo`` dict from a ``_sql.LIST_STEPS`` row (output and error left out
    unless ``load_output``)."""
    output = ser.deserialize(r.output) if load_output and r.output is not None else None
    error = ser.deserialize_exception(r.error) if load_output and r.error is not None else None
    return {
        "function_id": r.function_id,
        "function_name": r.function_name,
        "output": output,
        "error": error,
        "child_workflow_id": r.child_workflow_id,
        "child_shard_key": None,  # unsharded database
        "started_at_epoch_ms": r.started_at_epoch_ms,
        "completed_at_epoch_ms": r.completed_at_epoch_ms,
    }
