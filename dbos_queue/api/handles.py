"""Workflow status records and handles."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Dict, Generic, Optional, TypeVar

from dbos_queue.engine import core as _core
from dbos_queue.model import serialization as ser

if TYPE_CHECKING:
    from dbos_queue.api.runtime import Runtime

R = TypeVar("R")


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
    class_name: Optional[str] = None
    config_name: Optional[str] = None
    authenticated_user: Optional[str] = None
    assumed_role: Optional[str] = None
    authenticated_roles: Optional[list] = None
    input: Optional[Dict[str, Any]] = None
    output: Optional[Any] = None
    error: Optional[BaseException] = None
    created_at: Optional[int] = None
    updated_at: Optional[int] = None
    queue_name: Optional[str] = None
    executor_id: Optional[str] = None
    app_version: Optional[str] = None
    app_id: Optional[str] = None
    recovery_attempts: Optional[int] = None
    workflow_timeout_ms: Optional[int] = None
    workflow_deadline_epoch_ms: Optional[int] = None
    deduplication_id: Optional[str] = None
    priority: Optional[int] = None
    queue_partition_key: Optional[str] = None
    forked_from: Optional[str] = None
    dequeued_at: Optional[int] = None
    owner_xid: Optional[str] = None


def status_from_row(row: tuple, load_input: bool = True, load_output: bool = True) -> WorkflowStatus:
    """Build a WorkflowStatus from ``_sql.STATUS_COLUMNS`` order."""
    inputs = None
    if load_input and row[20] is not None:
        try:
            args, kwargs = ser.deserialize_args(row[20])
            inputs = {"args": args, "kwargs": kwargs}
        except Exception:  # noqa: BLE001 - listing must not fail on one odd row
            inputs = None
    output = error = None
    if load_output:
        try:
            output = ser.deserialize(row[9]) if row[9] is not None else None
        except Exception:  # noqa: BLE001
            output = None
        error = ser.deserialize_exception(row[10]) if row[10] is not None else None
    return WorkflowStatus(
        workflow_id=row[0], status=row[1], name=row[2], class_name=row[3], config_name=row[4],
        authenticated_user=row[5], assumed_role=row[6],
        authenticated_roles=json.loads(row[7]) if row[7] else None,
        input=inputs, output=output, error=error, executor_id=row[11], app_version=row[12],
        app_id=row[13], created_at=row[14], updated_at=row[15], recovery_attempts=row[16],
        queue_name=row[17], workflow_timeout_ms=row[18], workflow_deadline_epoch_ms=row[19],
        dequeued_at=row[21], deduplication_id=row[22], priority=row[23],
        queue_partition_key=row[24], forked_from=row[25], owner_xid=row[26],
    )


class WorkflowHandle(Generic[R]):
    """A reference to a started workflow: its id, status and (awaited) result."""

    def __init__(self, rt: "Runtime", workflow_id: str) -> None:
        self._rt = rt
        self.workflow_id = workflow_id

    def get_workflow_id(self) -> str:
        return self.workflow_id

    def get_result(self, *, polling_interval_sec: float = 1.0, timeout: Optional[float] = None) -> R:
        """Block until the workflow ends; return its output or re-raise its exception."""
        return self._rt.engine.run(_core.await_result(self._rt, self.workflow_id, timeout))

    def get_status(self) -> WorkflowStatus:
        row = self._rt.engine.run(self._rt.sysdb.get_status_row(self.workflow_id))
        if row is None:
            from dbos_queue.error import DBOSNonExistentWorkflowError

            raise DBOSNonExistentWorkflowError(self.workflow_id)
        return status_from_row(row)

    def __repr__(self) -> str:
        return f"WorkflowHandle({self.workflow_id!r})"


class WorkflowHandleAsync(Generic[R]):
    """The async twin of :class:`WorkflowHandle`."""

    def __init__(self, rt: "Runtime", workflow_id: str) -> None:
        self._rt = rt
        self.workflow_id = workflow_id

    def get_workflow_id(self) -> str:
        return self.workflow_id

    async def get_result(self, *, polling_interval_sec: float = 1.0,
                         timeout: Optional[float] = None) -> R:
        return await self._rt.engine.arun(_core.await_result(self._rt, self.workflow_id, timeout))

    async def get_status(self) -> WorkflowStatus:
        row = await self._rt.engine.arun(self._rt.sysdb.get_status_row(self.workflow_id))
        if row is None:
            from dbos_queue.error import DBOSNonExistentWorkflowError

            raise DBOSNonExistentWorkflowError(self.workflow_id)
        return status_from_row(row)
