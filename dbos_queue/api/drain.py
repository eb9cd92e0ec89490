"""Drain: stop claiming, let running workflows finish, then hand back the rest — safely.

Hand-back is the dangerous moment of a shutdown: once a workflow is released,
another process may start executing it, so this process must not start another
of its step bodies. Order of a drain:

1. stop claiming and stop the takeover scan (nothing released is re-claimed here);
2. wait up to the timeout for the local executions to finish;
3. *stop* the rest: each starts no further step, sleep, send or child; the step
   running at that instant may finish (and is recorded while the row is still ours);
4. wait (at most ``STOP_GRACE_SEC``) until no step body or record is in progress;
5. only then release the rows (queued ones back to ``ENQUEUED``, others unowned,
   left for takeover) and emit ``HandedBack`` for each.

A step body still running after the grace period is the one step that may run
twice; its late record is refused (``handed_back``) and it starts nothing more.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from dbos_queue.engine.context import WorkflowContext
from dbos_queue.engine.events import HandedBack

logger = logging.getLogger("dbos_queue")

STOP_GRACE_SEC = 5.0  # how long a stopped execution's running step may take to return


def stop_local(
    rt: Any, reason: str, ctxs: Iterable[WorkflowContext], handed_back: bool = False
) -> list[WorkflowContext]:
    """Stop these executions at their next step boundary; wake their waits (sleep, recv)."""
    stopped: list[WorkflowContext] = []
    for ctx in ctxs:
        ctx.stop(reason)
        if handed_back:
            ctx.handed_back = True
        stopped.append(ctx)
        if not rt.engine.closed:
            rt.engine.loop.call_soon_threadsafe(rt.engine.wake, ("cancel", ctx.workflow_id))
    return stopped


def _wait_idle(rt: Any, timeout: float) -> None:
    """Wait up to ``timeout`` s for every local execution to finish."""
    deadline = time.monotonic() + timeout
    while rt.local and time.monotonic() < deadline:
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def drain(rt: Any, timeout: float) -> list[str]:
    """Drain ``rt`` (once; later calls return the first result); returns the released ids."""
    if rt.drained is not None:
        return list(rt.drained)
    rt.draining = True
    rt.engine.run(rt.queues.stop_claiming())
    if timeout > 0:
        _wait_idle(rt, timeout)
    reason = f"the drain timeout ({timeout:g}s) passed before it finished; it is handed back"
    stopped = stop_local(rt, reason, list(rt.local.values()))
    deadline = time.monotonic() + STOP_GRACE_SEC
    still = [c for c in stopped if not c.wait_quiet(max(0.0, deadline - time.monotonic()))]
    if still:
        logger.warning(
            "%d step(s) still running %gs after the drain stopped them (workflows %s); "
            "handing back anyway: that step may run again elsewhere",
            len(still),
            STOP_GRACE_SEC,
            [c.workflow_id for c in still],
        )
    for ctx in stopped:
        ctx.handed_back = True  # from here on its writes are refused before they are sent
    rt.handing_back = True  # executions that begin from now on stop before their first step
    released = rt.engine.run(rt.queues.release_owned())
    for wf_id in released:
        rt.events.emit(HandedBack(wf_id))
    if released:
        logger.info("handed %d unfinished workflow(s) back: %s", len(released), released)
    rt.drained = released
    return list(released)
