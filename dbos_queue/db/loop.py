"""The one async engine per process.

A daemon thread runs an asyncio loop (uvloop where installed) that owns the
connection pool, the LISTEN connection, the coalescing notifier and the
heartbeat. Sync code hands coroutines to it with :meth:`Engine.run`; async code
on any other loop awaits them with :meth:`Engine.arun`; code already on the
engine loop awaits them directly. Every database operation is written once, as
a coroutine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from dbos_queue.db.missing import schema_missing
from dbos_queue.db.notify import Notifier, parse_queue_payload
from dbos_queue.db.pool_growth import GrowingPool
from dbos_queue.db.rows import ROW_FACTORY

logger = logging.getLogger("dbos_queue")
T = TypeVar("T")
Key = tuple[str, str]

# LISTEN channels. The first two are fired by the seed's triggers; the others are
# published by this library, coalesced, outside the writing transaction.
CHANNELS = {
    "dbos_notifications_channel": "msg",
    "dbos_workflow_events_channel": "evt",
    "dbos_workflow_done_channel": "wf",
    "dbos_streams_channel": "stream",
    "dbos_queue_channel": "queue",
    "dbos_cancel_channel": "cancel",
}
_KIND_TO_CHANNEL = {v: k for k, v in CHANNELS.items()}

NOT_YET = object()
POLL_START_SEC = 0.02  # first re-check of a polling waiter (use_listen_notify: false)


class EngineStopped(BaseException):
    """The engine shut down while this thread waited on it (DBOS.destroy)."""


def new_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop for the engine thread: uvloop's when installed (faster I/O)."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.new_event_loop()


class Engine:
    """Owns the event loop thread, the pool, LISTEN and coalesced NOTIFY."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        prepare_threshold: int | None = 5,
        notify_coalesce_sec: float = 0.005,  # at once when idle, then at most every 5 ms
        poll_fallback_sec: float = 1.0,
        listen_url: str | None = None,
        listen: bool = True,
        defer_listen: bool = False,
        pool_timeout: float = 30.0,
        max_lifetime: float | None = None,
        grow_on_demand: bool = False,
    ) -> None:
        self.url = url
        # A worker's pool widens only after checkouts waited (db/pool_growth.py).
        self.grow_on_demand = grow_on_demand
        self._growing: GrowingPool | None = None
        self.pool_timeout = pool_timeout  # how long a checkout waits for a free connection
        self.max_lifetime = max_lifetime  # a pooled connection is replaced after this long
        # LISTEN needs a session of its own, so behind a transaction-mode pooler it must
        # go straight to Postgres (listen_url); listen=False opens no LISTEN connection at
        # all and every waiter finds its answer by polling (use_listen_notify: false).
        self.listen_url = listen_url or url
        self.listen = listen
        # The LISTEN connection opens only when set_listening(True) says so (a worker
        # that decides its listening duty first, queue/wakeup.py).
        self.defer_listen = defer_listen
        self.pool_size = pool_size
        self.prepare_threshold = prepare_threshold
        self.notify_coalesce_sec = notify_coalesce_sec
        self.poll_fallback_sec = poll_fallback_sec
        self.loop = new_loop()
        self.pool: AsyncConnectionPool | None = None
        self._thread = threading.Thread(target=self._run_loop, name="dbos-engine", daemon=True)
        self._waiters: dict[Key, set[asyncio.Event]] = defaultdict(set)
        self.notifier = Notifier(self, notify_coalesce_sec)
        # Decides whether a counted queue notification from another process wakes this
        # one's claim loop (queue/wakeup.py); None: every notification does.
        self.queue_filter: Callable[..., bool] | None = None
        # A channel of this process alone (queue/wakeup.py): senders that know the fleet
        # notify the chosen workers there instead of waking every listener.
        self.personal_channel: str | None = None
        self._listener: asyncio.Task[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.closed = False  # set once the loop is stopping for good: blocked callers give up
        self.listener_connected = threading.Event()
        self._heard_up: asyncio.Event | None = None  # the same, for the loop (until_heard)
        self.hooks: dict[str, list[Callable[..., None]]] = defaultdict(list)

    # --- lifecycle ----------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self, *, wait: bool = True) -> None:
        """Start the loop and open the pool; ``wait=False`` connects in the background
        (a lazy client: an unreachable database surfaces at first use)."""
        self._thread.start()
        self.run(self._open(wait))

    async def _open(self, wait: bool = True) -> None:
        # A worker's pool (grow_on_demand) opens two connections and widens on demand
        # (db/pool_growth.py). One was tried (ninth session): pools were then left open
        # on a closed loop now and then at shutdown (RESULTS.md).
        min_size = min(2, self.pool_size)
        self.pool = AsyncConnectionPool(
            self.url,
            min_size=min_size,
            max_size=min_size if self.grow_on_demand else self.pool_size,
            kwargs={
                "autocommit": True,
                "prepare_threshold": self.prepare_threshold,
                "row_factory": ROW_FACTORY,
            },
            open=False,
            name="dbos-system",
            timeout=self.pool_timeout,
            max_lifetime=self.max_lifetime or 3600.0,  # psycopg_pool's default
        )
        if self.grow_on_demand:
            self._growing = GrowingPool(self.pool, self.pool_size)
        await self.pool.open(wait=wait, timeout=15)
        if self.listen:
            if not self.defer_listen:
                self._listener = self.spawn(self._listen_forever(), "listener")
        else:
            # Nothing to listen on: being connected to the system database is the pool's.
            self.listener_connected.set()
        # NOTIFYs are still sent (transaction-scoped, so pooler-safe): other processes of a
        # mixed fleet may listen even when this one polls.
        self.spawn(self.notifier.run_forever(), "notifier")

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a background task on the engine loop (call from the loop)."""
        task = self.loop.create_task(coro, name=f"dbos-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def spawn_threadsafe(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """``spawn`` from any thread (the task starts on the engine loop's next turn)."""
        self.loop.call_soon_threadsafe(self.spawn, coro, name)

    def stop(self) -> None:
        """Flush pending notifications, cancel every task, close the pool, end the thread."""
        if not self._thread.is_alive():
            return
        self._stopping = True
        try:
            self.run(self._close(), timeout=30)
        except Exception:
            logger.exception("error while closing the engine")
        self.closed = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()

    async def _close(self) -> None:
        await self._flush_outbox()
        for t in list(self._tasks):  # our own background loops first
            t.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self.pool is not None:
            await self.pool.close(timeout=5)
        # Then every other task: calls other threads are blocked on (engine.run) get
        # cancelled, raising in those threads instead of leaving them waiting forever.
        me = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not me]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # --- bridging -----------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """Whether ``stop`` has begun: new work should fail fast rather than wait."""
        return self._stopping

    def on_loop(self) -> bool:
        """Whether the caller runs on the engine loop (so it may await engine coroutines)."""
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the engine loop and block this (non-engine) thread for it."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "A blocking dbos_queue call was made on the engine's event loop; "
                "use the async variant (e.g. await DBOS.recv_async) in async code"
            )
        if self.closed:
            coro.close()
            raise EngineStopped()
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return fut.result(
                    1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic()))
                )
            except concurrent.futures.TimeoutError:
                if fut.done():
                    raise  # the coroutine itself raised TimeoutError (same class in 3.11)
                if self.closed and not fut.done():
                    fut.cancel()
                    raise EngineStopped() from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise
            except psycopg.ProgrammingError as exc:
                missing = schema_missing(exc)  # no dbos schema: say so (db/missing.py)
                if missing is None:
                    raise
                raise missing from exc

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the engine loop from any event loop."""
        try:
            if self.on_loop():
                return await coro
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))
        except psycopg.ProgrammingError as exc:
            missing = schema_missing(exc)
            if missing is None:
                raise
            raise missing from exc

    # --- database helpers ----------------------------------------------------

    def connection(self, timeout: float | None = None):  # -> AsyncContextManager[AsyncConnection]
        """A pooled connection, as ``async with engine.connection() as conn``; ``timeout``:
        raise ``psycopg_pool.PoolTimeout`` after waiting that long (default: the pool's)."""
        assert self.pool is not None, "engine not started"
        growing = self._growing
        if growing is not None and not growing.full:
            return growing.connection(timeout)
        return self.pool.connection(timeout)

    # --- waiting and waking --------------------------------------------------

    def wake(self, key: Key) -> None:
        """Wake local waiters on ``key`` (engine loop only)."""
        for ev in self._waiters.get(key, ()):
            ev.set()

    def wake_all(self) -> None:
        """Wake every local waiter (after missed notifications: all must re-check)."""
        for evs in self._waiters.values():
            for ev in evs:
                ev.set()

    def publish(self, kind: str, payload: str, count: int = 1) -> None:
        """Wake local waiters now and, coalesced, every other process (engine loop only).

        For ``"queue"``, ``count`` is how much work arrived (0: everyone look again, e.g.
        settings changed); "wf" reaches only processes waiting for that workflow."""
        self.wake((kind, payload))
        for hook in self.hooks.get(kind, ()):
            hook(payload)
        if kind == "queue" and count <= 0 and self.queue_filter is not None:
            self.queue_filter(payload, 0, 0)  # settings changed: re-read them here too
        self.notifier.add(_KIND_TO_CHANNEL[kind], payload, count)

    def publish_threadsafe(self, kind: str, payload: str, count: int = 1) -> None:
        """``publish`` from any thread (runs on the engine loop's next turn)."""
        self.loop.call_soon_threadsafe(self.publish, kind, payload, count)

    async def wait_for(
        self,
        key: Key,
        check: Callable[[], Awaitable[Any]],
        timeout: float | None,
        poll: float | None = None,
        also: Key | None = None,
    ) -> Any:
        """Call ``check`` until it returns something other than ``NOT_YET``.

        Between calls, sleep until ``key`` is woken (local publish or NOTIFY),
        polling every ``poll`` seconds as a fallback. Returns ``NOT_YET`` on timeout.
        Must run on the engine loop.
        """
        poll = poll or self.poll_fallback_sec
        deadline = None if timeout is None else self.loop.time() + timeout
        keys = [key] if also is None else [key, also]  # e.g. also wake on cancellation
        # Without LISTEN nothing from other processes wakes us: poll, quickly at first (a
        # short workflow's result is there in milliseconds), backing off to ``poll``.
        step = POLL_START_SEC
        while True:
            ev = asyncio.Event()
            for k in keys:
                self._waiters[k].add(ev)
            try:
                result = await check()
                if result is not NOT_YET:
                    return result
                wait = poll
                if not self.listen or self._listener is None:  # polling, or off duty
                    wait, step = min(poll, step), step * 2
                if deadline is not None:
                    remaining = deadline - self.loop.time()
                    if remaining <= 0:
                        return NOT_YET
                    wait = min(wait, remaining)
                try:
                    await asyncio.wait_for(ev.wait(), wait)
                except TimeoutError:
                    pass
            finally:
                for k in keys:
                    waiters = self._waiters.get(k)
                    if waiters is not None:
                        waiters.discard(ev)
                        if not waiters:
                            del self._waiters[k]

    # --- LISTEN --------------------------------------------------------------

    async def _listen_forever(self) -> None:
        backoff = 0.05
        while not self._stopping:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.listen_url, autocommit=True, prepare_threshold=None
                )
                async with conn:
                    for channel in CHANNELS:
                        await conn.execute(f"LISTEN {channel}")  # type: ignore[arg-type]  # constant names
                    personal = self.personal_channel
                    if personal is not None:  # hex characters only (listen_personal)
                        await conn.execute(f"LISTEN {personal}")  # type: ignore[arg-type]
                    self._connection_up()
                    backoff = 0.05
                    # Anything published while we were disconnected was missed: re-check all.
                    self.wake_all()
                    async for n in conn.notifies():
                        if n.channel == personal:
                            for payload in n.payload.split("\n"):
                                self._heard("queue", payload, directed=True)
                            continue
                        kind = CHANNELS.get(n.channel)
                        if kind is None:
                            continue
                        for payload in n.payload.split("\n"):
                            self._heard(kind, payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._connection_down()
                if self._stopping:
                    return
                logger.warning("LISTEN connection lost (%s); reconnecting", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def _connection_up(self) -> None:
        self.listener_connected.set()
        if self._heard_up is not None:
            self._heard_up.set()

    def _connection_down(self) -> None:
        self.listener_connected.clear()
        if self._heard_up is not None:
            self._heard_up.clear()

    async def until_heard(self, timeout: float) -> bool:
        """Wait (engine loop, up to ``timeout`` s) until ``hears()``; whether it does."""
        if self.hears():
            return True
        if self._heard_up is None:
            self._heard_up = asyncio.Event()
        try:
            await asyncio.wait_for(self._heard_up.wait(), timeout)
        except TimeoutError:
            pass
        return self.hears()

    def hears(self) -> bool:
        """Whether notifications from other processes reach this one now: it listens
        (``use_listen_notify``, on duty) and the LISTEN connection is up."""
        return self.listen and self._listener is not None and self.listener_connected.is_set()

    @property
    def standby(self) -> bool:
        """Listening is configured but this process is off duty (queue/wakeup.py): it polls."""
        return self.listen and self._listener is None and self.pool is not None

    def set_listening(self, on: bool) -> None:
        """Open (``on``) or close the LISTEN connection (engine loop). Off duty, the backend
        is gone: no NOTIFY of the fleet signals it, and every waiter polls."""
        if not self.listen or self._stopping or on == (self._listener is not None):
            return
        if on:
            self._listener = self.spawn(self._listen_forever(), "listener")
            return
        self._listener.cancel()  # type: ignore[union-attr]  # not None (checked above)
        self._listener = None
        self._connection_down()

    def listen_personal(self, token: str) -> None:
        """Also LISTEN on this process's own channel (engine loop; restarts the listener)."""
        from dbos_queue.db.notify import personal_channel

        channel = personal_channel(token)
        if not self.listen or channel == self.personal_channel:
            return
        self.personal_channel = channel
        if self._listener is not None:
            self._listener.cancel()
            self._listener = self.spawn(self._listen_forever(), "listener")

    def _heard(self, kind: str, payload: str, directed: bool = False) -> None:
        """One notification from the LISTEN connection (``directed``: on our own channel)."""
        if kind == "queue":
            payload, count, seq, origin = parse_queue_payload(payload)
            if origin == self.notifier.origin:
                return  # our own, already acted on when published
            f = self.queue_filter
            if f is not None and not f(payload, count, seq, directed=directed):
                return
        self.wake((kind, payload))
        for hook in self.hooks.get(kind, ()):
            hook(payload)

    # --- coalesced NOTIFY (db/notify.py) ---------------------------------------

    async def _flush_outbox(self) -> None:
        await self.notifier.flush()
