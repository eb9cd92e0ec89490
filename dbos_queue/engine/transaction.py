"""``@DBOS.transaction``: a function run inside one application-database transaction.

The function's output is inserted into ``dbos.transaction_outputs`` of the
application database *in the same transaction* as the function's own writes, so
a workflow recovered after a crash finds it and never commits the work twice.
The record is mirrored into the system database's ``operation_outputs`` so the
step shows in ``list_workflow_steps``.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from dbos_queue.db import migrate as _migrate
from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine.context import current_workflow
from dbos_queue.engine.core import explain_refusal, step_replay
from dbos_queue.error import DBOSException
from dbos_queue.model import serialization as ser

ISOLATION = {
    "SERIALIZABLE": psycopg.IsolationLevel.SERIALIZABLE,
    "REPEATABLE READ": psycopg.IsolationLevel.REPEATABLE_READ,
    "READ COMMITTED": psycopg.IsolationLevel.READ_COMMITTED,
}
_session: contextvars.ContextVar[psycopg.Connection[Any] | None] = contextvars.ContextVar(
    "dbos_queue_sql_session", default=None
)
_pools: dict[int, ConnectionPool] = {}


def current_session() -> psycopg.Connection[Any]:
    conn = _session.get()
    if conn is None:
        raise DBOSException(
            "DBOS.sql_session is only available inside a @DBOS.transaction function"
        )
    return conn


def launch(rt: Any, app_url: str | None) -> None:
    """Open the application database pool and create its output table."""
    if not app_url:
        return
    _migrate.ensure_database(app_url)
    ddl = (_migrate.migrations_dir() / "app" / "0001_transaction_outputs.sql").read_text()
    # The application database may sit behind PgBouncer too: the same prepare switch.
    prepare = rt.settings.prepare_threshold
    with psycopg.connect(app_url, prepare_threshold=prepare) as conn, conn.transaction():
        conn.execute(_sql.APP_SCHEMA_LOCK)
        conn.execute(ddl)  # type: ignore[arg-type]  # trusted file shipped with the package
    _pools[id(rt)] = ConnectionPool(
        app_url,
        min_size=1,
        max_size=10,
        open=True,
        name="dbos-app",
        kwargs={"prepare_threshold": prepare},
    )


def app_pool(rt: Any) -> ConnectionPool | None:
    """The application database's pool of a launched runtime (stored procedures use it)."""
    return _pools.get(id(rt))


def shutdown(rt: Any) -> None:
    pool = _pools.pop(id(rt), None)
    if pool is not None:
        pool.close()


def _run_in_transaction(rt: Any, info: Any, level: str, call: Callable[[], Any]) -> Any:
    pool = _pools.get(id(rt))
    if pool is None:
        raise DBOSException(
            f"Transaction {info.name} needs an application database: set "
            "application_database_url in the DBOS config"
        )
    ctx = current_workflow.get()
    if ctx is not None and ctx.in_step:
        ctx = None  # a transaction called from a step is part of that step
    fid = ctx.next_function_id() if ctx is not None else 0
    if ctx is not None:
        done, value = step_replay(ctx, fid, info.name)
        if done:
            return value
    started = now_ms()
    for attempt in range(10):
        try:
            output, error, exc, result = _attempt(pool, ctx, fid, info, level, call)
            break
        except psycopg.errors.SerializationFailure:
            time.sleep(min(0.01 * 2**attempt, 1.0))
    else:
        raise DBOSException(f"Transaction {info.name} kept failing to serialize; gave up")
    if ctx is not None:
        params = rt.sysdb.operation_params(
            ctx.workflow_id, ctx.owner, fid, info.name, output, error, started=started
        )
        if not rt.engine.run(rt.sysdb.record_operation(params)):
            rt.engine.run(explain_refusal(rt, ctx))
    if exc is not None:
        raise exc
    return result


def _attempt(
    pool: ConnectionPool, ctx: Any, fid: int, info: Any, level: str, call: Callable[[], Any]
) -> tuple:
    with pool.connection() as conn:
        conn.isolation_level = ISOLATION[level]
        if ctx is not None:
            row = conn.execute(_sql.APP_TX_OUTPUT_GET, (ctx.workflow_id, fid)).fetchone()
            conn.commit()
            if row is not None:  # committed before a crash: replay it
                exc = ser.deserialize_exception(row[1]) if row[1] is not None else None
                return row[0], row[1], exc, ser.deserialize(row[0]) if exc is None else None
        token = _session.set(conn)
        try:
            with conn.transaction():
                result = call()
                output = ser.serialize(result, f"output of transaction {info.name}")
                if ctx is not None:
                    conn.execute(
                        _sql.APP_TX_OUTPUT_PUT,
                        (ctx.workflow_id, fid, output, None, info.name, now_ms()),
                    )
            return output, None, None, result
        except psycopg.errors.SerializationFailure:
            raise
        except Exception as exc:
            return None, ser.serialize_exception(exc), exc, None
        finally:
            _session.reset(token)


def decorator(
    level: str,
    name: str | None,
    register: Callable[..., Any],
    finish: Callable[..., Any],
    get_rt: Callable[[], Any],
) -> Callable[[Any], Any]:
    level = level.upper()
    if level not in ISOLATION:
        raise ValueError(f"isolation_level must be one of {sorted(ISOLATION)}, got {level!r}")

    def deco(func: Any) -> Any:
        info = register(func, "transaction", name)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from dbos_queue.engine.core import check_roles

            check_roles(info)
            with _tracing.step_span(info.name, "transaction"):
                return _run_in_transaction(get_rt(), info, level, lambda: func(*args, **kwargs))

        return finish(info, wrapper)

    return deco
