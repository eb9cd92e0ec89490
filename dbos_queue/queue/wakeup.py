"""Damped wake-up: a queue notification wakes as many workers as there is work.

Without it every listener of a queue runs a claim on every NOTIFY, and with N
workers N-1 of those claims find nothing: each worker added to a fleet makes every
job dearer (issue 12). A counted notification (db/notify.py) says how many
workflows arrived; the live processes that claim from the queue (``dbos.executors.
queues``, migration 0010) take turns by rank, rotated by the notification's
sequence number, and only ``FANOUT`` x count of them claim. A worker without free
room claims nothing now but remembers the queue (it claims as soon as room frees
up). Uncounted notifications (the SQL producer, ``enqueue_in_transaction``) and
"look again" ones (count 0: settings changed) still wake everyone.

What a missed turn costs: if every chosen worker is gone or full, the work waits for
a worker that gets room back, or for the next tick. The tick (``FLEET_TICK``, one
read-only statement at the heartbeat's pace) is all an idle worker does besides its
heartbeat: it refreshes the fleet's turns and the queues' settings, finds work that no
notification announced, and sees when the next delayed workflow is due. The claim
loops' own timed wake-ups are only a last resort while the LISTEN connection is up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from dbos_queue.db import notify as _notify
from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.model.jitter import jitter
from dbos_queue.queue.settings import QueueSettings

if TYPE_CHECKING:
    from dbos_queue.queue.claimer import Claimer

logger = logging.getLogger("dbos_queue")

FANOUT = _notify.FANOUT  # claimers per arrived workflow: one spare for a busy chosen one
# A "queue" notification with this name says: a DELAYED workflow was stored, re-read
# when the next one is due (nothing to claim yet).
DELAYED_SIGNAL = "__dbos_delayed__"


LAST_RESORT_SEC = 60.0
# How long a process that left the listening duty keeps listening: past the age at which
# a sender reads the fleet's turns again (db/notify.py MEMBERS_TTL_SEC).
LEAVE_GRACE_SEC = _notify.MEMBERS_TTL_SEC + 1.0


def listening(rt: Any) -> bool:
    """Whether notifications reach this process now: LISTEN is on and connected."""
    engine = rt.engine
    return getattr(engine, "listen", True) and engine.listener_connected.is_set()


def off_duty(rt: Any) -> bool:
    """Whether this process left the listening duty (it polls its queues; the tick, at
    the heartbeat's pace, finds changed settings, unannounced and delayed work)."""
    return bool(getattr(rt.engine, "standby", False))


def duty_backstop_sec(rt: Any) -> float:
    """How long a background loop that the tick also covers (settings, delayed work, the
    internal queue) sleeps: the tick's pace off duty, else ``backstop_sec(rt, 1.0)``."""
    if off_duty(rt):
        return max(1.0, tick_interval(rt))
    return backstop_sec(rt, 1.0)


def backstop_sec(rt: Any, polling_interval: float) -> float:
    """How long a claim loop sleeps without a notification: the queue's polling
    interval without LISTEN (or while it reconnects), else a minute (the tick finds
    unannounced work sooner; this only guards against a stuck tick)."""
    if not listening(rt):
        return polling_interval
    return max(polling_interval, LAST_RESORT_SEC)


def tick_interval(rt: Any) -> float:
    """The heartbeat's pace."""
    return rt.settings.heartbeat_interval_sec or rt.settings.executor_lease_sec / 3


def my_turn(members: list[str], me: str, count: int, seq: int) -> bool:
    """Whether ``me`` claims for notification ``seq`` announcing ``count`` workflows.

    ``members`` are the queue's live claimers in the same (sorted) order in every
    process; ``FANOUT * count`` consecutive ranks starting at ``seq`` claim (all of them
    when that is the whole fleet), so successive notifications rotate through the fleet.
    """
    if me not in members:
        members = sorted([*members, me])
    w = len(members)
    k = min(w, count * FANOUT)
    return k >= w or (members.index(me) - seq) % w < k


def on_duty(members: dict[str, list[str]], me: str, limit: int, now_on: bool) -> bool:
    """Whether this process should listen, given each of its queues' listening claimers
    (``members``, rank order) and at most ``limit`` listeners per queue.

    A listener leaves only when every queue it claims from has more than ``limit``
    listeners and it ranks past the first ``limit`` of each; a process off duty joins
    as soon as one of its queues has fewer than ``limit``. So a fleet settles on
    ``limit`` listeners per queue (all of them when it is smaller), and one that dies
    is replaced within a tick of its lease expiring."""
    if now_on:
        return not members or any(
            me not in m or len(m) <= limit or m.index(me) < limit for m in members.values()
        )
    return not members or any(len(m) < limit for m in members.values())


class Wakeup:
    """Which notifications this process acts on, and the fleet it shares them with."""

    def __init__(self, service: Claimer) -> None:
        self.service = service  # queue.claim.QueueService, which imports this module
        self.members: dict[str, list[str]] = {}  # queue -> live claimers, in rank order
        self._written: tuple[str, tuple[str, ...], bool] | None = None
        # Listening duty (max_listening_workers): whether this process keeps its LISTEN
        # connection. Every LISTEN backend of the database is signalled by every NOTIFY,
        # whatever its channel, so a fleet where all listen pays per job for its size.
        self.on_duty = True
        self.accepted = 0  # counters for tests and benchmarks
        self.skipped = 0

    def accept(self, name: str, count: int | None, seq: int, directed: bool = False) -> bool:
        """Engine.queue_filter: does this remote notification wake our claim loop?

        ``directed``: it came on our own channel, its sender chose us already."""
        svc = self.service
        if name == DELAYED_SIGNAL:
            svc.wake_delayed()
            return False
        if name not in svc.claimed_queues:
            return True  # not a claim loop (e.g. the scheduler's wake-up): pass it on
        if count is None:  # an unknown amount (the SQL producer): everyone looks
            svc.wake_delayed()  # it may have stored delayed work too
            return True
        if count <= 0:  # "look again": settings changed
            svc.rt.engine.spawn(svc.refresh_and_wake(name), f"refresh-{name}")
            return False
        if svc.room(name) <= 0:  # no free room: claim when some frees up (room() noted it)
            self.skipped += 1
            return False
        if directed or self.chosen(name, count, seq):
            self.accepted += 1
            return True
        self.skipped += 1
        return False

    def chosen(self, name: str, count: int, seq: int) -> bool:
        """Whether this process's turn covers notification ``seq`` of ``count`` workflows."""
        return my_turn(self.members.get(name) or [], self.service.rt.process_id, count, seq)

    async def publish_queues(self) -> tuple[str, ...]:
        """Write the queues we claim from to our executor row, when that changed (at
        start, before the process says it is ready, so producers see it at once)."""
        svc = self.service
        rt = svc.rt
        queues = tuple(sorted(svc.claimed_queues))
        me = rt.process_id
        # Only a listening process takes turns (a polling one would not hear its turn).
        listening = getattr(rt.engine, "listen", True) and self.on_duty
        if queues and self._written != (me, queues, listening):
            if listening:
                rt.engine.listen_personal(me)  # before anyone can send to it
            await rt.sysdb.execute(
                _sql.SET_EXECUTOR_QUEUES,
                {"queues": list(queues) if listening else [], "process_id": me},
            )
            self._written = (me, queues, listening)
        return queues

    async def _until_heard(self) -> None:
        """Wait (up to 2 s) for the LISTEN connection to be up."""
        until = getattr(self.service.rt.engine, "until_heard", None)
        if until is not None:
            await until(2.0)

    async def first_duty(self, queues: list[str]) -> None:
        """At start, before anything else: listen only if the fleet's listening claimers
        of ``queues`` (the claim loops about to start) are short of
        ``max_listening_workers`` (a worker that joins a full fleet never opens its
        LISTEN connection); on any doubt, listen.

        Starting workers decide one at a time (``DUTY_LOCK``), and one that takes a
        place writes its queues in the same transaction, so the next one counts it: a
        fleet started all at once opens ``max_listening_workers`` LISTEN connections,
        not one per process. A turn sent to us before our LISTEN is up is not lost: its
        work was committed before the notification, and the first claim finds it."""
        rt = self.service.rt
        engine = rt.engine
        if not getattr(engine, "listen", False) or not getattr(engine, "defer_listen", False):
            return
        limit = getattr(rt.settings, "max_listening_workers", 0) or 0
        me = rt.process_id
        claimed = sorted(set(queues))

        async def decide(conn: Any) -> bool:
            await conn.execute(_sql.DUTY_LOCK)
            cur = await conn.execute(_sql.FLEET_MEMBERS, {"queues": claimed, "now": now_ms()})
            members: dict[str, list[str]] = {q: [] for q in claimed}
            members.update({r.queue: list(r.members or []) for r in await cur.fetchall()})
            duty = not limit or on_duty(members, me, limit, False)
            if duty:  # take the place now: the next starter counts us
                await conn.execute(_sql.SET_EXECUTOR_QUEUES, {"queues": claimed, "process_id": me})
            return duty

        try:
            self.on_duty = await rt.sysdb.transaction(decide)
            if self.on_duty:
                self._written = (me, tuple(claimed), True)
        except Exception as exc:
            logger.warning("could not read the fleet's listeners (%s); listening", exc)
            self.on_duty = True
        if self.on_duty:
            engine.set_listening(True)
            await self._until_heard()

    def _stop_listening(self) -> None:
        """Close the LISTEN connection if still off duty; then look at each queue once
        (a turn sent to us meanwhile would otherwise wait for the poll)."""
        if self.on_duty:
            return
        self.service.rt.engine.set_listening(False)
        for q in self.service.claimed_queues:
            self.service.wake(q)

    async def _take_duty(self, members: dict[str, list[str]]) -> None:
        """Join or leave the listening claimers (``max_listening_workers``; on_duty)."""
        rt = self.service.rt
        limit = getattr(rt.settings, "max_listening_workers", 0) or 0
        engine = rt.engine
        if not limit or not getattr(engine, "listen", False):
            return
        duty = on_duty(members, rt.process_id, limit, self.on_duty)
        if duty == self.on_duty:
            return
        self.on_duty = duty
        if duty:  # say so once the LISTEN connection is up, so no turn goes unheard
            engine.set_listening(True)
            await self._until_heard()
            await self.publish_queues()
        else:
            # Leave the turns first, and stop listening only once every sender's view of
            # the fleet (refreshed every MEMBERS_TTL_SEC) no longer names us.
            await self.publish_queues()
            engine.loop.call_later(LEAVE_GRACE_SEC, self._stop_listening)
        logger.info(
            "%s listening for queue notifications (max_listening_workers=%d)",
            "resumed" if duty else "stopped",
            limit,
        )

    async def tick(self) -> None:
        """Publish our queues if they changed, then one FLEET_TICK: turns, settings,
        unannounced work, the next delayed workflow."""
        rt = self.service.rt
        svc = self.service
        queues = await self.publish_queues()
        if not queues:
            return
        params = {
            "queues": list(queues),
            "now": now_ms(),
            "app_version": rt.app_version,
            "app_name": getattr(rt.settings, "name", None),
        }
        members: dict[str, list[str]] = {}
        next_delayed = None
        for r in await rt.sysdb.fetchall(_sql.FLEET_TICK, params):
            name = r.queue
            members[name] = list(r.members or [])
            next_delayed = r.next_delayed
            stored = r.name is not None  # the queue's dbos.queues row (QUEUE_COLUMNS)
            found = QueueSettings.from_row(r) if stored else QueueSettings(name=name)
            gone = not stored and name in rt.registry.queues  # see QueueService.refresh
            if svc.settings.get(name) != found or gone != (name in svc.deleted):
                await svc.refresh_and_wake(name)  # changed without a notification reaching us
            elif r.has_work and svc.room(name) > 0:
                svc.wake(name)  # work that no notification announced (or that we skipped)
        self.members = members
        for q, ids in members.items():  # what this process sends goes to the same turns
            rt.engine.notifier.set_members(q, ids)
        await self._take_duty(members)
        if next_delayed is not None and next_delayed <= now_ms() + tick_interval(rt) * 1000:
            svc.wake_delayed()

    async def run_forever(self) -> None:
        """Tick at the heartbeat's pace, jittered (the fleet's ticks spread out)."""
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("the queue tick failed: %s", exc)
            await asyncio.sleep(tick_interval(self.service.rt) * jitter(0.8, 1.2))
