"""Every error dbos_queue raises, under DBOS's class names and codes.

Errors that user code must not swallow by accident (cancellation, a lost
ownership fence, an id conflict) derive from ``BaseException`` as in DBOS, so a
bare ``except Exception`` inside a workflow cannot hide them.

The classes live in the modules of this package (``base``, ``startup``, ``workflows``,
``steps``) and are all importable from here; each reports ``__module__ ==
"dbos_queue.error"``, as when this was one module, so pickles and serialized errors
keep naming ``dbos_queue.error.<Class>`` (and ``dbos_queue.error._rebuild``).
"""

from __future__ import annotations

from typing import Any

from dbos_queue.error.base import (
    DBOSBaseException,
    DBOSErrorCode,
    DBOSException,
)
from dbos_queue.error.base import (
    rebuild as _rebuild,
)
from dbos_queue.error.startup import (
    DBOSConfigError,
    DBOSDatabaseUnavailableError,
    DBOSInitializationError,
    DBOSNotAuthorizedError,
    DBOSQueryTimeoutError,
    DBOSQueueNotDeclaredError,
    DBOSQueueSettingsError,
    DBOSSchemaMissingError,
    DBOSSerializationError,
)
from dbos_queue.error.steps import (
    DBOSMaxStepRetriesExceeded,
    DBOSPatchNondeterminismError,
    DBOSStepNondeterminismError,
    DBOSStepTimeoutError,
    DBOSStreamNondeterminismError,
    DBOSStreamTimeoutError,
    DBOSUnexpectedStepError,
)
from dbos_queue.error.steps import (
    rebuild_retries as _rebuild_retries,
)
from dbos_queue.error.workflows import (
    DBOSAwaitedWorkflowCancelledError,
    DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded,
    DBOSConflictingWorkflowError,
    DBOSNonExistentWorkflowError,
    DBOSOwnershipLostError,
    DBOSQueueDeduplicatedError,
    DBOSRecoveryError,
    DBOSWorkflowCancelledError,
    DBOSWorkflowConflictIDError,
    DBOSWorkflowFunctionNotFoundError,
    DBOSWorkflowIDInUseError,
    MaxRecoveryAttemptsExceededError,
    is_workflow_id_in_use_error,
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
    "DBOSSchemaMissingError",
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


def _home(*objs: Any) -> None:
    for obj in objs:
        obj.__module__ = __name__


_home(*(globals()[name] for name in __all__), _rebuild, _rebuild_retries)
_home(is_workflow_id_in_use_error)


del _home
