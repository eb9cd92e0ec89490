"""Every error dbos_queue raises, under DBOS's class names and codes.

Errors that user code must not swallow by accident (cancellation, a lost
ownership fence, an id conflict) derive from ``BaseException`` as in DBOS, so a
bare ``except Exception`` inside a workflow cannot hide them.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any


class DBOSErrorCode(Enum):
    """Numeric codes shared with DBOS."""

    ConflictingIDError = 1
    RecoveryError = 2
    InitializationError = 3
    WorkflowFunctionNotFound = 4
    NonExistentWorkflowError = 5
    MaxRecoveryAttemptsExceeded = 6
    MaxStepRetriesExceeded = 7
    NotAuthorized = 8
    ConflictingWorkflowError = 9
    WorkflowCancelled = 10
    UnexpectedStep = 11
    QueueDeduplicated = 12
    AwaitedWorkflowCancelled = 13
    AwaitedWorkflowMaxRecoveryAttemptsExceeded = 14
    PatchNondeterminism = 15
    StreamTimeout = 16
    StreamNondeterminism = 17
    StepTimeout = 18
    ConfigError = 20
    SerializationError = 21
    OwnershipLost = 22
    DatabaseUnavailable = 23
    QueryTimeout = 26
    WorkflowIDInUse = 27
    StepNondeterminism = 28


class DBOSException(Exception):
    """Base class of the errors user code may catch."""

    def __init__(self, message: str, dbos_error_code: int | None = None):
        self.message = message
        self.dbos_error_code = dbos_error_code
        super().__init__(message)

    def __str__(self) -> str:
        if self.dbos_error_code:
            return f"DBOS Error {self.dbos_error_code}: {self.message}"
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:  # keep pickling round-trips faithful
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSBaseException(BaseException):
    """Base class of the errors user code should not catch by accident."""

    def __init__(self, message: str, dbos_error_code: int | None = None):
        self.message = message
        self.dbos_error_code = dbos_error_code
        super().__init__(message)

    def __str__(self) -> str:
        if self.dbos_error_code:
            return f"DBOS Error {self.dbos_error_code}: {self.message}"
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSQueueSettingsError(DBOSException, ValueError):
    """Invalid queue settings. A ``ValueError``, as DBOS raises, and a ``DBOSException``."""


def _rebuild(
    cls: type[DBOSException] | type[DBOSBaseException], message: str, code: int | None
) -> BaseException:
    # Restores the fields without __init__: subclasses' __init__ take other arguments.
    exc = cls.__new__(cls)
    exc.message = message
    exc.dbos_error_code = code
    exc.args = (message,)
    return exc


class DBOSInitializationError(DBOSException):
    """DBOS could not start: bad configuration, unreachable database, wrong call order."""

    def __init__(self, message: str):
        super().__init__(message, DBOSErrorCode.InitializationError.value)


class DBOSConfigError(DBOSInitializationError):
    """A configuration value or key is wrong; the message says which and what to do."""


class DBOSDatabaseUnavailableError(DBOSInitializationError):
    """The system database could not be reached."""


class DBOSSerializationError(DBOSException, TypeError):
    """A value cannot be stored: its type is not supported by the configured format."""

    def __init__(self, message: str):
        DBOSException.__init__(self, message, DBOSErrorCode.SerializationError.value)


class DBOSConflictingWorkflowError(DBOSException):
    """A workflow id was reused for a different function."""

    def __init__(self, workflow_id: str, message: str | None = None):
        self.workflow_id = workflow_id
        super().__init__(
            f"Conflicting workflow invocation with the same ID ({workflow_id}): {message}",
            DBOSErrorCode.ConflictingWorkflowError.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


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


class DBOSNotAuthorizedError(DBOSException):
    """The caller lacks a role the workflow or step requires (HTTP 403)."""

    def __init__(self, msg: str):
        super().__init__(msg, DBOSErrorCode.NotAuthorized.value)
        self.status_code = 403


class DBOSMaxStepRetriesExceeded(DBOSException):
    """A step failed on every allowed attempt; ``errors`` holds each attempt's error."""

    def __init__(
        self, step_name: str, max_retries: int, errors: Sequence[BaseException] | None = None
    ):
        self.step_name = step_name
        self.max_retries = max_retries
        self.errors = list(errors or [])
        super().__init__(
            f"Step {step_name} has exceeded its maximum of {max_retries} retries",
            DBOSErrorCode.MaxStepRetriesExceeded.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_retries,
            (type(self), self.step_name, self.max_retries, self.message),
        )


def _rebuild_retries(
    cls: type[DBOSMaxStepRetriesExceeded], step_name: str, max_retries: int, message: str
) -> DBOSMaxStepRetriesExceeded:
    exc = cls.__new__(cls)
    exc.step_name, exc.max_retries, exc.errors = step_name, max_retries, []
    exc.message, exc.dbos_error_code = message, DBOSErrorCode.MaxStepRetriesExceeded.value
    exc.args = (message,)
    return exc


class DBOSUnexpectedStepError(DBOSException):
    """A replay reached a step recorded under another function's name: nondeterminism."""

    def __init__(self, workflow_id: str, step_id: int, expected_name: str, recorded_name: str):
        super().__init__(
            f"During execution of workflow {workflow_id} step {step_id}, function "
            f"{recorded_name} was recorded when {expected_name} was expected. Check that "
            "your workflow is deterministic.",
            DBOSErrorCode.UnexpectedStep.value,
        )


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
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSAwaitedWorkflowCancelledError(DBOSException):
    """The workflow being waited on was cancelled, so it has no result."""

    def __init__(self, workflow_id: str):
        self.workflow_id = workflow_id
        super().__init__(
            f"Awaited workflow {workflow_id} was cancelled",
            DBOSErrorCode.AwaitedWorkflowCancelled.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded(DBOSException):
    """The workflow being waited on was dead-lettered after too many recovery attempts."""

    def __init__(self, workflow_id: str):
        self.workflow_id = workflow_id
        super().__init__(
            f"Awaited workflow {workflow_id} exceeded its maximum recovery attempts",
            DBOSErrorCode.AwaitedWorkflowMaxRecoveryAttemptsExceeded.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSStreamTimeoutError(DBOSException):
    """No value arrived on a stream in time (or the stream ended before the offset)."""

    def __init__(self, workflow_id: str, key: str, timeout_seconds: float | None = None):
        self.workflow_id = workflow_id
        self.key = key
        self.timeout_seconds = timeout_seconds
        # No timeout: the stream ended without reaching the value, so none ever will.
        within = f" within {timeout_seconds} seconds" if timeout_seconds is not None else ""
        super().__init__(
            f"No value arrived on stream {key} of workflow {workflow_id}{within}",
            DBOSErrorCode.StreamTimeout.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.workflow_id, self.key, self.timeout_seconds))


class DBOSStreamNondeterminismError(DBOSException):
    """Two stream reads of one workflow ran at once: which records which value would
    depend on scheduling."""

    def __init__(self, workflow_id: str, key: str):
        self.workflow_id = workflow_id
        self.key = key
        super().__init__(
            f"Cannot deterministically read stream {key} in workflow {workflow_id}: another "
            "stream read in the same workflow is still in progress. Read streams from "
            "sequential workflow code, or from a step.",
            DBOSErrorCode.StreamNondeterminism.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.workflow_id, self.key))


class DBOSStepTimeoutError(DBOSException):
    """An async step ran longer than its ``timeout_seconds`` and was cancelled."""

    def __init__(self, step_name: str, timeout_seconds: float):
        self.step_name = step_name
        self.timeout_seconds = timeout_seconds
        super().__init__(
            f"Step {step_name} was cancelled after exceeding its timeout of "
            f"{timeout_seconds} seconds",
            DBOSErrorCode.StepTimeout.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.step_name, self.timeout_seconds))


class DBOSStepNondeterminismError(DBOSException):
    """One execution recorded the same step id twice with different results."""

    def __init__(self, workflow_id: str, step_id: int):
        self.inputs = (workflow_id, step_id)
        super().__init__(
            f"Step {step_id} of workflow {workflow_id} was recorded twice by the same "
            "execution with different results. Check that your workflow is deterministic.",
            DBOSErrorCode.StepNondeterminism.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self.inputs)


class DBOSPatchNondeterminismError(DBOSException):
    """``DBOS.patch_async`` raced other operations of its workflow, so where its marker
    lands (and so which branch a replay takes) would depend on task scheduling."""

    def __init__(self, workflow_id: str, patch_name: str, details: str):
        self.inputs = (workflow_id, patch_name, details)
        super().__init__(
            f"Cannot deterministically apply patch {patch_name} in workflow {workflow_id}: "
            f"{details}. Check that your workflow is deterministic.",
            DBOSErrorCode.PatchNondeterminism.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self.inputs)


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


class DBOSQueryTimeoutError(DBOSException):
    """An observability query ran past its statement timeout and was cancelled."""

    def __init__(self, timeout_seconds: float | str):
        self.timeout_seconds = timeout_seconds
        super().__init__(
            f"This query was cancelled after exceeding its {timeout_seconds:g}s statement timeout."
            if isinstance(timeout_seconds, (int, float))
            else str(timeout_seconds),  # older callers passed the message itself
            DBOSErrorCode.QueryTimeout.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.timeout_seconds,))


class DBOSQueueNotDeclaredError(DBOSException, LookupError):
    """An enqueue named a queue that no worker declared and ``dbos.queues`` does not hold;
    nothing was written (nothing would ever run it)."""

    def __init__(self, queue_name: str):
        self.queue_name = queue_name
        super().__init__(
            f"Queue {queue_name!r} is not declared by any worker; nothing was enqueued. "
            f"Declare it with Queue({queue_name!r}) or DBOS.register_queue({queue_name!r}) in "
            "the application whose workers run it (a launched worker stores it in dbos.queues; "
            "`dbos-queue queue list` shows the stored queues), then enqueue again."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.queue_name,))


def is_workflow_id_in_use_error(e: BaseException) -> bool:
    """True if ``e`` is a workflow-id-in-use refusal, also in a form read back from another
    language's (portable) record, which keeps only the class name."""
    if getattr(e, "dbos_error_code", None) == DBOSErrorCode.WorkflowIDInUse.value:
        return True
    return (
        type(e).__name__ == "PortableWorkflowError"
        and getattr(e, "name", None) == DBOSWorkflowIDInUseError.__name__
    )


# Every DBOS* error and MaxRecoveryAttemptsExceededError: what DBOS's module exports.
__all__ = [
    "DBOSAwaitedWorkflowCancelledError",
    "DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded",
    "DBOSBaseException",
    "DBOSConfigError",
    "DBOSConflictingWorkflowError",
    "DBOSDatabaseUnavailableError",
    "DBOSErrorCode",
    "DBOSException",
    "DBOSInitializationError",
    "DBOSMaxStepRetriesExceeded",
    "DBOSNonExistentWorkflowError",
    "DBOSNotAuthorizedError",
    "DBOSOwnershipLostError",
    "DBOSPatchNondeterminismError",
    "DBOSQueryTimeoutError",
    "DBOSQueueDeduplicatedError",
    "DBOSQueueNotDeclaredError",
    "DBOSQueueSettingsError",
    "DBOSRecoveryError",
    "DBOSSerializationError",
    "DBOSStepNondeterminismError",
    "DBOSStepTimeoutError",
    "DBOSStreamNondeterminismError",
    "DBOSStreamTimeoutError",
    "DBOSUnexpectedStepError",
    "DBOSWorkflowCancelledError",
    "DBOSWorkflowConflictIDError",
    "DBOSWorkflowFunctionNotFoundError",
    "DBOSWorkflowIDInUseError",
    "MaxRecoveryAttemptsExceededError",
]
