"""``@DBOS.transaction`` (DBOS 2.x): a function run inside one application-database
transaction, recorded exactly once (engine/tx_once.py).

Inside the function ``DBOS.sql_session`` is a SQLAlchemy ``Session`` bound to that
transaction, as in DBOS (SQLAlchemy is the ``sqlalchemy`` extra), and
``DBOS.pg_connection`` is the same transaction's psycopg connection, for code that
prefers plain SQL with ``%s`` parameters. The output is kept in
``dbos.transaction_outputs`` of the application database.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from dbos_queue.db import migrate as _migrate
from dbos_queue.db import rows as _rows
from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine import tx_once as _once
from dbos_queue.error import DBOSException

ISOLATION = {
    "SERIALIZABLE": psycopg.IsolationLevel.SERIALIZABLE,
    "REPEATABLE READ": psycopg.IsolationLevel.REPEATABLE_READ,
    "READ COMMITTED": psycopg.IsolationLevel.READ_COMMITTED,
}
_pools: dict[int, ConnectionPool] = {}  # runtime -> psycopg pool (stored procedures too)
_engines: dict[int, Any] = {}  # runtime -> SQLAlchemy engine, when SQLAlchemy is installed
_NO_SQLALCHEMY = (
    "DBOS.sql_session is a SQLAlchemy Session, and SQLAlchemy is not installed: install it "
    "(pip install 'dbos-queue[sqlalchemy]'), or use DBOS.pg_connection, the transaction's "
    "psycopg connection"
)


def current_session() -> Any:
    """``DBOS.sql_session``: the running ``@DBOS.transaction``'s SQLAlchemy Session."""
    txn = _once.active.get()
    if txn is None or txn.owner != "dbos":
        raise DBOSException(
            "DBOS.sql_session is only available inside a @DBOS.transaction function"
        )
    if txn.session is None:
        raise DBOSException(_NO_SQLALCHEMY)
    return txn.session


def current_connection() -> psycopg.Connection[Any]:
    """``DBOS.pg_connection``: the running transaction's psycopg connection."""
    txn = _once.active.get()
    if txn is None or isinstance(txn.pg, psycopg.AsyncConnection):
        raise DBOSException(
            "DBOS.pg_connection is only available inside a @DBOS.transaction function "
            "(or a datasource's sync transaction)"
        )
    return txn.pg


def _sqlalchemy_engine(app_url: str, prepare: Any) -> Any:
    try:
        import sqlalchemy as sa
    except ImportError:
        return None
    url = sa.make_url(app_url).set(drivername="postgresql+psycopg")
    return sa.create_engine(
        url, pool_size=10, pool_pre_ping=True, connect_args={"prepare_threshold": prepare}
    )


def launch(rt: Any, app_url: str | None) -> None:
    """Open the application database pool(s) and create its output table."""
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
    engine = _sqlalchemy_engine(app_url, prepare)
    if engine is not None:
        _engines[id(rt)] = engine


def app_pool(rt: Any) -> ConnectionPool | None:
    """The application database's pool of a launched runtime (stored procedures use it)."""
    return _pools.get(id(rt))


def shutdown(rt: Any) -> None:
    """Close the application database's pool and engine of a runtime being destroyed."""
    pool = _pools.pop(id(rt), None)
    if pool is not None:
        pool.close()
    engine = _engines.pop(id(rt), None)
    if engine is not None:
        engine.dispose()


@contextmanager
def _begin_psycopg(pool: ConnectionPool, level: str) -> Generator[_once.Active, None, None]:
    with pool.connection() as conn:
        conn.isolation_level = ISOLATION[level]
        with conn.transaction():
            yield _once.Active("dbos", conn)


@contextmanager
def _begin_sqlalchemy(engine: Any, level: str) -> Generator[_once.Active, None, None]:
    from sqlalchemy.orm import Session

    with engine.connect() as conn:
        conn.execution_options(isolation_level=level)
        with conn.begin():
            # The Session joins this connection's transaction: its work, the user's
            # pg_connection statements and the output record commit together.
            session = Session(bind=conn, expire_on_commit=False)
            try:
                yield _once.Active("dbos", conn.connection.driver_connection, session)
            finally:
                session.close()


def _read(pg: Any, wf_id: str, fid: int) -> Any:
    row = _rows.run(pg, _sql.APP_TX_OUTPUT_GET, (wf_id, fid)).fetchone()
    return None if row is None else _once.Stored(row.output, row.error)


def _write(pg: Any, wf_id: str, fid: int, output: str, name: str, _fmt: str) -> bool:
    params = (wf_id, fid, output, None, name, now_ms())
    return _rows.run(pg, _sql.APP_TX_OUTPUT_PUT_ONCE, params).fetchone() is not None


OUTPUTS = _once.Outputs(read=_read, write=_write)


def _run(rt: Any, info: Any, level: str, call: Callable[[], Any]) -> Any:
    pool = _pools.get(id(rt))
    if pool is None:
        raise DBOSException(
            f"Transaction {info.name} needs an application database: set "
            "application_database_url in the DBOS config"
        )
    engine = _engines.get(id(rt))

    def begin() -> Any:
        return _begin_sqlalchemy(engine, level) if engine else _begin_psycopg(pool, level)

    return _once.run_sync(rt, info.name, begin, OUTPUTS, _once.DEFAULT_CODEC, call)


def decorator(
    level: str,
    name: str | None,
    register: Callable[..., Any],
    finish: Callable[..., Any],
    get_rt: Callable[[], Any],
) -> Callable[[Any], Any]:
    """``@DBOS.transaction(isolation_level, name=)``."""
    level = level.upper()
    if level not in ISOLATION:
        raise ValueError(f"isolation_level must be one of {sorted(ISOLATION)}, got {level!r}")

    def deco(func: Any) -> Any:
        if inspect.iscoroutinefunction(func):
            raise DBOSException(
                f"@DBOS.transaction needs a regular function, and {func.__qualname__} is a "
                "coroutine function: use an AsyncSQLAlchemyDatasource's transaction() instead"
            )
        info = register(func, "transaction", name)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from dbos_queue.engine.core import check_roles

            check_roles(info)
            with _tracing.step_span(info.name, "transaction"):
                return _run(get_rt(), info, level, lambda: func(*args, **kwargs))

        return finish(info, wrapper)

    return deco
