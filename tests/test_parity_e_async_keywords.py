"""Every ``*_async`` method of ``DBOS``, ``DBOSClient``, ``Queue`` and the handles checks its
keywords when it is called, as DBOS's ``async def`` methods do: a misspelt keyword raises
``TypeError`` at the call, before any coroutine exists to be awaited (or forgotten)."""

from __future__ import annotations

import inspect
import warnings

import pytest

from dbos_queue import DBOS, DBOSClient, Queue
from dbos_queue.api.handles import WorkflowHandleAsync

OWNERS = (DBOS, DBOSClient, Queue, WorkflowHandleAsync)


def _async_methods() -> list[tuple[str, object]]:
    found = []
    for owner in OWNERS:
        for name in dir(owner):
            if name.startswith("_") or not name.endswith("_async"):
                continue
            attr = inspect.getattr_static(owner, name)
            func = attr.__func__ if isinstance(attr, classmethod | staticmethod) else attr
            if not (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
                continue
            params = inspect.signature(func).parameters.values()
            if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
                continue  # takes the workflow's own keywords (start_workflow_async, ...)
            found.append((f"{owner.__name__}.{name}", func))
    return found


METHODS = _async_methods()


def test_the_inventory_is_not_empty() -> None:
    assert len(METHODS) > 60, [n for n, _ in METHODS]


@pytest.mark.parametrize(("name", "func"), METHODS, ids=[n for n, _ in METHODS])
def test_a_misspelt_keyword_raises_at_the_call(name: str, func: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a coroutine made and dropped would warn
        with pytest.raises(TypeError, match="not_a_dbos_keyword"):
            func(None, not_a_dbos_keyword=1)  # pyright: ignore[reportCallIssue]
