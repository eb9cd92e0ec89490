"""The threads sync workflows run on: a pool that costs a queued workflow little.

``concurrent.futures.ThreadPoolExecutor.submit`` makes per task a ``Future`` (with its
``Condition``), a work item, and takes two locks and a Python-level semaphore to decide
whether to start a thread: about a sixth of a worker's CPU per dequeued workflow. The
claim loop's fast path (queue/dispatch.py) needs none of that, only "run this, then
call that": ``run`` queues a plain callable. ``submit`` keeps the ``Future`` interface
for the other callers (a caller that awaits the result, the general dispatch path).

Threads start on demand up to ``max_workers`` and then stay; they are not daemons, and
like ``ThreadPoolExecutor``'s they finish what they run before the interpreter exits.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

# (work, its Future or None); None alone tells one thread to exit.
_Item = tuple[Callable[[], Any], "concurrent.futures.Future[Any] | None"]

logger = logging.getLogger("dbos_queue")
_pools: weakref.WeakSet[WorkflowThreads] = weakref.WeakSet()


class WorkflowThreads:
    """A pool of up to ``max_workers`` threads taking work from one queue."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "dbos-wf") -> None:
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        self.max_workers = max_workers
        self._prefix = thread_name_prefix
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # idle threads no queued work has taken yet (under _lock)
        self._lock = threading.Lock()
        self._closed = False
        _pools.add(self)

    def run(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` on a pool thread. ``fn`` handles its own errors (one that escapes
        is logged by the thread and lost); nothing tells the caller it is done."""
        self._put((fn, None))

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> concurrent.futures.Future[Any]:
        """Run ``fn(*args)`` on a pool thread; its ``Future`` holds the outcome."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def work() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args)
            except BaseException as exc:  # as ThreadPoolExecutor: the Future carries it
                fut.set_exception(exc)
            else:
                fut.set_result(result)

        self._put((work, fut))
        return fut

    def _put(self, item: _Item) -> None:
        # As ThreadPoolExecutor: each piece of work takes an idle thread's token or starts
        # a thread; at the maximum it waits for the next thread that finishes. (A token
        # taken by the thread itself when it dequeues would race: a burst could count a
        # thread idle that had just taken the previous piece, and start none.)
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._queue.put(item)
            if self._idle > 0:
                self._idle -= 1
            elif len(self._threads) < self.max_workers:
                t = threading.Thread(target=self._work, name=f"{self._prefix}_{len(self._threads)}")
                self._threads.append(t)
                t.start()

    def _work(self) -> None:
        get, lock = self._queue.get, self._lock
        while True:
            item = get()
            if item is None:
                return
            try:
                item[0]()
            except BaseException:
                logger.exception("workflow thread work failed")
            del item
            with lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no more work; with ``cancel_futures`` cancel what has not started (plain
        ``run`` work is dropped); with ``wait`` join the threads."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None and item[1] is not None:
                    item[1].cancel()
        for _ in threads:
            self._queue.put(None)
        if wait:
            for t in threads:
                if t is not threading.current_thread():
                    t.join()


def _at_exit() -> None:
    """Before the interpreter joins its threads: let ours finish and exit."""
    for pool in list(_pools):
        pool.shutdown(wait=True)


threading._register_atexit(_at_exit)  # type: ignore[attr-defined]  # as ThreadPoolExecutor
