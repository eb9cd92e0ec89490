"""Operations that a workflow records as one step, as DBOS records its management calls.

``DBOS.delete_workflows``, ``resume_workflows``, ``wait_first`` and the like, called
from workflow code, take the next step id: the first execution runs the operation and
records its result (or error) under a DBOS step name ("DBOS.deleteWorkflow", ...); a
replay returns the recorded result without running it again. Outside a workflow, or
inside a step, the operation simply runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine.context import WorkflowContext
from dbos_queue.engine.core import explain_refusal
from dbos_queue.error import DBOSUnexpectedStepError
from dbos_queue.model import serialization as ser

if TYPE_CHECKING:
    from dbos_queue.engine.host import Host

T = TypeVar("T")


def replayed_output(ctx: WorkflowContext, fid: int, name: str) -> tuple[bool, str | None]:
    """(True, recorded output) when this step ran before; raises its recorded error."""
    if ctx.fresh:
        return False, None
    rec = ctx.recorded.get(fid)
    if rec is None:
        return False, None
    fname = rec.function_name
    if fname and fname != name:
        raise DBOSUnexpectedStepError(ctx.workflow_id, fid, name, fname)
    if rec.error is not None:
        exc = ser.deserialize_exception(rec.error)
        raise exc if exc is not None else RuntimeError(rec.error)
    return True, rec.output


async def as_step(
    rt: Host,
    ctx: WorkflowContext | None,
    fid: int,
    name: str,
    op: Callable[[], Awaitable[T]],
    child: str | None = None,
) -> T:
    """Run ``op`` once per workflow step (engine loop); its result must be serializable.
    ``child``: the workflow the step refers to (DBOS records a getResult's target so)."""
    if ctx is None or not fid:
        return await op()
    done, text = replayed_output(ctx, fid, name)
    if done:
        return ser.deserialize(text) if text is not None else None  # type: ignore[return-value]
    started = now_ms()
    try:
        result = await op()
    except Exception as exc:
        # The operation's own answer (a missing workflow, a bad argument) is its outcome.
        error = ser.serialize_exception(exc)
        params = rt.sysdb.operation_params(
            ctx.workflow_id, ctx.owner, fid, name, None, error, child=child, started=started
        )
        if not await rt.sysdb.record_operation(params):
            await explain_refusal(rt, ctx)
        raise
    output = ser.serialize(result, f"result of {name}") if result is not None else None
    params = rt.sysdb.operation_params(
        ctx.workflow_id, ctx.owner, fid, name, output, child=child, started=started
    )
    if not await rt.sysdb.record_operation(params):
        await explain_refusal(rt, ctx)
    return result


def replayed_value(ctx: WorkflowContext, fid: int, name: str) -> tuple[bool, object]:
    """(True, recorded result) when step ``fid`` (named ``name``) ran before; raises its
    recorded error. For callers that record a result they compute themselves."""
    if not fid:
        return False, None
    done, text = replayed_output(ctx, fid, name)
    if not done:
        return False, None
    return True, ser.deserialize(text) if text is not None else None
