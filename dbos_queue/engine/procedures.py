"""``@DBOS.stored_procedure()``: call a function that lives in the application database,
exactly once per workflow step, in one transaction and one round trip.

The Python function is a declaration (its body never runs): calling it sends one
simple-query message to the application database holding ``BEGIN``, the call with
its checkpoint insert into ``dbos.transaction_outputs`` (the table
``@DBOS.transaction`` checkpoints in), and ``COMMIT`` (``db/sql.py``,
``PROCEDURE_CALL_*``). The result is then mirrored into the system database like
any step's. A recovered workflow replays the step from the system database, or,
when the process died between the two commits, from the application database's
checkpoint; the function is never called twice. A serialization failure (or a
deadlock) rolls the call back and retries it, as a transaction does.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, LiteralString, cast

import psycopg
from psycopg import ClientCursor, pq
from psycopg import sql as pgsql
from psycopg.rows import namedtuple_row, tuple_row
from psycopg.types.json import Jsonb

from dbos_queue.db import rows as _rows
from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine import transaction as _transaction
from dbos_queue.engine.context import WorkflowContext, current_workflow
from dbos_queue.engine.core import check_roles, explain_refusal, step_replay
from dbos_queue.error import DBOSException
from dbos_queue.model import serialization as ser

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_RETRYABLE = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
_MAX_ATTEMPTS = 10
# The declared function (or its schema) is not in the application database.
_UNDEFINED = (
    psycopg.errors.UndefinedFunction,
    psycopg.errors.UndefinedObject,
    psycopg.errors.InvalidSchemaName,
)


@dataclass(frozen=True)
class Declaration:
    """What ``@DBOS.stored_procedure(...)`` was given."""

    name: str | None
    function: str | None
    procedure: bool
    isolation_level: str


@dataclass(frozen=True)
class _Target:
    name: str  # the step name recorded for the call
    parts: tuple[str, ...]  # (schema, function) or (function,)
    procedure: bool
    level: str


def _target(decl: Declaration, func: Callable[..., Any]) -> _Target:
    """Check a declaration when it is made (a bad one must not wait for its first call)."""
    level = decl.isolation_level.upper()
    if level not in _transaction.ISOLATION:
        raise ValueError(
            f"isolation_level must be one of {sorted(_transaction.ISOLATION)}, got "
            f"{decl.isolation_level!r}"
        )
    qualified = decl.function or func.__name__
    parts = tuple(qualified.split("."))
    if len(parts) > 2 or not all(_IDENT.match(p) for p in parts):
        raise ValueError(
            f"stored_procedure function={qualified!r} is not a database function name: give "
            "'name' or 'schema.name' (letters, digits, _ and $; not starting with a digit)"
        )
    return _Target(decl.name or func.__qualname__, parts, decl.procedure, level)


def _statement(
    target: _Target, args: tuple[Any, ...], kwargs: dict[str, Any], template: str
) -> tuple[pgsql.Composed, dict[str, Any]]:
    """The composed message and its parameters (arguments bound client-side)."""
    params: dict[str, Any] = {}
    pieces: list[pgsql.Composable] = []
    for i, value in enumerate(args):
        params[f"a{i}"] = _adapt(value)
        pieces.append(pgsql.Placeholder(f"a{i}"))
    for i, (key, value) in enumerate(kwargs.items()):
        params[f"k{i}"] = _adapt(value)
        pieces.append(
            pgsql.SQL("{} => {}").format(pgsql.Identifier(key), pgsql.Placeholder(f"k{i}"))
        )
    query = pgsql.SQL(template).format(  # type: ignore[arg-type]  # constants of db/sql.py
        # one of three fixed keywords (transaction.ISOLATION), checked at declaration
        level=pgsql.SQL(cast(LiteralString, target.level)),
        fn=pgsql.Identifier(*target.parts),
        args=pgsql.SQL(", ").join(pieces),
    )
    return query, params


def _adapt(value: Any) -> Any:
    # A dict has no SQL literal of its own; jsonb is what a function would take it as.
    return Jsonb(value) if isinstance(value, dict) else value


def _results(cur: ClientCursor[Any]) -> tuple[list[str], list[Any]]:
    """The column names and rows of the one result set in the message that has any
    (BEGIN/COMMIT have none)."""
    names: list[str] = []
    rows: list[Any] = []
    while True:
        if cur.description is not None:
            rows = cur.fetchall()
            names = [c.name for c in cur.description]
        if not cur.nextset():
            return names, rows


def _send(
    conn: psycopg.Connection[Any], query: Any, params: dict[str, Any], named: bool
) -> tuple[list[str], list[Any]]:
    """Send one message; on an error leave the connection idle again (ROLLBACK).

    ``named``: rows by column name (our statements); else plain tuples (a CALL's OUT
    parameters, named by the user's procedure, possibly not at all)."""
    cur = ClientCursor(conn, row_factory=namedtuple_row if named else tuple_row)
    try:
        cur.execute(query, params)
        return _results(cur)
    except BaseException:
        if conn.info.transaction_status == pq.TransactionStatus.INERROR:
            conn.execute(_sql.PROCEDURE_ROLLBACK)
        raise
    finally:
        cur.close()


def _undefined(target: _Target, exc: BaseException) -> DBOSException:
    kind = "procedure" if target.procedure else "function"
    return DBOSException(
        f"Stored procedure {target.name}: the application database has no {kind} "
        f"{'.'.join(target.parts)} taking these arguments ({str(exc).splitlines()[0]}). "
        "Create it with "
        "a migration of the application database (docs/stored-procedures.md)"
    )


def _is_own_checkpoint(exc: psycopg.errors.UniqueViolation) -> bool:
    return exc.diag.table_name == "transaction_outputs" and exc.diag.schema_name == "dbos"


def _decode_output(target: _Target, names: list[str], rows: list[Any]) -> Any:
    """The Python value of a call's result rows."""
    if not rows:
        return None
    row = rows[0]
    if target.procedure:  # the OUT / INOUT parameters of the CALL, if any (user-named)
        return row[0] if len(row) == 1 else dict(zip(names, row, strict=True))
    return json.loads(row.output) if row.output is not None else None


def _call_once(
    pool: Any,
    target: _Target,
    ctx: WorkflowContext | None,
    fid: int,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """One attempt: (value, replayed) — replayed when a committed checkpoint was found."""
    if ctx is None:
        template = (
            _sql.PROCEDURE_CALL_PROCEDURE_UNRECORDED
            if target.procedure
            else _sql.PROCEDURE_CALL_FUNCTION_UNRECORDED
        )
    else:
        template = (
            _sql.PROCEDURE_CALL_PROCEDURE if target.procedure else _sql.PROCEDURE_CALL_FUNCTION
        )
    query, params = _statement(target, args, kwargs, template)
    if ctx is not None:
        params.update(wf=ctx.workflow_id, fid=fid, name=target.name, now=now_ms())
    with pool.connection() as conn:
        conn.autocommit = True  # the message carries its own BEGIN/COMMIT
        try:
            try:
                names, rows = _send(conn, query, params, named=not target.procedure)
            except psycopg.errors.UniqueViolation as exc:
                if ctx is None or not _is_own_checkpoint(exc):
                    raise
                prior = _rows.run(conn, _sql.APP_TX_OUTPUT_GET, (ctx.workflow_id, fid)).fetchone()
                assert prior is not None
                return (json.loads(prior.output) if prior.output is not None else None), True
        finally:
            conn.autocommit = False
    if ctx is None or target.procedure:
        return _decode_output(target, names, rows), False
    row = rows[0]
    return (json.loads(row.output) if row.output is not None else None), row.replayed


def _attempts(
    pool: Any, target: _Target, ctx: Any, fid: int, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    for attempt in range(_MAX_ATTEMPTS):
        try:
            return _call_once(pool, target, ctx, fid, args, kwargs)[0]
        except _RETRYABLE:
            time.sleep(min(0.01 * 2**attempt, 1.0))
        except _UNDEFINED as exc:
            raise _undefined(target, exc) from None
    raise DBOSException(
        f"Stored procedure {target.name} kept failing to serialize ({_MAX_ATTEMPTS} attempts)"
    )


def call(rt: Any, target: _Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a declared stored procedure: checkpointed inside a workflow, plain elsewhere."""
    pool = _transaction.app_pool(rt)
    if pool is None:
        raise DBOSException(
            f"Stored procedure {target.name} needs an application database: set "
            "application_database_url in the DBOS config"
        )
    ctx = current_workflow.get()
    if ctx is not None and ctx.in_step:
        ctx = None  # called from a step: part of that step, recorded with it
    if ctx is None:
        return _attempts(pool, target, None, 0, args, kwargs)
    fid = ctx.next_function_id()
    done, value = step_replay(ctx, fid, target.name)
    if done:
        return value
    started = now_ms()
    result, exc = None, None
    try:
        result = _attempts(pool, target, ctx, fid, args, kwargs)
    except DBOSException:
        raise  # a missing function or endless conflicts: nothing ran, nothing to record
    except Exception as err:
        exc = err
    output = (
        ser.serialize(result, f"output of stored procedure {target.name}") if exc is None else None
    )
    error = ser.serialize_exception(exc) if exc is not None else None
    params = rt.sysdb.operation_params(
        ctx.workflow_id, ctx.owner, fid, target.name, output, error, started=started
    )
    if not rt.engine.run(rt.sysdb.record_operation(params)):
        rt.engine.run(explain_refusal(rt, ctx))
    if exc is not None:
        raise exc
    return result


def decorator(
    decl: Declaration,
    register: Callable[..., Any],
    finish: Callable[..., Any],
    get_rt: Callable[[], Any],
) -> Callable[[Any], Any]:
    """The ``@DBOS.stored_procedure(...)`` decorator for one declaration."""

    def deco(func: Any) -> Any:
        target = _target(decl, func)
        info = register(func, "procedure", target.name)

        def run(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            check_roles(info)
            with _tracing.step_span(target.name, "procedure"):
                return call(get_rt(), target, args, kwargs)

        if info.is_async:

            @functools.wraps(func)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                # The call blocks on the database: run it off the event loop (the
                # context, and with it the workflow, goes along).
                return await asyncio.to_thread(run, args, kwargs)

            return finish(info, awrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return run(args, kwargs)

        return finish(info, wrapper)

    return deco
