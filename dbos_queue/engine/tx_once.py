"""Exactly-once application-database transactions: the protocol behind ``@DBOS.transaction``
and the datasources' ``@ds.transaction()``.

Inside a workflow a transaction is operation ``fid`` of it. Its output is inserted into
an outputs table of the *application* database in the same transaction as the user's
own writes, after checking that this execution still owns the workflow; so the work
commits at most once even when a crash hides whether it did. The result is then
mirrored into the system database's ``operation_outputs`` (fenced, like any step). On
replay the mirror answers; when the crash came between commit and mirror, the outputs
table does. Serialization failures and deadlocks re-run the whole attempt with backoff.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg

from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine.context import WorkflowContext, current_workflow
from dbos_queue.engine.core import explain_refusal, step_replay
from dbos_queue.error import DBOSException
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import Row

LEVELS = ("SERIALIZABLE", "REPEATABLE READ", "READ COMMITTED")
_FIRST_WAIT, _BACKOFF, _MAX_WAIT = 0.001, 1.5, 2.0


@dataclass
class Active:
    """The transaction running here: whose it is, its psycopg connection, its Session."""

    owner: Any  # "dbos" for @DBOS.transaction, else the datasource
    pg: Any  # psycopg (Async)Connection inside the transaction
    session: Any = None  # SQLAlchemy (Async)Session, when the backend has one


active: contextvars.ContextVar[Active | None] = contextvars.ContextVar(
    "dbos_queue_transaction", default=None
)


@dataclass
class Codec:
    """How a backend stores a transaction's output in its outputs table."""

    dumps: Callable[[Any], tuple[str, str]]  # value -> (text, format name)
    loads: Callable[[str, str | None], Any]  # (text, format name) -> value


DEFAULT_CODEC = Codec(
    dumps=lambda v: (ser.serialize(v, "output of a transaction"), ser.current_format()),
    loads=lambda text, fmt: ser.deserialize(text, fmt),
)


class Stored(NamedTuple):
    """An outputs-table row as ``Outputs.read`` gives it, for a table without a format
    column (a datasource's DATASOURCE_OUTPUT_GET row has the same fields)."""

    output: str | None
    error: str | None
    serialization: str | None = None


@dataclass
class Outputs:
    """A backend's outputs table: ``read(pg, wf, fid)`` -> a row with ``output``, ``error``
    and ``serialization`` (format) or None; ``write(pg, wf, fid, output, name, format)``
    -> False when a row was there already."""

    read: Callable[..., Any]
    write: Callable[..., Any]


class _Recorded(Exception):
    """The outputs table already held this operation's row: roll back and replay it."""


class _Lost(Exception):
    """This execution no longer owns the workflow: roll back, then find out why."""


class _UserError(Exception):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


@dataclass
class Outcome:
    """What one transaction run (or its replay) produced: texts to record, and the value."""

    output: str | None = None  # the configured format's text (the mirror's)
    error: str | None = None
    exc: BaseException | None = None
    result: Any = None


def retryable(exc: BaseException) -> bool:
    """A serialization failure or deadlock (psycopg's, or wrapped by SQLAlchemy)."""
    kinds = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
    return isinstance(exc, kinds) or isinstance(getattr(exc, "orig", None), kinds)


def workflow_here() -> WorkflowContext | None:
    """The workflow a transaction called here belongs to (None: outside one, or in a step)."""
    ctx = current_workflow.get()
    return None if ctx is None or ctx.in_step else ctx


def _replayed(row: Row, codec: Codec) -> Outcome:
    output, error, fmt = row.output, row.error, row.serialization
    if error is not None:
        exc = ser.deserialize_exception(error)
        return Outcome(None, error, exc)
    value = codec.loads(output, fmt) if output is not None else None
    return Outcome(ser.serialize(value, "output of a transaction"), None, None, value)


def _stored(codec: Codec, result: Any, text: str) -> tuple[str, str]:
    """The outputs-table text: the mirror's own unless the backend has another format."""
    return (text, ser.current_format()) if codec is DEFAULT_CODEC else codec.dumps(result)


def _owned(state: Row | None, ctx: WorkflowContext) -> bool:
    return state is not None and state.status == "PENDING" and state.owner_xid == ctx.owner


def _mirror(
    rt: Any, ctx: WorkflowContext, fid: int, name: str, o: Outcome, started: int
) -> dict[str, Any]:
    return rt.sysdb.operation_params(
        ctx.workflow_id, ctx.owner, fid, name, o.output, o.error, started=started
    )


# --- sync ---------------------------------------------------------------------------------


def _attempt_sync(
    rt: Any,
    begin: Callable[[], AbstractContextManager[Active]],
    outputs: Outputs,
    codec: Codec,
    ctx: WorkflowContext | None,
    fid: int,
    name: str,
    call: Callable[[], Any],
) -> Outcome:
    try:
        with begin() as txn:
            if ctx is not None:
                row = outputs.read(txn.pg, ctx.workflow_id, fid)
                if row is not None:  # committed before a crash: replay it
                    return _replayed(row, codec)
            token = active.set(txn)
            try:
                result = call()
            except Exception as exc:
                if retryable(exc):
                    raise
                raise _UserError(exc) from exc
            finally:
                active.reset(token)
            if txn.session is not None:
                txn.session.flush()  # generated keys and defaults, as the caller sees them
            text = ser.serialize(result, f"output of transaction {name}")
            if ctx is not None:
                stored, fmt = _stored(codec, result, text)
                if not outputs.write(txn.pg, ctx.workflow_id, fid, stored, name, fmt):
                    raise _Recorded()
                if not _owned(rt.engine.run(rt.sysdb.fence_state(ctx.workflow_id)), ctx):
                    raise _Lost()
            return Outcome(text, None, None, result)
    except _UserError as e:
        return Outcome(None, ser.serialize_exception(e.exc), e.exc)


def run_sync(
    rt: Any,
    name: str,
    begin: Callable[[], AbstractContextManager[Active]],
    outputs: Outputs,
    codec: Codec = DEFAULT_CODEC,
    call: Callable[[], Any] = lambda: None,
) -> Any:
    """Run ``call`` in one transaction, exactly once per workflow operation."""
    ctx = workflow_here()
    fid = ctx.next_function_id() if ctx is not None else 0
    if ctx is not None:
        done, value = step_replay(ctx, fid, name)
        if done:
            return value
    started, wait = now_ms(), _FIRST_WAIT
    while True:
        try:
            outcome = _attempt_sync(rt, begin, outputs, codec, ctx, fid, name, call)
            break
        except _Recorded:
            with begin() as txn:  # a concurrent execution's commit: its row is the result
                row = outputs.read(txn.pg, ctx.workflow_id, fid) if ctx else None
            if row is None:
                raise DBOSException(f"Transaction {name}: its recorded output vanished") from None
            outcome = _replayed(row, codec)
            break
        except _Lost:
            assert ctx is not None
            rt.engine.run(explain_refusal(rt, ctx))
            raise DBOSException(f"Transaction {name} lost its workflow") from None
        except Exception as exc:
            if not retryable(exc):
                raise
            time.sleep(wait)
            wait = min(wait * _BACKOFF, _MAX_WAIT)
    return _finish_sync(rt, ctx, fid, name, outcome, started)


def _finish_sync(rt: Any, ctx: Any, fid: int, name: str, outcome: Outcome, started: int) -> Any:
    if ctx is not None:
        params = _mirror(rt, ctx, fid, name, outcome, started)
        if not rt.sysdb.record_operation_blocking(params):
            rt.engine.run(explain_refusal(rt, ctx))
    if outcome.exc is not None:
        raise outcome.exc
    return outcome.result


# --- async --------------------------------------------------------------------------------


async def _attempt_async(
    rt: Any,
    begin: Callable[[], AbstractAsyncContextManager[Active]],
    outputs: Outputs,
    codec: Codec,
    ctx: WorkflowContext | None,
    fid: int,
    name: str,
    call: Callable[[], Any],
) -> Outcome:
    try:
        async with begin() as txn:
            if ctx is not None:
                row = await outputs.read(txn.pg, ctx.workflow_id, fid)
                if row is not None:
                    return _replayed(row, codec)
            token = active.set(txn)
            try:
                result = await call()
            except Exception as exc:
                if retryable(exc):
                    raise
                raise _UserError(exc) from exc
            finally:
                active.reset(token)
            if txn.session is not None:
                await txn.session.flush()
            text = ser.serialize(result, f"output of transaction {name}")
            if ctx is not None:
                stored, fmt = _stored(codec, result, text)
                if not await outputs.write(txn.pg, ctx.workflow_id, fid, stored, name, fmt):
                    raise _Recorded()
                state = await rt.engine.arun(rt.sysdb.fence_state(ctx.workflow_id))
                if not _owned(state, ctx):
                    raise _Lost()
            return Outcome(text, None, None, result)
    except _UserError as e:
        return Outcome(None, ser.serialize_exception(e.exc), e.exc)


async def run_async(
    rt: Any,
    name: str,
    begin: Callable[[], AbstractAsyncContextManager[Active]],
    outputs: Outputs,
    codec: Codec,
    call: Callable[[], Any],
) -> Any:
    """``run_sync`` for coroutine functions (an async datasource)."""
    ctx = workflow_here()
    fid = ctx.next_function_id() if ctx is not None else 0
    if ctx is not None:
        done, value = step_replay(ctx, fid, name)
        if done:
            return value
    started, wait = now_ms(), _FIRST_WAIT
    while True:
        try:
            outcome = await _attempt_async(rt, begin, outputs, codec, ctx, fid, name, call)
            break
        except _Recorded:
            async with begin() as txn:
                row = await outputs.read(txn.pg, ctx.workflow_id, fid) if ctx else None
            if row is None:
                raise DBOSException(f"Transaction {name}: its recorded output vanished") from None
            outcome = _replayed(row, codec)
            break
        except _Lost:
            assert ctx is not None
            await rt.engine.arun(explain_refusal(rt, ctx))
            raise DBOSException(f"Transaction {name} lost its workflow") from None
        except Exception as exc:
            if not retryable(exc):
                raise
            await asyncio.sleep(wait)
            wait = min(wait * _BACKOFF, _MAX_WAIT)
    if ctx is not None:
        params = _mirror(rt, ctx, fid, name, outcome, started)
        if not await rt.engine.arun(rt.sysdb.record_operation(params)):
            await rt.engine.arun(explain_refusal(rt, ctx))
    if outcome.exc is not None:
        raise outcome.exc
    return outcome.result
