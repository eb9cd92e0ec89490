"""Group commit for the fenced writes of many workflows ("natural batching").

The first write is sent at once; writes arriving while a statement is in flight are
sent together in the next one. Idle latency is unchanged; under load one statement,
one commit and one WAL flush serve many workflows.
"""

from __future__ import annotations

import _thread
import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from dbos_queue.db.loop import Engine, EngineStopped

logger = logging.getLogger("dbos_queue")

# What a writer is told once its batch is written: (accepted, error or None).
Done = Callable[[bool, "BaseException | None"], None]
# One queued write: (item, key, waiter); the waiter is a blocked thread's slot
# [lock, accepted, error], an engine-loop future, or a submit_nowait ``Done`` callback.
_Entry = tuple[dict[str, Any], Any, Any]


class Batcher:
    """Group concurrent writes into one statement ("natural batching").

    The first write is sent at once; writes arriving while a statement is in
    flight are sent together in the next one. Idle latency is unchanged; under
    load one commit (and one WAL flush) serves many workflows. Threads submit
    through a lock-free inbox and wait on a plain lock, so a sync workflow's
    checkpoint costs the engine loop no task or future of its own.
    """

    MAX = 256

    def __init__(
        self, engine: Engine, flush: Callable[[list[dict[str, Any]]], Awaitable[set[Any]]]
    ) -> None:
        self.engine = engine
        self.flush = flush
        self.items: list[_Entry] = []
        self.running = False
        self._task: asyncio.Task[None] | None = None  # keep a reference (asyncio docs)
        self._inbox: collections.deque[_Entry] = collections.deque()
        self._scheduled = False

    async def submit(self, item: dict[str, Any], key: Any) -> bool:
        """From the engine loop."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.items.append((item, key, fut))
        self._kick()
        return await fut

    def submit_blocking(self, item: dict[str, Any], key: Any) -> bool:
        """From any other thread: block this thread until the batch containing it is written."""
        lock = _thread.allocate_lock()
        lock.acquire()
        slot: list[Any] = [lock, False, None]
        self._inbox.append((item, key, slot))  # append first, then check: see _pull
        if self.engine.closed:
            raise EngineStopped()
        if not self._scheduled:
            self._scheduled = True
            self.engine.loop.call_soon_threadsafe(self._pull)
        while not lock.acquire(timeout=1.0):
            if self.engine.closed:
                raise EngineStopped()
        if slot[2] is not None:
            raise slot[2]
        return bool(slot[1])

    def submit_nowait(self, item: dict[str, Any], key: Any, done: Done) -> None:
        """From any thread, without waiting: ``done(accepted, error)`` runs on the engine
        loop once the batch holding it is written (a write nobody needs to wait for,
        e.g. a background workflow's completion)."""
        self._inbox.append((item, key, done))
        if self.engine.closed:
            raise EngineStopped()
        if not self._scheduled:
            self._scheduled = True
            self.engine.loop.call_soon_threadsafe(self._pull)

    def busy(self) -> bool:
        """Whether a write is waiting or in flight."""
        return bool(self.running or self.items or self._inbox)

    async def settle(self, timeout: float = 30.0) -> bool:
        """Wait (on the loop) until every write submitted so far is written; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.busy():
            if self._inbox and not self._scheduled:
                self._pull()
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.002)
        return True

    def _pull(self) -> None:
        self._scheduled = False  # reset before draining, so a late append schedules again
        while self._inbox:
            self.items.append(self._inbox.popleft())
        if self.engine.stopping:  # shutting down: fail fast rather than strand a task
            items, self.items = self.items, []
            for _i, _k, waiter in items:
                self._deliver(waiter, False, EngineStopped())
            return
        self._kick()

    def _kick(self) -> None:
        if not self.running and self.items:
            self.running = True
            self._task = asyncio.get_running_loop().create_task(self._drain())

    @staticmethod
    def _deliver(waiter: Any, result: bool, exc: BaseException | None) -> None:
        if isinstance(waiter, list):
            slot = cast("list[Any]", waiter)
            slot[1], slot[2] = result, exc
            slot[0].release()
            return
        if not isinstance(waiter, asyncio.Future):  # submit_nowait's callback
            try:
                waiter(result, exc)
            except Exception:
                logger.exception("a write's completion callback failed")
            return
        fut = cast("asyncio.Future[bool]", waiter)
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    async def _drain(self) -> None:
        try:
            while self.items:
                batch, self.items = self.items[: self.MAX], self.items[self.MAX :]
                try:
                    accepted = await self.flush([item for item, _k, _w in batch])
                except Exception as exc:
                    for _i, _k, waiter in batch:
                        self._deliver(waiter, False, exc)
                    continue
                for _i, key, waiter in batch:
                    self._deliver(waiter, key in accepted, None)
        finally:
            self.running = False
            if self.items:
                self._kick()
