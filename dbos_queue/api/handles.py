"""Workflow status records and handles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import SystemDatabase
from dbos_queue.engine import core as _core
from dbos_queue.model.status import WorkflowStatus, WorkflowStatusString, status_from_row

if TYPE_CHECKING:
    from dbos_queue.engine.host import Host


class SystemHost(Protocol):
    """What reads the system database for a handle or queue: the runtime or a DBOSClient."""

    @property
    def engine(self) -> Engine:
        """The engine loop its statements run on."""
        ...

    @property
    def sysdb(self) -> SystemDatabase:
        """The system database."""
        ...


def as_host(host: SystemHost) -> Host:
    """``host`` for engine functions that read only its engine and system database
    (await_result, send, get_event, stream readers), which a DBOSClient has too."""
    return cast("Host", host)


# How a handle of the launched process reads its status, as DBOS's handles do: through
# ``DBOS.get_workflow_status`` (a recorded "DBOS.getStatus" step when called from a
# workflow). The facade sets these (api/facade/running.py); a DBOSClient's handles, whose
# host does not record steps, read the row directly.
recorded_status: Callable[[str], WorkflowStatus | None] | None = None
recorded_status_async: Callable[[str], Awaitable[WorkflowStatus | None]] | None = None
# ... and waits for its result through ``DBOS.get_result`` (a "DBOS.getResult" step).
recorded_result: Callable[[str], Any] | None = None
recorded_result_async: Callable[[str], Awaitable[Any]] | None = None


def _records(host: object) -> bool:
    return bool(getattr(host, "records_steps", False))


def _existing(workflow_id: str, status: WorkflowStatus | None) -> WorkflowStatus:
    if status is None:
        from dbos_queue.error import DBOSNonExistentWorkflowError

        raise DBOSNonExistentWorkflowError(workflow_id)
    return status


__all__ = [
    "SystemHost",
    "WorkflowHandle",
    "WorkflowHandleAsync",
    "WorkflowStatus",
    "WorkflowStatusString",
    "as_host",
    "status_from_row",
]

R = TypeVar("R")


class WorkflowHandle(Generic[R]):
    """A reference to a started workflow: its id, status and (awaited) result."""

    shard_key: str | None = None  # DBOS's attribute; the system database is not sharded

    def __init__(self, rt: SystemHost, workflow_id: str) -> None:
        self._rt = rt
        self.workflow_id = workflow_id

    def get_workflow_id(self) -> str:
        """The id of the workflow this handle refers to."""
        return self.workflow_id

    def get_result(self, *, polling_interval_sec: float = 1.0, timeout: float | None = None) -> R:
        """Block until the workflow ends; return its output or re-raise its exception."""
        if timeout is None and recorded_result is not None and _records(self._rt):
            return cast(R, recorded_result(self.workflow_id))
        return self._rt.engine.run(_core.await_result(as_host(self._rt), self.workflow_id, timeout))

    def get_status(self) -> WorkflowStatus:
        """Read the workflow's current status record (raises if no such workflow)."""
        if recorded_status is not None and _records(self._rt):
            return _existing(self.workflow_id, recorded_status(self.workflow_id))
        row = self._rt.engine.run(self._rt.sysdb.get_status_row(self.workflow_id))
        return _existing(self.workflow_id, status_from_row(row) if row is not None else None)

    def __repr__(self) -> str:
        return f"WorkflowHandle({self.workflow_id!r})"


class WorkflowHandleAsync(Generic[R]):
    """The async twin of :class:`WorkflowHandle`."""

    shard_key: str | None = None  # DBOS's attribute; the system database is not sharded

    def __init__(self, rt: SystemHost, workflow_id: str) -> None:
        self._rt = rt
        self.workflow_id = workflow_id

    def get_workflow_id(self) -> str:
        """The id of the workflow this handle refers to."""
        return self.workflow_id

    async def get_result(
        self, *, polling_interval_sec: float = 1.0, timeout: float | None = None
    ) -> R:
        """Wait for the workflow to end; return its output or re-raise its exception."""
        if timeout is None and recorded_result_async is not None and _records(self._rt):
            return cast(R, await recorded_result_async(self.workflow_id))
        return await self._rt.engine.arun(
            _core.await_result(as_host(self._rt), self.workflow_id, timeout)
        )

    async def get_status(self) -> WorkflowStatus:
        """Read the workflow's current status record (raises if no such workflow)."""
        if recorded_status_async is not None and _records(self._rt):
            return _existing(self.workflow_id, await recorded_status_async(self.workflow_id))
        row = await self._rt.engine.arun(self._rt.sysdb.get_status_row(self.workflow_id))
        return _existing(self.workflow_id, status_from_row(row) if row is not None else None)
