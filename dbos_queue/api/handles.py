"""Workflow status records and handles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, cast

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
        return self._rt.engine.run(_core.await_result(as_host(self._rt), self.workflow_id, timeout))

    def get_status(self) -> WorkflowStatus:
        """Read the workflow's current status record (raises if no such workflow)."""
        row = self._rt.engine.run(self._rt.sysdb.get_status_row(self.workflow_id))
        if row is None:
            from dbos_queue.error import DBOSNonExistentWorkflowError

            raise DBOSNonExistentWorkflowError(self.workflow_id)
        return status_from_row(row)

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
        return await self._rt.engine.arun(
            _core.await_result(as_host(self._rt), self.workflow_id, timeout)
        )

    async def get_status(self) -> WorkflowStatus:
        """Read the workflow's current status record (raises if no such workflow)."""
        row = await self._rt.engine.arun(self._rt.sysdb.get_status_row(self.workflow_id))
        if row is None:
            from dbos_queue.error import DBOSNonExistentWorkflowError

            raise DBOSNonExistentWorkflowError(self.workflow_id)
        return status_from_row(row)
