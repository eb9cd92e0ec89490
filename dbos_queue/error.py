"""Every error dbos_queue raises, under DBOS's class names and codes.

Errors that user code must not swallow by accident (cancellation, a lost
ownership fence, an id conflict) derive from ``BaseException`` as in DBOS, so a
bare ``except Exception`` inside a workflow cannot hide them.
"""

from __future__ import annotations

from enum import Enum


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

    def __reduce__(self):  # keep pickling/serialisation round-trips faithful
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

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSQueueSettingsError(DBOSException, ValueError):
    """Invalid queue settings. A ``ValueError``, as DBOS raises, and a ``DBOSException``."""


def _rebuild(cls: type, message: str, code: int | None) -> BaseException:
    exc = cls.__new__(cls)
    exc.message = message  # type: ignore[attr-defined]
    exc.dbos_error_code = code  # type: ignore[attr-defined]
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

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSRecoveryError(DBOSException):
    def __init__(self, workflow_id: str, message: str | None = None):
        super().__init__(
            f"Recovery error for workflow ID {workflow_id}: {message}",
            DBOSErrorCode.RecoveryError.value,
        )


class DBOSWorkflowFunctionNotFoundError(DBOSException):
    def __init__(self, workflow_id: str, message: str | None = None):
        super().__init__(
            f"Workflow function not found for workflow ID {workflow_id}: {message}",
            DBOSErrorCode.WorkflowFunctionNotFound.value,
        )


class DBOSNonExistentWorkflowError(DBOSException):
    def __init__(self, destination_id: str):
        self.workflow_id = destination_id
        super().__init__(
            f"Sent to non-existent destination workflow ID: {destination_id}"
            if destination_id
            else "Non-existent workflow",
            DBOSErrorCode.NonExistentWorkflowError.value,
        )

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class MaxRecoveryAttemptsExceededError(DBOSException):
    def __init__(self, wf_id: str, max_retries: int):
        super().__init__(
            f"Workflow {wf_id} has exceeded its maximum of {max_retries} execution or "
            "recovery attempts. Further attempts to execute or recover it will fail.",
            DBOSErrorCode.MaxRecoveryAttemptsExceeded.value,
        )

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSNotAuthorizedError(DBOSException):
    def __init__(self, msg: str):
        super().__init__(msg, DBOSErrorCode.NotAuthorized.value)
        self.status_code = 403


class DBOSMaxStepRetriesExceeded(DBOSException):
    """A step failed on every allowed attempt; ``errors`` holds each attempt's error."""

    def __init__(self, step_name: str, max_retries: int, errors: list | None = None):
        self.step_name = step_name
        self.max_retries = max_retries
        self.errors = list(errors or [])
        super().__init__(
            f"Step {step_name} has exceeded its maximum of {max_retries} retries",
            DBOSErrorCode.MaxStepRetriesExceeded.value,
        )

    def __reduce__(self):
        return (
            _rebuild_retries,
            (type(self), self.step_name, self.max_retries, self.message),
        )


def _rebuild_retries(cls: type, step_name: str, max_retries: int, message: str):
    exc = cls.__new__(cls)
    exc.step_name, exc.max_retries, exc.errors = step_name, max_retries, []
    exc.message, exc.dbos_error_code = message, DBOSErrorCode.MaxStepRetriesExceeded.value
    exc.args = (message,)
    return exc


class DBOSUnexpectedStepError(DBOSException):
    def __init__(self, workflow_id: str, step_id: int, expected_name: str, recorded_name: str):
        super().__init__(
            f"During execution of workflow {workflow_id} step {step_id}, function "
            f"{recorded_name} was recorded when {expected_name} was expected. Check that "
            "your workflow is deterministic.",
            DBOSErrorCode.UnexpectedStep.value,
        )


class DBOSQueueDeduplicatedError(DBOSException):
    def __init__(self, workflow_id: str, queue_name: str, deduplication_id: str):
        self.workflow_id = workflow_id
        self.queue_name = queue_name
        self.deduplication_id = deduplication_id
        super().__init__(
            f"Workflow {workflow_id} was deduplicated due to an existing workflow in queue "
            f"{queue_name} with deduplication ID {deduplication_id}.",
            DBOSErrorCode.QueueDeduplicated.value,
        )

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSAwaitedWorkflowCancelledError(DBOSException):
    def __init__(self, workflow_id: str):
        self.workflow_id = workflow_id
        super().__init__(
            f"Awaited workflow {workflow_id} was cancelled",
            DBOSErrorCode.AwaitedWorkflowCancelled.value,
        )

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded(DBOSException):
    def __init__(self, workflow_id: str):
        self.workflow_id = workflow_id
        super().__init__(
            f"Awaited workflow {workflow_id} exceeded its maximum recovery attempts",
            DBOSErrorCode.AwaitedWorkflowMaxRecoveryAttemptsExceeded.value,
        )

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.dbos_error_code))


class DBOSStreamTimeoutError(DBOSException):
    def __init__(self, workflow_id: str, key: str, timeout: float):
        super().__init__(
            f"Timed out after {timeout}s reading stream {key!r} of workflow {workflow_id}",
            DBOSErrorCode.StreamTimeout.value,
        )


class DBOSWorkflowCancelledError(DBOSBaseException):
    """Raised inside a cancelled workflow at its next step; not catchable as Exception."""

    def __init__(self, msg: str):
        super().__init__(msg, DBOSErrorCode.WorkflowCancelled.value)


class DBOSWorkflowConflictIDError(DBOSBaseException):
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
    def __init__(self, workflow_id: str, message: str | None = None):
        self.workflow_id = workflow_id
        super().__init__(
            message or f"Workflow ID {workflow_id} is already in use",
            DBOSErrorCode.WorkflowIDInUse.value,
        )


class DBOSQueryTimeoutError(DBOSException):
    def __init__(self, message: str):
        super().__init__(message, DBOSErrorCode.QueryTimeout.value)


__all__ = [n for n in dir() if n.startswith("DBOS") or n.startswith("MaxRecovery")]
