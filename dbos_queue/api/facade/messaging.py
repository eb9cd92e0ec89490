"""The ``DBOS`` facade: send/recv, events, durable sleep, streams."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from dbos_queue.api.invoke import op_context, require_runtime
from dbos_queue.engine import comm as _comm
from dbos_queue.engine import streams as _streams
from dbos_queue.engine.context import WorkflowContext
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import SendMessage
from dbos_queue.model.serialization import WorkflowSerializationFormat
from dbos_queue.ops import messages as _msgs

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("dbos_queue")


class Messaging:
    """``DBOS`` class methods: send/recv, events, durable sleep, streams."""

    @classmethod
    def send(
        cls,
        destination_id: str,
        message: Any,
        topic: str | None = None,
        *,
        idempotency_key: str | None = None,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
        send_to_forks: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """Send ``message`` to a workflow on ``topic``. With ``idempotency_key`` it is
        delivered once however often it is sent; ``send_to_forks`` also delivers it to every
        workflow forked (recursively) from the destination. From a workflow: one step."""
        ctx, fid = op_context(required=False)
        message = ser.in_format(message, serialization_type, _fmt(ctx))
        require_runtime().engine.run(
            _send_one(ctx, fid, destination_id, message, topic, idempotency_key, send_to_forks)
        )

    @classmethod
    async def send_async(
        cls,
        destination_id: str,
        message: Any,
        topic: str | None = None,
        *,
        idempotency_key: str | None = None,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
        send_to_forks: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """``send`` from async code."""
        ctx, fid = op_context(required=False)
        message = ser.in_format(message, serialization_type, _fmt(ctx))
        await require_runtime().engine.arun(
            _send_one(ctx, fid, destination_id, message, topic, idempotency_key, send_to_forks)
        )

    @classmethod
    def send_bulk(
        cls,
        messages: list[SendMessage],
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
        send_to_forks: bool = False,
    ) -> None:
        """Send many ``SendMessage`` in one transaction: all are delivered, or (a destination
        does not exist) none. From a workflow: one step ("DBOS.send_bulk")."""
        ctx, fid = op_context(required=False)
        messages = _in_format(messages, serialization_type, ctx)
        require_runtime().engine.run(
            _msgs.send_bulk(
                require_runtime(), messages, send_to_forks=send_to_forks, ctx=ctx, fid=fid
            )
        )

    @classmethod
    async def send_bulk_async(
        cls,
        messages: list[SendMessage],
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
        send_to_forks: bool = False,
    ) -> None:
        """``send_bulk`` from async code."""
        ctx, fid = op_context(required=False)
        messages = _in_format(messages, serialization_type, ctx)
        await require_runtime().engine.arun(
            _msgs.send_bulk(
                require_runtime(), messages, send_to_forks=send_to_forks, ctx=ctx, fid=fid
            )
        )

    @classmethod
    def recv(cls, topic: str | None = None, timeout_seconds: float = 60) -> Any:
        """Inside a workflow: wait up to ``timeout_seconds`` for the next message on ``topic``
        (None on timeout); the receipt is recorded."""
        ctx, fid = op_context(required=True, what="recv")
        return require_runtime().engine.run(
            _comm.recv(require_runtime(), ctx, fid, topic, timeout_seconds)
        )

    @classmethod
    async def recv_async(cls, topic: str | None = None, timeout_seconds: float = 60) -> Any:
        """``recv`` from async code."""
        ctx, fid = op_context(required=True, what="recv")
        return await require_runtime().engine.arun(
            _comm.recv(require_runtime(), ctx, fid, topic, timeout_seconds)
        )

    @classmethod
    def set_event(
        cls,
        key: str,
        value: Any,
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
    ) -> None:
        """Inside a workflow or step: publish ``value`` under ``key`` for ``get_event`` readers."""
        ctx, fid = op_context(required=True, what="set_event", allow_step=True)
        value = ser.in_format(value, serialization_type, _fmt(ctx))
        require_runtime().engine.run(_comm.set_event(require_runtime(), ctx, fid, key, value))

    @classmethod
    async def set_event_async(
        cls,
        key: str,
        value: Any,
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
    ) -> None:
        """``set_event`` from async code."""
        ctx, fid = op_context(required=True, what="set_event", allow_step=True)
        value = ser.in_format(value, serialization_type, _fmt(ctx))
        await require_runtime().engine.arun(
            _comm.set_event(require_runtime(), ctx, fid, key, value)
        )

    @classmethod
    def get_event(
        cls,
        workflow_id: str,
        key: str,
        timeout_seconds: float = 60,
        *,
        shard_key: str | None = None,
    ) -> Any:
        """Wait up to ``timeout_seconds`` for the workflow's event ``key`` (None if unset)."""
        ctx, fid = op_context(required=False)
        return require_runtime().engine.run(
            _comm.get_event(require_runtime(), ctx, fid, workflow_id, key, timeout_seconds)
        )

    @classmethod
    async def get_event_async(
        cls,
        workflow_id: str,
        key: str,
        timeout_seconds: float = 60,
        *,
        shard_key: str | None = None,
    ) -> Any:
        """``get_event`` from async code."""
        ctx, fid = op_context(required=False)
        return await require_runtime().engine.arun(
            _comm.get_event(require_runtime(), ctx, fid, workflow_id, key, timeout_seconds)
        )

    @classmethod
    def get_all_events(cls, workflow_id: str, *, shard_key: str | None = None) -> dict[str, Any]:
        """Every event the workflow has set, key -> latest value."""
        rows = require_runtime().engine.run(require_runtime().sysdb.get_all_events(workflow_id))
        return {r.key: ser.deserialize(r.value) for r in rows}

    @classmethod
    async def get_all_events_async(
        cls, workflow_id: str, *, shard_key: str | None = None
    ) -> dict[str, Any]:
        """``get_all_events`` from async code."""
        rows = await require_runtime().engine.arun(
            require_runtime().sysdb.get_all_events(workflow_id)
        )
        return {r.key: ser.deserialize(r.value) for r in rows}

    @classmethod
    def sleep(cls, seconds: float) -> None:
        """Durable sleep inside a workflow (time.sleep elsewhere)."""
        import time

        ctx, fid = op_context(required=False)
        if ctx is None:
            time.sleep(seconds)
            return
        require_runtime().engine.run(_comm.sleep(require_runtime(), ctx, fid, seconds))

    @classmethod
    async def sleep_async(cls, seconds: float) -> None:
        """``sleep`` from async code (asyncio.sleep outside a workflow)."""
        import asyncio

        ctx, fid = op_context(required=False)
        if ctx is None:
            await asyncio.sleep(seconds)
            return
        await require_runtime().engine.arun(_comm.sleep(require_runtime(), ctx, fid, seconds))

    @classmethod
    def write_stream(
        cls,
        key: str,
        value: Any,
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
    ) -> None:
        """Inside a workflow or step: append ``value`` to the workflow's stream ``key``."""
        ctx, fid = op_context(required=True, what="write_stream", allow_step=True)
        value = ser.in_format(value, serialization_type, _fmt(ctx))
        require_runtime().engine.run(_comm.write_stream(require_runtime(), ctx, fid, key, value))

    @classmethod
    async def write_stream_async(
        cls,
        key: str,
        value: Any,
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
    ) -> None:
        """``write_stream`` from async code."""
        ctx, fid = op_context(required=True, what="write_stream", allow_step=True)
        value = ser.in_format(value, serialization_type, _fmt(ctx))
        await require_runtime().engine.arun(
            _comm.write_stream(require_runtime(), ctx, fid, key, value)
        )

    @classmethod
    def close_stream(cls, key: str) -> None:
        """Mark the workflow's stream ``key`` closed: readers stop after its last value."""
        ctx, fid = op_context(required=True, what="close_stream", allow_step=True)
        require_runtime().engine.run(
            _comm.write_stream(require_runtime(), ctx, fid, key, None, closing=True)
        )

    @classmethod
    async def close_stream_async(cls, key: str) -> None:
        """``close_stream`` from async code."""
        ctx, fid = op_context(required=True, what="close_stream", allow_step=True)
        await require_runtime().engine.arun(
            _comm.write_stream(require_runtime(), ctx, fid, key, None, closing=True)
        )

    @classmethod
    def read_stream(
        cls,
        workflow_id: str,
        key: str,
        *,
        offset: int = 0,
        polling_interval_sec: float | None = None,
        timeout_seconds: float | None = None,
        shard_key: str | None = None,
    ) -> Iterator[Any]:
        """Yield the stream's values from ``offset`` until it is closed or the workflow ends;
        ``DBOSStreamTimeoutError`` when a value takes longer than ``timeout_seconds``. From a
        workflow each value read is a recorded step."""
        yield from _streams.read_stream_sync(
            require_runtime(),
            workflow_id,
            key,
            offset=offset,
            timeout_seconds=timeout_seconds,
            polling_interval_sec=polling_interval_sec,
        )

    @classmethod
    async def read_stream_async(
        cls,
        workflow_id: str,
        key: str,
        *,
        offset: int = 0,
        polling_interval_sec: float | None = None,
        timeout_seconds: float | None = None,
        shard_key: str | None = None,
    ) -> AsyncIterator[Any]:
        """``read_stream`` from async code (an async generator)."""
        async for value in _streams.read_stream_async(
            require_runtime(),
            workflow_id,
            key,
            offset=offset,
            timeout_seconds=timeout_seconds,
            polling_interval_sec=polling_interval_sec,
        ):
            yield value

    @classmethod
    def read_stream_offset(
        cls,
        workflow_id: str,
        key: str,
        offset: int,
        *,
        polling_interval_sec: float | None = None,
        timeout_seconds: float | None = None,
        shard_key: str | None = None,
    ) -> Any:
        """The one value at ``offset``, waiting for it to be written; DBOSStreamTimeoutError
        after ``timeout_seconds``, or at once if the stream ended before that offset."""
        _streams.check_args(timeout_seconds, polling_interval_sec)
        r, done, value = _streams.reader(require_runtime(), workflow_id, key, offset)
        try:
            if done:
                return value
            coro = _streams.read_offset(r, offset, timeout_seconds, polling_interval_sec)
            return require_runtime().engine.run(coro)
        finally:
            r.end()

    @classmethod
    async def read_stream_offset_async(
        cls,
        workflow_id: str,
        key: str,
        offset: int,
        *,
        polling_interval_sec: float | None = None,
        timeout_seconds: float | None = None,
        shard_key: str | None = None,
    ) -> Any:
        """``read_stream_offset`` from async code."""
        _streams.check_args(timeout_seconds, polling_interval_sec)
        r, done, value = _streams.reader(require_runtime(), workflow_id, key, offset)
        try:
            if done:
                return value
            coro = _streams.read_offset(r, offset, timeout_seconds, polling_interval_sec)
            return await require_runtime().engine.arun(coro)
        finally:
            r.end()


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
    ctx: WorkflowContext | None,
    fid: int,
    dest: str,
    message: Any,
    topic: str | None,
    idempotency_key: str | None,
    send_to_forks: bool,
) -> None:
    """One message: the plain path, or (to forks too) the bulk one; both one step."""
    rt = require_runtime()
    if send_to_forks:
        msg = SendMessage(dest, message, topic, idempotency_key)
        await _msgs.send_bulk(rt, [msg], send_to_forks=True, ctx=ctx, fid=fid, name="DBOS.send")
    else:
        await _comm.send(rt, ctx, fid, dest, message, topic, idempotency_key)
