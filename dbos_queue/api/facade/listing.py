"""The ``DBOS`` facade: listing workflows and their steps, with DBOS 3.4.0's filters.

Every filter is a named keyword (a misspelt one raises ``TypeError``); the one
implementation is ``ops.listing``. Unlike DBOS, a listing made from a workflow is not
recorded as a step (it takes no step id): its rows are read afresh on replay.
"""

from __future__ import annotations

from typing import Any

from dbos_queue.api.invoke import require_runtime
from dbos_queue.model.status import WorkflowStatus
from dbos_queue.ops import listing


def _filters(given: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in given.items() if k != "cls"}


class Listing:
    """``DBOS`` class methods: list_workflows, list_queued_workflows, list_workflow_steps."""

    @classmethod
    def list_workflows(
        cls,
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
        """Workflows matching every given filter, oldest first (``sort_desc``: newest).

        Lists (of names, queues, ...) match any of their values; ``workflow_id_prefix``
        may be several prefixes; times are ISO-8601 text; ``attributes`` matches
        workflows whose attributes contain all the given pairs.
        """
        filters = _filters(locals())
        return require_runtime().engine.run(listing.list_workflows(require_runtime(), **filters))

    @classmethod
    async def list_workflows_async(
        cls,
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
        return await require_runtime().engine.arun(
            listing.list_workflows(require_runtime(), **filters)
        )

    @classmethod
    def list_queued_workflows(
        cls,
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
        """Workflows on a queue; unless ``status`` says otherwise, those waiting or running
        (ENQUEUED, DELAYED, PENDING)."""
        filters = _filters(locals())
        return require_runtime().engine.run(
            listing.list_queued_workflows(require_runtime(), **filters)
        )

    @classmethod
    async def list_queued_workflows_async(
        cls,
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
        return await require_runtime().engine.arun(
            listing.list_queued_workflows(require_runtime(), **filters)
        )

    @classmethod
    def list_workflow_steps(
        cls,
        workflow_id: str,
        *,
        load_output: bool = True,
        limit: int | None = None,
        offset: int | None = None,
        shard_key: str | None = None,
    ) -> list[dict[str, Any]]:
        """The recorded steps of a workflow (``StepInfo`` dicts), in step order."""
        op = listing.list_steps(
            require_runtime(), workflow_id, load_output=load_output, limit=limit, offset=offset
        )
        return require_runtime().engine.run(op)

    @classmethod
    async def list_workflow_steps_async(
        cls,
        workflow_id: str,
        *,
        load_output: bool = True,
        limit: int | None = None,
        offset: int | None = None,
        shard_key: str | None = None,
    ) -> list[dict[str, Any]]:
        """``list_workflow_steps`` from async code."""
        op = listing.list_steps(
            require_runtime(), workflow_id, load_output=load_output, limit=limit, offset=offset
        )
        return await require_runtime().engine.arun(op)
