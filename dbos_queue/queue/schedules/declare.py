"""``@DBOS.scheduled``: schedules declared in code, stored when a process launches."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbos_queue.engine.registry import FunctionInfo, registry
from dbos_queue.error import DBOSException
from dbos_queue.queue.schedules.crons import F, check_cron

logger = logging.getLogger("dbos_queue")


@dataclass(eq=False)
class Declared:
    """One ``@DBOS.scheduled`` use, stored by each launched process that registers it."""

    target: Callable[..., Any]  # what the decorator received (wrapper, or raw function)
    cron: str
    info: FunctionInfo | None = None  # the registered workflow, once resolved


declarations: list[Declared] = []


def resolve(d: Declared, reg: Any) -> FunctionInfo | None:
    """The registered workflow behind a declaration, if it is (still) registered."""
    info = getattr(d.target, "__dbos_info__", None) or d.info
    if info is None:  # @DBOS.scheduled below @DBOS.workflow(): find what wrapped it
        info = next((i for i in reg.workflows.values() if i.func is d.target), None)
    if info is None or info.kind != "workflow" or reg.workflows.get(info.name) is not info:
        return None
    d.info = info
    return info


def scheduled(cron: str) -> Callable[[F], F]:
    """``@DBOS.scheduled(cron)``: fire the workflow with ``(scheduled_time, actual_time)``."""

    def deco(func: F) -> F:
        name = getattr(func, "__qualname__", repr(func))
        check_cron(cron, f"scheduled function {name}")
        info = getattr(func, "__dbos_info__", None)
        if info is not None and info.kind != "workflow":
            raise DBOSException(
                f"@DBOS.scheduled function {info.name} is a {info.kind}, not a "
                "workflow; decorate it with @DBOS.workflow() under @DBOS.scheduled"
            )
        if info is not None and info.method == "instance":
            raise DBOSException(
                f"@DBOS.scheduled cannot schedule {info.name}: configured "
                "instance methods cannot be scheduled workflows"
            )
        declarations.append(Declared(func, cron))
        registry.schedules_changed()
        return func

    return deco
