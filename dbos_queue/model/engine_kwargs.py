"""DBOS's ``db_engine_kwargs``: SQLAlchemy ``create_engine`` keywords, mapped onto our pool.

dbos_queue has no SQLAlchemy engine; its system database pool is psycopg's. The keywords
with a meaning for that pool are applied: ``pool_size`` (unless ``sys_db_pool_size`` is
given, which wins as in DBOS), ``pool_timeout`` (seconds a checkout waits), ``pool_recycle``
(a connection's lifetime, in seconds) and ``connect_args`` (libpq connection parameters
such as ``application_name``, ``connect_timeout``, ``options``, ``sslmode``; psycopg's
``prepare_threshold`` too, the PgBouncer switch). The pool keywords that describe
SQLAlchemy's own pool behaviour are accepted and change nothing here (``NO_EFFECT``).
Anything else is refused, as ``create_engine`` refuses a keyword it does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

APPLIED = ("pool_size", "pool_timeout", "pool_recycle", "connect_args")
# SQLAlchemy engine/pool keywords with no counterpart in a psycopg pool (pool_pre_ping:
# psycopg_pool checks a connection's state on return; max_overflow: the pool never grows
# past its size; the others are SQLAlchemy logging, caching and dialect options).
NO_EFFECT = (
    "max_overflow", "pool_pre_ping", "poolclass", "pool_use_lifo", "pool_reset_on_return",
    "echo", "echo_pool", "hide_parameters", "logging_name", "pool_logging_name",
    "execution_options", "isolation_level", "future", "query_cache_size", "plugins",
    "insertmanyvalues_page_size", "json_serializer", "json_deserializer",
)  # fmt: skip
# connect_args keys that are psycopg keywords, not libpq parameters.
PSYCOPG_ONLY = ("prepare_threshold",)


def _number(key: str, value: object, *, integer: bool = False) -> None:
    if value is None:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        what = "an int >= 1" if integer else "a number of seconds above 0"
        raise ValueError(f"db_engine_kwargs[{key!r}] must be {what}, got {value!r}")


def _connect_args(args: object) -> dict[str, Any]:
    if not isinstance(args, Mapping):
        raise ValueError("db_engine_kwargs['connect_args'] must be a dict of connection parameters")
    checked: dict[str, Any] = {}
    for key, value in cast("Mapping[object, object]", args).items():
        if str(key) not in PSYCOPG_ONLY and not isinstance(value, str | int | float):
            raise ValueError(
                f"db_engine_kwargs['connect_args'][{key!r}] must be a string or a number "
                f"(a libpq connection parameter), got {value!r}"
            )
        checked[str(key)] = value
    return checked


def check(kwargs: object) -> dict[str, Any]:
    """The given ``db_engine_kwargs``, checked; ValueError says what is wrong."""
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"db_engine_kwargs must be a dict, got {type(kwargs).__name__}")
    given = {str(k): v for k, v in cast("Mapping[object, Any]", kwargs).items()}
    unknown = sorted(set(given) - set(APPLIED) - set(NO_EFFECT))
    if unknown:
        raise ValueError(
            f"db_engine_kwargs: unknown key(s) {unknown}; dbos_queue applies "
            f"{list(APPLIED)} and accepts SQLAlchemy's pool options {list(NO_EFFECT)}"
        )
    _number("pool_size", given.get("pool_size"), integer=True)
    _number("pool_timeout", given.get("pool_timeout"))
    if given.get("pool_recycle") not in (None, -1):  # SQLAlchemy's -1: never recycle
        _number("pool_recycle", given.get("pool_recycle"))
    if given.get("connect_args") is not None:
        given["connect_args"] = _connect_args(given["connect_args"])
    return given


def with_connect_args(url: str, kwargs: Mapping[str, Any] | None) -> str:
    """``url`` with ``connect_args``' libpq parameters in its query (they win over the
    URL's own, as connect() keywords do)."""
    given: Mapping[str, Any] = (kwargs or {}).get("connect_args") or {}
    args = {k: v for k, v in given.items() if k not in PSYCOPG_ONLY}
    if not args:
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({str(k): str(v) for k, v in args.items()})
    return urlunsplit(parts._replace(query=urlencode(query)))


def fold_into(raw: dict[str, Any]) -> None:
    """Apply ``raw["db_engine_kwargs"]`` to the settings it stands for, in place: its pool
    size and prepare threshold unless those are set themselves (``sys_db_pool_size`` and
    ``prepare_threshold`` win)."""
    kwargs = raw.get("db_engine_kwargs")
    if kwargs is None:
        return
    kwargs = check(kwargs)
    raw["db_engine_kwargs"] = kwargs
    if kwargs.get("pool_size") is not None and "sys_db_pool_size" not in raw:
        raw["sys_db_pool_size"] = kwargs["pool_size"]
    args: Mapping[str, Any] = kwargs.get("connect_args") or {}
    if "prepare_threshold" in args and "prepare_threshold" not in raw:
        value = args["prepare_threshold"]
        raw["prepare_threshold"] = "off" if value is None else value
