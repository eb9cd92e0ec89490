"""``DBOSClient``'s management methods (DBOS 3.4.0's): cancel, resume, fork, rewind, delete,
delay, attributes, ``wait_first``, ``check_connection`` and ``rename_application``.

Each is the facade's operation (``ops.management`` / ``ops.messages``) run on the
client's own engine against its system database; nothing is recorded as a step (a
client is not a workflow). ``shard_key`` is accepted and routes nothing.
"""

from __future__ import annotations

from typing import Any

from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.db import sql as _sql
from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import SystemDatabase
from dbos_queue.error import DBOSNonExistentWorkflowError
from dbos_queue.ops import management as mgmt
from dbos_queue.ops import messages as _messages
from dbos_queue.ops import rename as _rename


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

    def cancel_workflow(
        self, workflow_id: str, *, cancel_children: bool = False, shard_key: str | None = None
    ) -> None:
        """Cancel a workflow (a running one stops at its next step)."""
        self._run(mgmt.cancel(self, [workflow_id], cancel_children))

    async def cancel_workflow_async(
        self, workflow_id: str, *, cancel_children: bool = False, shard_key: str | None = None
    ) -> None:
        """``cancel_workflow`` from async code."""
        await self._arun(mgmt.cancel(self, [workflow_id], cancel_children))

    def cancel_workflows(
        self,
        workflow_ids: list[str],
        *,
        cancel_children: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """Cancel several workflows (with ``cancel_children``, all they started)."""
        self._run(mgmt.cancel(self, list(workflow_ids), cancel_children))

    async def cancel_workflows_async(
        self,
        workflow_ids: list[str],
        *,
        cancel_children: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """``cancel_workflows`` from async code."""
        await self._arun(mgmt.cancel(self, list(workflow_ids), cancel_children))

    def resume_workflow(
        self, workflow_id: str, *, queue_name: str | None = None, shard_key: str | None = None
    ) -> WorkflowHandle[Any]:
        """Continue a workflow from its last recorded step, on ``queue_name`` if given."""
        self._run(mgmt.resume(self, workflow_id, queue_name))
        return WorkflowHandle(self, workflow_id)

    async def resume_workflow_async(
        self, workflow_id: str, *, queue_name: str | None = None, shard_key: str | None = None
    ) -> WorkflowHandleAsync[Any]:
        """``resume_workflow`` from async code."""
        await self._arun(mgmt.resume(self, workflow_id, queue_name))
        return WorkflowHandleAsync(self, workflow_id)

    def resume_workflows(
        self,
        workflow_ids: list[str],
        *,
        queue_name: str | None = None,
        shard_key: str | None = None,
    ) -> list[WorkflowHandle[Any]]:
        """Resume several workflows; an unknown id raises before any is resumed."""
        self._run(mgmt.resume_many(self, workflow_ids, queue_name))
        return [WorkflowHandle(self, w) for w in workflow_ids]

    async def resume_workflows_async(
        self,
        workflow_ids: list[str],
        *,
        queue_name: str | None = None,
        shard_key: str | None = None,
    ) -> list[WorkflowHandleAsync[Any]]:
        """``resume_workflows`` from async code."""
        await self._arun(mgmt.resume_many(self, workflow_ids, queue_name))
        return [WorkflowHandleAsync(self, w) for w in workflow_ids]

    def fork_workflow(
        self,
        workflow_id: str,
        start_step: int,
        *,
        application_version: str | None = None,
        queue_name: str | None = None,
        queue_partition_key: str | None = None,
        replacement_children: dict[str, str] | None = None,
        timeout_seconds: float | None = None,
        shard_key: str | None = None,
    ) -> WorkflowHandle[Any]:
        """A copy of the workflow that re-runs from ``start_step`` (see ``DBOS.fork_workflow``)."""
        new_id = self._run(
            mgmt.fork(
                self,
                workflow_id,
                start_step,
                app_version=application_version,
                queue_name=queue_name,
                queue_partition_key=queue_partition_key,
                replacement_children=replacement_children,
                timeout_seconds=timeout_seconds,
            )
        )
        return WorkflowHandle(self, new_id)

    async def fork_workflow_async(
        self,
        workflow_id: str,
        start_step: int,
        *,
        application_version: str | None = None,
        queue_name: str | None = None,
        queue_partition_key: str | None = None,
        replacement_children: dict[str, str] | None = None,
        timeout_seconds: float | None = None,
        shard_key: str | None = None,
    ) -> WorkflowHandleAsync[Any]:
        """``fork_workflow`` from async code."""
        new_id = await self._arun(
            mgmt.fork(
                self,
                workflow_id,
                start_step,
                app_version=application_version,
                queue_name=queue_name,
                queue_partition_key=queue_partition_key,
                replacement_children=replacement_children,
                timeout_seconds=timeout_seconds,
            )
        )
        return WorkflowHandleAsync(self, new_id)

    def rewind_workflow(
        self,
        workflow_id: str,
        *,
        start_step: int | None = None,
        application_version: str | None = None,
        queue_name: str | None = None,
        queue_partition_key: str | None = None,
        shard_key: str | None = None,
    ) -> WorkflowHandle[Any]:
        """Re-run a finished workflow in place from ``start_step`` (default 1)."""
        self._run(
            mgmt.rewind(
                self,
                workflow_id,
                1 if start_step is None else start_step,
                app_version=application_version,
                queue_name=queue_name,
                queue_partition_key=queue_partition_key,
            )
        )
        return WorkflowHandle(self, workflow_id)

    async def rewind_workflow_async(
        self,
        workflow_id: str,
        *,
        start_step: int | None = None,
        application_version: str | None = None,
        queue_name: str | None = None,
        queue_partition_key: str | None = None,
        shard_key: str | None = None,
    ) -> WorkflowHandleAsync[Any]:
        """``rewind_workflow`` from async code."""
        await self._arun(
            mgmt.rewind(
                self,
                workflow_id,
                1 if start_step is None else start_step,
                app_version=application_version,
                queue_name=queue_name,
                queue_partition_key=queue_partition_key,
            )
        )
        return WorkflowHandleAsync(self, workflow_id)

    def delete_workflow(
        self, workflow_id: str, *, delete_children: bool = False, shard_key: str | None = None
    ) -> None:
        """Delete a workflow and all it recorded (with ``delete_children``, its children)."""
        self._run(mgmt.delete(self, [workflow_id], delete_children))

    async def delete_workflow_async(
        self, workflow_id: str, *, delete_children: bool = False, shard_key: str | None = None
    ) -> None:
        """``delete_workflow`` from async code."""
        await self._arun(mgmt.delete(self, [workflow_id], delete_children))

    def delete_workflows(
        self,
        workflow_ids: list[str],
        *,
        delete_children: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """Delete several workflows (and, with ``delete_children``, their descendants)."""
        self._run(mgmt.delete(self, list(workflow_ids), delete_children))

    async def delete_workflows_async(
        self,
        workflow_ids: list[str],
        *,
        delete_children: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """``delete_workflows`` from async code."""
        await self._arun(mgmt.delete(self, list(workflow_ids), delete_children))

    def set_workflow_delay(
        self,
        workflow_id: str,
        *,
        delay_seconds: float | None = None,
        delay_until_epoch_ms: int | None = None,
        shard_key: str | None = None,
    ) -> None:
        """Move a DELAYED workflow's start (relative or absolute; exactly one)."""
        self._run(
            mgmt.set_delay(
                self,
                workflow_id,
                delay_seconds=delay_seconds,
                delay_until_epoch_ms=delay_until_epoch_ms,
            )
        )

    async def set_workflow_delay_async(
        self,
        workflow_id: str,
        *,
        delay_seconds: float | None = None,
        delay_until_epoch_ms: int | None = None,
        shard_key: str | None = None,
    ) -> None:
        """``set_workflow_delay`` from async code."""
        await self._arun(
            mgmt.set_delay(
                self,
                workflow_id,
                delay_seconds=delay_seconds,
                delay_until_epoch_ms=delay_until_epoch_ms,
            )
        )

    def update_workflow_attributes(
        self,
        workflow_id: str,
        attributes: dict[str, Any] | None,
        *,
        merge: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """Replace (None clears) or, with ``merge``, update a workflow's attributes."""
        self._run(mgmt.update_attributes(self, workflow_id, attributes, merge=merge))

    async def update_workflow_attributes_async(
        self,
        workflow_id: str,
        attributes: dict[str, Any] | None,
        *,
        merge: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """``update_workflow_attributes`` from async code."""
        await self._arun(mgmt.update_attributes(self, workflow_id, attributes, merge=merge))

    def rename_application(
        self,
        old_name: str | None,
        new_name: str,
        *,
        batch_size: int | None = _rename.DEFAULT_RENAME_BATCH_SIZE,
        adopt_unclaimed_rows: bool = False,
    ) -> _rename.ApplicationRowCounts:
        """Give ``new_name`` the rows ``old_name`` owns, and with ``adopt_unclaimed_rows``
        the rows nobody owns (``old_name=None``: only those). Do not run it while the
        renamed application runs. Finished workflows move ``batch_size`` at a time (None:
        in one transaction). Returns the rows moved, by table."""
        return self._run(
            _rename.rename_application(
                self,
                old_name,
                new_name,
                batch_size=batch_size,
                adopt_unclaimed_rows=adopt_unclaimed_rows,
            )
        )

    async def rename_application_async(
        self,
        old_name: str | None,
        new_name: str,
        *,
        batch_size: int | None = _rename.DEFAULT_RENAME_BATCH_SIZE,
        adopt_unclaimed_rows: bool = False,
    ) -> _rename.ApplicationRowCounts:
        """``rename_application`` from async code."""
        return await self._arun(
            _rename.rename_application(
                self,
                old_name,
                new_name,
                batch_size=batch_size,
                adopt_unclaimed_rows=adopt_unclaimed_rows,
            )
        )
