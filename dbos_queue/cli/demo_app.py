"""The queue demo's application: its worker side and its producer.

``dbos-queue demo`` starts three ``dbos-queue worker dbos_queue.cli.demo_app``
processes with ``DBOS_QUEUE_DEMO_URL``, ``DBOS_QUEUE_DEMO_QUEUE`` and
``DBOS_QUEUE_DEMO_RUN`` set; only then does importing this module configure DBOS
(with a short executor lease, so a killed worker's work is taken over within
seconds) and register the demo workflow. Anything else that imports it (the demo
command itself, for the constants) registers nothing.

Every step body inserts one row into the demo's side-effect table *before* it
returns, through its own connection, so the table records each time a step body
really ran, including a run whose result the SIGKILL kept from being recorded.

The producer is ``python -m dbos_queue.cli.demo_app produce URL QUEUE N``: a
separate process that enqueues the workflows with a ``DBOSClient``.
"""

from __future__ import annotations

import os
import sys
import threading
import time

WORKFLOW = "dbos_queue_demo_order"
STEP = "dbos_queue_demo_step"
STEPS = 3  # steps per workflow
STEP_SECONDS = 0.02  # each step body's pretend work, after its side effect
CONCURRENCY = 24  # the queue's global concurrency: the limit the demo shows
LEASE_SECONDS = 4.0  # executor_lease_sec: how long a dead worker holds its work
HEARTBEAT_SECONDS = 0.5
BATCH = 250  # workflows per enqueue_many from the producer

URL_ENV = "DBOS_QUEUE_DEMO_URL"
QUEUE_ENV = "DBOS_QUEUE_DEMO_QUEUE"
RUN_ENV = "DBOS_QUEUE_DEMO_RUN"

_local = threading.local()


def _effects_connection(url: str):
    """This thread's own autocommit connection for the side-effect rows."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        import psycopg

        from dbos_queue.model.pgurl import normalize

        conn = psycopg.connect(normalize(url), autocommit=True)
        _local.conn = conn
    return conn


def produce(url: str, queue: str, n: int) -> int:
    """Enqueue ``n`` demo workflows in batches; print a line per batch for the demo."""
    from dbos_queue.api.client import DBOSClient

    with DBOSClient(url) as client:
        done = 0
        while done < n:
            batch = [(i,) for i in range(done, min(n, done + BATCH))]
            client.enqueue_many({"queue_name": queue, "workflow_name": WORKFLOW}, batch)
            done += len(batch)
            print(f"enqueued {done}", flush=True)
    return 0


if os.environ.get(URL_ENV) and os.environ.get(QUEUE_ENV) and os.environ.get(RUN_ENV):
    from dbos_queue.api.dbos import DBOS
    from dbos_queue.api.queue import Queue
    from dbos_queue.db import sql as _sql

    _URL = os.environ[URL_ENV]
    _RUN = os.environ[RUN_ENV]

    @DBOS.step(name=STEP)
    def demo_step(order: int, step: int) -> int:
        """One step: record that its body ran (the side effect), then work a little."""
        _effects_connection(_URL).execute(
            _sql.DEMO_RECORD_EFFECT, (_RUN, DBOS.workflow_id, step, DBOS.executor_id)
        )
        time.sleep(STEP_SECONDS)
        return order * 10 + step

    @DBOS.workflow(name=WORKFLOW)
    def demo_order(order: int) -> list[int]:
        """A multi-step order: each step's result is checkpointed before the next starts."""
        return [demo_step(order, k) for k in range(1, STEPS + 1)]

    DBOS(
        config={
            "name": "dbos-queue-demo",
            "system_database_url": _URL,
            "executor_lease_sec": LEASE_SECONDS,
            "heartbeat_interval_sec": HEARTBEAT_SECONDS,
            "log_level": "WARNING",
        }
    )
    Queue(os.environ[QUEUE_ENV], concurrency=CONCURRENCY)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "produce":
        print("usage: python -m dbos_queue.cli.demo_app produce URL QUEUE N", file=sys.stderr)
        sys.exit(2)
    sys.exit(produce(sys.argv[2], sys.argv[3], int(sys.argv[4])))
