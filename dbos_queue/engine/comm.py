"""Messages, events, durable sleep and streams — each an engine coroutine.

The caller passes its workflow context and function id explicitly (context
variables do not cross into the engine thread). Inside a workflow every
operation is recorded under its function id, so a recovered workflow replays
the same values instead of acting twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import psycopg

from dbos_queue.db.loop import NOT_YET
from dbos_queue.db.sysdb import NULL_TOPIC, TERMINAL, Refused, now_ms
from dbos_queue.engine.context import WorkflowContext
from dbos_queue.engine.core import explain_refusal
from dbos_queue.error import DBOSNonExistentWorkflowError, DBOSWorkflowCancelledError
from dbos_queue.model import serialization as ser

if TYPE_CHECKING:
    from dbos_queue.engine.host import Host

STREAM_CLOSED = "__DBOS_STREAM_CLOSED__"


def _replay(ctx: WorkflowContext | None, fid: int) -> tuple[bool, Any]:
    if ctx is None or ctx.fresh or fid == 0:
        return False, None
    rec = ctx.recorded.get(fid)
    if rec is None:
        return False, None
    return True, rec.output


def _record(rt: Host, ctx: WorkflowContext, fid: int, name: str, output: str | None = None):
    return rt.sysdb.operation_params(
        ctx.workflow_id, ctx.owner, fid, name, output, started=now_ms()
    )


async def send(
    rt: Host,
    ctx: WorkflowContext | None,
    fid: int,
    dest: str,
    message: Any,
    topic: str | None,
    idempotency_key: str | None = None,
) -> None:
    """DBOS.send: deliver a message to ``dest``'s topic once (recorded as step ``fid``)."""
    text = ser.serialize(message, "message")
    done, _ = _replay(ctx, fid)
    if done:
        return
    record = _record(rt, ctx, fid, "DBOS.send") if ctx is not None and fid else None
    try:
        ok = await rt.sysdb.send(dest, topic, text, record, idempotency_key)
    except psycopg.errors.ForeignKeyViolation:
        raise DBOSNonExistentWorkflowError("`send` destination", dest) from None
    if not ok:
        assert ctx is not None
        await explain_refusal(rt, ctx)
    rt.engine.wake(("msg", f"{dest}::{topic or NULL_TOPIC}"))


async def recv(rt: Host, ctx: WorkflowContext, fid: int, topic: str | None, timeout: float) -> Any:
    """DBOS.recv: consume the oldest message on ``topic``, waiting up to ``timeout`` (None)."""
    done, text = _replay(ctx, fid)
    if done:
        return ser.deserialize(text)

    async def take(timed_out: bool) -> Any:
        if ctx.cancelled:
            raise DBOSWorkflowCancelledError(f"Workflow {ctx.workflow_id} was cancelled")
        ctx.check_stop()  # a drain or lease loss wakes the wait: consume nothing more
        record = _record(rt, ctx, fid, "DBOS.recv")
        try:
            got, msg = await rt.sysdb.consume_message(ctx.workflow_id, topic, record, timed_out)
        except Refused:
            got, msg = False, None
        if not got:
            await explain_refusal(rt, ctx)
        if msg is None and not timed_out:
            return NOT_YET
        return msg

    key = ("msg", f"{ctx.workflow_id}::{topic or NULL_TOPIC}")
    text = await rt.engine.wait_for(
        key, lambda: take(False), timeout, also=("cancel", ctx.workflow_id)
    )
    if text is NOT_YET:
        text = await take(True)
    return ser.deserialize(text)


async def set_event(rt: Host, ctx: WorkflowContext, fid: int, key: str, value: Any) -> None:
    """DBOS.set_event: publish ``key``'s latest value for this workflow (step ``fid``)."""
    text = ser.serialize(value, f"event {key!r}")
    done, _ = _replay(ctx, fid)
    if done:
        return
    # From inside a step (fid 0) the step's own record covers replay: write unrecorded.
    record = _record(rt, ctx, fid, "DBOS.setEvent") if fid else None
    if not await rt.sysdb.set_event(ctx.workflow_id, key, text, record, ctx.step_id or 0):
        await explain_refusal(rt, ctx)


async def get_event(
    rt: Host, ctx: WorkflowContext | None, fid: int, wf_id: str, key: str, timeout: float
) -> Any:
    """DBOS.get_event: ``wf_id``'s value for ``key``, waiting up to ``timeout`` (None)."""
    done, text = _replay(ctx, fid)
    if done:
        return ser.deserialize(text)

    async def check() -> Any:
        if ctx is not None and ctx.cancelled:
            raise DBOSWorkflowCancelledError(f"Workflow {ctx.workflow_id} was cancelled")
        if ctx is not None:
            ctx.check_stop()
        row = await rt.sysdb.get_event(wf_id, key)
        return row.value if row is not None else NOT_YET

    text = await rt.engine.wait_for(
        ("evt", f"{wf_id}::{key}"),
        check,
        timeout,
        also=("cancel", ctx.workflow_id) if ctx else None,
    )
    text = None if text is NOT_YET else text
    if ctx is not None and fid:
        if not await rt.sysdb.record_operation(_record(rt, ctx, fid, "DBOS.getEvent", text)):
            await explain_refusal(rt, ctx)
    return ser.deserialize(text)


async def sleep(rt: Host, ctx: WorkflowContext, fid: int, seconds: float) -> None:
    """Durable sleep: the wake-up time is recorded, so a restart keeps the original deadline.

    A stop (drain timeout, lease loss, destroy) wakes it and raises ``WorkflowStopped``:
    the workflow continues elsewhere, still waking at the recorded time.
    """
    ctx.check_stop()
    done, text = _replay(ctx, fid)
    if done:
        end_ms = ser.deserialize(text)
    else:
        end_ms = now_ms() + int(seconds * 1000)
        if not await rt.sysdb.record_operation(
            _record(rt, ctx, fid, "DBOS.sleep", ser.serialize(end_ms))
        ):
            await explain_refusal(rt, ctx)

    async def check() -> Any:
        ctx.check_stop()
        return True if now_ms() >= end_ms else NOT_YET

    remaining = max(0.0, (end_ms - now_ms()) / 1000)
    await rt.engine.wait_for(("cancel", ctx.workflow_id), check, remaining, poll=remaining + 1)
    ctx.check_stop()
    if now_ms() < end_ms:  # woken early: only a cancellation does that
        row = await rt.sysdb.fence_state(ctx.workflow_id)
        if row is not None and row.status == "CANCELLED":
            raise DBOSWorkflowCancelledError(f"Workflow {ctx.workflow_id} was cancelled")


async def write_stream(
    rt: Host, ctx: WorkflowContext, fid: int, key: str, value: Any, closing: bool = False
) -> None:
    """DBOS.write_stream / close_stream: append a value (or the end marker) to a stream."""
    text = STREAM_CLOSED if closing else ser.serialize(value, f"stream {key!r} value")
    done, _ = _replay(ctx, fid)
    if done:
        return
    record = (
        _record(rt, ctx, fid, "DBOS.closeStream" if closing else "DBOS.writeStream")
        if fid
        else None
    )
    if not await rt.sysdb.write_stream(
        ctx.workflow_id, key, text, fid or (ctx.step_id or 0), record
    ):
        await explain_refusal(rt, ctx)


async def read_stream_chunk(rt: Host, wf_id: str, key: str, offset: int) -> tuple[list[Any], bool]:
    """Values from ``offset`` on, and whether the stream is finished (closed or workflow done)."""

    async def check() -> Any:
        rows = await rt.sysdb.read_stream(wf_id, key, offset)
        if rows:
            return rows
        status = await rt.sysdb.get_result_row(wf_id)
        if status is None or status.status in TERMINAL:
            rows = await rt.sysdb.read_stream(wf_id, key, offset)  # written just before the end
            return rows or "END"
        return NOT_YET

    rows = await rt.engine.wait_for(("stream", f"{wf_id}::{key}"), check, None)
    if rows == "END":
        return [], True
    values: list[Any] = []
    for row in rows:
        if row.value == STREAM_CLOSED:
            return values, True
        values.append(ser.deserialize(row.value))
    return values, False


async def read_stream(rt: Host, wf_id: str, key: str) -> AsyncIterator[Any]:
    """Every value of a stream, in order, until it is closed or its workflow ends."""
    offset = 0
    while True:
        values, finished = await rt.engine.arun(read_stream_chunk(rt, wf_id, key, offset))
        for v in values:
            yield v
        offset += len(values)
        if finished:
            return
