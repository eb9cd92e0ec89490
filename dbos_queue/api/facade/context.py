"""The ``DBOS`` facade: what the running workflow and request see."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dbos_queue.api.facade.base import classproperty, configured_settings
from dbos_queue.api.invoke import require_runtime
from dbos_queue.engine import core as _core
from dbos_queue.engine.context import current_workflow
from dbos_queue.engine.registry import registry

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("dbos_queue")


class Context:
    """``DBOS`` class methods: what the running workflow and request see."""

    @classproperty
    def workflow_id(cls) -> str | None:
        """The id of the workflow running in this context (None outside one)."""
        ctx = current_workflow.get()
        return ctx.workflow_id if ctx is not None else None

    @classproperty
    def step_id(cls) -> int | None:
        """The id of the step running in this context (None outside one)."""
        ctx = current_workflow.get()
        return ctx.step_id if ctx is not None else None

    @classproperty
    def logger(cls) -> logging.Logger:
        """The library's logger (``dbos_queue``)."""
        return logger

    @classproperty
    def executor_id(cls) -> str:
        """This process's executor id (the configured one before launch)."""
        return (
            require_runtime().executor_id if registry.process else configured_settings().executor_id
        )

    @classproperty
    def application_version(cls) -> str:
        """The application version this launched process runs."""
        return require_runtime().app_version

    @classproperty
    def authenticated_user(cls) -> str | None:
        """Who the running workflow (or request) runs as."""
        return _core.current_auth()[0]

    @classproperty
    def authenticated_roles(cls) -> list[str] | None:
        """The roles the authenticated user holds."""
        return _core.current_auth()[1]

    @classproperty
    def request(cls) -> Any:
        """The HTTP request being handled (FastAPI integration), else None."""
        from dbos_queue.integrations.fastapi import get_request

        return get_request()

    @classproperty
    def assumed_role(cls) -> str | None:
        """The role the running workflow was allowed to run under."""
        ctx = current_workflow.get()
        return ctx.assumed_role if ctx is not None else None
