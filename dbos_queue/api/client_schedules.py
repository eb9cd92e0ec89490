"""``DBOSClient``'s schedule methods (DBOS 3.4.0's): the workflow is named, not passed,
so a deploy tool can manage the schedules of an application it does not import."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from dbos_queue.api.handles import WorkflowHandle
from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import SystemDatabase
from dbos_queue.model.records import ClientScheduleInput, WorkflowSchedule
from dbos_queue.ops import schedules as _ops
from dbos_queue.queue.schedules import manage as _manage

Many = str | list[str] | None


class ClientSchedules:
    """Mixed into ``DBOSClient``."""

    engine: Engine
    sysdb: SystemDatabase

    def _host(self) -> _ops.ClientHost:
        return _ops.ClientHost(self)

    def create_schedule(
        self,
        *,
        schedule_name: str,
        workflow_name: str,
        schedule: str,
        context: Any = None,
        workflow_class_name: str | None = None,
        automatic_backfill: bool = False,
        cron_timezone: str | None = None,
        queue_name: str | None = None,
        application_name: str | None = None,
        shard_key: str | None = None,
    ) -> None:
        """Store a schedule of the workflow named ``workflow_name``."""
        options = _options(locals())
        self.engine.run(_ops.create_named(self._host(), **options))

    async def create_schedule_async(
        self,
        *,
        schedule_name: str,
        workflow_name: str,
        schedule: str,
        context: Any = None,
        workflow_class_name: str | None = None,
        automatic_backfill: bool = False,
        cron_timezone: str | None = None,
        queue_name: str | None = None,
        application_name: str | None = None,
        shard_key: str | None = None,
    ) -> None:
        """``create_schedule`` from async code."""
        options = _options(locals())
        await self.engine.arun(_ops.create_named(self._host(), **options))

    def list_schedules(
        self,
        *,
        status: Many = None,
        workflow_name: Many = None,
        schedule_name_prefix: Many = None,
        application_name: Many = None,
    ) -> list[WorkflowSchedule]:
        """Stored schedules (``WorkflowSchedule`` dicts), oldest first."""
        filters = {k: v for k, v in locals().items() if k != "self"}
        rows = self.engine.run(_manage.list_schedules(self, **filters))
        return cast(list[WorkflowSchedule], rows)  # dicts with WorkflowSchedule's keys

    async def list_schedules_async(
        self,
        *,
        status: Many = None,
        workflow_name: Many = None,
        schedule_name_prefix: Many = None,
        application_name: Many = None,
    ) -> list[WorkflowSchedule]:
        """``list_schedules`` from async code."""
        filters = {k: v for k, v in locals().items() if k != "self"}
        rows = await self.engine.arun(_manage.list_schedules(self, **filters))
        return cast(list[WorkflowSchedule], rows)

    def get_schedule(self, name: str) -> WorkflowSchedule | None:
        """The schedule named ``name``, or None."""
        return cast("WorkflowSchedule | None", self.engine.run(_manage.get_schedule(self, name)))

    async def get_schedule_async(self, name: str) -> WorkflowSchedule | None:
        """``get_schedule`` from async code."""
        found = await self.engine.arun(_manage.get_schedule(self, name))
        return cast("WorkflowSchedule | None", found)

    def delete_schedule(self, name: str) -> None:
        """Delete a schedule (no tick of it fires afterwards)."""
        self.engine.run(_manage.delete_schedule(self, name))

    async def delete_schedule_async(self, name: str) -> None:
        """``delete_schedule`` from async code."""
        await self.engine.arun(_manage.delete_schedule(self, name))

    def pause_schedule(self, name: str) -> None:
        """Stop firing ``name`` until ``resume_schedule``."""
        self.engine.run(_manage.pause_schedule(self, name))

    def resume_schedule(self, name: str) -> None:
        """Fire ``name`` again from now on."""
        self.engine.run(_manage.resume_schedule(self, name))

    def apply_schedules(self, schedules: list[ClientScheduleInput]) -> None:
        """Create or replace all these schedules in one transaction (others are kept)."""
        self.engine.run(_ops.apply(self._host(), schedules, by_name=True))

    async def apply_schedules_async(self, schedules: list[ClientScheduleInput]) -> None:
        """``apply_schedules`` from async code."""
        await self.engine.arun(_ops.apply(self._host(), schedules, by_name=True))

    def backfill_schedule(
        self, schedule_name: str, start: datetime, end: datetime
    ) -> list[WorkflowHandle[Any]]:
        """Enqueue the schedule's ticks between ``start`` and ``end`` that have not run."""
        ids = self.engine.run(_ops.backfill(self._host(), schedule_name, start, end))
        return [WorkflowHandle(self, wf_id) for wf_id in ids]

    def trigger_schedule(self, schedule_name: str) -> WorkflowHandle[Any]:
        """Enqueue one run of the schedule's workflow now."""
        wf_id = self.engine.run(_ops.trigger(self._host(), schedule_name))
        return WorkflowHandle(self, wf_id)


def _options(given: dict[str, Any]) -> dict[str, Any]:
    """create_named's arguments; ``application_name`` names the owner (not stored here)."""
    return {k: v for k, v in given.items() if k not in ("self", "application_name")}
