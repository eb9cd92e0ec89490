"""``DBOSClient``'s messages, events and streams (DBOS 3.4.0's methods), and the
``*_in_transaction`` forms that write on the caller's own connection.

``conn_or_session`` may be a psycopg connection, an SQLAlchemy ``Connection`` or an
SQLAlchemy ``Session`` on the system database: the rows are written in the caller's
transaction and become visible (and wake their readers) when it commits.
"""

from __future__ import annotations

from typing import Any

import psycopg

from dbos_queue.api import client_specs, specs
from dbos_queue.api.twin import ON_CLIENT, twins
from dbos_queue.db import rows as _rows
from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import NULL_TOPIC
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
    """Mixed into ``DBOSClient``: its methods are built (``api.twin``) from
    ``api.client_specs`` (send, send_bulk) and ``api.specs`` (events, streams)."""

    send, send_async = twins(client_specs.send, ON_CLIENT)
    send_bulk, send_bulk_async = twins(client_specs.send_bulk, ON_CLIENT)
    get_event, get_event_async = twins(specs.get_event, ON_CLIENT)
    # a client is not a workflow: its stream reads are not recorded (checkpoint=False)
    read_stream, read_stream_async = specs.stream_twins(specs.read_stream, ON_CLIENT, False)
    read_stream_offset, read_stream_offset_async = specs.offset_twins(
        specs.read_stream_offset, ON_CLIENT, False
    )

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
        msgs = client_specs.in_format([msg], serialization_type)
        insert_messages(caller_cursor(conn_or_session), msgs, send_to_forks)

    def send_bulk_in_transaction(
        self,
        conn_or_session: Any,
        messages: list[SendMessage],
        *,
        serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
        send_to_forks: bool = False,
    ) -> None:
        """``send_bulk`` in the caller's transaction."""
        msgs = client_specs.checked_in_format(messages, serialization_type)
        insert_messages(caller_cursor(conn_or_session), msgs, send_to_forks)
