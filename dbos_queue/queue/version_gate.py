"""Whether this process runs the latest application version (0011), for its claims.

A claim dequeues workflows without a version only while this process runs the latest
version of its application (DBOS's rule). Asking inside every claim would cost a
subquery that spoils the claim's plan, so the answer is cached for a second:
``set_latest_application_version`` reaches every worker's claims within that.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from dbos_queue.db import sql as _sql

TTL_SEC = 1.0
_cache: weakref.WeakKeyDictionary[Any, tuple[float, bool]] = weakref.WeakKeyDictionary()


async def is_latest(rt: Any) -> bool:
    """True when ``rt.app_version`` is its application's latest version (or none is known)."""
    cached = _cache.get(rt)
    now = time.monotonic()
    if cached is not None and now - cached[0] < TTL_SEC:
        return cached[1]
    row = await rt.sysdb.fetchone(_sql.LATEST_VERSION, {"app": getattr(rt.settings, "name", None)})
    answer = row is None or row.version_name == rt.app_version
    _cache[rt] = (now, answer)
    return answer


def forget(rt: Any) -> None:
    """Drop the cached answer (this process just changed the latest version)."""
    _cache.pop(rt, None)
