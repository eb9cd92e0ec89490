"""``DBOSClient``'s messages, events and streams (DBOS 3.4.0's methods), and the
``*_in_transaction`` forms that write on the caller's own connection.

``conn_or_session`` may be a psycopg connection, an SQLAlchemy ``Connection`` or an
SQLAlchemy ``Session`` on the system database: the rows are written in the caller's
transaction and become visible (and wake their readers) when it commits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg

from dbos_queue.api.handles import as_host
from dbos_queue.db import rows as _rows
from dbos_queue.db import sql as _sql
from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import NULL_TOPIC, SystemDatabase
from dbos_queue.engine import comm as _comm
from dbos_queue.engine import streams as _streams
from dbos_queue.error import DBOSNonExistentWorkflowError
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import SendMessage
from dbos_queue.ops import messages as _msgs

WorkflowSerializationFormat = ser.WorkflowSerializationFormat


def caller_cursor(conn_or_session: Any) -> Any:
    """A DB-API cursor on the caller's connection (psycopg, SQLAlchemy Connection/Session)."""
    conn = conn_or_session
    if hasattr(conn, "get_bind"):  # an SQLAlchemy Session: its connection in this transaction
        conn = conn.connection()
    raw = getattr(conn, "connection", None)
    if raw is not None and not isinstance(conn, psycopg.Connection):
        conn = getattr(raw, "dbapi_connection", None) or getattr(raw, "driver_connection", raw)
    if isinstance(conn, (psycopg.Connection, psycopg.AsyncConnection)):
        return _rows.named_cursor(conn)  # the caller's default row factory is left alone
    return conn.cursor()  # another DB-API driver: duck-typed, rows by position


def in_format(messages: list[SendMessage], serialization_type: Any) -> list[SendMessage]:
    """The messages marked for ``serialization_type`` (PORTABLE: plain JSON, as DBOS writes
    it; DEFAULT: the configured serializer, a client has no workflow to inherit from)."""
    out: list[SendMessage] = []
    for m in messages:
        value = ser.in_format(m.message, serialization_type)
        out.append(m if value is m.message else dataclasses.replace(m, message=value))
    return out


def insert_messages(cur: Any, messages: list[SendMessage], send_to_forks: bool) -> None:
    """``send_bulk``'s insert, on the caller's cursor (no retry, no commit)."""
    _msgs.check_messages(messages)
    forks: dict[str, list[str]] = {}
    if send_to_forks:
        cur.execute(_sql.FORK_DESCENDANTS, ([m.destination_id for m in messages],))
        for root, fork_id in cur.fetchall():
            forks.setdefault(root, []).append(fork_id)
    cols: list[list[Any]] = [[], [], [], []]
    for m in messages:
        text = ser.serialize(m.message, "message")
        for dest in [m.destination_id, *sorted(set(forks.get(m.destination_id, ())))]:
            uuid = f"{m.idempotency_key}::{dest}" if m.idempotency_key else None
            for col, value in zip(cols, (dest, m.topic or NULL_TOPIC, text, uuid), strict=True):
                col.append(value)
    try:
        cur.execute(_sql.SEND_MESSAGES, cols)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == "23503" or getattr(exc, "pgcode", None) == "23503":
            dests = ", ".join(sorted({m.destination_id for m in messages}))
            raise DBOSNonExistentWorkflowError("`send` destination", dests) from None
        raise


class ClientMessaging:
    """Mixed into ``DBOSClient``."""

    engine: Engine
    sysdb: SystemDatabase

    def send(
        self,
        destination_id: str,
        message: Any,
        topic: str | None = None,
        idempotency_key: str | None = None,
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
        send_to_forks: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """Send a message to a workflow (delivered once per ``idempotency_key``), written in
        ``serialization_type``'s format."""
        message = ser.in_format(message, serialization_type)
        self.engine.run(self._send(destination_id, message, topic, idempotency_key, send_to_forks))

    async def send_async(
        self,
        destination_id: str,
        message: Any,
        topic: str | None = None,
        idempotency_key: str | None = None,
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
        send_to_forks: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """``send`` from async code."""
        message = ser.in_format(message, serialization_type)
        await self.engine.arun(
            self._send(destination_id, message, topic, idempotency_key, send_to_forks)
        )

    async def _send(
        self, dest: str, message: Any, topic: str | None, key: str | None, to_forks: bool
    ) -> None:
        if to_forks:
            msgs = [SendMessage(dest, message, topic, key)]
            await _msgs.send_bulk(self, msgs, send_to_forks=True)
        else:
            await _comm.send(as_host(self), None, 0, dest, message, topic, key)

    def send_in_transaction(
        self,
        conn_or_session: Any,
        destination_id: str,
        message: Any,
        topic: str | None = None,
        idempotency_key: str | None = None,
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
        send_to_forks: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """``send`` in the caller's transaction: delivered when it commits, never if not."""
        msg = SendMessage(destination_id, message, topic, idempotency_key)
        msgs = in_format([msg], serialization_type)
        insert_messages(caller_cursor(conn_or_session), msgs, send_to_forks)

    def send_bulk(
        self,
        messages: list[SendMessage],
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
        send_to_forks: bool = False,
    ) -> None:
        """Send many messages in one transaction (all, or none if a destination is missing)."""
        _msgs.check_messages(messages)
        msgs = in_format(list(messages), serialization_type)
        self.engine.run(_msgs.send_bulk(self, msgs, send_to_forks=send_to_forks))

    async def send_bulk_async(
        self,
        messages: list[SendMessage],
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
        send_to_forks: bool = False,
    ) -> None:
        """``send_bulk`` from async code."""
        _msgs.check_messages(messages)
        msgs = in_format(list(messages), serialization_type)
        await self.engine.arun(_msgs.send_bulk(self, msgs, send_to_forks=send_to_forks))

    def send_bulk_in_transaction(
        self,
        conn_or_session: Any,
        messages: list[SendMessage],
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
        send_to_forks: bool = False,
    ) -> None:
        """``send_bulk`` in the caller's transaction."""
        _msgs.check_messages(messages)
        msgs = in_format(list(messages), serialization_type)
        insert_messages(caller_cursor(conn_or_session), msgs, send_to_forks)

    def get_event(
        self,
        workflow_id: str,
        key: str,
        timeout_seconds: float = 60,
        *,
        shard_key: str | None = None,
    ) -> Any:
        """Wait up to ``timeout_seconds`` for the workflow's event ``key`` (None if unset)."""
        return self.engine.run(
            _comm.get_event(as_host(self), None, 0, workflow_id, key, timeout_seconds)
        )

    async def get_event_async(
        self,
        workflow_id: str,
        key: str,
        timeout_seconds: float = 60,
        *,
        shard_key: str | None = None,
    ) -> Any:
        """``get_event`` from async code."""
        return await self.engine.arun(
            _comm.get_event(as_host(self), None, 0, workflow_id, key, timeout_seconds)
        )

    def read_stream(
        self,
        workflow_id: str,
        key: str,
        *,
        offset: int = 0,
        polling_interval_sec: float | None = None,
        timeout_seconds: float | None = None,
        shard_key: str | None = None,
    ) -> Iterator[Any]:
        """Yield the stream's values from ``offset`` until it is closed or the workflow ends."""
        yield from _streams.read_stream_sync(
            as_host(self),
            workflow_id,
            key,
            offset=offset,
            timeout_seconds=timeout_seconds,
            polling_interval_sec=polling_interval_sec,
            checkpoint=False,  # a client is not a workflow
        )

    async def read_stream_async(
        self,
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
            as_host(self),
            workflow_id,
            key,
            offset=offset,
            timeout_seconds=timeout_seconds,
            polling_interval_sec=polling_interval_sec,
            checkpoint=False,  # a client is not a workflow
        ):
            yield value

    def read_stream_offset(
        self,
        workflow_id: str,
        key: str,
        offset: int,
        *,
        polling_interval_sec: float | None = None,
        timeout_seconds: float | None = None,
        shard_key: str | None = None,
    ) -> Any:
        """The value at ``offset`` of the stream, waiting for it (see ``DBOS``'s)."""
        _streams.check_args(timeout_seconds, polling_interval_sec)
        r, _done, _value = _streams.reader(as_host(self), workflow_id, key, offset, False)
        return self.engine.run(
            _streams.read_offset(r, offset, timeout_seconds, polling_interval_sec)
        )

    async def read_stream_offset_async(
        self,
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
        r, _done, _value = _streams.reader(as_host(self), workflow_id, key, offset, False)
        return await self.engine.arun(
            _streams.read_offset(r, offset, timeout_seconds, polling_interval_sec)
        )
