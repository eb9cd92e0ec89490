"""Shared pieces of the facade's mixins: the facade's own state and ``classproperty``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class FacadeState:
    """The one configured ``DBOS`` instance and what was asked of it before launch.

    The only process-wide mutable state besides the registry: DBOS's API is a
    class with class methods, so its configuration lives at class level.
    """

    instance: Any = None
    pending_listen: list[str] | None = None


class classproperty:
    """A read-only property of the class (``DBOS.workflow_id``)."""

    def __init__(self, fget: Callable[[Any], Any]) -> None:
        self.fget = fget

    def __get__(self, obj: Any, owner: Any) -> Any:
        return self.fget(owner)
