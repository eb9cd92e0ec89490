"""Statements a sync caller sends from its own thread, on a connection of that thread.

A ``DBOSClient.enqueue`` from sync code is one statement; handing it to the engine loop
and waiting for the answer costs two thread switches and the loop's machinery, about
as much again as the statement. So the client's sync enqueue runs the INIT on a plain
psycopg connection owned by the calling thread (opened at first use, with the same
``prepare_threshold`` as the pool, so the PgBouncer switch applies), retried on a lost
connection like the engine's statements. Everything else still goes through the engine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar, cast

import psycopg
from psycopg.rows import tuple_row

from dbos_queue.db.missing import schema_missing
from dbos_queue.db.sysdb import retryable

logger = logging.getLogger("dbos_queue")
T = TypeVar("T")
# A statement plan: yields (query, params), is sent each statement's first row, returns T.
Plan = Generator[tuple[str, Any], Any, T]


class ThreadConnections:
    """One autocommit connection per calling thread; all closed by :meth:`close`."""

    def __init__(self, url: str, prepare_threshold: int | None, retry_for_sec: float) -> None:
        self.url = url
        self.prepare_threshold = prepare_threshold
        self.retry_for_sec = retry_for_sec
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self.closed = False

    def _conn(self) -> psycopg.Connection[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                prepare_threshold=self.prepare_threshold,
                # Plans read rows by position (sysdb.init_workflow_plan): plain tuples,
                # not a named row class looked up for every result.
                row_factory=tuple_row,
            )
            with self._lock:
                if self.closed:
                    conn.close()
                    raise psycopg.OperationalError("the client was destroyed")
                self._all.append(conn)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        self._local.cur = None
        if conn is not None:
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)
            try:
                conn.close()
            except Exception:  # already broken
                pass

    def run(self, plan: Callable[[], Plan[T]] | Plan[T], also: tuple[str, Any] | None = None) -> T:
        """Drive a statement plan (a generator of (query, params), sent each row; see
        ``sysdb.init_workflow_plan``); the whole plan is retried on a lost connection,
        so it must be idempotent. ``also``: a statement pipelined with the plan's first
        one - same round trip, same transaction (e.g. the NOTIFY of an idle producer)."""
        make: Callable[[], Plan[T]] | None = plan if callable(plan) else None
        delay, deadline = 0.05, time.monotonic() + self.retry_for_sec
        while True:
            gen = make() if make is not None else cast("Plan[T]", plan)
            try:
                return self._drive(gen, also)
            except Exception as exc:
                missing = schema_missing(exc)  # no dbos schema: say so (db/missing.py)
                if missing is not None:
                    raise missing from exc
                if make is None or not retryable(exc) or time.monotonic() > deadline:
                    raise
                self._drop()
                logger.warning("system database unavailable (%s); retrying", exc)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _cursor(self, conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
        """This thread's cursor on ``conn``, kept between statements: a new cursor per
        statement (``conn.execute``) also makes a new adapter context, which finds and
        builds every parameter's dumper and every column's loader again, a fifth of a
        single enqueue's CPU."""
        cur = getattr(self._local, "cur", None)
        if cur is None or cur.connection is not conn or cur.closed:
            cur = self._local.cur = conn.cursor()
        return cur

    def _drive(self, gen: Plan[T], also: tuple[str, Any] | None) -> T:
        conn = self._conn()
        row: Any = None
        try:
            while True:
                query, args = gen.send(row)
                cur = self._cursor(conn)
                if also is not None:
                    with conn.pipeline():
                        cur.execute(query, args)  # type: ignore[arg-type]
                        conn.execute(also[0], also[1])  # type: ignore[arg-type]
                    also = None
                    row = cur.fetchone()
                    continue
                row = cur.execute(query, args).fetchone()  # type: ignore[arg-type]
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        except psycopg.OperationalError:
            self._drop()
            raise

    def close(self) -> None:
        """Close every thread's connection (the client is being destroyed)."""
        with self._lock:
            self.closed = True
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except Exception:
                pass
