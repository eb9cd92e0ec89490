"""Queue limits changed at runtime (``set_queue_limits``): stored in ``dbos.queues``, marked
as set at runtime (a declaration in code no longer overrides them), announced to every
worker, which applies them at its next settings refresh."""

from __future__ import annotations

from typing import Any

from dbos_queue.db import sql as _sql
from dbos_queue.db import versions as _versions
from dbos_queue.error import DBOSException, DBOSQueueSettingsError
from dbos_queue.queue.settings import check_limiter, check_positive

_UNSET: Any = object()

# The counts a caller may change: (keyword, its name in errors, SET_QUEUE_LIMITS's flag).
_COUNTS = (
    ("global_concurrency", "concurrency", "set_global"),
    ("worker_concurrency", "worker_concurrency", "set_worker"),
    ("partition_concurrency", "partition_concurrency", "set_pconc"),
    ("partition_worker_concurrency", "partition_worker_concurrency", "set_pworker"),
)
# The rate limits: (keyword, SET_QUEUE_LIMITS's flag, its limit and period columns).
_RATES = (
    ("limiter", "set_rate", "rate_limit_max", "rate_limit_period_sec"),
    (
        "partition_limiter",
        "set_prate",
        "partition_rate_limit_max",
        "partition_rate_limit_period_sec",
    ),
)


async def set_queue_limits(
    sysdb: Any,
    name: str,
    *,
    global_concurrency: Any = _UNSET,
    worker_concurrency: Any = _UNSET,
    limiter: Any = _UNSET,
    partition_concurrency: Any = _UNSET,
    partition_worker_concurrency: Any = _UNSET,
    partition_limiter: Any = _UNSET,
    polling_interval_sec: float | None = None,
    paused: bool | None = None,
) -> bool:
    """Store new limits for ``name`` (marked as set at runtime); False if no such queue.

    Only the limits given change (None clears a limit); every worker applies them at
    its next settings refresh (within a second), and at once in this process.
    """
    given = {
        "global_concurrency": global_concurrency,
        "worker_concurrency": worker_concurrency,
        "limiter": limiter,
        "partition_concurrency": partition_concurrency,
        "partition_worker_concurrency": partition_worker_concurrency,
        "partition_limiter": partition_limiter,
    }
    changes = {key: value for key, value in given.items() if value is not _UNSET}
    params = limit_params(name, changes, polling_interval_sec, paused)
    row = await sysdb.fetchone(_sql.SET_QUEUE_LIMITS, params)
    if row is not None:
        sysdb.engine.publish("queue", name, count=0)  # count 0: every worker re-reads them
    return row is not None


def limit_params(
    name: str, changes: dict[str, Any], polling_interval_sec: float | None, paused: bool | None
) -> dict[str, Any]:
    """``SET_QUEUE_LIMITS``'s parameters for ``changes`` (``set_queue_limits``'s keyword ->
    new value; a limit not in it is left as stored), after checking every value given.

    Raises ``DBOSQueueSettingsError`` naming the first setting that is not valid.
    """
    for key, label, _flag in _COUNTS:
        if key in changes:
            check_positive(f"{name} {label}", changes[key])
    for key, _flag, _limit, _period in _RATES:
        if key in changes:
            check_limiter(f"{name} {key}", changes[key])
    if polling_interval_sec is not None and not polling_interval_sec > 0:
        raise DBOSQueueSettingsError(f"Queue {name}: polling_interval_sec must be positive")
    params: dict[str, Any] = {
        "name": name,
        "polling_interval_sec": polling_interval_sec,
        "paused": paused,
    }
    for key, _label, flag in _COUNTS:
        params[flag] = key in changes
        params[key] = changes.get(key)
    for key, flag, limit_column, period_column in _RATES:
        rate = changes.get(key)
        params[flag] = key in changes
        params[limit_column] = rate["limit"] if rate is not None else None
        params[period_column] = float(rate["period"]) if rate is not None else None
    return params


def _stored_as_declared(row: Any, params: dict[str, Any]) -> bool:
    """Whether ``REGISTER_QUEUE`` with ``params`` would leave ``row`` as it is (declared
    settings in force, owned by this application or by nobody who could claim it)."""
    if row.source != "code":
        return False  # a runtime change: the declaration may restore it (overwrite)
    if params["owner"] is not None and row.application_name != params["owner"]:
        return False  # unclaimed (the write claims it) or another's (the write refuses)
    if not params["overwrite"]:
        return True
    declared = {k: v for k, v in params.items() if k not in ("name", "overwrite", "owner")}
    return all(getattr(row, k) == v for k, v in declared.items())


async def register_queue_row(
    sysdb: Any, settings: Any, *, on_conflict: str, owner: str | None, app_version: str | None
) -> Any:
    """``register_queue``'s write, DBOS 3.x: store ``settings`` by ``on_conflict`` and
    return the stored row (``GET_QUEUE_OWNED``).

    "always_update" replaces the stored limits (runtime changes included);
    "never_update" only inserts a missing row; "update_if_latest_version" replaces them
    when ``app_version`` is the application's latest version, else acts as
    "never_update" (an older version in a rolling deploy leaves the newer settings).
    ``owner`` claims an unclaimed row; a name another application owns raises
    ``DBOSException`` and changes nothing.
    """
    overwrite = on_conflict == "always_update"
    if on_conflict == "update_if_latest_version":
        try:
            latest = await _versions.latest(sysdb, owner)
            overwrite = latest["version_name"] == app_version
        except DBOSException:  # no version recorded yet: nobody newer to defer to
            overwrite = True
    params = {**settings.as_params(), "overwrite": overwrite, "owner": owner}
    before = await sysdb.fetchone(_sql.GET_QUEUE_OWNED, (settings.name,))
    if before is not None and _stored_as_declared(before, params):
        row = before  # a fleet launching together would queue on the row's lock to rewrite it
    else:
        await sysdb.execute(_sql.REGISTER_QUEUE, params)
        row = await sysdb.fetchone(_sql.GET_QUEUE_OWNED, (settings.name,))
    if row is not None and owner is not None and row.application_name not in (None, owner):
        raise DBOSException(
            f"Queue '{settings.name}' is already registered by application "
            f"'{row.application_name}' in this system database. Queue names must be unique "
            f"across applications sharing a system database: give '{owner}' a different "
            "queue name, or, if the application was renamed, move its rows with "
            "rename_application first"
        )
    if before is not None and row != before:  # changed: every claim loop re-reads it
        sysdb.engine.publish("queue", settings.name, count=0)
    return row
