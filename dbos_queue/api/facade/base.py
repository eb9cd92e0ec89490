"""Shared pieces of the facade's mixins: the facade's own state and ``classproperty``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from dbos_queue.error import DBOSInitializationError
from dbos_queue.model.config import Settings

T = TypeVar("T")


class FacadeState:
    """The one configured ``DBOS`` instance and what was asked of it before launch.

    The only process-wide mutable state besides the registry: DBOS's API is a
    class with class methods, so its configuration lives at class level.
    """

    instance: Any = None
    pending_listen: list[str] | None = None


def configured_settings() -> Settings:
    """The settings of the configured ``DBOS`` instance; raises before ``DBOS(config=...)``."""
    inst = FacadeState.instance
    if inst is None or not getattr(inst, "_initialized", False):
        raise DBOSInitializationError(
            "DBOS is not configured: call DBOS(config={...}) (or add dbos-config.yaml) first"
        )
    settings: Settings = inst.settings
    return settings


class classproperty(Generic[T]):
    """A read-only property of the class (``DBOS.workflow_id``)."""

    def __init__(self, fget: Callable[[Any], T]) -> None:
        self.fget = fget

    def __get__(self, obj: Any, owner: Any) -> T:
        return self.fget(owner)
