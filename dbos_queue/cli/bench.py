"""``dbos-queue bench``: an end-to-end smoke benchmark against the database.

W worker processes (``dbos_queue.cli.bench_app``) serve a temporary queue; N
workflows of S steps are enqueued with ``enqueue_many``; the command reports
workflows per second and deletes the queue and its workflows unless ``--keep``.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

import typer

from dbos_queue.cli import procs
from dbos_queue.cli.bars import Bar
from dbos_queue.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    DbUrlOpt,
    Globals,
    JsonOpt,
    client_for,
    fail,
    options,
    print_json,
    resolve_url,
)
from dbos_queue.cli.values import UsageError

START_TIMEOUT = 60.0  # seconds for the bench workers to say "ready"
BENCH_WORKFLOW = "dbos_queue_bench"
BENCH_STEP = "dbos_queue_bench_step"
# Set only for the bench's worker processes: importing bench_app there declares the app.
BENCH_QUEUE_ENV = "DBOS_QUEUE_BENCH_QUEUE"
BENCH_URL_ENV = "DBOS_QUEUE_BENCH_URL"


def bench(
    ctx: typer.Context,
    n: Annotated[int, typer.Option("--n", metavar="N", help="Workflows to run.")] = 2000,
    workers: Annotated[int, typer.Option(metavar="W", help="Worker processes.")] = 2,
    steps: Annotated[int, typer.Option(metavar="S", help="Steps per workflow.")] = 1,
    stall_timeout: Annotated[
        float, typer.Option(metavar="S", help="Fail when nothing finishes for S seconds.")
    ] = 60.0,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the bench queue and its workflows.")
    ] = False,
    json_out: JsonOpt = False,
    db_url: DbUrlOpt = None,
) -> int:
    """End-to-end smoke benchmark against the database.

    Start W worker processes on a temporary queue, enqueue N workflows of S steps
    with enqueue_many, and report workflows per second (a Rich progress bar on a
    terminal). The queue and its workflows are deleted afterwards unless --keep.
    For the side-by-side comparison with other Postgres queues, run
    `python -m benchmarks.peers` from a source checkout.
    """
    if n < 1 or workers < 1 or steps < 0:
        raise UsageError("bench needs --n >= 1, --workers >= 1 and --steps >= 0")
    opts = options(ctx, json_out, db_url)
    token = uuid.uuid4().hex[:8]
    queue = f"dbos-queue-bench-{token}"
    if not opts.json:
        print(
            f"bench: {n} workflows x {steps} step(s) on {workers} worker "
            f"process(es), queue {queue}",
            flush=True,
        )
    run = Run(opts, queue, token, n, workers, steps, stall_timeout)
    with client_for(opts) as client:
        try:
            result = run.go(client)
        except RuntimeError as exc:
            return fail(str(exc))
        finally:
            procs.stop_all(run.children)
            if not keep:
                run.clean(client)
    _print_result(opts, result)
    return EXIT_FAILED if result["failed"] else EXIT_OK


class Run:
    """One bench run: its workers, its queue, its numbers."""

    def __init__(self, opts: Globals, queue: str, token: str, *sizes: Any) -> None:
        self.opts, self.queue, self.token = opts, queue, token
        self.n, self.workers, self.steps, self.stall_timeout = sizes
        self.children: list[procs.Child] = []

    def go(self, client: Any) -> dict[str, Any]:
        """Start the workers, enqueue, wait for every workflow; the numbers."""
        from dbos_queue.db import sql as _sql

        # Workers first: they migrate the schema if needed and are idle when work arrives.
        env = {BENCH_QUEUE_ENV: self.queue, BENCH_URL_ENV: resolve_url(self.opts)}
        app = "dbos_queue.cli.bench_app"
        for i in range(self.workers):
            self.children.append(procs.worker(app, self.queue, f"bench-{self.token}-{i}", env))
        procs.wait_ready(self.children, START_TIMEOUT)
        options = {"queue_name": self.queue, "workflow_name": BENCH_WORKFLOW}
        start = time.monotonic()
        for first in range(0, self.n, 1000):
            batch = [(i, self.steps) for i in range(first, min(self.n, first + 1000))]
            client.enqueue_many(options, batch)
        enqueued_s = time.monotonic() - start
        done = failed = 0
        last_change, last_done = time.monotonic(), -1
        with Bar(self.n, "bench", enabled=not self.opts.json) as bar:
            while done + failed < self.n:
                time.sleep(0.1)  # a command polling its own queue, not a test waiting
                row = client.engine.run(
                    client.sysdb.fetchone(_sql.QUEUE_FINISHED_COUNTS, (self.queue,))
                )
                done, failed = row.succeeded, row.failed
                bar.update(done + failed)
                if done + failed != last_done:
                    last_change, last_done = time.monotonic(), done + failed
                self._check(last_change, done + failed)
        elapsed = time.monotonic() - start
        return self._result(enqueued_s, elapsed, done, failed)

    def _check(self, last_change: float, finished: int) -> None:
        dead = [w for w in self.children if not w.alive()]
        if dead:
            raise RuntimeError(
                f"bench worker pid {dead[0].pid} exited "
                f"(code {dead[0].proc.returncode}){dead[0].tail()}"
            )
        if time.monotonic() - last_change > self.stall_timeout:
            raise RuntimeError(
                f"no bench workflow finished for {self.stall_timeout:g}s ({finished}/{self.n})"
            )

    def _result(self, enqueued_s: float, elapsed: float, done: int, failed: int) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "n": self.n,
            "workers": self.workers,
            "steps": self.steps,
            "enqueue_seconds": round(enqueued_s, 4),
            "enqueued_per_second": round(self.n / enqueued_s, 1) if enqueued_s > 0 else None,
            "seconds": round(elapsed, 4),
            "workflows_per_second": round(self.n / elapsed, 1) if elapsed > 0 else None,
            "succeeded": done,
            "failed": failed,
        }

    def clean(self, client: Any) -> None:
        """Delete the bench queue and its workflows."""
        from dbos_queue.db import sql as _sql

        run = client.engine.run
        run(client.sysdb.execute(_sql.DELETE_QUEUE_WORKFLOWS, (self.queue,)))
        run(client.sysdb.execute(_sql.DELETE_QUEUE, (self.queue,)))


def _print_result(opts: Globals, result: dict[str, Any]) -> None:
    if opts.json:
        print_json(result)
        return
    n, done, failed = result["n"], result["succeeded"], result["failed"]
    print(
        f"enqueued {n} in {result['enqueue_seconds']:.3f}s "
        f"({result['enqueued_per_second'] or 0:,.0f}/s, enqueue_many)"
    )
    print(
        f"completed {done + failed} in {result['seconds']:.2f}s: "
        f"{result['workflows_per_second'] or 0:,.1f} workflows/s"
        + (f" ({failed} failed)" if failed else "")
    )
