"""Per-call context: which workflow is running here, and options for the next start.

Everything lives in ``contextvars`` so it follows both threads (copied into the
executor's threads) and asyncio tasks.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Self, cast

from dbos_queue.error import DBOSException, DBOSOwnershipLostError
from dbos_queue.model.clock import now_ms

# A collision on a queue's deduplication id: "reject" (the default) raises
# DBOSQueueDeduplicatedError; "return-existing" hands back the workflow holding the id.
DuplicationPolicy = Literal["reject", "return-existing"]
# A workflow id already in use: "return-existing" (the default) attaches to that
# workflow; "reject" raises DBOSWorkflowIDInUseError.
WorkflowIDReusePolicy = Literal["return-existing", "reject"]


class WorkflowStopped(DBOSOwnershipLostError):
    """This process stopped executing a workflow at a step boundary.

    Raised instead of starting the next step (or sleep, send, recv, child start)
    once the execution must end here: the drain timed out and the workflow is
    handed back, the process lost its lease, a fenced write was refused, or the
    ``DBOS`` runtime it ran under was destroyed. Nothing more is recorded by
    this execution; the workflow continues elsewhere from its last recorded step.
    A ``BaseException`` (like ``DBOSOwnershipLostError``), so ``except Exception``
    in workflow code does not swallow it.
    """

    def __init__(self, workflow_id: str, reason: str = "this execution was stopped"):
        super().__init__(workflow_id)
        self.reason = reason
        self.message = (
            f"Workflow {workflow_id} stopped in this process before its next step: {reason}. "
            "Its recorded steps are kept and it continues from there in another execution"
        )
        self.args = (self.message,)

    def __reduce__(self) -> tuple[Any, ...]:  # pickles with its reason
        return (type(self), (self.workflow_id, self.reason))


class Lease:
    """This process's lease as its workflow executions see it (the library clock).

    ``fresh()`` is True while the last accepted heartbeat is recent enough that no
    other process can have declared this one dead; a step about to start checks it
    and, when stale (the process was paused, or cut off from the database), confirms
    the lease with the database first. ``steady_for`` tells the takeover scan how
    long heartbeats have succeeded without a break: after an outage every lease looks
    lapsed, and the others need a heartbeat interval to renew before any is judged.
    """

    def __init__(self, lease_sec: float) -> None:
        # 80 % of the lease: clock reads and the heartbeat round trip need a margin.
        self.span_ms = int(lease_sec * 800)
        self.valid_until_ms = 0
        self.steady_since_ms: int | None = None
        self.lost = False

    def renewed(self, sent_ms: int) -> None:
        """A heartbeat sent at ``sent_ms`` was accepted."""
        self.valid_until_ms = max(self.valid_until_ms, sent_ms + self.span_ms)
        if self.steady_since_ms is None:
            self.steady_since_ms = sent_ms

    def failed(self) -> None:
        """A heartbeat could not reach the database."""
        self.steady_since_ms = None

    def fresh(self) -> bool:
        """Whether the lease is known valid now (no need to confirm it before a write)."""
        return now_ms() < self.valid_until_ms

    def steady_for(self, ms: int) -> bool:
        """Whether heartbeats have succeeded without a break for at least ``ms``."""
        return self.steady_since_ms is not None and now_ms() - self.steady_since_ms >= ms


_BUSY, _QUIET, _STOP = 0, 1, 2  # WorkflowContext._stop_state: busy, quiet and stop Events


def _new_stop_state() -> list[Any]:
    return [False, None, None]


def _event(st: list[Any], slot: int) -> threading.Event:
    """``st[slot]``'s Event, made at its first use (call under the context's ``_guard``)."""
    ev = st[slot]
    if ev is None:
        ev = st[slot] = threading.Event()
    return ev


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
    # fid -> recorded row (recovery)
    recorded: dict[int, Any] = field(default_factory=dict[int, Any])
    authenticated_user: str | None = None
    authenticated_roles: list[str] | None = None
    assumed_role: str | None = None
    deadline_ms: int | None = None
    queue_name: str | None = None
    cancelled: bool = False  # set when a cancel for this workflow reaches this process
    # The format the workflow's inputs were stored in (0011; None: the configured one):
    # its output and error are stored the same way, and its children inherit it.
    serialization: str | None = None
    # Tracing (engine/tracing.py): the trace carrier stored with the workflow, and the
    # caller's OpenTelemetry context captured when the body was handed to another thread.
    otel_carrier: dict[str, Any] | None = None
    otel_parent: Any = None
    shard_key: str | None = None  # as recorded (DBOS.shard_key); the database is unsharded
    # Stopping (drain, lease loss, refused write, destroy): why, and whether the row was
    # handed back already. ``_quiet`` is clear while a step body or its record is in
    # progress; ``_guard`` makes "check stop, then start the body" atomic against stop().
    stop_reason: str | None = None
    handed_back: bool = False
    background: bool = False  # started with submit(): nobody waits for this execution
    # Called on the engine loop once a background completion is written (queue/dispatch.py:
    # a fleet-wide slot is free only then, so the wake-up for it waits for the write).
    on_durable: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    completion_queued: bool = False  # its completion went to the background writer
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # Shared by the copies a step or concurrent task makes (engine/steps.py): whether a
    # step body or its record is in progress (under ``_guard``), and the Events a waiter
    # needs (a drain waiting for quiet, a retry pause cut short by stop), made only when
    # one waits: two Events per workflow cost more than a whole claim's share of it.
    _stop_state: list[Any] = field(default_factory=_new_stop_state, repr=False, compare=False)

    def next_function_id(self) -> int:
        """The id of the next operation; raises ``WorkflowStopped`` once stopped."""
        self.check_stop()
        self.function_id += 1
        return self.function_id

    def check_stop(self) -> None:
        """Raise ``WorkflowStopped`` when this execution must not do anything more."""
        if self.stop_reason is not None:
            raise WorkflowStopped(self.workflow_id, self.stop_reason)

    def begin_step(self, fid: int) -> None:
        """Enter a step body (or a retry of it) unless stopped — atomically with stop()."""
        with self._guard:
            self.check_stop()
            self.in_step, self.step_id = True, fid
            self._stop_state[_BUSY] = True

    def end_body(self) -> None:
        """The step body returned (its record may still be in flight)."""
        self.in_step, self.step_id = False, None

    def end_step(self) -> None:
        """The step body and its record are over (or abandoned)."""
        self.end_body()
        st = self._stop_state
        with self._guard:
            st[_BUSY] = False
            ev, st[_QUIET] = st[_QUIET], None
        if ev is not None:
            ev.set()

    def stop(self, reason: str) -> bool:
        """Start no further step; True when no step body or record is in progress now."""
        with self._guard:
            if self.stop_reason is None:
                self.stop_reason = reason
            st = self._stop_state
            ev, quiet = _event(st, _STOP), not st[_BUSY]  # stays set for every copy
        ev.set()
        return quiet

    def pause(self, seconds: float) -> None:
        """Sleep between step attempts; cut short by stop() (the retry then raises)."""
        with self._guard:
            if self.stop_reason is not None:
                return
            ev = _event(self._stop_state, _STOP)
        ev.wait(seconds)

    async def apause(self, seconds: float) -> None:
        """``pause`` for an async step on the engine loop."""
        end = time.monotonic() + seconds
        while self.stop_reason is None and (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.1))

    def wait_quiet(self, timeout: float) -> bool:
        """Wait until the step in progress (if any) has returned and been recorded."""
        st = self._stop_state
        with self._guard:
            if not st[_BUSY]:
                return True
            ev = _event(st, _QUIET)
        return ev.wait(timeout)


@dataclass
class EnqueueOptions:
    """The options a ``SetEnqueueOptions`` block gives the workflows enqueued in it."""

    deduplication_id: str | None = None
    priority: int | None = None
    queue_partition_key: str | None = None
    delay_seconds: float | None = None
    app_version: str | None = None
    duplication_policy: DuplicationPolicy | None = None


current_workflow: contextvars.ContextVar[WorkflowContext | None] = contextvars.ContextVar(
    "dbos_queue_workflow", default=None
)
next_workflow_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "dbos_queue_next_workflow_id", default=None
)
# The reuse policy of the SetWorkflowID id above; it goes with that id.
next_reuse_policy: contextvars.ContextVar[WorkflowIDReusePolicy | None] = contextvars.ContextVar(
    "dbos_queue_next_reuse_policy", default=None
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


BodyScope = tuple[
    contextvars.Token[WorkflowContext | None],
    contextvars.Token[float | None],
    contextvars.Token[EnqueueOptions | None],
]


def enter_body(ctx: WorkflowContext) -> BodyScope:
    """The scope a workflow body runs in: as ``ctx``, and without the caller's
    ``SetWorkflowTimeout``/``SetEnqueueOptions`` (they applied to this workflow, not to
    the children its body starts: those inherit its deadline, as in DBOS, whose
    workflow entry clears the caller's start options the same way)."""
    return current_workflow.set(ctx), next_timeout.set(None), next_enqueue.set(None)


def leave_body(scope: BodyScope) -> None:
    """Back to the caller's scope (the same thread or task that entered it)."""
    wf, timeout, enqueue = scope
    next_enqueue.reset(enqueue)
    next_timeout.reset(timeout)
    current_workflow.reset(wf)


def take_workflow_id() -> str | None:
    """The id set by ``SetWorkflowID`` for the next start, consumed by that start."""
    wid = next_workflow_id.get()
    if wid is not None:
        next_workflow_id.set(None)
    return wid


def pending_reuse_policy() -> WorkflowIDReusePolicy | None:
    """The reuse policy of a ``SetWorkflowID`` id not yet taken by a start (else None)."""
    return next_reuse_policy.get() if next_workflow_id.get() is not None else None


def check_reuse_policy(policy: object) -> None:
    """Refuse a ``workflow_id_reuse_policy`` that is neither DBOS value."""
    if policy is not None and policy not in ("return-existing", "reject"):
        raise DBOSException(
            f"Invalid workflow_id_reuse_policy {policy}. "
            "Must be either 'return-existing' or 'reject'."
        )


def check_duplication_policy(policy: object, queue: str | None, dedup_id: str | None) -> None:
    """Refuse a ``duplication_policy`` that is not DBOS's, or "return-existing" without a
    queue and a deduplication id to attach by."""
    if policy is None or policy == "reject":
        return
    if policy != "return-existing":
        raise DBOSException(
            f"Invalid duplication_policy {policy}. Must be either 'reject' or 'return-existing'."
        )
    if queue is None:
        raise DBOSException(
            "duplication_policy 'return-existing' requires a queue. It is only "
            "supported when enqueueing a workflow onto a queue."
        )
    if dedup_id is None:
        raise DBOSException("duplication_policy 'return-existing' requires a deduplication_id.")


class VarBlock:
    """A ``with`` block that sets one context variable and restores it on exit."""

    _var: contextvars.ContextVar[Any]

    def __init__(self, value: Any) -> None:
        self._value = value
        self._token: contextvars.Token[Any] | None = None

    def __enter__(self) -> Self:
        self._token = self._var.set(self._value)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        self._var.reset(self._token)


class SetWorkflowID(VarBlock):
    """``with SetWorkflowID(id): wf()`` — run the next workflow started in the block under ``id``.

    A workflow id is an idempotency key: starting the same id again returns the
    recorded result without re-running the body.
    """

    _var = next_workflow_id

    def __init__(
        self, wfid: str, *, workflow_id_reuse_policy: WorkflowIDReusePolicy | None = None
    ) -> None:
        if not isinstance(cast(object, wfid), str) or not wfid:  # callers may not type-check
            raise ValueError("SetWorkflowID needs a non-empty string id")
        check_reuse_policy(workflow_id_reuse_policy)
        super().__init__(wfid)
        self.workflow_id_reuse_policy: WorkflowIDReusePolicy | None = workflow_id_reuse_policy
        self._policy_token: contextvars.Token[WorkflowIDReusePolicy | None] | None = None

    def __enter__(self) -> Self:
        self._policy_token = next_reuse_policy.set(self.workflow_id_reuse_policy)
        return super().__enter__()

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if self._policy_token is not None:
            next_reuse_policy.reset(self._policy_token)


class SetWorkflowTimeout(VarBlock):
    """Workflows started in the block end ``CANCELLED`` if they run longer than this."""

    _var = next_timeout

    def __init__(self, workflow_timeout_sec: float | None) -> None:
        if workflow_timeout_sec is not None and workflow_timeout_sec <= 0:
            raise ValueError(f"workflow_timeout_sec must be positive, got {workflow_timeout_sec}")
        super().__init__(workflow_timeout_sec)


class SetEnqueueOptions(VarBlock):
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
        duplication_policy: DuplicationPolicy | None = None,
    ) -> None:
        if priority is not None and not (
            isinstance(cast(object, priority), int) and 0 <= priority <= 2**31 - 1
        ):
            raise ValueError(f"priority must be an integer from 0 to 2**31-1, got {priority!r}")
        if delay_seconds is not None and delay_seconds < 0:
            raise ValueError(f"delay_seconds must not be negative, got {delay_seconds}")
        super().__init__(
            EnqueueOptions(
                deduplication_id,
                priority,
                queue_partition_key,
                delay_seconds,
                app_version,
                duplication_policy,
            )
        )


class DBOSContextSetAuth(VarBlock):
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
