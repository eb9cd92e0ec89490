"""The coalescing notifier: what one process tells the others, and how cheaply.

Every NOTIFY costs the cluster: a notifying transaction gets a transaction id and
takes one cluster-wide lock from its commit until the commit is flushed, so
notifying commits queue one behind another and lose group commit; and every
LISTENing backend, and its process, wakes for it. So:

- Notifications are coalesced: sent at once when the notifier was idle, then at most
  once per interval, all channels in one statement, and committed without waiting for
  the WAL flush (``synchronous_commit`` off for that transaction only: a notification
  is not durable anyway, the data it announces was committed before).
- A queue notification says how much work arrived and who sent it:
  ``name<US>count<US>seq<US>origin`` (US = ``\\x1f``), so a fleet can wake only as many
  workers as there is work (queue/wakeup.py) and a process can skip its own echo. A bare
  ``name`` (the SQL producer, ``enqueue_in_transaction``, older processes) means "an
  unknown amount": every listener of the queue claims.
- Directed: a sender that knows a queue's claimers (``dbos.executors.queues``, read at
  most every few seconds, or handed over by this process's own claim loops) notifies
  just ``FANOUT`` x count of them, in turns, each on its own channel
  (``dbos_q_<process id>``), instead of waking every listening backend and process of
  the fleet for every job. Unknown fleet, nobody known, or work for all of it: the
  shared channel.
- "Workflow done" goes only to processes that wait for that workflow: a waiter
  registers in ``dbos.result_waiters`` (migration 0010) before it re-checks the
  status, and the notifier, after the completion committed, notifies the registered
  ids only (one statement whatever the outcome). A workflow nobody awaits costs no
  NOTIFY at all.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import threading
import time
from collections import Counter, defaultdict
from typing import Any

logger = logging.getLogger("dbos_queue")

QUEUE_CHANNEL = "dbos_queue_channel"
PERSONAL_PREFIX = "dbos_q_"
FANOUT = 2  # workers woken per arrived workflow: one spare for a chosen one that is busy
MEMBERS_TTL_SEC = 3.0  # how old a sender's view of a queue's claimers may get
EMPTY_TTL_SEC = 0.5  # ... when it says nobody claims (notifications are skipped on it)
DONE_CHANNEL = "dbos_workflow_done_channel"
SEP = "\x1f"
MAX_PAYLOAD = 7000  # NOTIFY payloads are limited to 8000 bytes


def queue_payload(name: str, count: int, seq: int, origin: str) -> str:
    """The text of one counted queue notification."""
    return f"{name}{SEP}{count}{SEP}{seq}{SEP}{origin}"


def personal_channel(token: str) -> str:
    """The LISTEN channel of one process (``token``: its process id, hex)."""
    if not token or not all(c in "0123456789abcdef" for c in token):
        raise ValueError(f"a personal channel token must be lower-case hex, got {token!r}")
    return PERSONAL_PREFIX + token


def chosen(members: list[str], count: int, seq: int) -> list[str] | None:
    """The members a notification of ``count`` workflows goes to, starting at turn ``seq``;
    None when that is every member (use the shared channel)."""
    w = len(members)
    k = min(w, count * FANOUT)
    if w == 0 or k >= w:
        return None
    return [members[(seq + j) % w] for j in range(k)]


def parse_queue_payload(payload: str) -> tuple[str, int | None, int, str | None]:
    """(queue, count or None for an unknown amount, seq, origin) of one queue payload."""
    parts = payload.split(SEP)
    if len(parts) == 4:
        try:
            return parts[0], int(parts[1]), int(parts[2]), parts[3]
        except ValueError:
            pass
    return payload, None, 0, None


def chunks(channel: str, items: list[str]) -> list[tuple[str, str]]:
    """Pack payload items (newline-separated) into NOTIFYs under the size limit."""
    out: list[tuple[str, str]] = []
    chunk: list[str] = []
    size = 0
    for item in items:
        if size + len(item) + 1 > MAX_PAYLOAD and chunk:
            out.append((channel, "\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        out.append((channel, "\n".join(chunk)))
    return out


class Notifier:
    """The outbox of one engine and the task that sends it."""

    def __init__(self, engine: Any, coalesce_sec: float) -> None:
        # engine: db.loop.Engine (not imported: loop imports this module)
        self.engine = engine
        self.coalesce_sec = coalesce_sec
        self.origin = secrets.token_hex(6)  # this process's signature on its notifications
        self._seq = itertools.count(secrets.randbelow(1 << 20))
        self._waiter_seq = itertools.count(1)
        self.outbox: dict[str, set[str]] = defaultdict(set)
        self.queue_counts: Counter[str] = Counter()
        self.queue_all: set[str] = set()  # queues published with count 0: "everyone look"
        self.done: set[str] = set()  # finished workflows: notify their registered waiters
        self.event: asyncio.Event | None = None
        # queue -> (monotonic time read, live claimers in rank order): whom to notify
        self.members: dict[str, tuple[float, list[str]]] = {}
        # queue -> since when (monotonic) every read found no claimer
        self.empty_since: dict[str, float] = {}
        self.sent = 0  # notifying statements sent (benchmarks, tests)
        self.last_sent = 0.0  # time.monotonic() of the last notification sent, either way
        # Notifications queued from other threads (add_threadsafe): the loop is woken only
        # when the sender task waits idle, not once per enqueue of a busy producer.
        self._lock = threading.Lock()
        self._inbox: list[tuple[str, str, int]] = []
        self._armed = False  # the sender task is awake or already asked to wake
        # One flush at a time: a stop's last flush waits for the sender task's one in
        # flight, which it then cancels (what that one took would otherwise be lost).
        self._flush_lock = asyncio.Lock()

    def add(self, channel: str, payload: str, count: int = 1) -> None:
        """Queue one notification (engine loop only)."""
        if channel == QUEUE_CHANNEL:
            if count > 0:
                self.queue_counts[payload] += count
            else:
                self.queue_all.add(payload)
        elif channel == DONE_CHANNEL:
            self.done.add(payload)
        else:
            self.outbox[channel].add(payload)
        if self.event is not None:
            self.event.set()

    def add_threadsafe(self, channel: str, payload: str, count: int = 1) -> None:
        """``add`` from any thread; wakes the engine loop only if the sender sleeps."""
        with self._lock:
            self._inbox.append((channel, payload, count))
            wake = not self._armed
            self._armed = True
        if wake and self.event is not None:
            self.engine.loop.call_soon_threadsafe(self.event.set)

    def _drain_inbox(self) -> None:
        with self._lock:
            inbox, self._inbox = self._inbox, []
        for channel, payload, count in inbox:
            self.add(channel, payload, count)

    def new_waiter(self) -> str:
        """A token for one ``result_waiters`` registration."""
        return f"{self.origin}:{next(self._waiter_seq)}"

    def pending(self) -> bool:
        """Whether notifications are waiting to be sent (a stop flushes them first)."""
        return bool(self.outbox or self.queue_counts or self.queue_all or self.done or self._inbox)

    async def run_forever(self) -> None:
        """Send at once when idle, at most once per coalesce interval under load."""
        self.event = asyncio.Event()
        if self.pending():
            self.event.set()
        loop = asyncio.get_running_loop()
        last = 0.0
        while True:
            with self._lock:
                self._armed = False
                queued = bool(self._inbox)
            if not queued:
                await self.event.wait()
            with self._lock:
                self._armed = True  # producers append without waking us until we sleep
            gap = self.coalesce_sec - (loop.time() - last)
            if gap > 0:
                await asyncio.sleep(gap)  # let the burst accumulate into one statement
            self.event.clear()
            self._drain_inbox()
            last = loop.time()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("could not publish notifications: %s", exc)

    def _take(self) -> tuple[list[str], list[str], list[str]]:
        batch, self.outbox = self.outbox, defaultdict(set)
        counts, self.queue_counts = self.queue_counts, Counter()
        everyone, self.queue_all = self.queue_all, set()
        for q in everyone:
            counts[q] = 0  # "everyone look" wins over a count
        done, self.done = self.done, set()
        pairs: list[tuple[str, str]] = []
        for channel, items in batch.items():
            pairs += chunks(channel, sorted(items))
        shared: list[str] = []
        for q, n in counts.items():
            seq = next(self._seq)
            item = queue_payload(q, n, seq, self.origin)
            known = self.members.get(q)
            if n > 0 and not self.may_claim(q):
                continue  # nobody claims from it (see may_claim)
            targets = chosen(known[1], n, seq) if known is not None and n > 0 else None
            if targets is None:
                shared.append(item)
            else:
                pairs += [(PERSONAL_PREFIX + t, item) for t in targets]
        pairs += chunks(QUEUE_CHANNEL, shared)
        return [c for c, _ in pairs], [p for _, p in pairs], sorted(done)

    async def flush(self) -> None:
        """Send everything queued, in one statement (after any flush in flight)."""
        async with self._flush_lock:
            await self._flush()

    async def _flush(self) -> None:
        if not self.pending() or self.engine.pool is None:
            return
        from dbos_queue.db import sql as _sql

        self._drain_inbox()
        await self._know_members()
        channels, payloads, done = self._take()
        if not channels and not done:
            return  # everything was for queues nobody claims from
        async with self.engine.connection() as conn:
            if done:
                await conn.execute(
                    _sql.NOTIFY_MANY_AND_WAITERS,
                    {"channels": channels, "payloads": payloads, "done": done},
                )
            else:
                await conn.execute(_sql.NOTIFY_MANY_ASYNC, (channels, payloads))
        self.sent += 1
        self.last_sent = time.monotonic()

    def may_claim(self, queue: str) -> bool:
        """False when nobody has claimed from ``queue`` for a while, as far as this process
        has read lately: then its work is not announced at all (a queue with no worker
        running costs one statement per enqueue, not two). A worker that joins is seen
        within EMPTY_TTL_SEC; what was enqueued meanwhile its first claims pick up (it
        polls every 0.25 s while it starts). "A while": two reads apart, so a producer
        that started together with its workers does not skip their first jobs."""
        known = self.members.get(queue)
        if known is None or known[1] or time.monotonic() - known[0] > EMPTY_TTL_SEC:
            return True
        since = self.empty_since.get(queue)
        return since is None or time.monotonic() - since < EMPTY_TTL_SEC

    def idle(self) -> bool:
        """No notification went out within the coalescing interval: the next one may go
        at once, with the write that causes it (any thread)."""
        return time.monotonic() - self.last_sent >= self.coalesce_sec and not self.pending()

    def direct(self, queue: str) -> tuple[list[str], list[str]] | None:
        """(channels, payloads) announcing one workflow on ``queue``, for a caller that
        sends them itself, in the same round trip as its write (an idle producer: what
        the notifier would send at once anyway); None: leave it to the notifier (which
        reads the fleet first, or sends nothing when nobody claims). Marks them sent, so
        a burst that follows is coalesced by the notifier."""
        known = self.members.get(queue)
        if known is None or self.stale(queue) or not known[1]:
            return None  # unknown or nobody: the notifier reads the fleet (or sends nothing)
        seq = next(self._seq)
        item = queue_payload(queue, 1, seq, self.origin)
        targets = chosen(known[1], 1, seq)
        self.last_sent = time.monotonic()
        self.sent += 1
        if targets is None:
            return [QUEUE_CHANNEL], [item]
        return [PERSONAL_PREFIX + t for t in targets], [item] * len(targets)

    def set_members(self, queue: str, members: list[str]) -> None:
        """A fresh view of ``queue``'s claimers (from this process's own queue tick)."""
        self.members[queue] = (time.monotonic(), members)
        if members:
            self.empty_since.pop(queue, None)

    def stale(self, queue: str) -> bool:
        """Whether this process's view of ``queue``'s claimers is missing or too old."""
        known = self.members.get(queue)
        if known is None:
            return True
        age = time.monotonic() - known[0]
        return age > (MEMBERS_TTL_SEC if known[1] else EMPTY_TTL_SEC)

    async def _know_members(self, queues: list[str] | None = None) -> None:
        """Read the claimers of the queues about to be notified, when not known lately."""
        now = time.monotonic()
        if queues is None:
            queues = [q for q, n in self.queue_counts.items() if n > 0]
        # An empty view is read again before every announcement made on it: a worker
        # that joined since (often started together with this producer) is then told
        # directly from the next enqueue on, not after EMPTY_TTL_SEC of shared-channel
        # notifications sent one round trip after each commit.
        stale = [q for q in queues if self.stale(q) or not self.members[q][1]]
        if not stale:
            return
        from dbos_queue.db import sql as _sql

        try:
            async with self.engine.connection() as conn:
                cur = await conn.execute(
                    _sql.FLEET_MEMBERS, {"queues": stale, "now": int(time.time() * 1000)}
                )
                rows = {r.queue: list(r.members or []) for r in await cur.fetchall()}
        except Exception as exc:  # notify everyone rather than no one
            logger.debug("could not read the fleet's claimers: %s", exc)
            return
        for q in stale:
            ids = rows.get(q, [])
            self.members[q] = (now, ids)
            if ids:
                self.empty_since.pop(q, None)
            else:
                self.empty_since.setdefault(q, now)

    # --- waiting for a result in another process ---------------------------------

    async def register_waiter(self, wf_id: str) -> str | None:
        """Ask to be told when ``wf_id`` finishes; the token to unregister with.

        None when this engine does not listen (nothing would hear it), or not now."""
        if not self.engine.listen or self.engine.standby:
            return None
        from dbos_queue.db import sql as _sql

        token = self.new_waiter()
        async with self.engine.connection() as conn:
            await conn.execute(_sql.REGISTER_RESULT_WAITER, (wf_id, token))
        return token

    async def unregister_waiter(self, wf_id: str, token: str | None) -> None:
        """Drop a result-waiter registration (best effort: a leftover row is purged later)."""
        if token is None or self.engine.pool is None:
            return
        from dbos_queue.db import sql as _sql

        try:
            async with self.engine.connection() as conn:
                await conn.execute(_sql.UNREGISTER_RESULT_WAITER, (wf_id, token))
        except Exception as exc:  # a leftover row only costs one extra NOTIFY later
            logger.debug("could not unregister result waiter for %s: %s", wf_id, exc)
