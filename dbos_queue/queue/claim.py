"""The worker side of queues: claim loops, wake-ups, delayed work, lease takeover, drain.

Runs on the engine loop. Each listened queue has one loop: claim as much as the
local room allows, dispatch, then sleep until a NOTIFY (enqueue or slot release
elsewhere), a local completion, or the polling fallback (with jitter).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from dbos_queue.db import sql as _sql
from dbos_queue.db.notify import EMPTY_TTL_SEC
from dbos_queue.db.sysdb import Row, now_ms
from dbos_queue.engine.events import Claimed, Dequeued
from dbos_queue.engine.host import app_name_of
from dbos_queue.model.jitter import jitter
from dbos_queue.model.status import INTERNAL_QUEUE
from dbos_queue.queue import maintenance as _maintenance
from dbos_queue.queue.claim_batch import claim_params, run_claim
from dbos_queue.queue.dispatch import dispatch_fast, run_claimed
from dbos_queue.queue.limits import register_queue_row, set_queue_limits
from dbos_queue.queue.settings import QueueSettings
from dbos_queue.queue.takeover import TakeoverScan
from dbos_queue.queue.wakeup import (
    LAST_RESORT_SEC,
    Wakeup,
    backstop_sec,
    duty_backstop_sec,
    off_duty,
)

if TYPE_CHECKING:
    from dbos_queue.queue.host import QueueHost

__all__ = ["CLAIM_BATCH", "PREFETCH_FRACTION", "QueueService", "set_queue_limits"]

# After the start, one more claim this long after a producer's view of the fleet goes
# stale (its clock and scheduling, with room to spare).
CATCH_UP_MARGIN_SEC = 0.2

logger = logging.getLogger("dbos_queue")
CLAIM_BATCH = 64
# Claimed beyond the free threads, queued in the pool: a thread that finishes takes the
# next workflow without waiting for a claim round trip or being woken for it.
PREFETCH_FRACTION = 0.25
STOP_LOOPS_SEC = 5.0  # how long a drain waits for its cancelled claim loops


class QueueService:
    """Everything queue-related one process does."""

    def __init__(self, rt: QueueHost) -> None:
        self.rt = rt
        self.settings: dict[str, QueueSettings] = {}
        self.listen: list[str] | None = None  # None: every registered queue
        self.process_cap: int | None = None
        self.running: Counter[str] = Counter()
        self.partition_running: dict[str, Counter[str]] = defaultdict(Counter)
        self.total_running = 0
        self.claiming = False
        self.cursor: dict[str, str] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._delayed_wake: asyncio.Event | None = None
        self._loops: dict[str, asyncio.Task[Any]] = {}
        self.idle = asyncio.Event()
        self._starved: set[str] = set()  # queues whose loop waits for local room
        # Declared queues whose dbos.queues row was deleted (DBOS.delete_queue): as in DBOS,
        # nothing is dequeued from them any more (until a declaration stores them again).
        self.deleted: set[str] = set()
        self._reaper: asyncio.Task[Any] | None = None
        self.takeover = TakeoverScan(rt)
        self.wakeup = Wakeup(self)
        self._catch_up_at = 0.0  # when the claim loops look once more after the start

    # --- declaration and settings ----------------------------------------------------

    async def declare(self, s: QueueSettings, on_conflict: str | None = None) -> None:
        """Store a declared queue's settings; start its claim loop if we claim already.

        ``on_conflict`` None (``Queue(...)``): insert, or refresh what no runtime change
        overrode; else DBOS's ``register_queue`` policy, under this application's name.
        """
        if on_conflict is None:
            await self.rt.sysdb.execute(_sql.UPSERT_QUEUE, s.as_params())
        else:
            await register_queue_row(
                self.rt.sysdb,
                s,
                on_conflict=on_conflict,
                owner=app_name_of(self.rt),
                app_version=self.rt.app_version,
            )
        await self.refresh(s.name)
        if self.claiming and self._listens(s.name):
            self._start_loop(s.name)

    async def set_limits(self, name: str, **changes: Any) -> bool:
        """Change stored limits at runtime; every worker applies them within a second."""
        return await set_queue_limits(self.rt.sysdb, name, **changes)

    async def refresh(self, name: str) -> QueueSettings:
        """Re-read ``name``'s stored settings (and whether its row was deleted)."""
        row = await self.rt.sysdb.fetchone(_sql.GET_QUEUE, (name,))
        s = QueueSettings.from_row(row) if row is not None else QueueSettings(name=name)
        self.settings[name] = s
        if row is None and name in self.rt.registry.queues:
            self.deleted.add(name)
        else:
            self.deleted.discard(name)
        return s

    def _listens(self, name: str) -> bool:
        return self.listen is None or name in self.listen

    # --- lifecycle ------------------------------------------------------------------

    async def start(self, names: list[str]) -> None:
        """Start claiming from ``names`` (and the internal queue), plus background duties."""
        self._delayed_wake = asyncio.Event()
        claimed = [*(n for n in names if self._listens(n)), INTERNAL_QUEUE]  # the loops below
        await self.wakeup.first_duty(claimed)
        self.rt.engine.hooks["queue"].append(self.wake)
        self.rt.engine.queue_filter = self.wakeup.accept  # damped wake-up (queue/wakeup.py)
        self.claiming = True

        for name in claimed:  # the internal queue: resumed and forked workflows run everywhere
            self._start_loop(name)
        self.rt.engine.spawn(self._promote_delayed_forever(), "delayed")
        self._reaper = self.rt.engine.spawn(self._reap_forever(), "reaper")
        self.rt.engine.spawn(self._refresh_forever(), "queue-settings")
        try:  # producers direct their notifications by this: publish it before "ready"
            await self.wakeup.publish_queues()
            self._catch_up_at = time.monotonic() + EMPTY_TTL_SEC + CATCH_UP_MARGIN_SEC
        except Exception as exc:
            logger.warning("could not publish this process's queues: %s", exc)
        self.rt.engine.spawn(self.wakeup.run_forever(), "queue-fleet")
        from dbos_queue.queue import retention

        if retention.configured(self.rt.settings):  # fleet-wide, once per interval
            self.rt.engine.spawn(retention.run_forever(self.rt), "retention")

    def _start_loop(self, name: str) -> None:
        if name not in self._loops:
            self._wake[name] = asyncio.Event()
            self._loops[name] = self.rt.engine.spawn(self._claim_forever(name), f"queue-{name}")

    def wake(self, name: str) -> None:
        """Make ``name``'s claim loop look at its queue again now."""
        ev = self._wake.get(name)
        if ev is not None:
            ev.set()

    async def refresh_and_wake(self, name: str) -> None:
        """Settings changed elsewhere: read them, then look at the queue again."""
        try:
            await self.refresh(name)
        finally:
            self.wake(name)

    def wake_delayed(self) -> None:
        """Make the delayed-work loop re-read when the next delayed workflow is due."""
        if self._delayed_wake is not None:
            self._delayed_wake.set()

    # --- claiming -------------------------------------------------------------------

    def room(self, name: str) -> int:
        """How many more workflows this process should claim from ``name`` now.

        Up to what it can start at once (the process cap, by default its thread pool)
        plus a small prefetch, so no thread waits for a claim round trip; more would
        only wait here while other workers idle. Once the threads are all busy it
        claims again only when a batch worth a round trip has room (hysteresis).
        """
        s = self.settings.get(name) or QueueSettings(name=name)
        cap = self.cap()
        prefetch = int(cap * PREFETCH_FRACTION)
        room = min(CLAIM_BATCH, cap + prefetch - self.total_running)
        if self.total_running >= cap and room < max(1, prefetch // 2):
            room = 0  # every thread busy and only a sliver of prefetch room: wait
        if s.worker_concurrency is not None:
            room = min(room, s.worker_concurrency - self.running[name])
        if room <= 0:
            self._starved.add(name)
        return max(room, 0)

    def cap(self) -> int:
        """How many workflows this process runs at once."""
        return self.process_cap if self.process_cap is not None else self.rt.threads.max_workers

    async def _claim_forever(self, name: str) -> None:
        ev = self._wake[name]
        await self.refresh(name)
        while self.claiming:
            ev.clear()
            room = self.room(name) if name not in self.deleted else 0
            claimed: list[Row] = []
            if room > 0:
                try:
                    claimed = await self.claim(name, room)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.warning("claim on queue %s failed: %s", name, exc)
                    await asyncio.sleep(0.5)
                for row in claimed:
                    self.dispatch(name, row)
            if claimed and len(claimed) >= room and self.room(name) > 0:
                continue  # there may be more waiting
            poll = (self.settings.get(name) or QueueSettings(name=name)).polling_interval_sec
            poll = backstop_sec(self.rt, poll)  # notifications wake us; this is a safety net
            if name == INTERNAL_QUEUE and off_duty(self.rt):
                poll = max(poll, duty_backstop_sec(self.rt))  # listeners run it; the tick looks
            timeout = poll * jitter(0.8, 1.2)
            until_catch_up = self._catch_up_at - time.monotonic()
            if until_catch_up > 0:
                # Just started: a producer that read the fleet before we published our
                # queues skips its notifications until that read is EMPTY_TTL_SEC old
                # (db/notify.py), then reads again and notifies us. What it skipped was
                # committed before then: one claim after it picks all of it up.
                timeout = min(timeout, until_catch_up)
            try:
                await asyncio.wait_for(ev.wait(), timeout)
            except TimeoutError:
                pass

    async def claim(self, name: str, limit: int) -> list[Row]:
        """Run the claim for ``name`` (queue/claim_batch.py); returns the claimed status rows."""
        s = self.settings.get(name) or QueueSettings(name=name)
        owner = self.rt.new_owner()
        cursor, local = self.cursor.get(name, ""), self.partition_running.get(name)
        params = await claim_params(self.rt, name, s, limit, owner, cursor, local)
        started = time.perf_counter()
        rows = await run_claim(self.rt, name, s, owner, params)
        if s.partitioned and rows:
            self.cursor[name] = max(r.queue_partition_key or "" for r in rows)
        self.rt.events.emit(Claimed(name, len(rows), time.perf_counter() - started))
        return rows

    def dispatch(self, name: str, row: Row) -> None:
        """Run a claimed row: on the fast path when it is the common case, else as a task."""
        wf_id, owner = row.workflow_uuid, row.owner_xid
        key = row.queue_partition_key
        self.running[name] += 1
        self.total_running += 1
        if key is not None:
            self.partition_running[name][key] += 1
        self.idle.clear()
        if self.rt.events.wants(Dequeued):
            self.rt.events.emit(Dequeued(name, wf_id, now_ms() - (row.created_at or now_ms())))
        if not dispatch_fast(self, name, key, row):
            self.rt.engine.spawn(self._run(name, key, wf_id, owner, row), f"wf-{wf_id}")

    async def _run(self, name: str, key: str | None, wf_id: str, owner: str, row: Row) -> None:
        # The general path (queue/dispatch.py); by this name benchmarks/_phases.py finds it.
        await run_claimed(self, name, key, wf_id, owner, row)

    def _release(self, name: str, key: str | None, fleet_wake: bool = True) -> None:
        """Free a finished workflow's local slot. ``fleet_wake=False``: its completion's
        write wakes the fleet once it lands (queue/dispatch.py ``wake_when_durable``)."""
        self.running[name] -= 1
        self.total_running -= 1
        if key is not None:
            self.partition_running[name][key] -= 1
        if self.total_running == 0:
            self.idle.set()
        s = self.settings.get(name)
        if (
            fleet_wake
            and s is not None
            and (s.global_concurrency is not None or s.partition_concurrency is not None)
        ):
            self.rt.engine.publish("queue", name)  # a fleet-wide slot is free
        # Wake only loops that stopped claiming for lack of local room (not every loop
        # after every completion: that would be an empty claim per workflow), and only
        # once a thread is idle or a batch fits (see room()).
        cap = self.cap()
        prefetch = int(cap * PREFETCH_FRACTION)
        if self._starved and (
            self.total_running < cap or cap + prefetch - self.total_running >= max(1, prefetch // 2)
        ):
            for starved in list(self._starved):
                self._starved.discard(starved)
                self.wake(starved)

    # The public name dispatch uses (``Claimer.release``); the method keeps its own name,
    # by which benchmarks/_phases.py attributes profiler samples.
    release = _release

    @property
    def claimed_queues(self) -> Collection[str]:
        """The queues this process runs a claim loop for (``Claimer.claimed_queues``)."""
        return self._loops.keys()

    # --- background duties -------------------------------------------------------------

    async def _promote_delayed_forever(self) -> None:
        assert self._delayed_wake is not None
        while True:
            self._delayed_wake.clear()
            # Woken when delayed work is stored (here, or DELAYED_SIGNAL from elsewhere),
            # else at the next due time; the backstop only guards against a lost signal.
            # Off the listening duty the tick sees when the next one is due and wakes us.
            wait = LAST_RESORT_SEC if off_duty(self.rt) else duty_backstop_sec(self.rt)
            try:
                rows = await self.rt.sysdb.fetchall(_sql.PROMOTE_DELAYED, {"now": now_ms()})
                for q in {r.queue_name for r in rows}:
                    self.rt.engine.publish("queue", q)
                nxt = await self.rt.sysdb.fetchone(_sql.NEXT_DELAYED)
                if nxt is not None and nxt.next_delayed is not None:
                    wait = min(wait, max(0.0, (nxt.next_delayed - now_ms()) / 1000))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("promoting delayed workflows failed: %s", exc)
            try:
                await asyncio.wait_for(self._delayed_wake.wait(), wait)
            except TimeoutError:
                pass

    async def _refresh_forever(self) -> None:
        while True:
            # Changes made through set_queue_limits/delete_queue are notified (count 0);
            # this catches the rest (a declaration elsewhere, a lost notification).
            await asyncio.sleep(duty_backstop_sec(self.rt))
            if off_duty(self.rt):
                continue  # the tick reads every claimed queue's settings (queue/wakeup.py)
            for name in list(self._loops):
                try:
                    before = self.settings.get(name)
                    after = await self.refresh(name)
                    if before != after:
                        self.wake(name)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    pass

    async def _reap_forever(self) -> None:
        interval = self.rt.settings.executor_lease_sec / 2
        while True:
            await asyncio.sleep(interval * jitter(0.5, 1.0))
            try:
                await self.reap(shared=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("takeover scan failed: %s", exc)

    async def reap(self, *, shared: bool = False) -> list[str]:
        """One takeover pass (queue/takeover.py), then deadlines and old leases. With
        ``shared`` (the background pass) the fleet-wide duties are done only on the
        fleet's turn (queue/maintenance.py); a direct call does them all."""
        rt = self.rt
        fleet = not shared or await _maintenance.take_turn(
            rt, _maintenance.REAP_TASK, _maintenance.reap_turn_ms(rt.settings.executor_lease_sec)
        )
        taken = await self.takeover.scan(fleet=fleet)
        if fleet:
            await _maintenance.expire_deadlines(rt)
            await _maintenance.purge_old_executors(rt)
        return taken

    async def stop_claiming(self) -> None:
        """Claim and take over nothing more (drain): what this process is about to hand
        back must not come straight back to it."""
        self.claiming = False
        tasks = [*self._loops.values(), *([self._reaper] if self._reaper else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a loop stuck in a statement that does not answer its cancellation
            # must not hold the drain (and the process) forever; with claiming off it
            # claims nothing more once it resumes.
            _done, stuck = await asyncio.wait(tasks, timeout=STOP_LOOPS_SEC)
            if stuck:
                logger.warning(
                    "%d claim loop(s) did not stop within %gs; draining without them",
                    len(stuck),
                    STOP_LOOPS_SEC,
                )
        self._loops.clear()
        self._reaper = None

    async def release_owned(self) -> list[str]:
        """Hand this process's unfinished workflows back (drain timeout reached)."""
        # Background completions are written without their thread waiting: a finished
        # workflow whose completion is still in flight must not go back to its queue.
        await self.rt.sysdb.writes_settled()
        rows = await self.rt.sysdb.fetchall(
            _sql.RELEASE_OWNED, {"now": now_ms(), "prefix": f"{self.rt.process_id}:%"}
        )
        for q in {r.queue_name for r in rows if r.queue_name}:
            self.rt.engine.publish("queue", q)
        return [r.workflow_uuid for r in rows]
