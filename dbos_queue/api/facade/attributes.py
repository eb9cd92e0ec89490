"""The ``DBOS`` facade: deleting workflows, moving a delayed start, workflow attributes.

Each is one recorded step when called from a workflow (DBOS's step names).
"""

from __future__ import annotations

from typing import Any

from dbos_queue.api.facade.recorded import arecorded, discarding, recorded
from dbos_queue.ops import management as mgmt


class Attributes:
    """``DBOS`` class methods: delete_workflow(s), set_workflow_delay, attributes."""

    @classmethod
    def delete_workflow(
        cls, workflow_id: str, *, delete_children: bool = False, shard_key: str | None = None
    ) -> None:
        """Delete a workflow and everything recorded for it (its children too, if asked)."""
        cls.delete_workflows([workflow_id], delete_children=delete_children)

    @classmethod
    async def delete_workflow_async(
        cls, workflow_id: str, *, delete_children: bool = False, shard_key: str | None = None
    ) -> None:
        """``delete_workflow`` from async code."""
        await cls.delete_workflows_async([workflow_id], delete_children=delete_children)

    @classmethod
    def delete_workflows(
        cls,
        workflow_ids: list[str],
        *,
        delete_children: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """Delete workflows; with ``delete_children``, every workflow they started, recursively."""
        recorded(
            "DBOS.deleteWorkflow",
            lambda rt: discarding(mgmt.delete(rt, list(workflow_ids), delete_children)),
        )

    @classmethod
    async def delete_workflows_async(
        cls,
        workflow_ids: list[str],
        *,
        delete_children: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """``delete_workflows`` from async code."""
        await arecorded(
            "DBOS.deleteWorkflow",
            lambda rt: discarding(mgmt.delete(rt, list(workflow_ids), delete_children)),
        )

    @classmethod
    def set_workflow_delay(
        cls,
        workflow_id: str,
        *,
        delay_seconds: float | None = None,
        delay_until_epoch_ms: int | None = None,
        shard_key: str | None = None,
    ) -> None:
        """Move a DELAYED workflow's start: ``delay_seconds`` from now, or to the absolute
        ``delay_until_epoch_ms`` (exactly one). Workflows in other states are left alone."""
        recorded(
            "DBOS.setWorkflowDelay",
            lambda rt: discarding(
                mgmt.set_delay(
                    rt,
                    workflow_id,
                    delay_seconds=delay_seconds,
                    delay_until_epoch_ms=delay_until_epoch_ms,
                )
            ),
        )

    @classmethod
    async def set_workflow_delay_async(
        cls,
        workflow_id: str,
        *,
        delay_seconds: float | None = None,
        delay_until_epoch_ms: int | None = None,
        shard_key: str | None = None,
    ) -> None:
        """``set_workflow_delay`` from async code."""
        await arecorded(
            "DBOS.setWorkflowDelay",
            lambda rt: discarding(
                mgmt.set_delay(
                    rt,
                    workflow_id,
                    delay_seconds=delay_seconds,
                    delay_until_epoch_ms=delay_until_epoch_ms,
                )
            ),
        )

    @classmethod
    def update_workflow_attributes(
        cls,
        workflow_id: str,
        attributes: dict[str, Any] | None,
        *,
        merge: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """Replace a workflow's attributes (None clears them); with ``merge``, set only the
        given top-level keys and keep the others."""
        recorded(
            "DBOS.updateWorkflowAttributes",
            lambda rt: mgmt.update_attributes(rt, workflow_id, attributes, merge=merge),
        )

    @classmethod
    async def update_workflow_attributes_async(
        cls,
        workflow_id: str,
        attributes: dict[str, Any] | None,
        *,
        merge: bool = False,
        shard_key: str | None = None,
    ) -> None:
        """``update_workflow_attributes`` from async code."""
        await arecorded(
            "DBOS.updateWorkflowAttributes",
            lambda rt: mgmt.update_attributes(rt, workflow_id, attributes, merge=merge),
        )
