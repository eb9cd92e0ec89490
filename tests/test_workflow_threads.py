"""The workflow thread pool (engine/threads.py): what ThreadPoolExecutor gave the runtime,
kept - results and errors through Futures, at most ``max_workers`` threads, queued work
cancelled at shutdown - plus plain ``run`` work without a Future."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from dbos_queue.engine.threads import WorkflowThreads


def test_submit_gives_the_result_and_the_error_through_the_future() -> None:
    pool = WorkflowThreads(2)
    try:
        assert pool.submit(lambda a, b: a + b, 2, 3).result(timeout=10) == 5

        def boom() -> None:
            raise KeyError("x")

        with pytest.raises(KeyError):
            pool.submit(boom).result(timeout=10)
    finally:
        pool.shutdown(wait=True)


def test_run_executes_plain_work_and_a_failure_does_not_kill_the_thread() -> None:
    pool = WorkflowThreads(1)
    done = threading.Event()
    try:
        pool.run(lambda: 1 / 0)  # logged by the thread, which goes on
        pool.run(done.set)
        assert done.wait(10)
        assert len(pool._threads) == 1
    finally:
        pool.shutdown(wait=True)


def test_threads_grow_to_the_maximum_and_no_further() -> None:
    pool = WorkflowThreads(3)
    gate = threading.Event()
    inside = threading.Semaphore(0)
    names: set[str] = set()

    def hold() -> None:
        names.add(threading.current_thread().name)
        inside.release()
        gate.wait(10)

    try:
        futs = [pool.submit(hold) for _ in range(5)]
        for _ in range(3):  # three run at once: one per thread
            assert inside.acquire(timeout=10)
        assert not inside.acquire(timeout=0.2)  # the other two wait for a free thread
        assert len(pool._threads) == 3
        gate.set()
        for f in futs:
            f.result(timeout=10)
        assert names <= {"dbos-wf_0", "dbos-wf_1", "dbos-wf_2"}
    finally:
        gate.set()
        pool.shutdown(wait=True)


def test_shutdown_cancels_what_has_not_started_and_refuses_more() -> None:
    pool = WorkflowThreads(1)
    gate, started = threading.Event(), threading.Event()

    def hold() -> str:
        started.set()
        gate.wait(10)
        return "finished"

    first = pool.submit(hold)
    assert started.wait(10)
    queued = pool.submit(lambda: "never")
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(lambda: None)
    gate.set()
    assert first.result(timeout=10) == "finished"  # what was running finishes
    for t in pool._threads:
        t.join(10)
        assert not t.is_alive()
    assert isinstance(first, concurrent.futures.Future)


def test_a_pool_of_no_threads_is_refused() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        WorkflowThreads(0)
