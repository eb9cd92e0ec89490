"""Errors about one workflow: its id, its function, its recovery, its end as a waiter
sees it, and the fenced ownership of its execution.
"""

from __future__ import annotations

from typing import Any

from dbos_queue.error.base import DBOSBaseException, DBOSErrorCode, DBOSException, rebuild


class DBOSConflictingWorkflowError(DBOSException):
    """A workflow id was reused for a different function."""

    def __init__(self, workflow_id: str, message: str | None = None):
        self.workflow_id = workflow_id
        super().__init__(
            f"Conflicting workflow invocation with the same ID ({workflow_id}): {message}",
            DBOSErrorCode.ConflictingWorkflowError.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSRecoveryError(DBOSException):
    """Recovering a workflow failed (DBOS's RecoveryError, code 2)."""

    def __init__(self, workflow_id: str, message: str | None = None):
        super().__init__(
            f"Recovery error for workflow ID {workflow_id}: {message}",
            DBOSErrorCode.RecoveryError.value,
        )


class DBOSWorkflowFunctionNotFoundError(DBOSException):
    """A stored workflow names a function this process has not registered."""

    def __init__(self, workflow_id: str, message: str | None = None):
        super().__init__(
            f"Workflow function not found for workflow ID {workflow_id}: {message}",
            DBOSErrorCode.WorkflowFunctionNotFound.value,
        )


class DBOSNonExistentWorkflowError(DBOSException):
    """No workflow row has this id. ``destination`` says what the id was used as
    (DBOS: ``"target"``, ``"`send` destination"``); one argument means ``"target"``."""

    def __init__(self, destination: str, destination_id: str | None = None):
        if destination_id is None:  # the one-argument form: (workflow id)
            destination, destination_id = "target", destination
        self.destination = destination
        self.destination_id = destination_id
        self.workflow_id = destination_id
        super().__init__(
            f"Non-existent {destination} workflow ID: {destination_id}",
            DBOSErrorCode.NonExistentWorkflowError.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.destination, self.destination_id))


class MaxRecoveryAttemptsExceededError(DBOSException):
    """A workflow was started or recovered more often than its limit allows."""

    def __init__(self, wf_id: str, max_retries: int | None = None):
        self.workflow_id = wf_id
        self.max_retries = max_retries
        limit = "its maximum" + (f" of {max_retries}" if max_retries is not None else " number of")
        super().__init__(
            f"Workflow {wf_id} has exceeded {limit} execution or "
            "recovery attempts. Further attempts to execute or recover it will fail.",
            DBOSErrorCode.MaxRecoveryAttemptsExceeded.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.workflow_id, self.max_retries))


class DBOSQueueDeduplicatedError(DBOSException):
    """An enqueue was refused: its deduplication id is held by a live workflow of the queue."""

    def __init__(self, workflow_id: str, queue_name: str, deduplication_id: str):
        self.workflow_id = workflow_id
        self.queue_name = queue_name
        self.deduplication_id = deduplication_id
        super().__init__(
            f"Workflow {workflow_id} was deduplicated due to an existing workflow in queue "
            f"{queue_name} with deduplication ID {deduplication_id}.",
            DBOSErrorCode.QueueDeduplicated.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSAwaitedWorkflowCancelledError(DBOSException):
    """The workflow being waited on was cancelled, so it has no result."""

    def __init__(self, workflow_id: str):
        self.workflow_id = workflow_id
        super().__init__(
            f"Awaited workflow {workflow_id} was cancelled",
            DBOSErrorCode.AwaitedWorkflowCancelled.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded(DBOSException):
    """The workflow being waited on was dead-lettered after too many recovery attempts."""

    def __init__(self, workflow_id: str):
        self.workflow_id = workflow_id
        super().__init__(
            f"Awaited workflow {workflow_id} exceeded its maximum recovery attempts",
            DBOSErrorCode.AwaitedWorkflowMaxRecoveryAttemptsExceeded.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSWorkflowCancelledError(DBOSBaseException):
    """Raised inside a cancelled workflow at its next step; not catchable as Exception."""

    def __init__(self, msg: str):
        super().__init__(msg, DBOSErrorCode.WorkflowCancelled.value)


class DBOSWorkflowConflictIDError(DBOSBaseException):
    """A workflow id is already taken (DBOS's ConflictingIDError, code 1)."""

    def __init__(self, workflow_id: str):
        super().__init__(
            f"Conflicting workflow ID {workflow_id}",
            DBOSErrorCode.ConflictingIDError.value,
        )


class DBOSOwnershipLostError(DBOSBaseException):
    """This process no longer owns the workflow (another worker took it over).

    Raised at the refused write; the local execution stops and leaves the
    workflow to its new owner.
    """

    def __init__(self, workflow_id: str):
        self.workflow_id = workflow_id
        super().__init__(
            f"Workflow {workflow_id} is now owned by another execution; this write was refused",
            DBOSErrorCode.OwnershipLost.value,
        )


class DBOSWorkflowIDInUseError(DBOSException):
    """A start with ``workflow_id_reuse_policy='reject'`` found its id in use."""

    def __init__(self, workflow_id: str, workflow_status: str = "", workflow_name: str = ""):
        self.workflow_id = workflow_id
        # Not named ``status``: portable serialization would take it for the error's code.
        self.workflow_status = workflow_status
        self.workflow_name = workflow_name
        super().__init__(
            f"Workflow ID {workflow_id} is already in use by workflow {workflow_name} "
            f"with status {workflow_status}.",
            DBOSErrorCode.WorkflowIDInUse.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.workflow_id, self.workflow_status, self.workflow_name))


def is_workflow_id_in_use_error(e: BaseException) -> bool:
    """True if ``e`` is a workflow-id-in-use refusal, also in a form read back from another
    language's (portable) record, which keeps only the class name."""
    if getattr(e, "dbos_error_code", None) == DBOSErrorCode.WorkflowIDInUse.value:
        return True
    return (
        type(e).__name__ == "PortableWorkflowError"
        and getattr(e, "name", None) == DBOSWorkflowIDInUseError.__name__
    )
