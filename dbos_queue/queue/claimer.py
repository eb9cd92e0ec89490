"""What the claim service shows the pieces it is built from (dispatch, wake-up).

``queue.claim.QueueService`` imports ``queue.dispatch`` and ``queue.wakeup``; they type
their service against this Protocol instead of importing ``QueueService`` back, so the
three modules form no import cycle.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dbos_queue.queue.host import QueueHost
    from dbos_queue.queue.settings import QueueSettings


class Claimer(Protocol):
    """The claim loops of one process, as dispatch and wake-up use them."""

    rt: QueueHost
    settings: dict[str, QueueSettings]  # queue name -> stored settings, as last read
    deleted: set[str]  # declared queues whose stored row was deleted

    @property
    def claimed_queues(self) -> Collection[str]:
        """The queues this process runs a claim loop for."""
        ...

    def room(self, name: str) -> int:
        """How many more workflows this process should claim from ``name`` now."""
        ...

    def wake(self, name: str) -> None:
        """Make ``name``'s claim loop look at its queue again now."""
        ...

    def wake_delayed(self) -> None:
        """Make the delayed-work loop re-read when the next delayed workflow is due."""
        ...

    async def refresh_and_wake(self, name: str) -> None:
        """Re-read ``name``'s stored settings, then wake its claim loop."""
        ...

    def release(self, name: str, key: str | None, fleet_wake: bool = True) -> None:
        """A workflow claimed from ``name`` (partition ``key``) ended: free its slot (and,
        unless its completion's write will, wake the fleet for a fleet-wide slot)."""
        ...
