"""The ``DBOS`` facade: cron schedules."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dbos_queue.api.invoke import (
    _rt,
)

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("dbos_queue")


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
        **options: Any,
    ) -> None:
        """Store a schedule; ``workflow_fn`` receives ``(scheduled_time, context)``."""
        from dbos_queue.queue import schedules as _scheduler

        _rt().engine.run(
            _scheduler.create_schedule(
                _rt(),
                schedule_name=schedule_name,
                workflow_fn=workflow_fn,
                schedule=schedule,
                context=context,
                **options,
            )
        )

    @classmethod
    def list_schedules(cls, **filters: Any) -> list[dict[str, Any]]:
        from dbos_queue.queue import schedules as _scheduler

        return _rt().engine.run(_scheduler.list_schedules(_rt(), **filters))

    @classmethod
    def get_schedule(cls, name: str) -> dict[str, Any] | None:
        from dbos_queue.queue import schedules as _scheduler

        return _rt().engine.run(_scheduler.get_schedule(_rt(), name))

    @classmethod
    def delete_schedule(cls, name: str) -> None:
        from dbos_queue.queue import schedules as _scheduler

        _rt().engine.run(_scheduler.delete_schedule(_rt(), name))
