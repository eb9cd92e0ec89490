"""dbos_queue: durable execution for Python on Postgres, DBOS-compatible.

Switch from DBOS Python by changing the import::

    from dbos_queue import DBOS, Queue, SetWorkflowID
"""

from . import error
from ._client import DBOSClient, EnqueueOptions
from ._config import DBOSConfig
from ._context import (
    DBOSContextEnsure,
    DBOSContextSetAuth,
    SetEnqueueOptions,
    SetWorkflowID,
    SetWorkflowTimeout,
)
from ._core import StepOptions
from ._dbos import DBOS, DBOSConfiguredInstance
from ._handles import WorkflowHandle, WorkflowHandleAsync, WorkflowStatus, WorkflowStatusString
from ._queue import Queue, QueueRateLimit
from ._serialization import Serializer

__all__ = [
    "DBOS",
    "DBOSClient",
    "DBOSConfig",
    "EnqueueOptions",
    "Queue",
    "QueueRateLimit",
    "DBOSConfiguredInstance",
    "DBOSContextEnsure",
    "DBOSContextSetAuth",
    "Serializer",
    "SetEnqueueOptions",
    "SetWorkflowID",
    "SetWorkflowTimeout",
    "StepOptions",
    "WorkflowHandle",
    "WorkflowHandleAsync",
    "WorkflowStatus",
    "WorkflowStatusString",
    "error",
]
