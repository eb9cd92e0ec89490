"""The ``DBOS`` facade: cron schedules (``@DBOS.scheduled`` and the schedule API).

Creating, deleting, pausing and resuming a schedule from a workflow is one recorded
step; ``apply_schedules``, ``backfill_schedule`` and ``trigger_schedule`` refuse to run
in a workflow, as in DBOS. The methods with an async twin are built (``api.twin``) from
``api.specs`` (shared with ``DBOSClient``) and ``api/facade/dbos_specs.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from dbos_queue.api import specs
from dbos_queue.api.facade import dbos_specs
from dbos_queue.api.facade.recorded import ON_RUNTIME, as_step_named, recorded
from dbos_queue.api.handles import WorkflowHandle
from dbos_queue.api.invoke import require_runtime
from dbos_queue.api.twin import twins
from dbos_queue.engine.context import current_workflow
from dbos_queue.error import DBOSException
from dbos_queue.model.records import ScheduleInput
from dbos_queue.ops import schedules as _ops
from dbos_queue.queue.schedules import manage as _manage

F = TypeVar("F", bound=Callable[..., Any])


def _not_in_workflow(what: str) -> None:
    ctx = current_workflow.get()
    if ctx is not None and not ctx.in_step:
        raise DBOSException(f"DBOS.{what} cannot be called from within a workflow")


class Schedules:
    """``DBOS`` class methods: cron schedules."""

    @classmethod
    def scheduled(cls, cron: str) -> Callable[[F], F]:
        """Run the decorated workflow on a 6-field cron schedule (seconds first); it receives
        ``(scheduled_time, actual_time)``. Each tick runs once across the fleet."""
        from dbos_queue.queue import schedules as _scheduler

        return _scheduler.scheduled(cron)

    create_schedule, create_schedule_async = twins(
        dbos_specs.create_schedule, as_step_named("DBOS.createSchedule")
    )
    list_schedules, list_schedules_async = twins(specs.list_schedules, ON_RUNTIME)
    get_schedule, get_schedule_async = twins(specs.get_schedule, ON_RUNTIME)
    delete_schedule, delete_schedule_async = twins(
        specs.delete_schedule, as_step_named("DBOS.deleteSchedule")
    )

    @classmethod
    def pause_schedule(cls, name: str) -> None:
        """Stop firing ``name`` (at once, across restarts) until ``resume_schedule``."""
        recorded("DBOS.pauseSchedule", lambda rt: _manage.pause_schedule(rt, name))

    @classmethod
    def resume_schedule(cls, name: str) -> None:
        """Fire ``name`` again from now on (ticks due while it was paused do not run)."""
        recorded("DBOS.resumeSchedule", lambda rt: _manage.resume_schedule(rt, name))

    @classmethod
    def apply_schedules(cls, schedules: list[ScheduleInput]) -> None:
        """Create or replace all these schedules in one transaction (others are kept)."""
        _not_in_workflow("apply_schedules")
        require_runtime().engine.run(_ops.apply(require_runtime(), schedules))

    @classmethod
    async def apply_schedules_async(cls, schedules: list[ScheduleInput]) -> None:
        """``apply_schedules`` from async code."""
        _not_in_workflow("apply_schedules")
        await require_runtime().engine.arun(_ops.apply(require_runtime(), schedules))

    @classmethod
    def backfill_schedule(
        cls, schedule_name: str, start: datetime, end: datetime
    ) -> list[WorkflowHandle[Any]]:
        """Enqueue every tick of the schedule between ``start`` and ``end`` that has not run
        (same ids as the scheduler's); handles for all of them."""
        _not_in_workflow("backfill_schedule")
        ids = require_runtime().engine.run(
            _ops.backfill(require_runtime(), schedule_name, start, end)
        )
        return [WorkflowHandle(require_runtime(), wf_id) for wf_id in ids]

    @classmethod
    def trigger_schedule(cls, schedule_name: str) -> WorkflowHandle[Any]:
        """Enqueue one run of the schedule's workflow now."""
        _not_in_workflow("trigger_schedule")
        return WorkflowHandle(
            require_runtime(),
            require_runtime().engine.run(_ops.trigger(require_runtime(), schedule_name)),
        )
