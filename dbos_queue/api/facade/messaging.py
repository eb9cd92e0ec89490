"""The ``DBOS`` facade: send/recv, events, durable sleep, streams."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from dbos_queue.api.invoke import (
    _op_ctx,
    _rt,
)
from dbos_queue.engine import comm as _comm
from dbos_queue.model import serialization as ser

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("dbos_queue")


class Messaging:
    """``DBOS`` class methods: send/recv, events, durable sleep, streams."""

    @classmethod
    def send(cls, destination_id: str, message: Any, topic: str | None = None) -> None:
        ctx, fid = _op_ctx(required=False)
        _rt().engine.run(_comm.send(_rt(), ctx, fid, destination_id, message, topic))

    @classmethod
    async def send_async(cls, destination_id: str, message: Any, topic: str | None = None) -> None:
        ctx, fid = _op_ctx(required=False)
        await _rt().engine.arun(_comm.send(_rt(), ctx, fid, destination_id, message, topic))

    @classmethod
    def recv(cls, topic: str | None = None, timeout_seconds: float = 60) -> Any:
        ctx, fid = _op_ctx(required=True, what="recv")
        return _rt().engine.run(_comm.recv(_rt(), ctx, fid, topic, timeout_seconds))

    @classmethod
    async def recv_async(cls, topic: str | None = None, timeout_seconds: float = 60) -> Any:
        ctx, fid = _op_ctx(required=True, what="recv")
        return await _rt().engine.arun(_comm.recv(_rt(), ctx, fid, topic, timeout_seconds))

    @classmethod
    def set_event(cls, key: str, value: Any) -> None:
        ctx, fid = _op_ctx(required=True, what="set_event", allow_step=True)
        _rt().engine.run(_comm.set_event(_rt(), ctx, fid, key, value))

    @classmethod
    async def set_event_async(cls, key: str, value: Any) -> None:
        ctx, fid = _op_ctx(required=True, what="set_event", allow_step=True)
        await _rt().engine.arun(_comm.set_event(_rt(), ctx, fid, key, value))

    @classmethod
    def get_event(cls, workflow_id: str, key: str, timeout_seconds: float = 60) -> Any:
        ctx, fid = _op_ctx(required=False)
        return _rt().engine.run(_comm.get_event(_rt(), ctx, fid, workflow_id, key, timeout_seconds))

    @classmethod
    async def get_event_async(cls, workflow_id: str, key: str, timeout_seconds: float = 60) -> Any:
        ctx, fid = _op_ctx(required=False)
        return await _rt().engine.arun(
            _comm.get_event(_rt(), ctx, fid, workflow_id, key, timeout_seconds)
        )

    @classmethod
    def get_all_events(cls, workflow_id: str) -> dict[str, Any]:
        rows = _rt().engine.run(_rt().sysdb.get_all_events(workflow_id))
        return {k: ser.deserialize(v) for k, v in rows}

    @classmethod
    def sleep(cls, seconds: float) -> None:
        """Durable sleep inside a workflow (time.sleep elsewhere)."""
        import time

        ctx, fid = _op_ctx(required=False)
        if ctx is None:
            time.sleep(seconds)
            return
        _rt().engine.run(_comm.sleep(_rt(), ctx, fid, seconds))

    @classmethod
    async def sleep_async(cls, seconds: float) -> None:
        import asyncio

        ctx, fid = _op_ctx(required=False)
        if ctx is None:
            await asyncio.sleep(seconds)
            return
        await _rt().engine.arun(_comm.sleep(_rt(), ctx, fid, seconds))

    @classmethod
    def write_stream(cls, key: str, value: Any) -> None:
        ctx, fid = _op_ctx(required=True, what="write_stream", allow_step=True)
        _rt().engine.run(_comm.write_stream(_rt(), ctx, fid, key, value))

    @classmethod
    async def write_stream_async(cls, key: str, value: Any) -> None:
        ctx, fid = _op_ctx(required=True, what="write_stream", allow_step=True)
        await _rt().engine.arun(_comm.write_stream(_rt(), ctx, fid, key, value))

    @classmethod
    def close_stream(cls, key: str) -> None:
        ctx, fid = _op_ctx(required=True, what="close_stream", allow_step=True)
        _rt().engine.run(_comm.write_stream(_rt(), ctx, fid, key, None, closing=True))

    @classmethod
    async def close_stream_async(cls, key: str) -> None:
        ctx, fid = _op_ctx(required=True, what="close_stream", allow_step=True)
        await _rt().engine.arun(_comm.write_stream(_rt(), ctx, fid, key, None, closing=True))

    @classmethod
    def read_stream(cls, workflow_id: str, key: str) -> Iterator[Any]:
        """Yield the stream's values as they are written, until it is closed or the workflow ends."""
        rt, offset = _rt(), 0
        while True:
            values, finished = rt.engine.run(_comm.read_stream_chunk(rt, workflow_id, key, offset))
            yield from values
            offset += len(values)
            if finished:
                return

    @classmethod
    def read_stream_async(cls, workflow_id: str, key: str) -> AsyncIterator[Any]:
        return _comm.read_stream(_rt(), workflow_id, key)
