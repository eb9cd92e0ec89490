"""The one way tests wait: for a condition or an in-process event, with a deadline.

``wait_until`` polls a cheap condition (a database row, a process state) and fails
with what it was waiting for; ``EventWaiter`` collects typed engine events
(dbos_queue.engine.events) so a test blocks until the engine says something happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from dbos_queue.engine.events import Event, EventBus

T = TypeVar("T")
E = TypeVar("E", bound=Event)


def wait_until(
    cond: Callable[[], T | None],
    timeout: float = 30.0,
    what: str = "the condition",
    every: float = 0.02,
) -> T:
    """Return ``cond()``'s first truthy value; raise AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


class EventWaiter(Generic[E]):
    """Subscribe to one event kind on a bus; ``wait`` blocks until a matching one arrived."""

    def __init__(self, bus: EventBus, kind: type[E]) -> None:
        self.seen: list[E] = []
        self._cond = threading.Condition()
        self._unsubscribe = bus.subscribe(kind, self._on)

    def _on(self, event: E) -> None:
        with self._cond:
            self.seen.append(event)
            self._cond.notify_all()

    def wait(
        self, match: Callable[[E], bool] = lambda _e: True, timeout: float = 30.0, count: int = 1
    ) -> list[E]:
        """Block until ``count`` seen events satisfy ``match``; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [e for e in self.seen if match(e)]
                if len(hits) >= count:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s; saw {self.seen!r}")
                self._cond.wait(left)

    def close(self) -> None:
        self._unsubscribe()

    def __enter__(self) -> EventWaiter[E]:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
