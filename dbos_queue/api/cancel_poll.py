"""Cancellation without LISTEN (``use_listen_notify: false``, or off listening duty).

A cancel from another process normally arrives as a NOTIFY that stops the local
execution at its next step and wakes its sleep, recv or get_event. A process that hears
none now (it polls, it is off duty, or its LISTEN connection is reconnecting) looks every
``notification_listener_polling_interval_sec`` for workflows running here that were
cancelled, and treats each as if the NOTIFY had come.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dbos_queue.db import sql as _sql

logger = logging.getLogger("dbos_queue")


async def poll_cancellations_forever(rt: Any, interval: float) -> None:
    """Run on the engine loop of every process; looks only while it hears nothing."""
    while True:
        await asyncio.sleep(interval)
        ids = list(rt.local)
        if not ids or rt.engine.hears():
            continue
        try:
            rows = await rt.sysdb.fetchall(_sql.CANCELLED_AMONG, (ids,))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("polling for cancellations failed: %s", exc)
            continue
        for wf_id in (r.workflow_uuid for r in rows):
            rt.engine.wake(("cancel", wf_id))
            for hook in list(rt.engine.hooks.get("cancel", ())):
                hook(wf_id)
