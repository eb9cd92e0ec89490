"""What operations (metrics, admin server, dashboard) need from the launched process."""

from __future__ import annotations

from typing import Any, Protocol

from dbos_queue.queue.claim import QueueService
from dbos_queue.queue.host import QueueHost


class OpsHost(QueueHost, Protocol):
    """The launched process as the admin server and metrics see it."""

    queues: QueueService
    running: dict[str, Any]
    metrics: Any

    def recover_executors(self, executor_ids: list[str]) -> list[str]:
        """Recover the named executors' workflows now."""
        ...
