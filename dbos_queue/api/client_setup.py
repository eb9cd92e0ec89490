"""What ``DBOSClient(...)``'s keywords mean: checked once, turned into engine settings.

DBOS 3.4.0's keywords keep their names and defaults. Ours: ``prepare_threshold``
(the PgBouncer switch; default from ``DBOS_QUEUE_PREPARE_THRESHOLD``, else psycopg's 5),
``listen_database_url`` (where the LISTEN connection goes when ``use_listen_notify``;
default ``DBOS_QUEUE_LISTEN_DATABASE_URL``, else the system URL), and the older spellings
``database_url`` and ``pool_size``. A value of the wrong type is a ``TypeError``; a value
of the right type that cannot work is a ``DBOSConfigError``; either names the keyword.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbos_queue.engine.registry import registry
from dbos_queue.error import DBOSConfigError, DBOSException
from dbos_queue.model import config as _config
from dbos_queue.model import serialization as ser
from dbos_queue.model.pgurl import normalize

DEFAULT_POOL_SIZE = 5  # DBOS's DEFAULT_CLIENT_POOL_SIZE
PREPARE_ENV = _config.ENV_VARS["prepare_threshold"]
LISTEN_ENV = _config.ENV_VARS["listen_database_url"]


class _FromEnv:
    def __repr__(self) -> str:
        return f"<${PREPARE_ENV}, else 5>"


FROM_ENV: Any = _FromEnv()


@dataclass(frozen=True)
class ClientSetup:
    """The engine a client opens."""

    url: str
    listen_url: str
    pool_size: int
    prepare_threshold: int | None
    retry_for_sec: float


def _typed(name: str, value: Any, types: tuple[type, ...], what: str) -> None:
    if value is None or (isinstance(value, types) and not isinstance(value, bool)):
        return  # (True is an int to Python, never a pool size or a timeout here)
    raise TypeError(f"DBOSClient({name}=...) must be {what}, not {type(value).__name__}")


def engine_url(engine: Any) -> str:
    """The URL of an SQLAlchemy engine (the client opens its own pool to it)."""
    url = getattr(engine, "url", None)
    render = getattr(url, "render_as_string", None)
    dialect = getattr(getattr(engine, "dialect", None), "name", None)
    if not callable(render) or not isinstance(dialect, str):
        raise TypeError(
            "DBOSClient(system_database_engine=...) must be an SQLAlchemy Engine "
            f"(sqlalchemy.create_engine('postgresql+psycopg://...')), not {type(engine).__name__}"
        )
    if dialect != "postgresql":
        raise DBOSConfigError(
            f"DBOSClient(system_database_engine=...) is a {dialect} engine; dbos_queue keeps "
            "its system database in Postgres only"
        )
    return normalize(str(render(hide_password=False)))


def _url(name: str, value: str) -> str:
    try:
        return _config.postgres_url(value)
    except ValueError as exc:
        raise DBOSConfigError(f"DBOSClient({name}=...): {exc}") from None


def _prepare(value: Any, env: Mapping[str, str]) -> int | None:
    source = "DBOSClient(prepare_threshold=...)"
    if value is FROM_ENV:
        if not env.get(PREPARE_ENV):
            return 5
        value, source = env[PREPARE_ENV], f"environment variable {PREPARE_ENV}"
    elif not isinstance(value, (int, str)) and value is not None:
        raise TypeError(
            f"DBOSClient(prepare_threshold=...) must be an int, None or 'off', "
            f"not {type(value).__name__}"
        )
    try:
        return _config.prepare_threshold(value)
    except ValueError as exc:
        raise DBOSConfigError(f"Invalid {source}: {value!r}. {exc}.") from None


def _system_url(given: str | None, engine: Any) -> tuple[str, str | None]:
    """The system database URL, and the listen URL the configuration names (if any)."""
    if engine is not None:  # DBOS: the engine wins over a URL
        return engine_url(engine), None
    if given is not None:
        return _url("system_database_url", given), None
    settings = _config.resolve(None)  # DBOS_SYSTEM_DATABASE_URL, dbos-config.yaml
    if settings.system_database_url is not None:
        return settings.system_database_url, settings.listen_database_url
    from dbos_queue.db.embedded import server_url

    return normalize(server_url()), settings.listen_database_url


def _check_serializer(serializer: Any) -> None:
    if serializer is None:
        return
    if not isinstance(serializer, str) and not all(
        callable(getattr(serializer, m, None)) for m in ("serialize", "deserialize")
    ):
        raise TypeError(
            'DBOSClient(serializer=...) must be "json", "pickle" or a Serializer instance, '
            f"not {type(serializer).__name__}"
        )
    if registry.process is not None:
        # One serializer per process: a launched app in this process already chose it.
        if serializer is not ser.current() and serializer != ser.current().name():
            raise DBOSException(
                "DBOSClient(serializer=...) inside a launched DBOS process: the client shares "
                "the application's serializer; configure it with DBOS(config={'serializer': ...})"
            )
        return
    ser.configure(serializer)


def client_setup(kw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ClientSetup:
    """Check ``DBOSClient.__init__``'s keywords (``kw``, by name) and derive its engine."""
    env = os.environ if environ is None else environ
    for name in ("system_database_url", "listen_database_url", "database_url"):
        _typed(name, kw[name], (str,), "a Postgres URL string")
    for name in ("use_listen_notify", "lazy", "retry_connection_errors", "sharding"):
        if not isinstance(kw[name], bool):
            raise TypeError(f"DBOSClient({name}=...) must be True or False, not {kw[name]!r}")
    for name in ("system_database_pool_size", "system_database_polling_concurrency", "pool_size"):
        _typed(name, kw[name], (int,), "an int")
    for name in ("observability_query_timeout_sec", "sys_db_idle_transaction_timeout_sec"):
        _typed(name, kw[name], (int, float), "a number of seconds")
    for name in ("dbos_system_schema", "application_name"):
        _typed(name, kw[name], (str,), "a string")
    if kw["lazy"] and kw["use_listen_notify"]:
        raise DBOSException(
            "A DBOSClient cannot be both lazy and use_listen_notify: the notification "
            "listener connects immediately."
        )
    if kw["sharding"]:
        raise DBOSException("DBOSClient(sharding=True): dbos_queue has no sharded system database")
    if kw["dbos_system_schema"] not in (None, "dbos"):
        raise DBOSConfigError(
            f"DBOSClient(dbos_system_schema={kw['dbos_system_schema']!r}): dbos_queue keeps its "
            "tables in the schema 'dbos'; leave dbos_system_schema unset"
        )
    given, legacy = kw["system_database_url"], kw["database_url"]
    if given and legacy and normalize(given) != normalize(legacy):
        raise DBOSConfigError(
            "DBOSClient got both system_database_url and database_url (its older name), "
            "naming different databases; pass only system_database_url"
        )
    url, configured_listen = _system_url(given or legacy, kw["system_database_engine"])
    listen = kw["listen_database_url"] or env.get(LISTEN_ENV) or configured_listen
    pool = next(
        (kw[k] for k in ("system_database_pool_size", "pool_size") if kw[k] is not None),
        DEFAULT_POOL_SIZE,
    )
    if pool < 1:
        raise DBOSConfigError(f"DBOSClient(system_database_pool_size={pool}) must be at least 1")
    _check_serializer(kw["serializer"])
    return ClientSetup(
        url=url,
        listen_url=_url("listen_database_url", listen)
        if listen and kw["use_listen_notify"]
        else url,
        pool_size=pool,
        prepare_threshold=_prepare(kw["prepare_threshold"], env),
        retry_for_sec=60.0 if kw["retry_connection_errors"] else 0.0,
    )
