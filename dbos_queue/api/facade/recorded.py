"""How the facade runs a call: on the launched runtime, as one step when made from a workflow.

``recorded(name, op)`` / ``arecorded(name, op)`` take the next step id of the calling
workflow (none outside a workflow or inside a step) and run ``op(rt)`` — an ops
coroutine — on the engine, once: a replay returns what the first execution recorded.
``ON_RUNTIME`` and ``as_step_named(name)`` are the same two ways of running, for the
methods ``api.twin.twins`` builds (a DBOS method and its async twin from one spec).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from dbos_queue.api.invoke import op_context, require_runtime
from dbos_queue.api.runtime import Runtime
from dbos_queue.api.twin import On
from dbos_queue.api.twin import discarding as discarding
from dbos_queue.engine.recorded import as_step

Op = Callable[[Runtime], Awaitable[Any]]


def _runtime(_cls: Any) -> Runtime:
    return require_runtime()


def _as_step(name: str, child: str | None = None) -> Callable[[Any, Op], Coroutine[Any, Any, Any]]:
    """Start ``op`` as the calling workflow's next step ``name`` (in the caller's thread)."""

    def start(rt: Runtime, op: Op) -> Coroutine[Any, Any, Any]:
        ctx, fid = op_context(required=False)
        return as_step(rt, ctx, fid, name, lambda: op(rt), child)

    return start


# DBOS class methods run on the launched runtime ...
ON_RUNTIME = On(host=_runtime, classmethod=True)


def as_step_named(name: str) -> On:
    """... and those recorded as the step ``name`` when called from a workflow."""
    return On(host=_runtime, classmethod=True, start=_as_step(name))


def recorded(name: str, op: Op, child: str | None = None) -> Any:
    """Run ``op`` from synchronous code (a workflow thread or any other thread); ``child``
    is the workflow the step refers to, if any."""
    rt = require_runtime()
    return rt.engine.run(_as_step(name, child)(rt, op))


async def arecorded(name: str, op: Op, child: str | None = None) -> Any:
    """Run ``op`` from async code (any event loop)."""
    rt = require_runtime()
    return await rt.engine.arun(_as_step(name, child)(rt, op))
