"""The ``DBOS`` facade: cron schedules (``@DBOS.scheduled`` and the schedule API).

Creating, deleting, pausing and resuming a schedule from a workflow is one recorded
step; ``apply_schedules``, ``backfill_schedule`` and ``trigger_schedule`` refuse to run
in a workflow, as in DBOS.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from dbos_queue.api.facade.recorded import arecorded, discarding, recorded
from dbos_queue.api.handles import WorkflowHandle
from dbos_queue.api.invoke import require_runtime
from dbos_queue.engine.context import current_workflow
from dbos_queue.error import DBOSException
from dbos_queue.model.records import ScheduleInput, WorkflowSchedule
from dbos_queue.ops import schedules as _ops
from dbos_queue.queue.schedules import manage as _manage

F = TypeVar("F", bound=Callable[..., Any])
Many = str | list[str] | None


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

    @classmethod
    def create_schedule(
        cls,
        *,
        schedule_name: str,
        workflow_fn: Callable[..., Any],
        schedule: str,
        context: Any = None,
        automatic_backfill: bool = False,
        cron_timezone: str | None = None,
        queue_name: str | None = None,
        shard_key: str | None = None,
    ) -> None:
        """Store a schedule; ``workflow_fn`` receives ``(scheduled_time, context)``."""
        options = dict(locals())
        options.pop("cls")
        recorded("DBOS.createSchedule", lambda rt: _manage.create_schedule(rt, **options))

    @classmethod
    async def create_schedule_async(
        cls,
        *,
        schedule_name: str,
        workflow_fn: Callable[..., Any],
        schedule: str,
        context: Any = None,
        automatic_backfill: bool = False,
        cron_timezone: str | None = None,
        queue_name: str | None = None,
        shard_key: str | None = None,
    ) -> None:
        """``create_schedule`` from async code."""
        options = dict(locals())
        options.pop("cls")
        await arecorded("DBOS.createSchedule", lambda rt: _manage.create_schedule(rt, **options))

    @classmethod
    def list_schedules(
        cls,
        *,
        status: Many = None,
        workflow_name: Many = None,
        schedule_name_prefix: Many = None,
        application_name: Many = None,
    ) -> list[WorkflowSchedule]:
        """Stored schedules (``WorkflowSchedule`` dicts), oldest first."""
        filters = dict(locals())
        filters.pop("cls")
        rt = require_runtime()
        rows = rt.engine.run(_manage.list_schedules(rt, **filters))
        return cast(list[WorkflowSchedule], rows)  # dicts with WorkflowSchedule's keys

    @classmethod
    async def list_schedules_async(
        cls,
        *,
        status: Many = None,
        workflow_name: Many = None,
        schedule_name_prefix: Many = None,
        application_name: Many = None,
    ) -> list[WorkflowSchedule]:
        """``list_schedules`` from async code."""
        filters = dict(locals())
        filters.pop("cls")
        rt = require_runtime()
        rows = await rt.engine.arun(_manage.list_schedules(rt, **filters))
        return cast(list[WorkflowSchedule], rows)

    @classmethod
    def get_schedule(cls, name: str) -> WorkflowSchedule | None:
        """The schedule named ``name``, or None."""
        rt = require_runtime()
        return cast("WorkflowSchedule | None", rt.engine.run(_manage.get_schedule(rt, name)))

    @classmethod
    async def get_schedule_async(cls, name: str) -> WorkflowSchedule | None:
        """``get_schedule`` from async code."""
        rt = require_runtime()
        found = await rt.engine.arun(_manage.get_schedule(rt, name))
        return cast("WorkflowSchedule | None", found)

    @classmethod
    def delete_schedule(cls, name: str) -> None:
        """Delete a schedule (no tick of it fires afterwards)."""
        recorded("DBOS.deleteSchedule", lambda rt: discarding(_manage.delete_schedule(rt, name)))

    @classmethod
    async def delete_schedule_async(cls, name: str) -> None:
        """``delete_schedule`` from async code."""
        await arecorded(
            "DBOS.deleteSchedule", lambda rt: discarding(_manage.delete_schedule(rt, name))
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
