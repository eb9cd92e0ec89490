"""How the facade runs a management call: recorded as one step when made from a workflow.

``recorded(name, op)`` / ``arecorded(name, op)`` take the next step id of the calling
workflow (none outside a workflow or inside a step) and run ``op(rt)`` — an ops
coroutine — on the engine, once: a replay returns what the first execution recorded.
The sync and async twins of every DBOS management method are thin wrappers over these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dbos_queue.api.invoke import op_context, require_runtime
from dbos_queue.api.runtime import Runtime
from dbos_queue.engine.recorded import as_step

T = TypeVar("T")
Op = Callable[[Runtime], Awaitable[Any]]


def recorded(name: str, op: Op) -> Any:
    """Run ``op`` from synchronous code (a workflow thread or any other thread)."""
    rt = require_runtime()
    ctx, fid = op_context(required=False)
    return rt.engine.run(as_step(rt, ctx, fid, name, lambda: op(rt)))


async def discarding(coro: Awaitable[Any]) -> None:
    """Await ``coro`` and record nothing but its completion (DBOS's methods return None)."""
    await coro


async def arecorded(name: str, op: Op) -> Any:
    """Run ``op`` from async code (any event loop)."""
    rt = require_runtime()
    ctx, fid = op_context(required=False)
    return await rt.engine.arun(as_step(rt, ctx, fid, name, lambda: op(rt)))
