"""Messages, events and streams on the system database (``SystemDatabase``'s part for
``DBOS.send``/``recv``, ``set_event``/``get_event`` and streams), each write atomic with
the step record of the workflow that makes it."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from dbos_queue.db import sql as _sql
from dbos_queue.db.runner import StatementRunner
from dbos_queue.model.records import Row

NULL_TOPIC = "__null__topic__"


class Refused(Exception):
    """Internal: a fenced write inside a transaction was refused; roll back."""


class MessageStatements(StatementRunner):
    """Messages, events and streams (one coroutine per statement or transaction)."""

    async def send(
        self,
        dest: str,
        topic: str | None,
        message: str,
        record: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> bool:
        """Insert a message; with ``record``, atomically with the sender's step record.
        A repeated ``idempotency_key`` to the same destination inserts nothing."""

        async def go(conn: AsyncConnection[Any]) -> bool:
            if record is not None:
                cur = await conn.execute(_sql.RECORD_OPERATION, record)
                if await cur.fetchone() is None:
                    return False
            # An idempotency key is scoped to its destination, as in DBOS.
            uuid = f"{idempotency_key}::{dest}" if idempotency_key is not None else None
            await conn.execute(_sql.SEND_MESSAGE, (dest, topic or NULL_TOPIC, message, uuid))
            return True

        return await self.transaction(go)

    async def consume_message(
        self, wf_id: str, topic: str | None, record: dict[str, Any], timed_out: bool
    ) -> tuple[bool, str | None]:
        """Take the oldest message and record it as the recv's output, in one transaction.

        Returns (recorded, message). With ``timed_out`` and no message, records None.
        """

        async def go(conn: AsyncConnection[Any]) -> tuple[bool, str | None]:
            cur = await conn.execute(
                _sql.CONSUME_MESSAGE, (record["fid"], wf_id, topic or NULL_TOPIC)
            )
            row = await cur.fetchone()
            if row is None and not timed_out:
                return True, None
            record["output"] = row.message if row is not None else None
            cur = await conn.execute(_sql.RECORD_OPERATION, record)
            if await cur.fetchone() is None:
                raise Refused()
            return True, record["output"]

        try:
            return await self.transaction(go)
        except Refused:
            return False, None

    async def set_event(
        self, wf_id: str, key: str, value: str, record: dict[str, Any] | None, step_fid: int = 0
    ) -> bool:
        """Set an event (and its history entry), with the step record if given, atomically."""

        async def go(conn: AsyncConnection[Any]) -> bool:
            if record is not None:
                cur = await conn.execute(_sql.RECORD_OPERATION, record)
                if await cur.fetchone() is None:
                    return False
            await conn.execute(_sql.SET_EVENT, (wf_id, key, value))
            fid = record["fid"] if record is not None else step_fid
            await conn.execute(_sql.SET_EVENT_HISTORY, (wf_id, fid, key, value))
            return True

        return await self.transaction(go)

    async def get_event(self, wf_id: str, key: str) -> Row | None:
        """The current value row of one workflow event, or None when unset."""
        return await self.fetchone(_sql.GET_EVENT, (wf_id, key))

    async def get_all_events(self, wf_id: str) -> list[Row]:
        """Every event key and value a workflow has set."""
        return await self.fetchall(_sql.GET_ALL_EVENTS, (wf_id,))

    async def write_stream(
        self, wf_id: str, key: str, value: str, fid: int, record: dict[str, Any] | None
    ) -> bool:
        """Append a stream value, with the step record if given, atomically; wakes readers."""

        async def go(conn: AsyncConnection[Any]) -> bool:
            if record is not None:
                cur = await conn.execute(_sql.RECORD_OPERATION, record)
                if await cur.fetchone() is None:
                    return False
            await conn.execute(
                _sql.WRITE_STREAM, {"id": wf_id, "key": key, "value": value, "fid": fid}
            )
            return True

        ok = await self.transaction(go)
        if ok:
            self.engine.publish("stream", f"{wf_id}::{key}")
        return ok

    async def read_stream(self, wf_id: str, key: str, offset: int) -> list[Row]:
        """The values of a workflow's stream from ``offset`` on, in order."""
        return await self.fetchall(_sql.READ_STREAM, (wf_id, key, offset))
