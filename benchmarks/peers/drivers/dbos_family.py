"""What the DBOS and dbos_queue adapters share (dbos_queue mirrors DBOS's API).

The job is a queued sync ``@DBOS.workflow`` that records its start and calls one no-op
``@DBOS.step`` (``--steps 1``) or nothing (``--steps 0``). Every worker process is a
launched app with its own ``executor_id``; the queue has no limits unless asked.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from collections.abc import Callable
from typing import Any

from . import dbcheck

APP = "bench"
APP_VERSION = "bench-v1"
QUEUE = "bench"
WF_STEP = "bench_wf_1step"
WF_NOSTEP = "bench_wf_0step"
UNFINISHED = ("ENQUEUED", "PENDING", "DELAYED")

_recorder: list[Callable[[int, float], None]] = []  # set in worker processes only


def record(seq: int, t_enq: float) -> None:
    """Called first thing in every workflow body."""
    if _recorder:
        _recorder[0](seq, t_enq)


def define_workflows(dbos_cls: Any) -> None:
    """Register the benchmark's step and two workflows with ``dbos_cls`` (DBOS)."""

    @dbos_cls.step(name="bench_noop_step")
    def noop_step(seq: int) -> None:
        return None

    @dbos_cls.workflow(name=WF_STEP)
    def wf_step(seq: int, t: float) -> None:
        record(seq, t)
        noop_step(seq)

    @dbos_cls.workflow(name=WF_NOSTEP)
    def wf_nostep(seq: int, t: float) -> None:
        record(seq, t)


def _setup_child(adapter: DbosFamilyAdapter, url: str) -> None:
    adapter.setup_in_child(url)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class DbosFamilyAdapter:
    """Common part; subclasses set ``name`` and implement ``dbos()``, ``register_queue``,
    ``setup_in_child``, ``producer`` and ``versions``."""

    name = "?"
    default_poll = 1.0

    def dbos(self) -> Any:
        raise NotImplementedError

    def add_args(self, ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--steps", type=int, choices=[0, 1], default=1)
        ap.add_argument(
            "--poll", type=float, default=self.default_poll, help="queue polling_interval_sec"
        )
        ap.add_argument("--worker-concurrency", type=int, default=0, help="0 = no limit")
        ap.add_argument("--log-level", default="WARNING")

    def configure(self, a: argparse.Namespace) -> dict[str, Any]:
        self.steps, self.poll, self.log_level = a.steps, a.poll, a.log_level
        self.wc: int | None = a.worker_concurrency or None
        self.wf_name = WF_STEP if a.steps else WF_NOSTEP
        self.variant = f"{a.steps}step-poll{a.poll:g}" + (f"-wc{self.wc}" if self.wc else "")
        return {
            "workflow": f"sync @DBOS.workflow with {a.steps} no-op @DBOS.step",
            "queue": f"DBOS.register_queue('{QUEUE}', polling_interval_sec={a.poll:g}, "
            f"worker_concurrency={self.wc})",
            "executor_ids": "one per worker process",
            "log_level": a.log_level,
        }

    def config(self, url: str, executor_id: str) -> dict[str, Any]:
        return {
            "name": APP,
            "system_database_url": url,
            "application_version": APP_VERSION,
            "executor_id": executor_id,
            "log_level": self.log_level,
        }

    def enqueue_options(self) -> dict[str, Any]:
        return {"queue_name": QUEUE, "workflow_name": self.wf_name, "app_version": APP_VERSION}

    def setup_in_child(self, url: str) -> None:
        raise NotImplementedError

    def register_in_worker(self) -> None:
        """Declare the queue in a worker before launch (no-op where the DB holds it)."""

    def setup(self, url: str) -> None:
        """Create the schema and queue in a child, so the producer stays a plain client."""
        p = mp.get_context("spawn").Process(target=_setup_child, args=(self, url))
        p.start()
        p.join(180)
        if p.exitcode != 0:
            raise RuntimeError(f"{self.name} setup child failed (exit {p.exitcode})")

    def worker_main(self, url: str, wctx: Any) -> None:
        dbos = self.dbos()
        _recorder[:] = [wctx.record]
        dbos(config=self.config(url, f"bench-w{wctx.idx}-{os.getpid()}"))
        self.register_in_worker()
        wctx.ready_wait_go()
        dbos.launch()
        wctx.wait_stop()
        dbos.destroy(workflow_completion_timeout_sec=5)

    def remaining(self, url: str) -> int:
        return int(
            dbcheck.scalar(
                url, f"select count(*) from dbos.workflow_status where status in {UNFINISHED!r}"
            )
        )

    def db_counts(self, url: str) -> dict[str, Any]:
        c = dbcheck.conn(url)
        rows = dict(
            c.execute("select status, count(*) from dbos.workflow_status group by 1").fetchall()
        )
        steps, steps_wf = c.execute(
            "select count(*), count(distinct workflow_uuid) from dbos.operation_outputs"
        ).fetchone()
        done = rows.get("SUCCESS", 0)
        return {
            "remaining": sum(rows.get(s, 0) for s in UNFINISHED),
            "completed": done,
            "failed": rows.get("ERROR", 0),
            "step_rows": steps,
            "step_rows_distinct_wf": steps_wf,
            "by_status": rows,
            # one recorded step per finished workflow (steps=1), none for steps=0
            "consistent": steps == steps_wf == done * self.steps,
        }
