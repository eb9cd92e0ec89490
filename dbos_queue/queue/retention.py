"""Retention: deleting finished workflows by age and by count, while workers run.

``purge`` deletes in bounded batches, each its own short transaction, oldest first
along the ``created_at`` index (``_sql.GC_BATCH_BEFORE``): only the deleted rows are
locked, so claims and completions never wait for a purge, and the purge pauses between
batches as long as the last one took, so it uses at most about half of one backend.
For ``keep_rows`` the cut-off row is read once per purge, not once per batch.

Automatic retention (config ``workflow_retention_sec`` / ``workflow_retention_rows``,
``workflow_retention_interval_sec``) runs fleet-wide once per interval: every process
checks a few times per interval, and the one whose conditional update of
``dbos.maintenance`` succeeds (migration 0010) purges.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.model.jitter import jitter
from dbos_queue.queue import maintenance as _maintenance

logger = logging.getLogger("dbos_queue")

BATCH = 2000
TASK = "retention"


async def purge(
    sysdb: Any,
    *,
    older_than_sec: float | None = None,
    keep_rows: int | None = None,
    batch: int = BATCH,
    pause: bool = True,
) -> int:
    """Delete finished workflows created more than ``older_than_sec`` ago and/or
    beyond the newest ``keep_rows``; returns how many."""
    deleted = 0
    if older_than_sec is not None:
        cutoff = now_ms() - int(older_than_sec * 1000)
        deleted += await _before(sysdb, cutoff, "", batch, pause)
    if keep_rows is not None:
        row = await sysdb.fetchone(_sql.GC_KEEP_THRESHOLD, {"keep": keep_rows})
        if row is not None:
            deleted += await _before(sysdb, row.created_at, row.workflow_uuid, batch, pause)
    return deleted


async def _before(sysdb: Any, created: int, wf_id: str, batch: int, pause: bool) -> int:
    deleted = 0
    params = {"created": created, "id": wf_id, "batch": batch}
    while True:
        t0 = time.monotonic()
        n = await sysdb.execute(_sql.GC_BATCH_BEFORE, params)
        deleted += n
        if n < batch:
            return deleted
        if pause:  # leave the database to the workers at least half of the time
            await asyncio.sleep(min(1.0, time.monotonic() - t0))


def configured(settings: Any) -> bool:
    """Whether automatic retention is on."""
    return (
        getattr(settings, "workflow_retention_sec", None) is not None
        or getattr(settings, "workflow_retention_rows", None) is not None
    )


async def run_forever(rt: Any) -> None:
    """Take the fleet's retention turn when it is due (spawned when configured)."""
    s = rt.settings
    interval = float(s.workflow_retention_interval_sec)
    while True:
        await asyncio.sleep(interval / 4 * jitter(0.5, 1.0))
        try:
            if not await _maintenance.take_turn(rt, TASK, int(interval * 1000)):
                continue  # another process has it this interval
            n = await purge(
                rt.sysdb,
                older_than_sec=s.workflow_retention_sec,
                keep_rows=s.workflow_retention_rows,
            )
            await rt.sysdb.execute(_sql.PURGE_OLD_RESULT_WAITERS, (now_ms() - 86_400_000,))
            if n:
                logger.info("retention: deleted %d finished workflow(s)", n)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("retention pass failed: %s", exc)
