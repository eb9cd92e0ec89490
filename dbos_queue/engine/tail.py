"""The last step of a workflow: its checkpoint can go with the workflow's completion.

A step's output must be durable before the workflow continues past it. When the step
is the last thing the workflow body does - its result is returned at once, or dropped
and ``None`` returned - nothing of the workflow runs between the step and the
workflow's end, so the step's record and the final status can be written together, in
one statement and one commit (``_sql.RECORD_AND_COMPLETE_WORKFLOWS``): the workflow's
thread does not wait for a checkpoint of its own, and the database gets one write
fewer per workflow. If the process dies before that write, both are lost together and
recovery re-runs the step, exactly as when a crash comes just after the step's body.

"The last thing" is read from the body's bytecode, conservatively: the step must be
called straight from the workflow function (no helper in between) and be followed only
by moves between local variables and constants and a ``return`` - no call, no jump,
no ``with`` or ``finally`` code. Anything else takes the ordinary path.
"""

from __future__ import annotations

import dis
import inspect
from types import CodeType, FrameType
from typing import Any

# Instructions that can follow the step's call without anything observable happening.
_INERT = frozenset(
    {"POP_TOP", "STORE_FAST", "LOAD_FAST", "LOAD_CONST", "NOP", "CACHE", "COPY", "SWAP"}
)
_RETURNS = frozenset({"RETURN_VALUE", "RETURN_CONST"})
_PACKAGE = __name__.split(".")[0]
_cache: dict[tuple[CodeType, int], bool] = {}
_MAX_FRAMES = 12


def _returns_right_after(code: CodeType, lasti: int) -> bool:
    """Whether the instructions after the call at ``lasti`` only return its value or None.

    ``f_lasti`` of a frame in a call points at the call instruction or one of its inline
    cache entries; the instruction at or before it must be a call."""
    key = (code, lasti)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    answer = False
    current = None
    for ins in dis.get_instructions(code):  # cache entries are not listed
        if ins.offset <= lasti:
            current = ins
            continue
        if current is None or not current.opname.startswith("CALL"):
            break  # not where we expected: be conservative
        if ins.opname in _RETURNS:
            answer = True
            break
        if ins.opname not in _INERT:
            break
    if len(_cache) > 4096:
        _cache.clear()
    _cache[key] = answer
    return answer


def _in_package(frame: FrameType) -> bool:
    """Whether ``frame`` is the library's own wrapper code between the workflow and the step.

    Applications that live inside the package (the demo's and the benchmark's apps under
    ``cli``) are application code, and so are comprehensions, generator expressions and
    lambdas (their own code objects on Python 3.11): a step called from one of those is
    not called straight from the workflow function.
    """
    name = frame.f_globals.get("__name__", "")
    if not (name == _PACKAGE or name.startswith(_PACKAGE + ".")):
        return False
    if name.startswith(_PACKAGE + ".cli."):
        return False
    return not frame.f_code.co_name.startswith("<")


def is_tail_step(body: Any) -> bool:
    """Called from a step runner: is this step the last thing workflow ``body`` does?"""
    code = getattr(body, "__code__", None)
    if code is None:
        return False
    here = inspect.currentframe()  # this function's frame; its caller's is next
    frame: FrameType | None = here.f_back if here is not None else None
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return False
        if frame.f_code is code:
            return _returns_right_after(code, frame.f_lasti)
        if not _in_package(frame):
            return False  # a helper of the application's stands between: not provable
        frame = frame.f_back
    return False


_KEY = "_dbosq_tail_record"  # on the WorkflowContext: the deferred record of its last step


def defer(rt: Any, ctx: Any, params: dict[str, Any]) -> bool:
    """Keep a successful step's record for the completion when the step is the workflow's
    last act; True when kept (the caller then writes nothing now)."""
    info = rt.registry.workflows.get(ctx.name)
    if info is None or info.is_async or _KEY in ctx.__dict__ or not is_tail_step(info.func):
        return False
    ctx.__dict__[_KEY] = params
    return True


def pending(ctx: Any) -> bool:
    """Whether a deferred record waits: then another step ran after a "last" one, so the
    reading of the bytecode was wrong and the record must be written before it goes on."""
    return _KEY in ctx.__dict__


def take(ctx: Any) -> dict[str, Any] | None:
    """The deferred record of ``ctx``'s last step, if any (removed)."""
    return ctx.__dict__.pop(_KEY, None)
