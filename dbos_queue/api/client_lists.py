"""``DBOSClient``'s listings (workflows, queued workflows, steps) with DBOS 3.4.0's named
filters, and its queue methods (register, retrieve, list, delete).

A queue a client returns is bound to the client: its getters and setters read and
write the client's system database (it cannot enqueue; ``DBOSClient.enqueue`` does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbos_queue.api import client_specs, specs
from dbos_queue.api.twin import ON_CLIENT, twins
from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import SystemDatabase
from dbos_queue.model.records import Row
from dbos_queue.ops import queues as _queues

if TYPE_CHECKING:
    from dbos_queue.api.queue import Queue


class ClientListing:
    """Mixed into ``DBOSClient``: listing workflows and steps (``api.specs``' methods)."""

    list_workflows, list_workflows_async = twins(specs.list_workflows, ON_CLIENT)
    list_queued_workflows, list_queued_workflows_async = twins(
        specs.list_queued_workflows, ON_CLIENT
    )
    list_workflow_steps, list_workflow_steps_async = twins(specs.list_workflow_steps, ON_CLIENT)


class ClientQueues:
    """Mixed into ``DBOSClient``: queues stored in the system database."""

    engine: Engine
    sysdb: SystemDatabase

    def _queue(self, row: Row | None) -> Queue | None:
        from dbos_queue.api.queue import queue_from_row

        return queue_from_row(row, host=self) if row is not None else None

    def _queues(self, rows: list[Row]) -> list[Queue]:
        from dbos_queue.api.queue import queue_from_row

        return [queue_from_row(r, host=self) for r in rows]

    register_queue, register_queue_async = twins(client_specs.register_queue, ON_CLIENT)

    def retrieve_queue(self, name: str) -> Queue | None:
        """The stored queue named ``name``, or None."""
        return self._queue(self.engine.run(_queues.get_row(self, name)))

    async def retrieve_queue_async(self, name: str) -> Queue | None:
        """``retrieve_queue`` from async code."""
        return self._queue(await self.engine.arun(_queues.get_row(self, name)))

    def list_queues(self, *, application_name: str | list[str] | None = None) -> list[Queue]:
        """The stored queues by name (with ``application_name``: its own and unclaimed ones)."""
        return self._queues(self.engine.run(_queues.list_rows(self, application_name)))

    async def list_queues_async(
        self, *, application_name: str | list[str] | None = None
    ) -> list[Queue]:
        """``list_queues`` from async code."""
        rows = await self.engine.arun(_queues.list_rows(self, application_name))
        return self._queues(rows)

    def delete_queue(self, name: str) -> None:
        """Delete a stored queue: workflows still waiting on it are no longer dequeued."""
        self.engine.run(_queues.delete(self, name))

    async def delete_queue_async(self, name: str) -> None:
        """``delete_queue`` from async code."""
        await self.engine.arun(_queues.delete(self, name))
