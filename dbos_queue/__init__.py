"""dbos_queue: durable execution for Python on Postgres, DBOS-compatible.

Switch from DBOS Python by changing the import::

    from dbos_queue import DBOS, Queue, SetWorkflowID
"""

from dbos_queue import error
from dbos_queue.api.client import DBOSClient, EnqueueOptions
from dbos_queue.api.dbos import DBOS, DBOSConfiguredInstance
from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.queue import Queue, QueueRateLimit
from dbos_queue.engine.context import (
    DBOSContextEnsure,
    DBOSContextSetAuth,
    SetEnqueueOptions,
    SetWorkflowID,
    SetWorkflowTimeout,
)
from dbos_queue.engine.core import StepOptions
from dbos_queue.engine.tracing import PropagateOtelContext
from dbos_queue.model.config import DBOSConfig
from dbos_queue.model.serialization import Serializer
from dbos_queue.model.status import WorkflowStatus, WorkflowStatusString

__all__ = [
    "DBOS",
    "DBOSClient",
    "DBOSConfig",
    "DBOSConfiguredInstance",
    "DBOSContextEnsure",
    "DBOSContextSetAuth",
    "EnqueueOptions",
    "PropagateOtelContext",
    "Queue",
    "QueueRateLimit",
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
