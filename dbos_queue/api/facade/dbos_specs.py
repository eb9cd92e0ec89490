"""The specs (``api.twin``) of the ``DBOS`` methods a ``DBOSClient`` has not, or has with
other parameters: send, recv, events, stream writes; creating a schedule.

Each takes DBOS 3.4.0's parameters, reads the calling workflow and marks payloads for
their ``serialization_type`` in the caller's thread, and returns the op the runtime's
engine runs. ``api/facade/messaging.py`` and ``schedules.py`` build the methods and
their async twins; the specs shared with the client are ``api.specs``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine
from typing import Any

from dbos_queue.api.invoke import op_context
from dbos_queue.api.runtime import Runtime
from dbos_queue.api.twin import Op
from dbos_queue.engine import comm as _comm
from dbos_queue.engine.context import WorkflowContext
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import Row, SendMessage
from dbos_queue.model.serialization import WorkflowSerializationFormat
from dbos_queue.ops import messages as _msgs
from dbos_queue.queue.schedules import manage as _manage


def send(
    destination_id: str,
    message: Any,
    topic: str | None = None,
    *,
    idempotency_key: str | None = None,
    serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
    send_to_forks: bool = False,
    shard_key: str | None = None,
) -> Op[None]:
    """Send ``message`` to a workflow on ``topic``. With ``idempotency_key`` it is
    delivered once however often it is sent; ``send_to_forks`` also delivers it to every
    workflow forked (recursively) from the destination. From a workflow: one step."""
    ctx, fid = op_context(required=False)
    message = ser.in_format(message, serialization_type, _fmt(ctx))
    return lambda rt: _send_one(
        rt, ctx, fid, destination_id, message, topic, idempotency_key, send_to_forks
    )


def send_bulk(
    messages: list[SendMessage],
    *,
    serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
    send_to_forks: bool = False,
) -> Op[None]:
    """Send many ``SendMessage`` in one transaction: all are delivered, or (a destination
    does not exist) none. From a workflow: one step ("DBOS.send_bulk")."""
    ctx, fid = op_context(required=False)
    messages = _in_format(messages, serialization_type, ctx)
    return lambda rt: _msgs.send_bulk(rt, messages, send_to_forks=send_to_forks, ctx=ctx, fid=fid)


def recv(topic: str | None = None, timeout_seconds: float = 60) -> Op[Any]:
    """Inside a workflow: wait up to ``timeout_seconds`` for the next message on ``topic``
    (None on timeout); the receipt is recorded."""
    ctx, fid = op_context(required=True, what="recv")
    return lambda rt: _comm.recv(rt, ctx, fid, topic, timeout_seconds)


def set_event(
    key: str, value: Any, *, serialization_type: Any = WorkflowSerializationFormat.DEFAULT
) -> Op[None]:
    """Inside a workflow or step: publish ``value`` under ``key`` for ``get_event`` readers."""
    return _published("set_event", _comm.set_event, key, value, serialization_type)


def caller() -> dict[str, Any]:
    """The calling workflow (if any) and the step id the call takes in it, as the options
    of an op shared with ``DBOSClient`` (``api.twin.with_options``)."""
    ctx, fid = op_context(required=False)
    return {"ctx": ctx, "fid": fid}


def get_all_events(workflow_id: str, *, shard_key: str | None = None) -> Op[list[Row]]:
    """Every event the workflow has set, key -> latest value."""
    return lambda rt: rt.sysdb.get_all_events(workflow_id)


def events_of(_rt: Any, rows: list[Row], _a: Any, _k: Any) -> dict[str, Any]:
    """``get_all_events``' result from its rows (read in the caller's thread)."""
    return {r.key: ser.deserialize(r.value) for r in rows}


def write_stream(
    key: str, value: Any, *, serialization_type: Any = WorkflowSerializationFormat.DEFAULT
) -> Op[None]:
    """Inside a workflow or step: append ``value`` to the workflow's stream ``key``."""
    return _published("write_stream", _comm.write_stream, key, value, serialization_type)


def close_stream(key: str) -> Op[None]:
    """Mark the workflow's stream ``key`` closed: readers stop after its last value."""
    ctx, fid = op_context(required=True, what="close_stream", allow_step=True)
    return lambda rt: _comm.write_stream(rt, ctx, fid, key, None, closing=True)


def create_schedule(
    *,
    schedule_name: str,
    workflow_fn: Callable[..., Any],
    schedule: str,
    context: Any = None,
    automatic_backfill: bool = False,
    cron_timezone: str | None = None,
    queue_name: str | None = None,
    shard_key: str | None = None,
) -> Op[None]:
    """Store a schedule; ``workflow_fn`` receives ``(scheduled_time, context)``."""
    options = dict(locals())
    return lambda rt: _manage.create_schedule(rt, **options)


def _published(
    what: str, publish: Callable[..., Coroutine[Any, Any, None]], key: str, value: Any, fmt: Any
) -> Op[None]:
    """``set_event`` / ``write_stream`` (``what``): from a workflow or step, ``value`` in
    the format ``fmt`` asks for, published under ``key`` by ``publish``."""
    ctx, fid = op_context(required=True, what=what, allow_step=True)
    value = ser.in_format(value, fmt, _fmt(ctx))
    return lambda rt: publish(rt, ctx, fid, key, value)


def _fmt(ctx: WorkflowContext | None) -> str | None:
    """The running workflow's own format: what DEFAULT means for what it sends (DBOS)."""
    return getattr(ctx, "serialization", None)


def _in_format(
    messages: list[SendMessage], serialization_type: Any, ctx: WorkflowContext | None
) -> list[SendMessage]:
    """SendMessages whose payloads are marked for ``serialization_type`` (parity B)."""
    out: list[SendMessage] = []
    for m in messages:
        value = ser.in_format(m.message, serialization_type, _fmt(ctx))
        out.append(m if value is m.message else dataclasses.replace(m, message=value))
    return out


async def _send_one(
    rt: Runtime,
    ctx: WorkflowContext | None,
    fid: int,
    dest: str,
    message: Any,
    topic: str | None,
    idempotency_key: str | None,
    send_to_forks: bool,
) -> None:
    """One message: the plain path, or (to forks too) the bulk one; both one step."""
    if send_to_forks:
        msg = SendMessage(dest, message, topic, idempotency_key)
        await _msgs.send_bulk(rt, [msg], send_to_forks=True, ctx=ctx, fid=fid, name="DBOS.send")
    else:
        await _comm.send(rt, ctx, fid, dest, message, topic, idempotency_key)
