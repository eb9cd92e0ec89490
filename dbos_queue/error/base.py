"""The codes and the two roots of dbos_queue's errors, and how they pickle.

Every class of the package reports ``__module__ == "dbos_queue.error"`` (set by the
package), so a pickled or serialized error names the public module, not this file.
"""

from __future__ import annotations

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


def _rebuild(
    cls: type[DBOSException] | type[DBOSBaseException], message: str, code: int | None
) -> BaseException:
    # Restores the fields without __init__: subclasses' __init__ take other arguments.
    exc = cls.__new__(cls)
    exc.message = message
    exc.dbos_error_code = code
    exc.args = (message,)
    return exc


# For the package's other modules; pickles name it dbos_queue.error._rebuild.
rebuild = _rebuild
