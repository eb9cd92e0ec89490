"""The ``DBOS`` facade: starting workflows and reading their status."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from dbos_queue.api import handles as _handles
from dbos_queue.api.facade.recorded import arecorded, recorded
from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync
from dbos_queue.api.invoke import (
    current_ctx_vars,
    invoke_async,
    invoke_sync,
    require_runtime,
    start_async_on_engine,
    workflow_info,
)
from dbos_queue.api.runtime import Runtime
from dbos_queue.engine import core as _core
from dbos_queue.error import (
    DBOSNonExistentWorkflowError,
)
from dbos_queue.model.status import WorkflowStatus, status_from_row
from dbos_queue.ops import messages as _messages

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger("dbos_queue")


async def _status(rt: Runtime, workflow_id: str) -> WorkflowStatus | None:
    row = await rt.sysdb.get_status_row(workflow_id)
    return status_from_row(row) if row is not None else None


class Running:
    """``DBOS`` class methods: starting workflows and reading their status."""

    @classmethod
    def start_workflow(
        cls, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> WorkflowHandle[R]:
        """Start a workflow in the background; returns once it is durably recorded."""
        info = workflow_info(func)
        if info.is_async:
            rt = require_runtime()
            return rt.engine.run(start_async_on_engine(info, args, kwargs, current_ctx_vars()))
        handle: WorkflowHandle[R] = invoke_sync(info, args, kwargs, background=True)
        return handle

    @classmethod
    async def start_workflow_async(
        cls, func: Callable[P, Coroutine[Any, Any, R]], *args: P.args, **kwargs: P.kwargs
    ) -> WorkflowHandleAsync[R]:
        """Start a workflow in the background from async code; returns once it is recorded."""
        handle: WorkflowHandleAsync[R] = await invoke_async(
            workflow_info(func), args, kwargs, background=True
        )
        return handle

    @classmethod
    def retrieve_workflow(
        cls, workflow_id: str, existing_workflow: bool = True, *, shard_key: str | None = None
    ) -> WorkflowHandle[Any]:
        """A handle to a workflow (raises for an unknown id unless ``existing_workflow=False``).
        The existence check is ``get_workflow_status``: from a workflow, a recorded step
        ("DBOS.getStatus"), as in DBOS."""
        rt = require_runtime()
        if existing_workflow and cls.get_workflow_status(workflow_id) is None:
            raise DBOSNonExistentWorkflowError("target", workflow_id)
        return WorkflowHandle(rt, workflow_id)

    @classmethod
    async def retrieve_workflow_async(
        cls, workflow_id: str, existing_workflow: bool = True, *, shard_key: str | None = None
    ) -> WorkflowHandleAsync[Any]:
        """``retrieve_workflow`` from async code."""
        rt = require_runtime()
        if existing_workflow and await cls.get_workflow_status_async(workflow_id) is None:
            raise DBOSNonExistentWorkflowError("target", workflow_id)
        return WorkflowHandleAsync(rt, workflow_id)

    @classmethod
    def get_workflow_status(
        cls, workflow_id: str, *, shard_key: str | None = None
    ) -> WorkflowStatus | None:
        """The workflow's status row, or None for an unknown id. From a workflow the read
        is a recorded step ("DBOS.getStatus"): a replay returns the status first read."""
        return recorded("DBOS.getStatus", lambda rt: _status(rt, workflow_id))

    @classmethod
    async def get_workflow_status_async(
        cls, workflow_id: str, *, shard_key: str | None = None
    ) -> WorkflowStatus | None:
        """``get_workflow_status`` from async code."""
        return await arecorded("DBOS.getStatus", lambda rt: _status(rt, workflow_id))

    @classmethod
    def get_result(
        cls, workflow_id: str, *, shard_key: str | None = None, timeout: float | None = None
    ) -> Any:
        """Wait for the workflow to end; its output, or its error raised. From a workflow
        the wait is a recorded step ("DBOS.getResult"), unless ``timeout`` (ours) is given."""
        if timeout is not None:
            rt = require_runtime()
            return rt.engine.run(_core.await_result(rt, workflow_id, timeout))
        return recorded(
            "DBOS.getResult", lambda rt: _core.await_result(rt, workflow_id), workflow_id
        )

    @classmethod
    async def get_result_async(cls, workflow_id: str, *, shard_key: str | None = None) -> Any:
        """``get_result`` from async code."""
        return await arecorded(
            "DBOS.getResult", lambda rt: _core.await_result(rt, workflow_id), workflow_id
        )

    @classmethod
    def wait_first(
        cls, handles: list[WorkflowHandle[Any]], *, polling_interval_sec: float = 1.0
    ) -> WorkflowHandle[Any]:
        """Block until one of these workflows is no longer PENDING/ENQUEUED/DELAYED and return
        its handle (from a workflow, a recorded step: a replay returns the same handle)."""
        ids = _messages.check_handles(handles)
        done = recorded(
            "DBOS.waitFirst", lambda rt: _messages.wait_first(rt, ids, polling_interval_sec)
        )
        return handles[ids.index(done)]

    @classmethod
    async def wait_first_async(
        cls, handles: list[WorkflowHandleAsync[Any]], *, polling_interval_sec: float = 1.0
    ) -> WorkflowHandleAsync[Any]:
        """``wait_first`` from async code."""
        ids = _messages.check_handles(handles)
        done = await arecorded(
            "DBOS.waitFirst", lambda rt: _messages.wait_first(rt, ids, polling_interval_sec)
        )
        return handles[ids.index(done)]


# The launched process's handles read their status as DBOS's do (api/handles.py).
_handles.recorded_status = Running.get_workflow_status
_handles.recorded_status_async = Running.get_workflow_status_async
_handles.recorded_result = Running.get_result
_handles.recorded_result_async = Running.get_result_async
