"""``DBOSClient``'s schedule methods (DBOS 3.4.0's): the workflow is named, not passed,
so a deploy tool can manage the schedules of an application it does not import. The
methods with an async twin are built (``api.twin``) from ``api.specs`` (shared with
``DBOS``) and ``api.client_specs``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dbos_queue.api import client_specs, specs
from dbos_queue.api.handles import WorkflowHandle
from dbos_queue.api.twin import ON_CLIENT, twins
from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import SystemDatabase
from dbos_queue.model.records import ClientScheduleInput
from dbos_queue.ops import schedules as _ops
from dbos_queue.queue.schedules import manage as _manage


class ClientSchedules:
    """Mixed into ``DBOSClient``."""

    engine: Engine
    sysdb: SystemDatabase

    def _host(self) -> _ops.ClientHost:
        return _ops.ClientHost(self)

    create_schedule, create_schedule_async = twins(client_specs.create_schedule, ON_CLIENT)
    list_schedules, list_schedules_async = twins(specs.list_schedules, ON_CLIENT)
    get_schedule, get_schedule_async = twins(specs.get_schedule, ON_CLIENT)
    delete_schedule, delete_schedule_async = twins(specs.delete_schedule, ON_CLIENT)

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
