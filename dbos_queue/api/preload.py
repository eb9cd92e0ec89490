"""What ``DBOS.launch()`` will import, imported when ``DBOS(...)`` is configured instead.

About two thirds of a launch's CPU time was first imports (the Prometheus client, the
queue services, uvloop, the reader that finds the migrations folder). A fleet started
at once spends that while its first workflows arrive; configuring the application is
where a process pays for its code, so the work is done there. Nothing connects here.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache

logger = logging.getLogger("dbos_queue")

_LAUNCH_MODULES = (
    "uvloop",
    "dbos_queue.db.embedded",
    "dbos_queue.engine.otlp",
    "dbos_queue.ops.metrics",
    "dbos_queue.queue.claim",
    "dbos_queue.queue.retention",
    "dbos_queue.queue.unrunnable",
)


@cache
def preload() -> None:
    """Import the modules a launch uses and locate the migrations (once per process)."""
    for name in _LAUNCH_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # optional (uvloop): the launch does without it as well
            logger.debug("preload: %s is not importable", name)
    from dbos_queue.db.migrate import migrations_dir

    migrations_dir()
