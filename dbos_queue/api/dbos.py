"""The ``DBOS`` facade: DBOS Python's public API over the runtime.

``DBOS`` composes one mixin per concern (``api/facade/``). The only global mutable
state of the library is the facade's (``FacadeState``: the configured instance) and the
registry of decorated functions, to which the launched process is attached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dbos_queue.api.facade.attributes import Attributes
from dbos_queue.api.facade.base import FacadeState
from dbos_queue.api.facade.context import Context
from dbos_queue.api.facade.decorators import Decorators
from dbos_queue.api.facade.lifecycle import Lifecycle
from dbos_queue.api.facade.listing import Listing
from dbos_queue.api.facade.management import Management
from dbos_queue.api.facade.messaging import Messaging
from dbos_queue.api.facade.patching import Patching
from dbos_queue.api.facade.queues import Queues
from dbos_queue.api.facade.running import Running
from dbos_queue.api.facade.schedules import Schedules
from dbos_queue.api.facade.steps import Steps
from dbos_queue.api.facade.tracing import Tracing
from dbos_queue.api.facade.transactions import Transactions
from dbos_queue.api.facade.versions import Versions
from dbos_queue.api.invoke import enqueue_async, enqueue_sync, require_runtime
from dbos_queue.engine.registry import registry
from dbos_queue.error import DBOSInitializationError
from dbos_queue.model import serialization as ser

F = TypeVar("F", bound=Callable[..., Any])
# The name tests and the demo apps reach the launched process by.
_rt = require_runtime
logger = logging.getLogger("dbos_queue")


class DBOSConfiguredInstance:
    """Base for classes whose instances run workflows; ``config_name`` names the instance."""

    def __init__(self, config_name: str) -> None:
        self.config_name = config_name
        registry.instances[(type(self).__name__, config_name)] = self


class DBOS(
    Lifecycle,
    Decorators,
    Running,
    Management,
    Attributes,  # DBOS parity part A: delete, delay, attributes
    Listing,  # DBOS parity part A: list_workflows / list_queued_workflows / steps
    Steps,  # DBOS parity part A: run_step, reserve_step, step_status
    Schedules,
    Queues,
    Context,
    Messaging,
    Tracing,
    Patching,  # DBOS parity part B: patch / deprecate_patch
    Versions,  # DBOS parity part B: application versions
    Transactions,  # DBOS parity part B: DBOS.pg_connection
):
    """The process-wide entry point (DBOS Python's API)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> DBOS:
        """The one process-wide instance: DBOS() again returns the configured one."""
        if FacadeState.instance is None:
            FacadeState.instance = super().__new__(cls)
            FacadeState.instance._initialized = False
        return FacadeState.instance

    def __init__(self, *, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        from dbos_queue.model.config import resolve

        if getattr(self, "_initialized", False) and registry.process is not None:
            return
        unknown = set(kwargs) - {"fastapi", "flask", "conductor_key"}
        if unknown:
            raise DBOSInitializationError(f"DBOS() got unexpected arguments {sorted(unknown)}")
        self.settings = resolve(config)
        if kwargs.get("fastapi") is not None:
            from dbos_queue.integrations.fastapi import setup_fastapi

            setup_fastapi(kwargs["fastapi"], launch=DBOS.launch, destroy=DBOS.destroy)
        ser.configure(self.settings.serializer)
        from dbos_queue.api.preload import preload

        preload()  # what launch() imports, paid for here (api/preload.py)
        self._initialized = True


__all__ = [
    "DBOS",
    "DBOSConfiguredInstance",
    "FacadeState",
    "_rt",
    "enqueue_async",
    "enqueue_sync",
    "registry",
    "require_runtime",
]
