"""Typed in-process events: what metrics, tests and the lifecycle subscribe to.

The engine and the queue emit these on the thread where the fact happens
(engine loop or workflow thread); a subscriber must be quick and must not raise
(an exception is logged and swallowed, so it can never break execution).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

logger = logging.getLogger("dbos_queue")


@dataclass(frozen=True)
class Event:
    """Base of every in-process event."""


@dataclass(frozen=True)
class Claimed(Event):
    """One claim statement ran: ``count`` workflows claimed from ``queue``."""

    queue: str
    count: int
    seconds: float


@dataclass(frozen=True)
class Dequeued(Event):
    """A claimed workflow was dispatched; ``wait_ms`` since it was enqueued."""

    queue: str
    workflow_id: str
    wait_ms: int


@dataclass(frozen=True)
class StepRecorded(Event):
    """A step's outcome was checkpointed."""

    workflow_id: str
    step_name: str
    function_id: int


@dataclass(frozen=True)
class WorkflowFinished(Event):
    """A workflow's final status was written (or refused: ``status == "FENCED"``)."""

    workflow_id: str
    status: str


@dataclass(frozen=True)
class TakenOver(Event):
    """A dead process's workflow was taken over (``requeued``: handed back to its queue)."""

    workflow_id: str
    requeued: bool = False


@dataclass(frozen=True)
class WriteRefused(Event):
    """A fenced write touched nothing: another execution owns the workflow now."""

    workflow_id: str


@dataclass(frozen=True)
class LeaseLost(Event):
    """This process found its lease expired (it was paused or partitioned)."""

    process_id: str


@dataclass(frozen=True)
class HandedBack(Event):
    """A drain released a workflow that was still running here."""

    workflow_id: str


E = TypeVar("E", bound=Event)


class EventBus:
    """Subscribers per event type; ``emit`` calls them synchronously."""

    def __init__(self) -> None:
        self._subs: defaultdict[type, list[Callable[[Event], None]]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, kind: type[E], fn: Callable[[E], None]) -> Callable[[], None]:
        """Call ``fn`` for every event of ``kind``; returns a function that unsubscribes."""
        with self._lock:
            self._subs[kind] = [*self._subs[kind], fn]  # type: ignore[list-item]

        def unsubscribe() -> None:
            with self._lock:
                self._subs[kind] = [f for f in self._subs[kind] if f is not fn]

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Call every subscriber of this event's kind; a failing one is logged, not raised."""
        for fn in self._subs.get(type(event), ()):
            try:
                fn(event)
            except Exception:
                logger.exception("event subscriber failed on %r", event)

    def wants(self, kind: type[Event]) -> bool:
        """Whether anyone listens (lets hot paths skip building an event)."""
        return bool(self._subs.get(kind))
