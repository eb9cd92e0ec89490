"""The ``DBOS`` facade: cancelling, resuming, forking, rewinding, garbage collection.

Called from a workflow, each of these is one recorded step (DBOS's step names), so a
recovered workflow does not act twice. The parameters and ops are ``api.specs``' (shared
with ``DBOSClient``); ``shard_key`` is accepted for DBOS's signatures and routes nothing
(the system database is not sharded).
"""

from __future__ import annotations

from typing import Any, cast

from dbos_queue.api import specs
from dbos_queue.api.facade.recorded import as_step_named
from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.invoke import fork_options, require_runtime
from dbos_queue.api.twin import TARGET_HANDLE, TARGET_HANDLES, Then, twins, with_options
from dbos_queue.ops import management as mgmt


def _rewind_options() -> dict[str, Any]:
    # A runtime's rewind also clears its application database's checkpoints (DBOS 3.4).
    return {"app_outputs": True}


def _fork_handle(_host: Any, new_id: str, _a: Any, _k: Any) -> WorkflowHandle[Any]:
    # As DBOS: the fork's handle comes from retrieve_workflow, whose status read is a
    # second recorded step ("DBOS.getStatus") when the fork is made from a workflow.
    from dbos_queue.api.facade.running import Running

    return Running.retrieve_workflow(new_id)


async def _fork_handle_async(_host: Any, new_id: str, _a: Any, _k: Any) -> WorkflowHandleAsync[Any]:
    from dbos_queue.api.facade.running import Running

    return await Running.retrieve_workflow_async(new_id)


# The async shape is awaited by the twin (api/twin.py): typed as the handle it gives.
_FORK_HANDLE: Then[str, WorkflowHandle[Any], WorkflowHandleAsync[Any]] = Then(
    _fork_handle, cast(Any, _fork_handle_async)
)
_CANCEL = as_step_named("DBOS.cancelWorkflow")
_RESUME = as_step_named("DBOS.resumeWorkflow")


class Management:
    """``DBOS`` class methods: cancel, resume, fork, rewind, garbage collection."""

    cancel_workflow, cancel_workflow_async = twins(specs.cancel_workflow, _CANCEL)
    cancel_workflows, cancel_workflows_async = twins(specs.cancel_workflows, _CANCEL)
    resume_workflow, resume_workflow_async = twins(specs.resume_workflow, _RESUME, TARGET_HANDLE)
    resume_workflows, resume_workflows_async = twins(
        specs.resume_workflows, _RESUME, TARGET_HANDLES
    )
    fork_workflow, fork_workflow_async = twins(
        with_options(specs.fork_workflow, fork_options),
        as_step_named("DBOS.forkWorkflow"),
        _FORK_HANDLE,
    )
    rewind_workflow, rewind_workflow_async = twins(
        with_options(specs.rewind_workflow, _rewind_options),
        as_step_named("DBOS.rewindWorkflow"),
        TARGET_HANDLE,
    )

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
