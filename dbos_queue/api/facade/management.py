"""The ``DBOS`` facade: cancelling, resuming, forking, rewinding, garbage collection.

Called from a workflow, each of these is one recorded step (DBOS's step names), so a
recovered workflow does not act twice. ``shard_key`` is accepted for DBOS's
signatures and routes nothing (the system database is not sharded).
"""

from __future__ import annotations

from typing import Any

from dbos_queue.api.facade.recorded import Op, arecorded, discarding, recorded
from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.invoke import require_runtime
from dbos_queue.ops import management as mgmt


def _fork_op(workflow_id: str, start_step: int, **options: Any) -> Op:
    from dbos_queue.engine.context import take_workflow_id

    new_id = take_workflow_id()  # SetWorkflowID names the fork
    return lambda rt: mgmt.fork(rt, workflow_id, start_step, new_id=new_id, **options)


def _rewind_op(workflow_id: str, start_step: int | None, **options: Any) -> Op:
    step = 1 if start_step is None else start_step
    # A runtime's rewind also clears its application database's checkpoints (DBOS 3.4).
    return lambda rt: discarding(mgmt.rewind(rt, workflow_id, step, app_outputs=True, **options))


class Management:
    """``DBOS`` class methods: cancel, resume, fork, rewind, garbage collection."""

    @classmethod
    def cancel_workflow(
        cls, workflow_id: str, *, cancel_children: bool = False, shard_key: str | None = None
    ) -> None:
        """Cancel: a queued workflow never runs; a running one stops at its next step."""
        cls.cancel_workflows([workflow_id], cancel_children=cancel_children)

    @classmethod
    async def cancel_workflow_async(
        cls, workflow_id: str, *, cancel_children: bool = False, shard_key: str | None = None
    ) -> None:
        """``cancel_workflow`` from async code."""
        await cls.cancel_workflows_async([workflow_id], cancel_children=cancel_children)

    @classmethod
    def cancel_workflows(
        cls,
        workflow_ids: list[str],
        *,
        cancel_children: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """Cancel several workflows (with ``cancel_children``, everything they started)."""
        recorded(
            "DBOS.cancelWorkflow",
            lambda rt: discarding(mgmt.cancel(rt, list(workflow_ids), cancel_children)),
        )

    @classmethod
    async def cancel_workflows_async(
        cls,
        workflow_ids: list[str],
        *,
        cancel_children: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """``cancel_workflows`` from async code."""
        await arecorded(
            "DBOS.cancelWorkflow",
            lambda rt: discarding(mgmt.cancel(rt, list(workflow_ids), cancel_children)),
        )

    @classmethod
    def resume_workflow(
        cls, workflow_id: str, *, queue_name: str | None = None, shard_key: str | None = None
    ) -> WorkflowHandle[Any]:
        """Continue a workflow from its last recorded step (once); returns its handle."""
        recorded(
            "DBOS.resumeWorkflow", lambda rt: discarding(mgmt.resume(rt, workflow_id, queue_name))
        )
        return WorkflowHandle(require_runtime(), workflow_id)

    @classmethod
    async def resume_workflow_async(
        cls, workflow_id: str, *, queue_name: str | None = None, shard_key: str | None = None
    ) -> WorkflowHandleAsync[Any]:
        """``resume_workflow`` from async code."""
        await arecorded(
            "DBOS.resumeWorkflow", lambda rt: discarding(mgmt.resume(rt, workflow_id, queue_name))
        )
        return WorkflowHandleAsync(require_runtime(), workflow_id)

    @classmethod
    def resume_workflows(
        cls,
        workflow_ids: list[str],
        *,
        queue_name: str | None = None,
        shard_key: str | None = None,
    ) -> list[WorkflowHandle[Any]]:
        """Resume several workflows at once; an unknown id raises before any is resumed."""
        recorded(
            "DBOS.resumeWorkflow",
            lambda rt: discarding(mgmt.resume_many(rt, workflow_ids, queue_name)),
        )
        return [WorkflowHandle(require_runtime(), wf_id) for wf_id in workflow_ids]

    @classmethod
    async def resume_workflows_async(
        cls,
        workflow_ids: list[str],
        *,
        queue_name: str | None = None,
        shard_key: str | None = None,
    ) -> list[WorkflowHandleAsync[Any]]:
        """``resume_workflows`` from async code."""
        await arecorded(
            "DBOS.resumeWorkflow",
            lambda rt: discarding(mgmt.resume_many(rt, workflow_ids, queue_name)),
        )
        return [WorkflowHandleAsync(require_runtime(), wf_id) for wf_id in workflow_ids]

    @classmethod
    def fork_workflow(
        cls,
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
        """Start a copy of a workflow that re-runs from ``start_step`` (earlier steps reused).

        The fork goes on ``queue_name`` (default: the internal queue) with
        ``queue_partition_key``, runs under ``application_version`` and ``timeout_seconds``
        when given, and uses ``replacement_children`` ({old child id: new}) for the
        children its copied steps started.
        """
        new_id = recorded(
            "DBOS.forkWorkflow",
            _fork_op(
                workflow_id,
                start_step,
                app_version=application_version,
                queue_name=queue_name,
                queue_partition_key=queue_partition_key,
                replacement_children=replacement_children,
                timeout_seconds=timeout_seconds,
            ),
        )
        return WorkflowHandle(require_runtime(), new_id)

    @classmethod
    async def fork_workflow_async(
        cls,
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
        new_id = await arecorded(
            "DBOS.forkWorkflow",
            _fork_op(
                workflow_id,
                start_step,
                app_version=application_version,
                queue_name=queue_name,
                queue_partition_key=queue_partition_key,
                replacement_children=replacement_children,
                timeout_seconds=timeout_seconds,
            ),
        )
        return WorkflowHandleAsync(require_runtime(), new_id)

    @classmethod
    def rewind_workflow(
        cls,
        workflow_id: str,
        *,
        start_step: int | None = None,
        application_version: str | None = None,
        queue_name: str | None = None,
        queue_partition_key: str | None = None,
        shard_key: str | None = None,
    ) -> WorkflowHandle[Any]:
        """Re-run a finished workflow in place (same id) from ``start_step`` (default 1)."""
        recorded(
            "DBOS.rewindWorkflow",
            _rewind_op(
                workflow_id,
                start_step,
                app_version=application_version,
                queue_name=queue_name,
                queue_partition_key=queue_partition_key,
            ),
        )
        return WorkflowHandle(require_runtime(), workflow_id)

    @classmethod
    async def rewind_workflow_async(
        cls,
        workflow_id: str,
        *,
        start_step: int | None = None,
        application_version: str | None = None,
        queue_name: str | None = None,
        queue_partition_key: str | None = None,
        shard_key: str | None = None,
    ) -> WorkflowHandleAsync[Any]:
        """``rewind_workflow`` from async code."""
        await arecorded(
            "DBOS.rewindWorkflow",
            _rewind_op(
                workflow_id,
                start_step,
                app_version=application_version,
                queue_name=queue_name,
                queue_partition_key=queue_partition_key,
            ),
        )
        return WorkflowHandleAsync(require_runtime(), workflow_id)

    @classmethod
    def garbage_collect(
        cls, *, older_than_sec: float | None = None, keep_rows: int | None = None
    ) -> int:
        """Delete finished workflows by age and/or beyond the newest ``keep_rows``."""
        return require_runtime().engine.run(
            mgmt.garbage_collect(
                require_runtime(), older_than_sec=older_than_sec, keep_rows=keep_rows
            )
        )
