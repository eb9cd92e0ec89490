"""The ``dbos-queue bench`` worker app (imported only by a bench worker process).

``dbos-queue bench`` starts ``dbos-queue worker dbos_queue.cli.bench_app --queue NAME``
with ``DBOS_QUEUE_BENCH_QUEUE`` and ``DBOS_QUEUE_BENCH_URL`` set; only then does
importing this module configure DBOS and register the bench workflow, so any other
process that imports it registers nothing.
"""

from __future__ import annotations

import os

from dbos_queue.cli.bench import BENCH_QUEUE_ENV, BENCH_STEP, BENCH_URL_ENV, BENCH_WORKFLOW

if os.environ.get(BENCH_QUEUE_ENV) and os.environ.get(BENCH_URL_ENV):
    from dbos_queue.api.dbos import DBOS
    from dbos_queue.api.queue import Queue

    @DBOS.step(name=BENCH_STEP)
    def bench_step(i: int, k: int) -> int:
        """A step that does nothing but be recorded."""
        return i + k

    @DBOS.workflow(name=BENCH_WORKFLOW)
    def bench_workflow(i: int, steps: int) -> int:
        """``steps`` recorded steps in a row."""
        total = 0
        for k in range(steps):
            total += bench_step(i, k)
        return total

    DBOS(
        config={
            "name": "dbos-queue-bench",
            "system_database_url": os.environ[BENCH_URL_ENV],
            "log_level": "WARNING",
        }
    )
    Queue(os.environ[BENCH_QUEUE_ENV])
