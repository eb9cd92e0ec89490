"""A producer process for the fleet tests: ``python -m tests.apps.producer URL QUEUE N TAG``.

Enqueues N ``timed`` workflows (tests/apps/queue_app.py) on QUEUE with a DBOSClient, one
transaction each, and prints the workflow ids, one a line.
"""

from __future__ import annotations

import sys

from dbos_queue import DBOSClient

if __name__ == "__main__":
    url, queue, n, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with DBOSClient(url) as client:
        for i in range(n):
            h = client.enqueue(
                {"queue_name": queue, "workflow_name": "timed"}, queue, f"{tag}-{i}", 0.0
            )
            print(h.workflow_id, flush=True)
