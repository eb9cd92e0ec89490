"""Durable schedules: ``@DBOS.scheduled`` and ``DBOS.create_schedule`` over one table.

Both spellings are rows of ``dbos.workflow_schedules`` (migration 0005):

* ``@DBOS.scheduled(cron)`` (stacked above or below ``@DBOS.workflow()``) records the
  function here; each launching process upserts a ``kind='decorator'`` row named
  after the workflow. The workflow receives ``(scheduled_time, actual_time)``.
* ``DBOS.create_schedule(schedule_name=, workflow_fn=, schedule=, context=)`` inserts a
  ``kind='api'`` row; the workflow receives ``(scheduled_time, context)``.

``scheduled_time`` is a timezone-aware datetime (UTC, or the schedule's
``cron_timezone``); crons have 6 fields, seconds first (5-field minute crons work too).
A bad cron is refused when declared, with croniter's reason.

**Firing, exactly once.** Every launched process runs one scheduler task on its
engine loop. About once a second (and at each due tick, and at once when a
schedule is created, paused or resumed anywhere: a NOTIFY on the queue channel)
it reads the active schedules and, for each one whose workflow this process has
registered, computes the ticks due after the schedule's *watermark*. It fires
them in one transaction: a conditional UPDATE moves the watermark from the value
it read to the last tick (``_sql.CLAIM_SCHEDULE_TICKS``), then each tick is inserted
ENQUEUED on the schedule's queue (default: the internal queue every process
dequeues) with the deterministic id ``sched-<schedule name>-<ISO time>`` through
the ordinary ``INIT_WORKFLOW`` (idempotent on the id). Concurrent schedulers block
on the row lock and find the watermark moved, so each tick is enqueued once
across the fleet, the watermark never goes backwards, and queue limits apply to
scheduled runs as to any other. Deleting or pausing a schedule takes effect at
once: a tick can only be fired by an UPDATE of an ACTIVE row.

**Missed ticks** (policy). A tick is *missed* when no scheduler could fire it in
time: every process was stopped, or the system database was unreachable.

* Default (skip): a tick is fired only if some process that is still live (holds
  its lease in ``dbos.executors``) had already started when the tick fell due, and
  at most ``MAX_LATE_SEC`` (60 s) late. So after the whole fleet was down, the
  restarted processes fire nothing from before the first of them started, while a
  process joining a live fleet simply continues from the shared watermark. Skipped
  ticks are logged and count as handled (no other process fires them later).
* Catch-up: with config ``schedule_catchup: true`` (all schedules) or
  ``create_schedule(..., automatic_backfill=True)`` (one schedule), every tick
  after the watermark is fired, oldest first, at most ``MAX_TICKS_PER_PASS`` per
  schedule per pass (the rest follow in the next passes).
* A schedule's first watermark is its creation (or first declaration): ticks
  before a schedule existed never fire. ``resume_schedule`` skips the ticks that
  fell due while it was paused.

**Decorated schedules and ``delete_schedule``.** Code is the source of truth for
``@DBOS.scheduled``: only processes whose code declares the decorator fire such a
row (so a removed decorator stops firing once no running process declares it; its
row stays listed until deleted). ``delete_schedule`` on a decorated schedule stops
it at once in every process, and it stays deleted until a process that declares it
launches again: that launch re-creates it with a fresh watermark, so the ticks of
the deleted period are never run, even with catch-up. Pause it instead
(``pause_schedule``) to keep it stopped across restarts: launches do not change a
stored status. An ``api`` schedule with the same name as a decorated workflow wins:
the decorator is then ignored (with an error logged).

``list_schedules``, ``get_schedule``, ``delete_schedule``, ``pause_schedule`` and
``resume_schedule`` take anything with ``.sysdb`` and ``.engine`` (the runtime or a
``DBOSClient``, as the CLI does); ``create_schedule``, ``backfill_schedule`` and
``trigger_schedule`` need the launched runtime (its registry).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from croniter import croniter

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine import core as _core
from dbos_queue.engine.core import Start
from dbos_queue.engine.registry import FunctionInfo, class_name_of, registry
from dbos_queue.error import DBOSException
from dbos_queue.model import clock as _clock
from dbos_queue.model import serialization as ser
from dbos_queue.model.status import INTERNAL_QUEUE

if TYPE_CHECKING:
    from dbos_queue.queue.host import QueueHost

logger = logging.getLogger("dbos_queue")
F = TypeVar("F", bound=Callable[..., Any])

POLL_SEC = 1.0  # schedule table poll (changes elsewhere also arrive by NOTIFY)
MAX_LATE_SEC = 60.0  # skip policy: a tick later than this is missed
MAX_TICKS_PER_PASS = 100  # catch-up: ticks fired per schedule per transaction
WAKE_PAYLOAD = "__dbos_schedules__"  # on the "queue" channel: re-read the schedules now

# --- crons ------------------------------------------------------------------------------


def check_cron(cron: Any, what: str, tz: tzinfo | None = None) -> None:
    """Raise DBOSException (with croniter's reason) unless ``cron`` is a usable cron."""
    if not isinstance(cron, str) or not cron.strip():
        raise DBOSException(
            f"Invalid cron schedule {cron!r} for {what}: expected a cron string "
            "such as '*/30 * * * * *' (6 fields, seconds first)"
        )
    try:
        croniter(cron, datetime.now(tz or UTC), second_at_beginning=True).get_next(datetime)
    except Exception as exc:
        raise DBOSException(f"Invalid cron schedule {cron!r} for {what}: {exc}") from None


def _zone(name: str | None) -> tzinfo:
    if name is None:
        return UTC
    try:
        return ZoneInfo(name)
    except Exception:
        raise DBOSException(f"Invalid cron_timezone {name!r}: not an IANA time zone name") from None


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


def _dt(ms: int, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


def _ticks(
    cron: str, tz: tzinfo, after_ms: int, until_ms: int, cap: int
) -> tuple[list[datetime], datetime | None]:
    """Ticks in (after, until], at most ``cap``; and the next tick not returned."""
    it = croniter(cron, _dt(after_ms, tz), second_at_beginning=True)
    out: list[datetime] = []
    while True:
        try:
            t = it.get_next(datetime)
        except Exception:
            return out, None
        if _ms(t) > until_ms or len(out) >= cap:
            return out, t
        out.append(t)


def tick_workflow_id(schedule_name: str, tick: datetime) -> str:
    return f"sched-{schedule_name}-{tick.isoformat()}"


# --- rows -------------------------------------------------------------------------------


@dataclass
class ScheduleRow:
    name: str
    schedule_id: str
    workflow_name: str
    class_name: str | None
    cron: str
    cron_timezone: str | None
    context: str
    status: str
    queue_name: str | None
    kind: str
    automatic_backfill: bool
    watermark: int
    last_fired: int | None
    created_at: int
    updated_at: int

    @property
    def tz(self) -> tzinfo:
        try:
            return _zone(self.cron_timezone)
        except DBOSException:
            return UTC

    @property
    def queue(self) -> str:
        return self.queue_name or INTERNAL_QUEUE


def _as_dict(row: ScheduleRow) -> dict[str, Any]:
    """A ``WorkflowSchedule`` as DBOS returns it (plus ``kind``)."""
    try:
        context = ser.deserialize(row.context)
    except Exception:
        context = row.context
    return {
        "schedule_id": row.schedule_id,
        "schedule_name": row.name,
        "workflow_name": row.workflow_name,
        "workflow_class_name": row.class_name,
        "schedule": row.cron,
        "status": row.status,
        "context": context,
        "last_fired_at": (
            _dt(row.last_fired, row.tz).isoformat() if row.last_fired is not None else None
        ),
        "automatic_backfill": row.automatic_backfill,
        "cron_timezone": row.cron_timezone,
        "queue_name": row.queue_name,
        "application_name": None,
        "shard_key": None,
        "kind": row.kind,
    }


# --- the decorator ------------------------------------------------------------------------


@dataclass(eq=False)
class _Declared:
    target: Callable[..., Any]  # what the decorator received (wrapper, or raw function)
    cron: str
    info: FunctionInfo | None = None  # the registered workflow, once resolved


_declared: list[_Declared] = []


def _resolve(d: _Declared, reg: Any) -> FunctionInfo | None:
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
        _declared.append(_Declared(func, cron))
        registry.schedules_changed()
        return func

    return deco


def declared_after_launch(rt: QueueHost) -> None:
    """Declared after launch: store it now (from a user thread), else at the next pass."""
    sched = _scheduler_of(rt)
    if sched is None:
        return
    if rt.engine.on_loop():
        sched.wake()
        return
    try:
        rt.engine.run(sched.sync_declared())
    except Exception as exc:
        logger.warning("could not store the decorated schedule yet (retrying): %s", exc)


# --- the scheduler ------------------------------------------------------------------------


@dataclass(eq=False)
class Scheduler:
    """The schedule loop of one launched runtime."""

    rt: QueueHost
    floor_ms: int = 0  # skip policy: ticks at or before this never fire here (fleet up since)
    declared: dict[str, FunctionInfo] = field(default_factory=dict)  # decorated, stored
    handled: set[int] = field(default_factory=set)  # id() of _declared entries dealt with
    warned: set[str] = field(default_factory=set)  # unresolved decorated functions logged
    broken: set[str] = field(default_factory=set)  # schedules that failed to fire, logged
    event: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_error_log: float = 0.0

    def wake(self) -> None:
        self.event.set()

    def on_queue_notify(self, payload: str) -> None:
        if payload == WAKE_PAYLOAD:
            self.event.set()

    async def sync_declared(self) -> None:
        """Upsert the decorated schedules not yet stored by this runtime."""
        async with self.lock:
            for d in list(_declared):
                if id(d) in self.handled:
                    continue
                info = _resolve(d, self.rt.registry)
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

    def _warn_unresolved(self) -> None:
        for d in _declared:
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
        while True:
            self.event.clear()
            delay = POLL_SEC
            try:
                if len(self.handled) < len(_declared):
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
        rows = [ScheduleRow(*r) for r in await self.rt.sysdb.fetchall(_sql.ACTIVE_SCHEDULES)]
        poll = min(POLL_SEC, self.rt.settings.scheduler_polling_interval_sec or POLL_SEC)
        delay = poll * random.uniform(0.9, 1.1)
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
                continue
            if nxt is not None:
                # Wake just after the next tick (a little jitter spreads the fleet's claims).
                delay = min(
                    delay, max(0.0, (_ms(nxt) - now_ms()) / 1000) + random.uniform(0.005, 0.03)
                )
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
            first, _ = _ticks(row.cron, tz, row.watermark, start, 1)
            skipped = first[0] if first else None
        due, nxt = _ticks(row.cron, tz, start, now, MAX_TICKS_PER_PASS)
        if not due and skipped is None:
            return nxt
        new_mark = _ms(due[-1]) if due else start
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
                _dt(start, tz).isoformat(),
            )
        if due:
            logger.debug(
                "schedule %s: enqueued %d tick(s) up to %s", row.name, len(due), due[-1].isoformat()
            )
            self.rt.engine.publish("queue", row.queue)
        return nxt


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
            "last_fired": _ms(due[-1]) if due else None,
        },
    )
    if await cur.fetchone() is None:
        return False
    for tick in due:
        await conn.execute(_sql.INIT_WORKFLOW, _tick_params(rt, row, tick, context))
    return True


def _tick_params(
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
        extra={"priority": 0},
    )
    # A fresh context: no caller's auth, timeout or parent workflow leaks into a tick.
    return contextvars.Context().run(_core.init_params, rt, s, None, None)


def _not_here(*_args: Any, **_kwargs: Any) -> None:  # pragma: no cover - never called
    raise RuntimeError("placeholder for a workflow registered in another process")


# The scheduler of the launched runtime (one per process; replaced at each launch).
_current: Scheduler | None = None


def _scheduler_of(rt: QueueHost | None) -> Scheduler | None:
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
        if row is not None and row[0] is not None:
            sched.floor_ms = min(launched, row[0])
        await sched.sync_declared()
    except Exception as exc:
        logger.warning("could not store decorated schedules at launch (retrying): %s", exc)
    sched._warn_unresolved()
    rt.engine.hooks["queue"].append(sched.on_queue_notify)
    contextvars.Context().run(rt.engine.spawn, sched.run_forever(), "scheduler")


def _notify(rt: Any) -> None:
    rt.engine.publish("queue", WAKE_PAYLOAD)


# --- the API ------------------------------------------------------------------------------


def _workflow_info(rt: QueueHost, workflow_fn: Any) -> FunctionInfo:
    info = getattr(workflow_fn, "__dbos_info__", None)
    name = getattr(workflow_fn, "__qualname__", None) or repr(workflow_fn)
    if info is None or info.kind != "workflow" or info.name not in rt.registry.workflows:
        raise DBOSException(
            f"Workflow function {name!r} is not registered; decorate it with "
            "@DBOS.workflow() (and import its module) before scheduling it"
        )
    if info.method == "instance":
        raise DBOSException(
            f"Configured instance methods cannot be used as scheduled workflows ({info.name})"
        )
    return info


async def _check_queue(rt: QueueHost, queue_name: str | None) -> None:
    from dbos_queue.queue.settings import QueueSettings

    if queue_name is None or queue_name == INTERNAL_QUEUE:
        return
    q = rt.registry.queues.get(queue_name)
    settings = q.settings if q is not None else None
    if settings is None:
        row = await rt.sysdb.fetchone(_sql.GET_QUEUE, (queue_name,))
        settings = QueueSettings(*row) if row is not None else None
    if settings is None:
        raise DBOSException(
            f"Queue {queue_name!r} is not declared. Please create the queue "
            "before using it in a schedule."
        )
    if settings.partitioned:
        raise DBOSException(
            f"Queue {queue_name!r} is partitioned; a schedule cannot supply a "
            "queue_partition_key. Use an unpartitioned queue."
        )


async def create_schedule(
    rt: QueueHost,
    *,
    schedule_name: str,
    workflow_fn: Callable[..., Any],
    schedule: str,
    context: Any = None,
    automatic_backfill: bool = False,
    cron_timezone: str | None = None,
    queue_name: str | None = None,
    shard_key: str | None = None,
    **unknown: Any,
) -> None:
    """Store a schedule; ``workflow_fn`` receives ``(scheduled_time, context)``."""
    if unknown:
        raise DBOSException(f"create_schedule() got unexpected options {sorted(unknown)}")
    if shard_key is not None:
        raise DBOSException(
            "create_schedule(shard_key=...) needs a sharded system database, "
            "which dbos_queue does not support"
        )
    if not isinstance(schedule_name, str) or not schedule_name:
        raise DBOSException(f"schedule_name must be a non-empty string, got {schedule_name!r}")
    tz = _zone(cron_timezone)
    check_cron(schedule, f"schedule {schedule_name}", tz)
    info = _workflow_info(rt, workflow_fn)
    await _check_queue(rt, queue_name)
    row = await rt.sysdb.fetchone(
        _sql.CREATE_SCHEDULE,
        {
            "name": schedule_name,
            "id": str(uuid.uuid4()),
            "workflow_name": info.name,
            "class_name": class_name_of(info.func) if info.method == "class" else None,
            "cron": schedule,
            "tz": cron_timezone,
            "context": ser.serialize(context, "schedule context"),
            "queue": queue_name,
            "backfill": bool(automatic_backfill),
            "now": now_ms(),
        },
    )
    if row is None:
        raise DBOSException(
            f"Schedule {schedule_name!r} already exists; delete it first or choose another name"
        )
    _notify(rt)


def _many(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [str(v) for v in value]


async def list_schedules(
    rt: Any,
    *,
    status: str | Sequence[str] | None = None,
    workflow_name: str | Sequence[str] | None = None,
    schedule_name_prefix: str | Sequence[str] | None = None,
    kind: str | Sequence[str] | None = None,
    application_name: Any = None,
    **unknown: Any,
) -> list[dict[str, Any]]:
    """Schedules as DBOS ``WorkflowSchedule`` dicts, oldest first. ``application_name`` is
    accepted for DBOS compatibility and ignored (one application per system database)."""
    if unknown:
        raise DBOSException(f"list_schedules() got unexpected filters {sorted(unknown)}")
    rows = await rt.sysdb.fetchall(
        _sql.LIST_SCHEDULES,
        {
            "statuses": [v.upper() for v in _many(status) or []] if status is not None else None,
            "workflows": _many(workflow_name),
            "kinds": _many(kind),
            "prefixes": _many(schedule_name_prefix),
        },
    )
    return [_as_dict(ScheduleRow(*r)) for r in rows]


async def get_schedule(rt: Any, name: str) -> dict[str, Any] | None:
    row = await rt.sysdb.fetchone(_sql.GET_SCHEDULE, (name,))
    return _as_dict(ScheduleRow(*row)) if row is not None else None


async def delete_schedule(rt: Any, name: str) -> bool:
    """Delete a schedule; False when there was none. No tick of it fires after this returns."""
    row = await rt.sysdb.fetchone(_sql.DELETE_SCHEDULE, (name,))
    if row is not None and row[0] == "decorator":
        sched = _scheduler_of(rt)
        if sched is not None and name in sched.declared:
            logger.info(
                "deleted decorated schedule %s; a process declaring it re-creates it "
                "when it launches (pause_schedule keeps it stopped)",
                name,
            )
    return row is not None


async def _set_status(rt: Any, name: str, status: str) -> None:
    row = await rt.sysdb.fetchone(
        _sql.SET_SCHEDULE_STATUS, {"name": name, "status": status, "now": now_ms()}
    )
    if row is None:
        raise DBOSException(f"Schedule {name!r} does not exist")
    _notify(rt)


async def pause_schedule(rt: Any, name: str) -> None:
    """Stop firing ``name`` (takes effect at once, kept across restarts)."""
    await _set_status(rt, name, "PAUSED")


async def resume_schedule(rt: Any, name: str) -> None:
    """Fire ``name`` again from now on (ticks due while it was paused are not run)."""
    await _set_status(rt, name, "ACTIVE")


async def backfill_schedule(rt: QueueHost, name: str, start: datetime, end: datetime) -> list[str]:
    """Enqueue every tick in [start, end) that has not run; returns all their workflow ids."""
    r = await rt.sysdb.fetchone(_sql.GET_SCHEDULE, (name,))
    if r is None:
        raise DBOSException(f"Schedule {name!r} does not exist")
    row = ScheduleRow(*r)
    tz = row.tz
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    context = ser.deserialize(row.context) if row.kind == "api" else None
    ticks, _ = _ticks(row.cron, tz, _ms(start) - 1, _ms(end) - 1, 1_000_000)
    ids = []
    for tick in ticks:
        params = _tick_params(rt, row, tick, context)
        await rt.sysdb.init_workflow(params)
        ids.append(params["id"])
    if ids:
        rt.engine.publish("queue", row.queue)
    return ids


async def trigger_schedule(rt: QueueHost, name: str) -> str:
    """Enqueue one run of ``name`` now (id ``sched-<name>-trigger-<ISO time>``)."""
    r = await rt.sysdb.fetchone(_sql.GET_SCHEDULE, (name,))
    if r is None:
        raise DBOSException(f"Schedule {name!r} does not exist")
    row = ScheduleRow(*r)
    now = _clock.now_datetime().astimezone(row.tz)
    context = ser.deserialize(row.context) if row.kind == "api" else None
    params = _tick_params(rt, row, now, context, wf_id=f"sched-{name}-trigger-{now.isoformat()}")
    await rt.sysdb.init_workflow(params)
    rt.engine.publish("queue", row.queue)
    return params["id"]


__all__ = [
    "backfill_schedule",
    "check_cron",
    "create_schedule",
    "delete_schedule",
    "get_schedule",
    "list_schedules",
    "pause_schedule",
    "resume_schedule",
    "scheduled",
    "start",
    "tick_workflow_id",
    "trigger_schedule",
]
