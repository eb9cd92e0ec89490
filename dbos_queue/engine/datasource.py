"""DBOS 3.x datasources: ``SQLAlchemyDatasource`` and ``AsyncSQLAlchemyDatasource``.

``ds = SQLAlchemyDatasource.create(url)`` (or the keyword constructor) owns a SQLAlchemy
engine for an application database. ``@ds.transaction()`` runs a function in one
transaction of it, where ``ds.sql_session()`` is the SQLAlchemy Session; called from a
workflow it is a checkpointed step, recorded exactly once in the datasource's
``<schema>.datasource_outputs`` table in the same transaction (engine/tx_once.py).
SQLAlchemy is the ``sqlalchemy`` extra; nothing here imports it until a datasource is made.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypedDict

from psycopg import sql as pgsql

from dbos_queue.db import migrate as _migrate
from dbos_queue.db import rows as _rows
from dbos_queue.db import sql as _sql
from dbos_queue.engine import app_outputs as _app_outputs
from dbos_queue.engine import tx_once as _once
from dbos_queue.engine.registry import registry
from dbos_queue.error import DBOSException
from dbos_queue.model import serialization as ser

LEVELS = _once.LEVELS


class DatasourceOptions(TypedDict, total=False):
    """``run_tx_step`` options: the step's name and the isolation level."""

    name: str | None
    isolation_level: str | None


def _sqlalchemy() -> Any:
    try:
        import sqlalchemy
    except ImportError:
        raise DBOSException(
            "Datasources need SQLAlchemy: install it with pip install 'dbos-queue[sqlalchemy]'"
        ) from None
    return sqlalchemy


def _psycopg_url(database_url: str) -> Any:
    sa = _sqlalchemy()
    url = sa.make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        raise DBOSException(f"Datasources need a PostgreSQL URL, got {url.drivername!r}")
    return url.set(drivername="postgresql+psycopg")


def _ddl(name: str, **idents: str) -> pgsql.Composed:
    text = (_migrate.migrations_dir() / "app" / name).read_text()
    return pgsql.SQL(text).format(**{k: pgsql.Identifier(v) for k, v in idents.items()})  # type: ignore[arg-type]


def _migrate_url(database_url: str, schema: str, role: str | None) -> None:
    import psycopg

    plain = _psycopg_url(database_url).set(drivername="postgresql")
    dsn = plain.render_as_string(hide_password=False)
    _migrate.ensure_database(dsn)
    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute(_sql.APP_SCHEMA_LOCK)
        conn.execute(_ddl("0011_datasource_outputs.sql", schema=schema))
        if role:
            conn.execute(_ddl("0011_datasource_grants.sql", schema=schema, role=role))


def _level(level: str | None) -> str:
    value = (level or "SERIALIZABLE").upper()
    if value not in LEVELS:
        raise ValueError(f"isolation_level must be one of {list(LEVELS)}, got {level!r}")
    return value


def _codec(serializer: ser.Serializer | None) -> _once.Codec:
    if serializer is None:
        return _once.DEFAULT_CODEC

    def loads(text: str, fmt: str | None) -> Any:
        if fmt is None or fmt == serializer.name():
            return serializer.deserialize(text)
        return ser.deserialize(text, fmt)

    return _once.Codec(dumps=lambda v: (serializer.serialize(v), serializer.name()), loads=loads)


class _Base:
    """What both datasources share: schema, serializer, sessionmaker, outputs SQL."""

    def __init__(
        self,
        database_url: str,
        engine: Any,
        schema: str | None,
        serializer: ser.Serializer | None,
        sessionmaker: Any,
    ) -> None:
        if sessionmaker is not None and getattr(sessionmaker, "kw", {}).get("binds"):
            raise DBOSException(
                "A datasource sessionmaker must not set binds=: every statement of a "
                "datasource transaction must use its engine to commit with the checkpoint"
            )
        self.database_url = database_url
        self.schema = schema or "dbos"
        self.serializer = serializer
        self.engine = engine
        self._codec = _codec(serializer)
        ident = pgsql.Identifier(self.schema)
        self._get = pgsql.SQL(_sql.DATASOURCE_OUTPUT_GET).format(schema=ident)  # type: ignore[arg-type]
        self._put = pgsql.SQL(_sql.DATASOURCE_OUTPUT_PUT).format(schema=ident)  # type: ignore[arg-type]
        _app_outputs.register(self)  # a rewind clears its checkpoints of the re-run steps

    def _name(self, options: DatasourceOptions | None, func: Callable[..., Any]) -> str:
        return (options or {}).get("name") or func.__qualname__

    def sql_session(self) -> Any:
        """The Session of this datasource's transaction running here."""
        txn = _once.active.get()
        if txn is None or txn.owner is not self:
            raise DBOSException("sql_session() must be called within a datasource transaction")
        return txn.session


class SQLAlchemyDatasource(_Base):
    """A synchronous SQLAlchemy datasource (DBOS 3.x)."""

    def __init__(
        self,
        *,
        database_url: str,
        engine_kwargs: dict[str, Any] | None = None,
        engine: Any = None,
        schema: str | None = None,
        serializer: ser.Serializer | None = None,
        sessionmaker: Any = None,
    ) -> None:
        sa = _sqlalchemy()
        from sqlalchemy.orm import sessionmaker as make_sessionmaker

        if engine is None:
            engine = sa.create_engine(_psycopg_url(database_url), **(engine_kwargs or {}))
        super().__init__(database_url, engine, schema, serializer, sessionmaker)
        self.sessionmaker = sessionmaker or make_sessionmaker(expire_on_commit=False)

    @staticmethod
    def migrate(
        database_url: str, *, schema: str | None = None, application_role: str | None = None
    ) -> None:
        """Create the outputs table (optionally granting ``application_role`` its use)."""
        _migrate_url(database_url, schema or "dbos", application_role)

    @staticmethod
    def create(
        database_url: str,
        engine_kwargs: dict[str, Any] | None = None,
        engine: Any = None,
        schema: str | None = None,
        serializer: ser.Serializer | None = None,
        sessionmaker: Any = None,
        run_migrations: bool = True,
    ) -> SQLAlchemyDatasource:
        """A datasource whose outputs table exists (created unless ``run_migrations=False``)."""
        ds = SQLAlchemyDatasource(
            database_url=database_url,
            engine_kwargs=engine_kwargs,
            engine=engine,
            schema=schema,
            serializer=serializer,
            sessionmaker=sessionmaker,
        )
        if run_migrations:
            ds.run_migrations()
        return ds

    def run_migrations(self) -> None:
        """Create this datasource's outputs table if needed."""
        _migrate_url(self.engine.url.render_as_string(hide_password=False), self.schema, None)

    @contextmanager
    def _begin(self, level: str) -> Generator[_once.Active, None, None]:
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level=level)
            with conn.begin():
                session = self.sessionmaker(bind=conn)
                try:
                    yield _once.Active(self, conn.connection.driver_connection, session)
                finally:
                    session.close()

    def _read(self, pg: Any, wf_id: str, fid: int) -> Any:
        return _rows.run(pg, self._get, (wf_id, fid)).fetchone()

    def _write(self, pg: Any, wf_id: str, fid: int, output: str, _name: str, fmt: str) -> bool:
        return _rows.run(pg, self._put, (wf_id, fid, output, None, fmt)).fetchone() is not None

    def run_tx_step(
        self, ds_options: DatasourceOptions | None, func: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any:
        """Run ``func(*args, **kw)`` in a transaction (a checkpointed step in a workflow)."""
        name = self._name(ds_options, func)
        if inspect.iscoroutinefunction(func):
            raise DBOSException(f"Function {name} is a coroutine: use an AsyncSQLAlchemyDatasource")
        level = _level((ds_options or {}).get("isolation_level"))
        outputs = _once.Outputs(read=self._read, write=self._write)
        return _once.run_sync(
            registry.process,
            name,
            lambda: self._begin(level),
            outputs,
            self._codec,
            lambda: func(*args, **kw),
        )

    def transaction(
        self,
        func: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        isolation_level: str = "SERIALIZABLE",
    ) -> Any:
        """``@ds.transaction()`` (or ``@ds.transaction``): run the function in a transaction."""
        options: DatasourceOptions = {"isolation_level": _level(isolation_level), "name": name}

        def deco(f: Callable[..., Any]) -> Callable[..., Any]:
            if inspect.iscoroutinefunction(f):
                raise DBOSException(
                    f"SQLAlchemyDatasource.transaction needs a regular function, but "
                    f"{f.__qualname__} is a coroutine function"
                )

            @functools.wraps(f)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return self.run_tx_step(options, f, *args, **kwargs)

            return wrapper

        return deco(func) if func is not None else deco


class AsyncSQLAlchemyDatasource(_Base):
    """An asyncio SQLAlchemy datasource (DBOS 3.x)."""

    def __init__(
        self,
        *,
        database_url: str,
        engine_kwargs: dict[str, Any] | None = None,
        engine: Any = None,
        schema: str | None = None,
        serializer: ser.Serializer | None = None,
        sessionmaker: Any = None,
    ) -> None:
        _sqlalchemy()
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        if engine is None:
            engine = create_async_engine(_psycopg_url(database_url), **(engine_kwargs or {}))
        super().__init__(database_url, engine, schema, serializer, sessionmaker)
        self.sessionmaker = sessionmaker or async_sessionmaker(expire_on_commit=False)

    @staticmethod
    async def migrate(
        database_url: str, *, schema: str | None = None, application_role: str | None = None
    ) -> None:
        """Create the outputs table (optionally granting ``application_role`` its use)."""
        import asyncio

        await asyncio.to_thread(_migrate_url, database_url, schema or "dbos", application_role)

    @staticmethod
    async def create(
        database_url: str,
        engine_kwargs: dict[str, Any] | None = None,
        engine: Any = None,
        schema: str | None = None,
        serializer: ser.Serializer | None = None,
        sessionmaker: Any = None,
        run_migrations: bool = True,
    ) -> AsyncSQLAlchemyDatasource:
        """A datasource whose outputs table exists (created unless ``run_migrations=False``)."""
        ds = AsyncSQLAlchemyDatasource(
            database_url=database_url,
            engine_kwargs=engine_kwargs,
            engine=engine,
            schema=schema,
            serializer=serializer,
            sessionmaker=sessionmaker,
        )
        if run_migrations:
            await ds.run_migrations()
        return ds

    async def run_migrations(self) -> None:
        """Create this datasource's outputs table if needed."""
        import asyncio

        url = self.engine.url.render_as_string(hide_password=False)
        await asyncio.to_thread(_migrate_url, url, self.schema, None)

    @asynccontextmanager
    async def _begin(self, level: str) -> AsyncGenerator[_once.Active, None]:
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level=level)
            async with conn.begin():
                raw = await conn.get_raw_connection()
                session = self.sessionmaker(bind=conn)
                try:
                    yield _once.Active(self, raw.driver_connection, session)
                finally:
                    await session.close()

    async def _read(self, pg: Any, wf_id: str, fid: int) -> Any:
        return await (await _rows.run_async(pg, self._get, (wf_id, fid))).fetchone()

    async def _write(
        self, pg: Any, wf_id: str, fid: int, output: str, _name: str, fmt: str
    ) -> bool:
        cur = await _rows.run_async(pg, self._put, (wf_id, fid, output, None, fmt))
        return await cur.fetchone() is not None

    async def run_tx_step_async(
        self, ds_options: DatasourceOptions | None, func: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any:
        """Run ``await func(*args, **kw)`` in a transaction (a checkpointed step in a workflow)."""
        name = self._name(ds_options, func)
        if not inspect.iscoroutinefunction(func):
            raise DBOSException(f"Function {name} must be a coroutine function for AsyncDatasource")
        level = _level((ds_options or {}).get("isolation_level"))
        outputs = _once.Outputs(read=self._read, write=self._write)
        return await _once.run_async(
            registry.process,
            name,
            lambda: self._begin(level),
            outputs,
            self._codec,
            lambda: func(*args, **kw),
        )

    def transaction(
        self,
        func: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        isolation_level: str = "SERIALIZABLE",
    ) -> Any:
        """``@ds.transaction()`` for coroutine functions."""
        options: DatasourceOptions = {"isolation_level": _level(isolation_level), "name": name}

        def deco(f: Callable[..., Any]) -> Callable[..., Any]:
            if not inspect.iscoroutinefunction(f):
                raise DBOSException(
                    f"AsyncSQLAlchemyDatasource.transaction needs a coroutine function, but "
                    f"{f.__qualname__} is not"
                )

            @functools.wraps(f)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.run_tx_step_async(options, f, *args, **kwargs)

            return wrapper

        return deco(func) if func is not None else deco
