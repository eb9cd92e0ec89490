"""What the queue demo reads from the database: live counts and the final verdict.

Nothing here is assumed from what the demo did: every count comes from
``dbos.workflow_status`` (status, and the executor that last ran each workflow)
or from the demo's side-effect table (one row per step-body run). Rows are read by
column name: the demo's connection returns named tuples (``db.rows.ROW_FACTORY``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from dbos_queue.cli.demo_app import STEPS
from dbos_queue.db import sql as _sql

FAILED = ("ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")


@dataclass
class Snapshot:
    """The demo queue right now."""

    by_status: Counter[str] = field(default_factory=Counter[str])  # status -> workflows
    finished: Counter[str] = field(default_factory=Counter[str])  # executor -> SUCCESS
    running: Counter[str] = field(default_factory=Counter[str])  # executor -> PENDING

    @property
    def total(self) -> int:
        """Workflows on the queue, in any status."""
        return sum(self.by_status.values())

    @property
    def done(self) -> int:
        """Workflows that finished, successfully or not."""
        return self.by_status["SUCCESS"] + sum(self.by_status[s] for s in FAILED)

    @property
    def depth(self) -> int:
        """Workflows waiting on the queue."""
        return self.by_status["ENQUEUED"]


def snapshot(conn: Any, queue: str) -> Snapshot:
    """Counts by status and, for running and finished workflows, by executor."""
    snap = Snapshot()
    for r in conn.execute(_sql.QUEUE_COUNTS_BY_EXECUTOR, (queue,)):
        snap.by_status[r.status] += r.n
        if r.status == "SUCCESS":
            snap.finished[r.executor_id] += r.n
        elif r.status == "PENDING":
            snap.running[r.executor_id] += r.n
    return snap


def held_by(conn: Any, queue: str, executor: str) -> list[str]:
    """The workflows ``executor`` holds (PENDING) on ``queue``."""
    rows = conn.execute(_sql.QUEUE_PENDING_OF_EXECUTOR, (queue, executor))
    return [r.workflow_uuid for r in rows]


def taken_over(conn: Any, held: set[str], victim: str) -> Counter[str]:
    """Of the ``held`` workflows, how many each other executor has claimed or finished."""
    takers: Counter[str] = Counter()
    for r in conn.execute(_sql.WORKFLOW_STATES, (list(held),)):
        if r.executor_id not in (None, victim) and r.status in ("PENDING", "SUCCESS"):
            takers[r.executor_id] += 1
    return takers


@dataclass
class Outcome:
    """The demo's verdict, every number read back from the database."""

    workflows: int  # on the demo queue
    workers: int  # executors whose step bodies ran
    killed: int
    taken_over: int  # held by the killed worker when it died, finished by another
    lost: int  # asked for, but not finished successfully with every step's side effect
    ran_twice: int  # extra step-body runs beyond the one allowed per taken-over workflow
    per_second: float  # workflows / (last finish - first enqueue), database clocks
    takers: Counter[str]  # executor -> workflows of the killed worker it finished
    resumed_at: Counter[int]  # first step a taker ran -> workflows

    def line(self) -> str:
        """The one summary line the demo ends with."""
        return (
            f"demo: {self.workflows} workflows, {self.workers} workers, {self.killed} killed, "
            f"{self.taken_over} taken over, {self.lost} lost, {self.ran_twice} ran twice, "
            f"{self.per_second:.0f} workflows/s"
        )

    @property
    def ok(self) -> bool:
        """Nothing lost and nothing run twice."""
        return self.lost == 0 and self.ran_twice == 0


def _step_runs(conn: Any, run: str) -> dict[str, dict[int, list[str]]]:
    """workflow id -> step -> the executors whose body run left a row, in order."""
    runs: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in conn.execute(_sql.DEMO_EFFECTS, (run,)):
        runs[r.workflow_id][r.step].append(r.executor)
    return runs


def _allowed_rerun(steps: dict[int, list[str]], victim: str) -> bool:
    """Whether the killed worker's last step here ran once by it, then once by a taker.

    That is the one step a SIGKILL may interrupt per workflow: its body ran (the row
    is there), its result was not recorded yet, so the taker runs it again.
    """
    mine = [s for s, execs in steps.items() if victim in execs]
    if not mine:
        return False
    execs = steps[max(mine)]
    return len(execs) == 2 and execs[0] == victim and execs[1] != victim


def outcome(
    conn: Any, queue: str, run: str, requested: int, killed: int, victim: str, held: set[str]
) -> Outcome:
    """Read the final state of the demo queue and its side-effect table.

    ``killed`` is how many workers the operating system reports killed by SIGKILL.
    """
    rows = conn.execute(_sql.QUEUE_OUTCOMES, (queue,)).fetchall()
    runs = _step_runs(conn, run)
    extra = sum(len(execs) - 1 for steps in runs.values() for execs in steps.values())
    allowed = sum(1 for wf in held if wf in runs and _allowed_rerun(runs[wf], victim))
    complete = 0
    takers: Counter[str] = Counter()
    resumed_at: Counter[int] = Counter()
    for r in rows:
        steps = runs.get(r.workflow_uuid, {})
        if r.status == "SUCCESS" and all(steps.get(k) for k in range(1, STEPS + 1)):
            complete += 1
        if r.workflow_uuid in held and r.status == "SUCCESS" and r.executor_id != victim:
            takers[r.executor_id] += 1
            # Steps the killed worker ran that no one ran again were recorded before the kill.
            recorded = sum(1 for execs in steps.values() if execs == [victim])
            resumed_at[recorded + 1] += 1
    first = min((r.created_at for r in rows), default=0)
    last = max((r.updated_at for r in rows), default=0)
    seconds = (last - first) / 1000
    return Outcome(
        workflows=len(rows),
        workers=len({e for steps in runs.values() for execs in steps.values() for e in execs}),
        killed=killed,
        taken_over=sum(takers.values()),
        lost=max(requested, len(rows)) - complete,
        ran_twice=extra - allowed,
        per_second=len(rows) / seconds if seconds > 0 else 0.0,
        takers=takers,
        resumed_at=resumed_at,
    )
