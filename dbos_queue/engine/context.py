"""Per-call context: which workflow is running here, and options for the next start.

Everything lives in ``contextvars`` so it follows both threads (copied into the
executor's threads) and asyncio tasks.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any


@dataclass
class WorkflowContext:
    """State of one workflow execution in this process."""

    workflow_id: str
    owner: str  # owner_xid token every write of this execution is fenced on
    name: str = ""
    function_id: int = 0
    in_step: bool = False
    step_id: int | None = None
    fresh: bool = True  # no operation was recorded before this execution started
    recorded: dict[int, Any] = field(default_factory=dict)  # fid -> recorded row (recovery)
    authenticated_user: str | None = None
    authenticated_roles: list[str] | None = None
    assumed_role: str | None = None
    deadline_ms: int | None = None
    queue_name: str | None = None
    cancelled: bool = False  # set when a cancel for this workflow reaches this process
    # Tracing (engine/tracing.py): the trace carrier stored with the workflow, and the
    # caller's OpenTelemetry context captured when the body was handed to another thread.
    otel_carrier: dict[str, Any] | None = None
    otel_parent: Any = None

    def next_function_id(self) -> int:
        self.function_id += 1
        return self.function_id


@dataclass
class EnqueueOptions:
    deduplication_id: str | None = None
    priority: int | None = None
    queue_partition_key: str | None = None
    delay_seconds: float | None = None
    app_version: str | None = None


current_workflow: contextvars.ContextVar[WorkflowContext | None] = contextvars.ContextVar(
    "dbos_queue_workflow", default=None
)
next_workflow_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "dbos_queue_next_workflow_id", default=None
)
next_timeout: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "dbos_queue_next_timeout", default=None
)
next_enqueue: contextvars.ContextVar[EnqueueOptions | None] = contextvars.ContextVar(
    "dbos_queue_next_enqueue", default=None
)
auth: contextvars.ContextVar[tuple[str | None, list[str] | None] | None] = contextvars.ContextVar(
    "dbos_queue_auth", default=None
)


def take_workflow_id() -> str | None:
    """The id set by ``SetWorkflowID`` for the next start, consumed by that start."""
    wid = next_workflow_id.get()
    if wid is not None:
        next_workflow_id.set(None)
    return wid


class _VarBlock:
    _var: contextvars.ContextVar[Any]

    def __init__(self, value: Any) -> None:
        self._value = value
        self._token: contextvars.Token[Any] | None = None

    def __enter__(self) -> _VarBlock:
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

    def __init__(self, workflow_timeout_sec: float | None) -> None:
        if workflow_timeout_sec is not None and workflow_timeout_sec <= 0:
            raise ValueError(f"workflow_timeout_sec must be positive, got {workflow_timeout_sec}")
        super().__init__(workflow_timeout_sec)


class SetEnqueueOptions(_VarBlock):
    """Options for workflows enqueued in the block (deduplication id, priority, ...)."""

    _var = next_enqueue

    def __init__(
        self,
        *,
        deduplication_id: str | None = None,
        priority: int | None = None,
        queue_partition_key: str | None = None,
        delay_seconds: float | None = None,
        app_version: str | None = None,
    ) -> None:
        if priority is not None and not (isinstance(priority, int) and 0 <= priority <= 2**31 - 1):
            raise ValueError(f"priority must be an integer from 0 to 2**31-1, got {priority!r}")
        if delay_seconds is not None and delay_seconds < 0:
            raise ValueError(f"delay_seconds must not be negative, got {delay_seconds}")
        super().__init__(
            EnqueueOptions(
                deduplication_id, priority, queue_partition_key, delay_seconds, app_version
            )
        )


class DBOSContextSetAuth(_VarBlock):
    """Run the block as ``user`` holding ``roles`` (checked by ``required_roles``)."""

    _var = auth

    def __init__(self, user: str | None, roles: list[str] | None) -> None:
        super().__init__((user, list(roles) if roles is not None else None))


class DBOSContextEnsure:
    """Compatibility no-op: a context always exists here."""

    def __enter__(self) -> DBOSContextEnsure:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
