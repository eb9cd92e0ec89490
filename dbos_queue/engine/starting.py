"""Starting a workflow: authorization, its id, the INIT row, attaching to an existing
row or taking over a dead owner's, and the context an execution runs under.

A new row is inserted with this execution's ``owner_xid`` token (``init_params``);
an existing one is attached to (``attach``), or owned again through a fenced
takeover when its owner's process is dead (``try_takeover``), which replays the
recorded steps (``recovery_context``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbos_queue.db.sysdb import InitResult, now_ms
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine.context import (
    WorkflowContext,
    auth,
    current_workflow,
    next_timeout,
    take_workflow_id,
)
from dbos_queue.engine.events import TakenOver, WorkflowFinished
from dbos_queue.engine.registry import FunctionInfo
from dbos_queue.error import (
    DBOSConflictingWorkflowError,
    DBOSNotAuthorizedError,
    MaxRecoveryAttemptsExceededError,
)
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import Row

if TYPE_CHECKING:
    from dbos_queue.engine.host import Host


@dataclass
class Start:
    """Everything needed to start (or attach to) one workflow."""

    info: FunctionInfo
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    wf_id: str
    bound: Any = None  # self or cls for methods
    class_name: str | None = None
    config_name: str | None = None
    queue_name: str | None = None
    status: str = "PENDING"
    extra: dict[str, Any] = field(default_factory=dict[str, Any])  # priority, dedup, ...


def current_auth() -> tuple[str | None, list[str] | None]:
    """The caller's user and roles: the running workflow's, else the request's."""
    ctx = current_workflow.get()
    if ctx is not None and (ctx.authenticated_user or ctx.authenticated_roles):
        return ctx.authenticated_user, ctx.authenticated_roles
    return auth.get() or (None, None)


def check_roles(info: FunctionInfo) -> str | None:
    """Raise unless the caller holds one of ``info.required_roles``; return the role assumed."""
    if not info.required_roles:
        return None
    user, roles = current_auth()
    if roles is None:
        raise DBOSNotAuthorizedError(
            f"Function {info.name} requires a role, but was called in a context without "
            "authentication information (use DBOSContextSetAuth)"
        )
    for role in info.required_roles:
        if role in roles:
            return role
    raise DBOSNotAuthorizedError(
        f"Function {info.name} has required roles {info.required_roles}, but user "
        f"{user!r} has roles {roles}"
    )


def resolve_workflow_id(rt: Host) -> tuple[str, WorkflowContext | None, int]:
    """The id for a workflow started here, and (parent ctx, parent function id) if a child."""
    parent = current_workflow.get()
    assigned = take_workflow_id()
    if parent is None or parent.in_step:
        return assigned or rt.new_workflow_id(), None, 0
    fid = parent.next_function_id()
    recorded = parent.recorded.get(fid) if not parent.fresh else None
    if recorded is not None and recorded.child_workflow_id:
        return recorded.child_workflow_id, parent, fid
    return assigned or f"{parent.workflow_id}-{fid}", parent, fid


def init_params(rt: Host, s: Start, owner: str | None, role: str | None) -> dict[str, Any]:
    """The columns of a new status row for ``s`` (auth, deadline, parent, inputs)."""
    user, roles = current_auth()
    timeout = next_timeout.get()
    parent = current_workflow.get()
    deadline = None
    if timeout is None and parent is not None and parent.deadline_ms is not None:
        deadline = parent.deadline_ms  # children inherit the parent's deadline
    now = now_ms()
    if timeout is not None and s.status == "PENDING":
        deadline = now + int(timeout * 1000)
    return {
        "id": s.wf_id,
        "status": s.status,
        "name": s.info.name,
        "class_name": s.class_name,
        "config_name": s.config_name,
        "user": user,
        "assumed_role": role,
        "roles": json.dumps(roles) if roles is not None else None,
        "executor_id": rt.executor_id if s.status == "PENDING" else None,
        "app_version": s.extra.get("app_version") or rt.app_version,
        "app_id": None,
        "queue": s.queue_name,
        "timeout_ms": int(timeout * 1000) if timeout is not None else None,
        "deadline_ms": deadline,
        **_format_fields(s),  # serializes the inputs: refuses bad input before any write
        "started_ms": now if s.status == "PENDING" else None,
        "dedup_id": s.extra.get("deduplication_id"),
        "priority": s.extra.get("priority") or 0,
        "partition_key": s.extra.get("queue_partition_key"),
        "owner": owner,
        "attempts": 1 if s.status == "PENDING" else 0,
        "now": now,
        "delay_until": s.extra.get("delay_until"),
        **_status_fields(rt, s, parent),
    }


def _format_fields(s: Start) -> dict[str, Any]:
    """The inputs in the workflow's format (0011): its own serialization type, else the
    configured serializer's; and the debounce columns a Debouncer sets.

    A child does not take its parent's format (as in DBOS, whose context for a new
    workflow starts at DEFAULT); the parent's own events, messages and streams (also
    from its steps) do take it.
    """
    kind = s.extra.get("serialization_type") or s.info.serialization_type
    fmt = ser.format_for(kind)
    return {
        "inputs": ser.serialize_args(s.args, s.kwargs, fmt),
        "serialization": fmt or ser.current_format(),
        "is_debounced": bool(s.extra.get("is_debounced")),
        "debounce_deadline": s.extra.get("debounce_deadline"),
    }


def _status_fields(rt: Host, s: Start, parent: WorkflowContext | None) -> dict[str, Any]:
    """INIT_WORKFLOW's DBOS 3.4 columns (0008): parent, owner, attributes, shard key."""
    from dbos_queue.engine.options import attributes_json, pending_attributes, pending_shard_key

    is_child = parent is not None and not parent.in_step
    attributes = s.extra["attributes"] if "attributes" in s.extra else pending_attributes()
    attributes = _tracing.with_carrier(attributes)  # a PropagateOtelContext block's trace
    return {
        "parent_id": parent.workflow_id if is_child and parent is not None else None,
        "app_name": s.extra.get("application_name") or getattr(rt.settings, "name", None),
        "attributes": attributes_json(attributes),
        "schedule_name": s.extra.get("schedule_name"),
        "shard_key": s.extra.get("shard_key") or pending_shard_key(),
        "creator": None,  # 0013: set by a start under workflow_id_reuse_policy "reject"
    }


async def init_workflow(
    rt: Host,
    params: dict[str, Any],
    parent: WorkflowContext | None,
    parent_fid: int,
    name: str,
) -> tuple[bool, WorkflowContext | None]:
    """Insert or attach. Returns (owned, context to run it under when owned)."""
    wf_id = params["id"]
    if parent is not None:
        rec = rt.sysdb.operation_params(
            parent.workflow_id, parent.owner, parent_fid, name, child=wf_id
        )
        await rt.sysdb.record_operation(rec)  # refused => parent fenced; it finds out next write
    return await attach(rt, params, await rt.sysdb.init_workflow(params), name)


async def attach(
    rt: Host, params: dict[str, Any], res: InitResult, name: str
) -> tuple[bool, WorkflowContext | None]:
    """What an INIT's result means for its caller: (owned, context to run it under)."""
    wf_id = params["id"]
    if res.holder is not None:  # duplication_policy "return-existing": attached to it
        params["id"] = res.holder
        return False, None
    if res.inserted:
        return params["status"] == "PENDING", None
    if res.name != name:
        raise DBOSConflictingWorkflowError(
            wf_id,
            f"Workflow already exists with a different function name: {res.name}, "
            f"but the provided function name is: {name}",
        )
    if res.status != "PENDING":
        return False, None
    return await try_takeover(rt, wf_id)


async def try_takeover(rt: Host, wf_id: str) -> tuple[bool, WorkflowContext | None]:
    """Own a PENDING workflow whose owner process is dead; (False, None) if it is alive."""
    owner = rt.new_owner()
    row = await rt.sysdb.takeover(wf_id, owner, rt.executor_id)
    if row is None:
        return False, None
    attempts = row.recovery_attempts
    info = rt.registry.workflows.get(row.name)
    limit = (info.max_recovery_attempts if info else None) or rt.settings.max_recovery_attempts
    if attempts > limit + 1:
        await rt.sysdb.mark_max_recovery(wf_id, owner)
        rt.engine.publish("wf", wf_id)
        rt.events.emit(WorkflowFinished(wf_id, "MAX_RECOVERY_ATTEMPTS_EXCEEDED"))
        raise MaxRecoveryAttemptsExceededError(wf_id, limit)
    rt.events.emit(TakenOver(wf_id))
    return True, await recovery_context(rt, wf_id, owner)


async def recovery_context(rt: Host, wf_id: str, owner: str) -> WorkflowContext:
    """Context to re-run a stored workflow: its row's auth and format, its recorded steps."""
    status = await rt.sysdb.get_status_row(wf_id)
    assert status is not None
    ctx = fresh_context_from_row(status, owner)
    ctx.fresh = False
    ctx.recorded = await rt.sysdb.load_operations(wf_id)
    return ctx


def fresh_context_from_row(row: Row, owner: str) -> WorkflowContext:
    """Context for a workflow's status row (``_sql.STATUS_COLUMNS``): a claimed queue row."""
    return WorkflowContext(
        workflow_id=row.workflow_uuid,
        owner=owner,
        name=row.name or "",
        authenticated_user=row.authenticated_user,
        assumed_role=row.assumed_role,
        authenticated_roles=json.loads(row.authenticated_roles)
        if row.authenticated_roles
        else None,
        deadline_ms=row.workflow_deadline_epoch_ms,
        queue_name=row.queue_name,
        shard_key=row.shard_key,
        otel_carrier=_tracing.carrier_of(row.attributes),
        serialization=ser.args_format(row.inputs),
    )


def fresh_context(params: dict[str, Any]) -> WorkflowContext:
    """Context for a workflow this process just inserted (``init_params`` columns)."""
    return WorkflowContext(
        workflow_id=params["id"],
        owner=params["owner"],
        name=params["name"],
        authenticated_user=params["user"],
        assumed_role=params["assumed_role"],
        authenticated_roles=json.loads(params["roles"]) if params["roles"] else None,
        deadline_ms=params["deadline_ms"],
        queue_name=params["queue"],
        shard_key=params.get("shard_key"),
        otel_carrier=_tracing.carrier_of_json(params.get("attributes")),
        serialization=params.get("serialization"),
    )
