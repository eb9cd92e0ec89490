"""Per-call context: which workflow is running here, and options for the next start.

Everything lives in ``contextvars`` so it follows both threads (copied into the
executor's threads) and asyncio tasks.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class WorkflowContext:
    """State of one workflow execution in this process."""

    workflow_id: str
    owner: str  # owner_xid token every write of this execution is fenced on
    name: str = ""
    function_id: int = 0
    in_step: bool = False
    step_id: Optional[int] = None
    fresh: bool = True  # no operation was recorded before this execution started
    recorded: Dict[int, Any] = field(default_factory=dict)  # fid -> recorded row (recovery)
    authenticated_user: Optional[str] = None
    authenticated_roles: Optional[List[str]] = None
    assumed_role: Optional[str] = None
    deadline_ms: Optional[int] = None
    queue_name: Optional[str] = None
    cancelled: bool = False  # set when a cancel for this workflow reaches this process

    def next_function_id(self) -> int:
        self.function_id += 1
        return self.function_id


@dataclass
class EnqueueOptions:
    deduplication_id: Optional[str] = None
    priority: Optional[int] = None
    queue_partition_key: Optional[str] = None
    delay_seconds: Optional[float] = None
    app_version: Optional[str] = None


current_workflow: contextvars.ContextVar[Optional[WorkflowContext]] = contextvars.ContextVar(
    "dbos_queue_workflow", default=None
)
next_workflow_id: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
    "dbos_queue_next_workflow_id", default=None
)
next_timeout: contextvars.ContextVar[Optional[float]] = contextvars.ContextVar(
    "dbos_queue_next_timeout", default=None
)
next_enqueue: contextvars.ContextVar[Optional[EnqueueOptions]] = contextvars.ContextVar(
    "dbos_queue_next_enqueue", default=None
)
auth: contextvars.ContextVar[Optional[tuple[Optional[str], Optional[List[str]]]]] = (
    contextvars.ContextVar("dbos_queue_auth", default=None)
)


def take_workflow_id() -> Optional[str]:
    """The id set by ``SetWorkflowID`` for the next start, consumed by that start."""
    wid = next_workflow_id.get()
    if wid is not None:
        next_workflow_id.set(None)
    return wid


class _VarBlock:
    _var: contextvars.ContextVar[Any]

    def __init__(self, value: Any) -> None:
        self._value = value
        self._token: Optional[contextvars.Token[Any]] = None

    def __enter__(self) -> "_VarBlock":
        self._token = self._var.set(self._value)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        self._var.reset(self._token)


class SetWorkflowID(_VarBlock):
    """``with SetWorkflowID(id): wf()`` — run the next workflow started in the block under ``id``.

    A workflow id is an idempotency key: starting the same id again returns the
    recorded result without re-running the body.
    """

    _var = next_workflow_id

    def __init__(self, wfid: str) -> None:
        if not isinstance(wfid, str) or not wfid:
            raise ValueError("SetWorkflowID needs a non-empty string id")
        super().__init__(wfid)


class SetWorkflowTimeout(_VarBlock):
    """Workflows started in the block end ``CANCELLED`` if they run longer than this."""

    _var = next_timeout

    def __init__(self, workflow_timeout_sec: Optional[float]) -> None:
        if workflow_timeout_sec is not None and workflow_timeout_sec <= 0:
            raise ValueError(f"workflow_timeout_sec must be positive, got {workflow_timeout_sec}")
        super().__init__(workflow_timeout_sec)


class SetEnqueueOptions(_VarBlock):
    """Options for workflows enqueued in the block (deduplication id, priority, ...)."""

    _var = next_enqueue

    def __init__(
        self,
        *,
        deduplication_id: Optional[str] = None,
        priority: Optional[int] = None,
        queue_partition_key: Optional[str] = None,
        delay_seconds: Optional[float] = None,
        app_version: Optional[str] = None,
    ) -> None:
        if priority is not None and not (isinstance(priority, int) and 0 <= priority <= 2**31 - 1):
            raise ValueError(f"priority must be an integer from 0 to 2**31-1, got {priority!r}")
        if delay_seconds is not None and delay_seconds < 0:
            raise ValueError(f"delay_seconds must not be negative, got {delay_seconds}")
        super().__init__(
            EnqueueOptions(deduplication_id, priority, queue_partition_key, delay_seconds, app_version)
        )


class DBOSContextSetAuth(_VarBlock):
    """Run the block as ``user`` holding ``roles`` (checked by ``required_roles``)."""

    _var = auth

    def __init__(self, user: Optional[str], roles: Optional[List[str]]) -> None:
        super().__init__((user, list(roles) if roles is not None else None))


class DBOSContextEnsure:
    """Compatibility no-op: a context always exists here."""

    def __enter__(self) -> "DBOSContextEnsure":
        return self

    def __exit__(self, *exc: object) -> None:
        return None
