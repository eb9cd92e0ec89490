"""The ``DBOS`` facade: starting workflows and reading their status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.invoke import (
    _info,
    _invoke_async,
    _invoke_sync,
    _rt,
    _start_async_on_engine,
    current_ctx_vars,
)
from dbos_queue.engine import core as _core
from dbos_queue.error import (
    DBOSNonExistentWorkflowError,
)
from dbos_queue.model.status import WorkflowStatus, status_from_row, step_dict

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("dbos_queue")


class Running:
    """``DBOS`` class methods: starting workflows and reading their status."""

    @classmethod
    def start_workflow(cls, func: Callable[..., Any], *args: Any, **kwargs: Any) -> WorkflowHandle:
        """Start a workflow in the background; returns once it is durably recorded."""
        info = _info(func)
        if info.is_async:
            rt = _rt()
            return rt.engine.run(_start_async_on_engine(info, args, kwargs, current_ctx_vars()))
        return _invoke_sync(info, args, kwargs, background=True)

    @classmethod
    async def start_workflow_async(
        cls, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> WorkflowHandleAsync:
        return await _invoke_async(_info(func), args, kwargs, background=True)

    @classmethod
    def retrieve_workflow(cls, workflow_id: str, existing_workflow: bool = True) -> WorkflowHandle:
        rt = _rt()
        if existing_workflow and rt.engine.run(rt.sysdb.get_status_row(workflow_id)) is None:
            raise DBOSNonExistentWorkflowError(workflow_id)
        return WorkflowHandle(rt, workflow_id)

    @classmethod
    async def retrieve_workflow_async(
        cls, workflow_id: str, existing_workflow: bool = True
    ) -> WorkflowHandleAsync:
        rt = _rt()
        if existing_workflow and await rt.engine.arun(rt.sysdb.get_status_row(workflow_id)) is None:
            raise DBOSNonExistentWorkflowError(workflow_id)
        return WorkflowHandleAsync(rt, workflow_id)

    @classmethod
    def get_workflow_status(cls, workflow_id: str) -> WorkflowStatus | None:
        rt = _rt()
        row = rt.engine.run(rt.sysdb.get_status_row(workflow_id))
        return status_from_row(row) if row is not None else None

    @classmethod
    async def get_workflow_status_async(cls, workflow_id: str) -> WorkflowStatus | None:
        rt = _rt()
        row = await rt.engine.arun(rt.sysdb.get_status_row(workflow_id))
        return status_from_row(row) if row is not None else None

    @classmethod
    def get_result(cls, workflow_id: str, timeout: float | None = None) -> Any:
        rt = _rt()
        return rt.engine.run(_core.await_result(rt, workflow_id, timeout))

    @classmethod
    def list_workflow_steps(cls, workflow_id: str) -> list[dict[str, Any]]:
        rt = _rt()
        return [step_dict(r) for r in rt.engine.run(rt.sysdb.list_steps(workflow_id))]
