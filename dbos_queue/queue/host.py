"""What the queue layer needs from the launched process (a Protocol over ``engine.host``)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any, Protocol

from dbos_queue.engine.context import WorkflowContext
from dbos_queue.engine.core import Start
from dbos_queue.engine.host import Host
from dbos_queue.engine.threads import WorkflowThreads


class QueueHost(Host, Protocol):
    """The launched process as claims, takeover and schedules see it."""

    threads: WorkflowThreads
    local: dict[str, WorkflowContext]  # workflow id -> execution running here

    def start_for_row(self, wf_id: str, row: Any) -> Start:
        """Resolve a stored row to the registered function and its arguments."""
        ...

    def start_from_row(self, wf_id: str, ctx: WorkflowContext, row: Any) -> None:
        """Run an owned workflow from its stored row."""
        ...

    def submit(self, s: Start, ctx: WorkflowContext) -> concurrent.futures.Future[Any]:
        """Run an owned workflow in the background."""
        ...

    def run_background(self, s: Start, ctx: WorkflowContext, done: Callable[[], None]) -> None:
        """``submit`` for a sync workflow without a Future: ``done()`` once it ended."""
        ...
