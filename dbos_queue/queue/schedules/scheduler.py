"""The schedule loop of a launched process: exactly-once ticks through a queue."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine import core as _core
from dbos_queue.engine.core import Start
from dbos_queue.engine.host import app_name_of
from dbos_queue.engine.registry import FunctionInfo, class_name_of
from dbos_queue.model import clock as _clock
from dbos_queue.model import serialization as ser
from dbos_queue.model.jitter import jitter

if TYPE_CHECKING:
    from dbos_queue.queue.host import QueueHost

from dbos_queue.queue.schedules.crons import (
    MAX_LATE_SEC,
    MAX_TICKS_PER_PASS,
    POLL_SEC,
    WAKE_PAYLOAD,
    cron_ticks,
    from_ms,
    tick_workflow_id,
    to_ms,
)
from dbos_queue.queue.schedules.declare import declarations, resolve
from dbos_queue.queue.schedules.rows import ScheduleRow
from dbos_queue.queue.wakeup import duty_backstop_sec, listening, off_duty

logger = logging.getLogger("dbos_queue")


@dataclass(eq=False)
class Scheduler:
    """The schedule loop of one launched runtime."""

    rt: QueueHost
    floor_ms: int = 0  # skip policy: ticks at or before this never fire here (fleet up since)
    # decorated, stored
    declared: dict[str, FunctionInfo] = field(default_factory=dict[str, FunctionInfo])
    handled: set[int] = field(default_factory=set[int])  # id() of declarations dealt with
    warned: set[str] = field(default_factory=set[str])  # unresolved decorated functions logged
    broken: set[str] = field(default_factory=set[str])  # schedules that failed to fire, logged
    event: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_error_log: float = 0.0

    def wake(self) -> None:
        """Run the next pass now (a schedule changed in this process)."""
        self.event.set()

    def on_queue_notify(self, payload: str) -> None:
        """Engine "queue" hook: a schedule changed elsewhere, run the next pass now."""
        if payload == WAKE_PAYLOAD:
            self.event.set()

    async def sync_declared(self) -> None:
        """Upsert the decorated schedules not yet stored by this runtime."""
        async with self.lock:
            for d in list(declarations):
                if id(d) in self.handled:
                    continue
                info = resolve(d, self.rt.registry)
                if info is None:
                    if getattr(d.target, "__dbos_info__", None) is not None or d.info is not None:
                        self.handled.add(id(d))  # registered in an earlier registry: stale
                    continue  # raw function not (yet) wrapped by @DBOS.workflow()
                if info.method == "instance":
                    logger.error(
                        "@DBOS.scheduled cannot schedule %s: configured instance "
                        "methods cannot be scheduled workflows",
                        info.name,
                    )
                    self.handled.add(id(d))
                    continue
                row = await self.rt.sysdb.fetchone(
                    _sql.UPSERT_DECORATED_SCHEDULE,
                    {
                        "name": info.name,
                        "id": str(uuid.uuid4()),
                        "workflow_name": info.name,
                        "class_name": class_name_of(info.func) if info.method == "class" else None,
                        "cron": d.cron,
                        "context": ser.serialize(None),
                        "now": now_ms(),
                        "app": app_name_of(self.rt),
                    },
                )
                self.handled.add(id(d))
                if row is None:
                    logger.error(
                        "@DBOS.scheduled %s is ignored: a schedule created with "
                        "DBOS.create_schedule holds that name",
                        info.name,
                    )
                    continue
                self.declared[info.name] = info
                self.event.set()  # a new schedule to fire: the next pass reads it now

    def warn_unresolved(self) -> None:
        """Log, once each, decorated functions that are not registered workflows (yet)."""
        for d in declarations:
            name = getattr(d.target, "__qualname__", repr(d.target))
            if id(d) not in self.handled and d.info is None and name not in self.warned:
                self.warned.add(name)
                logger.warning(
                    "@DBOS.scheduled function %s is not a registered workflow; it "
                    "is scheduled once @DBOS.workflow() registers it",
                    name,
                )

    def _fires(self, row: ScheduleRow) -> bool:
        if row.workflow_name not in self.rt.registry.workflows:
            return False  # only processes that can run a schedule's workflow fire it
        return row.kind != "decorator" or row.name in self.declared

    async def run_forever(self) -> None:
        """Store new declarations and fire due ticks, pass after pass, until cancelled."""
        while True:
            self.event.clear()
            delay = POLL_SEC
            try:
                if len(self.handled) < len(declarations):
                    await self.sync_declared()
                delay = await self.pass_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if time.monotonic() - self.last_error_log > 30:
                    self.last_error_log = time.monotonic()
                    logger.warning("scheduler pass failed (retrying every second): %s", exc)
            try:
                await asyncio.wait_for(self.event.wait(), max(delay, 0.0))
            except TimeoutError:
                pass

    async def pass_once(self) -> float:
        """Fire every due tick this process may fire; seconds until the next is due."""
        active = await self.rt.sysdb.fetchall(_sql.ACTIVE_SCHEDULES, {"app": app_name_of(self.rt)})
        rows = [ScheduleRow(*r) for r in active]
        delay = poll_sec(self.rt) * jitter(0.9, 1.1)
        for row in rows:
            if not self._fires(row):
                continue
            try:
                nxt = await self._fire(row)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if row.name not in self.broken:
                    self.broken.add(row.name)
                    logger.error("schedule %s cannot fire: %s", row.name, exc)
                delay = min(delay, POLL_SEC)  # try it again soon
                continue
            if nxt is not None:
                # Wake just after the next tick (a little jitter spreads the fleet's claims).
                delay = min(delay, max(0.0, (to_ms(nxt) - now_ms()) / 1000) + jitter(0.005, 0.03))
        return delay

    async def _fire(self, row: ScheduleRow) -> datetime | None:
        """Claim and enqueue this schedule's due ticks; returns the next tick after them."""
        tz, now = row.tz, now_ms()
        catchup = row.automatic_backfill or bool(self.rt.settings.schedule_catchup)
        start = row.watermark
        if not catchup:
            start = max(start, self.floor_ms, now - int(MAX_LATE_SEC * 1000))
        skipped: datetime | None = None
        if start > row.watermark:
            first, _ = cron_ticks(row.cron, tz, row.watermark, start, 1)
            skipped = first[0] if first else None  # the first tick not run
        due, nxt = cron_ticks(row.cron, tz, start, now, MAX_TICKS_PER_PASS)
        if not due and skipped is None:
            return nxt
        new_mark = to_ms(due[-1]) if due else start
        context = ser.deserialize(row.context) if row.kind == "api" and due else None
        fired = await self.rt.sysdb.transaction(
            lambda conn: _claim_and_enqueue(self.rt, conn, row, due, new_mark, context)
        )
        if not fired:
            return nxt  # another scheduler moved first (or the schedule changed): re-read
        if skipped is not None:
            logger.warning(
                "schedule %s: skipped ticks from %s to %s (missed while no scheduler could run "
                "them); set automatic_backfill=True or schedule_catchup to run missed ticks",
                row.name,
                skipped.isoformat(),
                from_ms(start, tz).isoformat(),
            )
        if due:
            logger.debug(
                "schedule %s: enqueued %d tick(s) up to %s", row.name, len(due), due[-1].isoformat()
            )
            self.rt.engine.publish("queue", row.queue)
        return nxt


def poll_sec(rt: QueueHost) -> float:
    """How long a pass may sleep when no tick it fires is due sooner. Changes to schedules
    (create, pause, delete, apply, a decorated one stored) are announced to every process
    (``notify_schedules``), so while this process listens, the table is re-read only every
    ``scheduler_polling_interval_sec`` (DBOS's key, default 30 s) as a backstop; without
    LISTEN (``use_listen_notify: false``, or while the listener reconnects) every second.
    Off the listening duty (queue/wakeup.py) at the fleet tick's pace: the listeners hear
    a change at once and fire what is due, so this process only has to catch up."""
    setting = rt.settings.scheduler_polling_interval_sec
    if listening(rt):
        return setting or POLL_SEC
    if off_duty(rt):
        return min(setting or math.inf, duty_backstop_sec(rt))
    return min(POLL_SEC, setting or POLL_SEC)


async def _claim_and_enqueue(
    rt: QueueHost, conn: Any, row: ScheduleRow, due: list[datetime], new_mark: int, context: Any
) -> bool:
    cur = await conn.execute(
        _sql.CLAIM_SCHEDULE_TICKS,
        {
            "name": row.name,
            "old": row.watermark,
            "version": row.updated_at,
            "new": new_mark,
            "last_fired": to_ms(due[-1]) if due else None,
        },
    )
    if await cur.fetchone() is None:
        return False
    for tick in due:
        await conn.execute(_sql.INIT_WORKFLOW, tick_params(rt, row, tick, context))
    return True


def tick_params(
    rt: QueueHost, row: ScheduleRow, tick: datetime, context: Any, wf_id: str | None = None
) -> dict[str, Any]:
    """INIT_WORKFLOW parameters for one tick, ENQUEUED on the schedule's queue."""
    info = rt.registry.workflows.get(row.workflow_name) or FunctionInfo(
        name=row.workflow_name, func=_not_here
    )
    second = _clock.now_datetime() if row.kind == "decorator" else context
    s = Start(
        info=info,
        args=(tick, second),
        kwargs={},
        wf_id=wf_id or tick_workflow_id(row.name, tick),
        class_name=row.class_name,
        queue_name=row.queue,
        status="ENQUEUED",
        extra={"priority": 0, "schedule_name": row.name},  # WorkflowStatus.schedule_name
    )
    # A fresh context: no caller's auth, timeout or parent workflow leaks into a tick.
    return contextvars.Context().run(_core.init_params, rt, s, None, None)


def _not_here(*_args: Any, **_kwargs: Any) -> None:  # pragma: no cover - never called
    raise RuntimeError("placeholder for a workflow registered in another process")


# The scheduler of the launched runtime (one per process; replaced at each launch).
_current: Scheduler | None = None


def scheduler_of(rt: QueueHost | None) -> Scheduler | None:
    """The scheduler of ``rt`` when ``rt`` is the launched runtime, else None."""
    return _current if _current is not None and rt is not None and _current.rt is rt else None


async def start(rt: QueueHost) -> None:
    """Store the decorated schedules and start this process's scheduler (engine loop)."""
    global _current
    sched = Scheduler(rt)
    _current = sched
    launched = now_ms()
    sched.floor_ms = launched
    try:
        row = await rt.sysdb.fetchone(_sql.FLEET_UP_SINCE, (launched,))
        if row is not None and row.since is not None:
            sched.floor_ms = min(launched, row.since)
        await sched.sync_declared()
    except Exception as exc:
        logger.warning("could not store decorated schedules at launch (retrying): %s", exc)
    sched.warn_unresolved()
    rt.engine.hooks["queue"].append(sched.on_queue_notify)
    contextvars.Context().run(rt.engine.spawn, sched.run_forever(), "scheduler")


def notify_schedules(rt: Any) -> None:
    """Tell every process (this one too) to re-read the schedules now."""
    rt.engine.publish("queue", WAKE_PAYLOAD)


def declared_after_launch(rt: QueueHost) -> None:
    """Declared after launch: store it now (from a user thread), else at the next pass."""
    sched = scheduler_of(rt)
    if sched is None:
        return
    if rt.engine.on_loop():
        sched.wake()
        return
    try:
        rt.engine.run(sched.sync_declared())
    except Exception as exc:
        logger.warning("could not store the decorated schedule yet (retrying): %s", exc)
