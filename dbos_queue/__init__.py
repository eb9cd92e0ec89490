"""dbos_queue: durable execution for Python on Postgres, DBOS-compatible.

Switch from DBOS Python by changing the import::

    from dbos_queue import DBOS, Queue, SetWorkflowID
"""

from dbos_queue import error
from dbos_queue.api.client import DBOSClient, EnqueueOptions
from dbos_queue.api.dbos import DBOS, DBOSConfiguredInstance
from dbos_queue.api.debouncer import Debouncer, DebouncerClient
from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.migrations import run_dbos_database_migrations
from dbos_queue.api.queue import Queue, QueueRateLimit
from dbos_queue.api.steps import StepOptions, StepReservation  # DBOS's StepOptions TypedDict
from dbos_queue.engine.context import (
    DBOSContextEnsure,
    DBOSContextSetAuth,
    DuplicationPolicy,
    SetEnqueueOptions,
    SetWorkflowID,
    SetWorkflowTimeout,
    WorkflowIDReusePolicy,
)
from dbos_queue.engine.datasource import AsyncSQLAlchemyDatasource, SQLAlchemyDatasource
from dbos_queue.engine.options import SetShardKey, SetWorkflowAttributes
from dbos_queue.engine.tracing import PropagateOtelContext
from dbos_queue.engine.validation import make_pydantic_args_validator, pydantic_args_validator
from dbos_queue.model.config import DBOSConfig
from dbos_queue.model.records import (
    ClientScheduleInput,
    ScheduleInput,
    SendMessage,
    StepInfo,
    StepStatus,
    WorkflowSchedule,
)
from dbos_queue.model.serialization import (
    DBOSPortableJSONSerializer,
    PortableWorkflowError,
    Serializer,
    WorkflowSerializationFormat,
)
from dbos_queue.model.status import WorkflowStatus, WorkflowStatusString
from dbos_queue.model.versions import VersionInfo

__all__ = [
    "DBOS",
    "AsyncSQLAlchemyDatasource",
    "ClientScheduleInput",
    "DBOSClient",
    "DBOSConfig",
    "DBOSConfiguredInstance",
    "DBOSContextEnsure",
    "DBOSContextSetAuth",
    "DBOSPortableJSONSerializer",
    "Debouncer",
    "DebouncerClient",
    "DuplicationPolicy",
    "EnqueueOptions",
    "PortableWorkflowError",
    "PropagateOtelContext",
    "Queue",
    "QueueRateLimit",
    "SQLAlchemyDatasource",
    "ScheduleInput",
    "SendMessage",
    "Serializer",
    "SetEnqueueOptions",
    "SetShardKey",
    "SetWorkflowAttributes",
    "SetWorkflowID",
    "SetWorkflowTimeout",
    "StepInfo",
    "StepOptions",
    "StepReservation",
    "StepStatus",
    "VersionInfo",
    "WorkflowHandle",
    "WorkflowHandleAsync",
    "WorkflowIDReusePolicy",
    "WorkflowSchedule",
    "WorkflowSerializationFormat",
    "WorkflowStatus",
    "WorkflowStatusString",
    "error",
    "make_pydantic_args_validator",
    "pydantic_args_validator",
    "run_dbos_database_migrations",
]
