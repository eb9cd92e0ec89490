"""``DBOSClient``'s listings (workflows, queued workflows, steps) with DBOS 3.4.0's named
filters, and its queue methods (register, retrieve, list, delete).

A queue a client returns is bound to the client: its getters and setters read and
write the client's system database (it cannot enqueue; ``DBOSClient.enqueue`` does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import SystemDatabase
from dbos_queue.model.records import Row
from dbos_queue.model.status import WorkflowStatus
from dbos_queue.ops import listing
from dbos_queue.ops import queues as _queues
from dbos_queue.queue.settings import QueueRateLimit

if TYPE_CHECKING:
    from dbos_queue.api.queue import Queue


def _filters(given: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in given.items() if k != "self"}


class ClientListing:
    """Mixed into ``DBOSClient``: listing workflows and steps."""

    engine: Engine

    def list_workflows(
        self,
        *,
        workflow_ids: list[str] | None = None,
        status: str | list[str] | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
        completed_after: str | None = None,
        completed_before: str | None = None,
        dequeued_after: str | None = None,
        dequeued_before: str | None = None,
        name: str | list[str] | None = None,
        app_version: str | list[str] | None = None,
        forked_from: str | list[str] | None = None,
        parent_workflow_id: str | list[str] | None = None,
        user: str | list[str] | None = None,
        queue_name: str | list[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        sort_desc: bool = False,
        workflow_id_prefix: str | list[str] | None = None,
        load_input: bool = True,
        load_output: bool = True,
        executor_id: str | list[str] | None = None,
        queues_only: bool = False,
        was_forked_from: bool | None = None,
        is_fork: bool | None = None,
        has_parent: bool | None = None,
        attributes: dict[str, Any] | None = None,
        schedule_name: str | list[str] | None = None,
        application_name: str | list[str] | None = None,
        shard_key: str | list[str] | None = None,
        parent_shard_key: str | list[str] | None = None,
    ) -> list[WorkflowStatus]:
        """Workflows matching every given filter (see ``DBOS.list_workflows``)."""
        filters = _filters(locals())
        return self.engine.run(listing.list_workflows(self, **filters))

    async def list_workflows_async(
        self,
        *,
        workflow_ids: list[str] | None = None,
        status: str | list[str] | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
        completed_after: str | None = None,
        completed_before: str | None = None,
        dequeued_after: str | None = None,
        dequeued_before: str | None = None,
        name: str | list[str] | None = None,
        app_version: str | list[str] | None = None,
        forked_from: str | list[str] | None = None,
        parent_workflow_id: str | list[str] | None = None,
        user: str | list[str] | None = None,
        queue_name: str | list[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        sort_desc: bool = False,
        workflow_id_prefix: str | list[str] | None = None,
        load_input: bool = True,
        load_output: bool = True,
        executor_id: str | list[str] | None = None,
        queues_only: bool = False,
        was_forked_from: bool | None = None,
        is_fork: bool | None = None,
        has_parent: bool | None = None,
        attributes: dict[str, Any] | None = None,
        schedule_name: str | list[str] | None = None,
        application_name: str | list[str] | None = None,
        shard_key: str | list[str] | None = None,
        parent_shard_key: str | list[str] | None = None,
    ) -> list[WorkflowStatus]:
        """``list_workflows`` from async code."""
        filters = _filters(locals())
        return await self.engine.arun(listing.list_workflows(self, **filters))

    def list_queued_workflows(
        self,
        *,
        workflow_ids: list[str] | None = None,
        status: str | list[str] | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
        completed_after: str | None = None,
        completed_before: str | None = None,
        dequeued_after: str | None = None,
        dequeued_before: str | None = None,
        name: str | list[str] | None = None,
        app_version: str | list[str] | None = None,
        forked_from: str | list[str] | None = None,
        parent_workflow_id: str | list[str] | None = None,
        user: str | list[str] | None = None,
        queue_name: str | list[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        sort_desc: bool = False,
        workflow_id_prefix: str | list[str] | None = None,
        load_input: bool = True,
        load_output: bool = True,
        executor_id: str | list[str] | None = None,
        is_fork: bool | None = None,
        has_parent: bool | None = None,
        attributes: dict[str, Any] | None = None,
        application_name: str | list[str] | None = None,
        shard_key: str | list[str] | None = None,
        parent_shard_key: str | list[str] | None = None,
    ) -> list[WorkflowStatus]:
        """Workflows on a queue; by default those ENQUEUED, DELAYED or PENDING."""
        filters = _filters(locals())
        return self.engine.run(listing.list_queued_workflows(self, **filters))

    async def list_queued_workflows_async(
        self,
        *,
        workflow_ids: list[str] | None = None,
        status: str | list[str] | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
        completed_after: str | None = None,
        completed_before: str | None = None,
        dequeued_after: str | None = None,
        dequeued_before: str | None = None,
        name: str | list[str] | None = None,
        app_version: str | list[str] | None = None,
        forked_from: str | list[str] | None = None,
        parent_workflow_id: str | list[str] | None = None,
        user: str | list[str] | None = None,
        queue_name: str | list[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        sort_desc: bool = False,
        workflow_id_prefix: str | list[str] | None = None,
        load_input: bool = True,
        load_output: bool = True,
        executor_id: str | list[str] | None = None,
        is_fork: bool | None = None,
        has_parent: bool | None = None,
        attributes: dict[str, Any] | None = None,
        application_name: str | list[str] | None = None,
        shard_key: str | list[str] | None = None,
        parent_shard_key: str | list[str] | None = None,
    ) -> list[WorkflowStatus]:
        """``list_queued_workflows`` from async code."""
        filters = _filters(locals())
        return await self.engine.arun(listing.list_queued_workflows(self, **filters))

    def list_workflow_steps(
        self,
        workflow_id: str,
        *,
        load_output: bool = True,
        limit: int | None = None,
        offset: int | None = None,
        shard_key: str | None = None,
    ) -> list[dict[str, Any]]:
        """The workflow's recorded steps (``StepInfo`` dicts), in step order."""
        op = listing.list_steps(
            self, workflow_id, load_output=load_output, limit=limit, offset=offset
        )
        return self.engine.run(op)

    async def list_workflow_steps_async(
        self,
        workflow_id: str,
        *,
        load_output: bool = True,
        limit: int | None = None,
        offset: int | None = None,
        shard_key: str | None = None,
    ) -> list[dict[str, Any]]:
        """``list_workflow_steps`` from async code."""
        op = listing.list_steps(
            self, workflow_id, load_output=load_output, limit=limit, offset=offset
        )
        return await self.engine.arun(op)


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

    async def _register(self, name: str, on_conflict: str, app: str | None, **limits: Any) -> Queue:
        from dbos_queue.queue.settings import declared_settings

        if on_conflict not in _queues.CONFLICT_POLICIES:
            raise ValueError(
                f"on_conflict must be one of {_queues.CONFLICT_POLICIES}, got {on_conflict!r}"
            )
        s = declared_settings(name, partition_queue=False, **limits)
        row = await _queues.get_row(self, name)
        if row is None or on_conflict != "never_update":
            await _queues.store(self, s, overwrite=on_conflict != "never_update")
        owner = app if app is not None else getattr(self, "application_name", None)
        if owner is not None:
            await _queues.set_owner(self, name, owner)
        return cast("Queue", self._queue(await _queues.get_row(self, name)))  # stored above

    def register_queue(
        self,
        name: str,
        *,
        global_concurrency: int | None = None,
        partition_concurrency: int | None = None,
        partition_worker_concurrency: int | None = None,
        partition_limiter: QueueRateLimit | None = None,
        limiter: QueueRateLimit | None = None,
        worker_concurrency: int | None = None,
        polling_interval_sec: float = 1.0,
        on_conflict: str = "always_update",
        application_name: str | None = None,
        concurrency: int | None = None,
    ) -> Queue:
        """Store a queue's settings (by default overwriting the stored ones); its Queue."""
        limits = _limits(locals())
        return self.engine.run(self._register(name, on_conflict, application_name, **limits))

    async def register_queue_async(
        self,
        name: str,
        *,
        global_concurrency: int | None = None,
        partition_concurrency: int | None = None,
        partition_worker_concurrency: int | None = None,
        partition_limiter: QueueRateLimit | None = None,
        limiter: QueueRateLimit | None = None,
        worker_concurrency: int | None = None,
        polling_interval_sec: float = 1.0,
        on_conflict: str = "always_update",
        application_name: str | None = None,
        concurrency: int | None = None,
    ) -> Queue:
        """``register_queue`` from async code."""
        limits = _limits(locals())
        return await self.engine.arun(self._register(name, on_conflict, application_name, **limits))

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


def _limits(given: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in given.items()
        if k not in ("self", "name", "on_conflict", "application_name")
    }
