"""What the execution engine needs from the launched process: a small Protocol.

The composition root (``api.runtime.Runtime``) satisfies it; lower layers type
against this, never against the runtime class.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import SystemDatabase
from dbos_queue.engine.context import Lease, WorkflowContext
from dbos_queue.engine.events import EventBus
from dbos_queue.engine.registry import Registry


def app_name_of(h: object) -> str | None:
    """The application a runtime or a client acts for: the owner of the rows it creates,
    whose rows it lists (and whose schedules it fires) by default. None: unclaimed/all."""
    name = getattr(h, "application_name", None)  # a DBOSClient's
    if name is None:
        name = getattr(getattr(h, "settings", None), "name", None)  # a runtime's config name
    return name


class Host(Protocol):
    """The launched process as workflow and step execution sees it."""

    settings: Any
    registry: Registry
    engine: Engine
    sysdb: SystemDatabase
    executor_id: str
    app_version: str
    process_id: str
    logger: logging.Logger
    events: EventBus
    lease: Lease

    def new_owner(self) -> str:
        """A fresh owner token for a claim or a start."""
        ...

    def new_workflow_id(self) -> str:
        """A fresh workflow id."""
        ...

    async def confirm_lease(self) -> None:
        """Renew this process's lease now; when it was lost, stop every local execution."""
        ...

    async def cancel_for_timeout(self, ctx: WorkflowContext) -> None:
        """Cancel a workflow whose deadline passed while it ran here."""
        ...
