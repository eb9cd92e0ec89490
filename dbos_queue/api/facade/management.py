"""The ``DBOS`` facade: listing, cancelling, resuming, forking, garbage collection."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.invoke import (
    _rt,
)
from dbos_queue.model.status import WorkflowStatus
from dbos_queue.ops import management as mgmt

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("dbos_queue")


class Management:
    """``DBOS`` class methods: listing, cancelling, resuming, forking, garbage collection."""

    @classmethod
    def list_workflows(cls, **filters: Any) -> list[WorkflowStatus]:
        """Workflows matching the filters (ids, status, name, queue_name, start_time, ...)."""
        return _rt().engine.run(mgmt.list_workflows(_rt(), **filters))

    @classmethod
    async def list_workflows_async(cls, **filters: Any) -> list[WorkflowStatus]:
        return await _rt().engine.arun(mgmt.list_workflows(_rt(), **filters))

    @classmethod
    def list_queued_workflows(cls, **filters: Any) -> list[WorkflowStatus]:
        """Workflows waiting or running on a queue."""
        return _rt().engine.run(mgmt.list_queued_workflows(_rt(), **filters))

    @classmethod
    def cancel_workflow(cls, workflow_id: str, *, cancel_children: bool = False) -> None:
        """Cancel: a queued workflow never runs; a running or sleeping one stops at its next step."""
        _rt().engine.run(mgmt.cancel(_rt(), [workflow_id], cancel_children))

    @classmethod
    def cancel_workflows(cls, workflow_ids: list[str], *, cancel_children: bool = False) -> None:
        _rt().engine.run(mgmt.cancel(_rt(), workflow_ids, cancel_children))

    @classmethod
    async def cancel_workflow_async(
        cls, workflow_id: str, *, cancel_children: bool = False
    ) -> None:
        await _rt().engine.arun(mgmt.cancel(_rt(), [workflow_id], cancel_children))

    @classmethod
    def resume_workflow(cls, workflow_id: str, *, queue_name: str | None = None) -> WorkflowHandle:
        """Continue a workflow from its last recorded step (once); returns its handle."""
        _rt().engine.run(mgmt.resume(_rt(), workflow_id, queue_name))
        return WorkflowHandle(_rt(), workflow_id)

    @classmethod
    async def resume_workflow_async(
        cls, workflow_id: str, *, queue_name: str | None = None
    ) -> WorkflowHandleAsync:
        await _rt().engine.arun(mgmt.resume(_rt(), workflow_id, queue_name))
        return WorkflowHandleAsync(_rt(), workflow_id)

    @classmethod
    def fork_workflow(
        cls, workflow_id: str, start_step: int, *, application_version: str | None = None
    ) -> WorkflowHandle:
        """Start a copy of a workflow that re-runs from ``start_step`` (earlier steps reused)."""
        from dbos_queue.engine.context import take_workflow_id

        forked = _rt().engine.run(
            mgmt.fork(
                _rt(),
                workflow_id,
                start_step,
                new_id=take_workflow_id(),
                app_version=application_version,
            )
        )
        return WorkflowHandle(_rt(), forked)

    @classmethod
    def garbage_collect(
        cls, *, older_than_sec: float | None = None, keep_rows: int | None = None
    ) -> int:
        """Delete finished workflows by age and/or beyond the newest ``keep_rows``."""
        return _rt().engine.run(
            mgmt.garbage_collect(_rt(), older_than_sec=older_than_sec, keep_rows=keep_rows)
        )
