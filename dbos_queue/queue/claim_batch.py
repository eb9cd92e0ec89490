"""One claim of one queue: the statement its settings call for, its parameters, and running it.

``CLAIM_FREE`` for a queue without fleet-wide limits (a plan-stable ordered scan),
``CLAIM`` for one with a global concurrency or rate limit (serialised on the queue's row
so the counts it reads are exact), ``CLAIM_PARTITIONED`` for per-partition limits (a fair
rotation over partition keys, resuming after the last key claimed). A claim retried after
a dropped connection first takes back what its lost first attempt may have committed,
so nothing is claimed twice or stranded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import Row, now_ms
from dbos_queue.queue import version_gate as _version_gate
from dbos_queue.queue.settings import QueueSettings

if TYPE_CHECKING:
    from dbos_queue.queue.host import QueueHost

MAX_PARTITION_KEYS = 64  # partition keys one partitioned claim looks at


def has_fleet_limits(s: QueueSettings) -> bool:
    """Whether ``s`` limits the queue fleet-wide (its claims then serialise on its row)."""
    return (
        s.global_concurrency is not None
        or s.rate_limit_max is not None
        or s.partition_concurrency is not None
        or s.partition_rate_limit_max is not None
    )


def claim_query(s: QueueSettings) -> str:
    """The claim statement for a queue with settings ``s``."""
    if s.partitioned:
        return _sql.CLAIM_PARTITIONED
    if has_fleet_limits(s):
        return _sql.CLAIM
    return _sql.CLAIM_FREE  # plan-stable, nothing to compute for limits


async def claim_params(
    rt: QueueHost,
    name: str,
    s: QueueSettings,
    limit: int,
    owner: str,
    cursor: str,
    local: Mapping[str, int] | None,
) -> dict[str, Any]:
    """The parameters of ``claim_query(s)``: up to ``limit`` rows of queue ``name`` for the
    owner token ``owner``; partitioned, from after key ``cursor``, with ``local`` (partition
    key -> workflows this process runs) against the per-worker partition limit."""
    params: dict[str, Any] = {
        "queue": name,
        "limit": limit,
        "owner": owner,
        "executor_id": rt.executor_id,
        "app_version": rt.app_version,
        "app_name": getattr(rt.settings, "name", None),  # _sql.RUNS_HERE
        "is_latest": await _version_gate.is_latest(rt),  # _sql._claimable_here
        "now": now_ms(),
    }
    if s.partitioned:
        params.update(
            cursor=cursor,
            max_keys=MAX_PARTITION_KEYS,
            partition_worker_limit=s.partition_worker_concurrency,
            local=json.dumps(dict(local or {})),
        )
    return params


async def run_claim(
    rt: QueueHost, name: str, s: QueueSettings, owner: str, params: dict[str, Any]
) -> list[Row]:
    """Run one claim (``claim_params``); the claimed status rows, by priority then age."""
    query = claim_query(s)
    limited = has_fleet_limits(s)
    attempts = 0

    async def go(conn: Any) -> list[Row]:
        nonlocal attempts
        attempts += 1
        if attempts > 1:  # retried after a dropped connection: the first may have landed
            cur = await conn.execute(_sql.CLAIMED_BY_OWNER, (owner,))
            held = await cur.fetchall()
            if held:
                return held
        if limited:
            await conn.execute(_sql.LOCK_LIMITED_QUEUE, (name,))
        cur = await conn.execute(query, params)
        return await cur.fetchall()

    if limited:
        rows = await rt.sysdb.transaction(go)
    else:
        rows = await rt.sysdb.with_retry(go)
    rows.sort(key=lambda r: (r.priority, r.created_at))
    return rows
