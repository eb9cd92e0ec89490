"""Reading streams as DBOS 3.4.0 does: from an offset, with a per-value timeout, and
checkpointed value by value when the reader is a workflow.

Outside a workflow a read is a plain wait on ``dbos.streams`` (woken by the stream
channel, else polled). Inside a workflow every delivered value — and the end of the
stream, and a timeout — is recorded as one step ("DBOS.readStream" or
"DBOS.readStreamOffset"), so a recovered workflow reads exactly what it read before.
Two reads of one workflow may not wait at the same time: which one would record
which value would depend on scheduling (``DBOSStreamNondeterminismError``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, cast

from dbos_queue.db import sql as _sql
from dbos_queue.db.loop import NOT_YET
from dbos_queue.db.sysdb import TERMINAL, now_ms
from dbos_queue.engine.comm import STREAM_CLOSED
from dbos_queue.engine.context import WorkflowContext, current_workflow
from dbos_queue.engine.core import explain_refusal
from dbos_queue.engine.recorded import replayed_output
from dbos_queue.error import (
    DBOSNonExistentWorkflowError,
    DBOSStreamNondeterminismError,
    DBOSStreamTimeoutError,
)
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import Row

if TYPE_CHECKING:
    from dbos_queue.engine.host import Host

READ_NAME = "DBOS.readStream"
READ_OFFSET_NAME = "DBOS.readStreamOffset"
_END: Any = object()
_active: set[str] = set()  # workflow ids with a stream read waiting in this process


def check_args(timeout_seconds: float | None, polling_interval_sec: float | None) -> None:
    """DBOS's argument checks: no negative timeout, a finite poll of at least 1 ms."""
    if timeout_seconds is not None and timeout_seconds < 0:
        raise ValueError(f"timeout_seconds must not be negative, got {timeout_seconds}")
    if polling_interval_sec is not None and (
        not math.isfinite(polling_interval_sec) or polling_interval_sec < 0.001
    ):
        raise ValueError(
            "polling_interval_sec must be a finite number at least 0.001 seconds, "
            f"got {polling_interval_sec}"
        )


async def wait_rows(
    rt: Host,
    wf_id: str,
    key: str,
    offset: int,
    timeout: float | None,
    poll: float | None,
    exact: bool = False,
) -> Any:
    """Stream rows from ``offset`` (only the one at ``offset`` when ``exact``), ``_END``
    once the stream or its workflow is finished without them, ``NOT_YET`` on timeout."""

    async def read() -> list[Row]:
        if exact:
            params = {"id": wf_id, "key": key, "offset": offset, "closed": STREAM_CLOSED}
            row = await rt.sysdb.fetchone(_sql.READ_STREAM_AT, params)
            return [row] if row is not None else []
        return await rt.sysdb.read_stream(wf_id, key, offset)

    async def check() -> Any:
        rows = await read()
        if rows:
            return rows
        status = await rt.sysdb.get_result_row(wf_id)
        if status is None:
            raise DBOSNonExistentWorkflowError("target", wf_id)
        if status.status in TERMINAL:
            return await read() or _END  # a value may have landed just before the end
        return NOT_YET

    return await rt.engine.wait_for(("stream", f"{wf_id}::{key}"), check, timeout, poll=poll)


class _Reader:
    """One read (one value) of a stream, checkpointed when ``ctx`` is a workflow."""

    def __init__(self, rt: Host, wf_id: str, key: str, name: str, checkpoint: bool = True) -> None:
        self.rt, self.wf_id, self.key, self.name = rt, wf_id, key, name
        ctx = current_workflow.get() if checkpoint else None
        self.ctx: WorkflowContext | None = ctx if ctx is not None and not ctx.in_step else None
        self.fid = 0
        self.marked = False

    def begin(self) -> tuple[bool, Any]:
        """Take this read's step id; (True, value or _END) when a replay settles it."""
        if self.ctx is None:
            return False, None
        self.fid = self.ctx.next_function_id()
        done, text = replayed_output(self.ctx, self.fid, self.name)
        if done:
            value = ser.deserialize(text) if text is not None else None
            return True, _END if value == STREAM_CLOSED else value
        if self.ctx.workflow_id in _active:
            raise DBOSStreamNondeterminismError(self.ctx.workflow_id, self.key)
        _active.add(self.ctx.workflow_id)
        self.marked = True
        return False, None

    def end(self) -> None:
        if self.marked and self.ctx is not None:
            _active.discard(self.ctx.workflow_id)
            self.marked = False

    async def record(self, text: str | None, error: BaseException | None = None) -> None:
        """Checkpoint the value's text (or the end, or the timeout error)."""
        if self.ctx is None:
            return
        if error is not None:
            output, err = None, ser.serialize_exception(error)
        else:
            output, err = (text if text is not None else ser.serialize(STREAM_CLOSED)), None
        params = self.rt.sysdb.operation_params(
            self.ctx.workflow_id, self.ctx.owner, self.fid, self.name, output, err, started=now_ms()
        )
        if not await self.rt.sysdb.record_operation(params):
            await explain_refusal(self.rt, self.ctx)


async def _next(
    r: _Reader, pending: deque[str], offset: int, timeout: float | None, poll: float | None
) -> Any:
    """The next value's text (``_END`` at the end), reading ahead into ``pending``."""
    if not pending:
        rows = await wait_rows(r.rt, r.wf_id, r.key, offset, timeout, poll)
        if rows is NOT_YET:
            error = DBOSStreamTimeoutError(r.wf_id, r.key, timeout)
            await r.record(None, error)
            raise error
        if rows is _END:
            await r.record(None)
            return _END
        pending.extend(row.value for row in rows)
    text = pending.popleft()
    if text == STREAM_CLOSED:
        pending.clear()
        await r.record(None)
        return _END
    await r.record(text)
    return text


def read_stream_sync(
    rt: Host,
    wf_id: str,
    key: str,
    *,
    offset: int = 0,
    timeout_seconds: float | None = None,
    polling_interval_sec: float | None = None,
    checkpoint: bool = True,
) -> Iterator[Any]:
    """Yield the stream's values from ``offset`` until it is closed or its workflow ends."""
    check_args(timeout_seconds, polling_interval_sec)
    pending: deque[str] = deque()
    while True:
        r = _Reader(rt, wf_id, key, READ_NAME, checkpoint)
        try:
            done, value = r.begin()
            if not done:
                coro = _next(r, pending, offset, timeout_seconds, polling_interval_sec)
                text = rt.engine.run(coro)
                value = _END if text is _END else ser.deserialize(text)
        finally:
            r.end()
        if value is _END:
            return
        yield value
        offset += 1


async def read_stream_async(
    rt: Host,
    wf_id: str,
    key: str,
    *,
    offset: int = 0,
    timeout_seconds: float | None = None,
    polling_interval_sec: float | None = None,
    checkpoint: bool = True,
) -> AsyncIterator[Any]:
    """The async twin of ``read_stream_sync``."""
    check_args(timeout_seconds, polling_interval_sec)
    pending: deque[str] = deque()
    while True:
        r = _Reader(rt, wf_id, key, READ_NAME, checkpoint)
        try:
            done, value = r.begin()
            if not done:
                text = await rt.engine.arun(
                    _next(r, pending, offset, timeout_seconds, polling_interval_sec)
                )
                value = _END if text is _END else ser.deserialize(text)
        finally:
            r.end()
        if value is _END:
            return
        yield value
        offset += 1


async def read_offset(r: _Reader, offset: int, timeout: float | None, poll: float | None) -> Any:
    """The value at ``offset`` (engine loop); DBOSStreamTimeoutError when none arrives in
    time, or at once when the stream ended before reaching it."""
    rows = await wait_rows(r.rt, r.wf_id, r.key, offset, timeout, poll, exact=True)
    error: DBOSStreamTimeoutError | None = None
    if rows is NOT_YET:
        error = DBOSStreamTimeoutError(r.wf_id, r.key, timeout)
    elif rows is _END or rows[0].value == STREAM_CLOSED:
        error = DBOSStreamTimeoutError(r.wf_id, r.key)
    if error is not None:
        await r.record(None, error)
        raise error
    await r.record(rows[0].value)
    return ser.deserialize(rows[0].value)


def reader(
    rt: Host, wf_id: str, key: str, offset: int, checkpoint: bool = True
) -> tuple[_Reader, bool, Any]:
    """(reader, replayed, value) for ``read_stream_offset``; call ``r.end()`` afterwards."""
    if not isinstance(cast(object, offset), int) or offset < 0:  # callers may not type-check
        raise ValueError(f"offset must be a non-negative integer, got {offset!r}")
    r = _Reader(rt, wf_id, key, READ_OFFSET_NAME, checkpoint)
    done, value = r.begin()
    if done and value is _END:
        raise DBOSStreamTimeoutError(wf_id, key)
    return r, done, value
