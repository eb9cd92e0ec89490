"""``DBOSClient``'s management methods (DBOS 3.4.0's): cancel, resume, fork, rewind, delete,
delay, attributes, ``wait_first``, ``check_connection`` and ``rename_application``.

Each is the facade's operation (``ops.management`` / ``ops.messages``) run on the
client's own engine against its system database; nothing is recorded as a step (a
client is not a workflow). The methods ``DBOS`` has too are built from ``api.specs``
(``api.twin``); ``shard_key`` is accepted and routes nothing.
"""

from __future__ import annotations

from typing import Any

from dbos_queue.api import client_specs, specs
from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.invoke import fork_options
from dbos_queue.api.twin import (
    ON_CLIENT,
    RESULT_HANDLE,
    TARGET_HANDLE,
    TARGET_HANDLES,
    twins,
    with_options,
)
from dbos_queue.db import sql as _sql
from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import SystemDatabase
from dbos_queue.error import DBOSNonExistentWorkflowError
from dbos_queue.ops import messages as _messages


class ClientManagement:
    """Mixed into ``DBOSClient``."""

    engine: Engine
    sysdb: SystemDatabase

    def _run(self, coro: Any) -> Any:
        return self.engine.run(coro)

    async def _arun(self, coro: Any) -> Any:
        return await self.engine.arun(coro)

    async def _probe(self) -> None:
        async with self.engine.connection() as conn:  # no retry: report the failure now
            await conn.execute(_sql.CHECK_CONNECTION)

    def check_connection(self) -> None:
        """Run a trivial query; raise when the system database cannot be reached."""
        self._run(self._probe())

    async def check_connection_async(self) -> None:
        """``check_connection`` from async code."""
        await self._arun(self._probe())

    def retrieve_workflow(
        self, workflow_id: str, existing_workflow: bool = True, *, shard_key: str | None = None
    ) -> WorkflowHandle[Any]:
        """A handle to a workflow (raises for an unknown id unless ``existing_workflow=False``)."""
        if existing_workflow and self._run(self.sysdb.get_status_row(workflow_id)) is None:
            raise DBOSNonExistentWorkflowError("target", workflow_id)
        return WorkflowHandle(self, workflow_id)

    async def retrieve_workflow_async(
        self, workflow_id: str, *, shard_key: str | None = None
    ) -> WorkflowHandleAsync[Any]:
        """``retrieve_workflow`` from async code."""
        if await self._arun(self.sysdb.get_status_row(workflow_id)) is None:
            raise DBOSNonExistentWorkflowError("target", workflow_id)
        return WorkflowHandleAsync(self, workflow_id)

    def wait_first(
        self, handles: list[WorkflowHandle[Any]], *, polling_interval_sec: float = 1.0
    ) -> WorkflowHandle[Any]:
        """The handle of the first of these workflows to leave PENDING/ENQUEUED/DELAYED."""
        ids = _messages.check_handles(handles)
        return handles[ids.index(self._run(_messages.wait_first(self, ids, polling_interval_sec)))]

    async def wait_first_async(
        self, handles: list[WorkflowHandleAsync[Any]], *, polling_interval_sec: float = 1.0
    ) -> WorkflowHandleAsync[Any]:
        """``wait_first`` from async code."""
        ids = _messages.check_handles(handles)
        done = await self._arun(_messages.wait_first(self, ids, polling_interval_sec))
        return handles[ids.index(done)]

    cancel_workflow, cancel_workflow_async = twins(specs.cancel_workflow, ON_CLIENT)
    cancel_workflows, cancel_workflows_async = twins(specs.cancel_workflows, ON_CLIENT)
    resume_workflow, resume_workflow_async = twins(specs.resume_workflow, ON_CLIENT, TARGET_HANDLE)
    resume_workflows, resume_workflows_async = twins(
        specs.resume_workflows, ON_CLIENT, TARGET_HANDLES
    )
    fork_workflow, fork_workflow_async = twins(
        with_options(specs.fork_workflow, fork_options), ON_CLIENT, RESULT_HANDLE
    )
    rewind_workflow, rewind_workflow_async = twins(specs.rewind_workflow, ON_CLIENT, TARGET_HANDLE)
    delete_workflow, delete_workflow_async = twins(specs.delete_workflow, ON_CLIENT)
    delete_workflows, delete_workflows_async = twins(specs.delete_workflows, ON_CLIENT)
    set_workflow_delay, set_workflow_delay_async = twins(specs.set_workflow_delay, ON_CLIENT)
    update_workflow_attributes, update_workflow_attributes_async = twins(
        specs.update_workflow_attributes, ON_CLIENT
    )
    rename_application, rename_application_async = twins(client_specs.rename_application, ON_CLIENT)
