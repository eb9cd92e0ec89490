"""Shared by the drain, rolling-restart and fault tests: processes and bookkeeping.

Processes run ``tests/apps/reliability_app.py`` (as ``dbos-queue worker`` or in its
``start`` mode); their stderr goes to a file (a full pipe would block a chatty
process). Every step body run leaves one row in ``effects``: (workflow, step, pid,
started, ended), which the checks below count.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections import Counter
from pathlib import Path

import psycopg

from tests.plugins.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
APP = "tests.apps.reliability_app"


class Proc:
    """One real process of the reliability app."""

    def __init__(self, cmd: list[str], url: str, env: dict[str, str], log: Path) -> None:
        self.err_file = log.open("w")  # kept in the test's tmp_path for a post-mortem
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=dict(os.environ, RELIABILITY_URL=url, **env),
            stdout=subprocess.PIPE,
            stderr=self.err_file,
            text=True,
        )
        self.pid = self.proc.pid
        self.out = ""

    def ready(self) -> Proc:
        """Block until the process printed its ready line."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "ready" not in line:
            raise AssertionError(f"process did not start: {line}{self.stderr()[-4000:]}")
        return self

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stderr(self) -> str:
        return Path(self.err_file.name).read_text()

    def wait(self, timeout: float = 60) -> int:
        """Wait for it to exit by itself; its stdout lands in ``out``."""
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.communicate(timeout=10)
            raise AssertionError(f"process did not exit\n{self.stderr()[-4000:]}") from exc
        self.out += out or ""
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=30)
        self.err_file.close()


def effects(url: str, wf_id: str) -> list[tuple[int, int, float, float | None]]:
    """(step, pid, started, ended) of every step body run of ``wf_id``, in start order."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT step, pid, started, ended FROM effects WHERE workflow_id = %s ORDER BY id",
            (wf_id,),
        ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def status(url: str, wf_id: str) -> tuple | None:
    """(status, owner_xid, recovery_attempts, executor_id) of a workflow."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT status, owner_xid, recovery_attempts, executor_id"
            " FROM dbos.workflow_status WHERE workflow_uuid = %s",
            (wf_id,),
        ).fetchone()


def process_id_of(url: str, pid: int) -> str:
    """The lease row (process id) of the live process with this OS pid."""

    def find() -> str | None:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT process_id FROM dbos.executors WHERE pid = %s AND"
                " lease_expires_at_epoch_ms > 0 ORDER BY started_at_epoch_ms DESC LIMIT 1",
                (pid,),
            ).fetchone()
        return row[0] if row else None

    return wait_until(find, 30, f"the lease row of pid {pid}")


def wait_steps(url: str, wf_id: str, count: int, timeout: float = 60) -> list:
    """Wait until ``count`` step bodies of ``wf_id`` have started; returns the rows."""
    return wait_until(
        lambda: rows if len(rows := effects(url, wf_id)) >= count and rows else None,
        timeout,
        f"{count} step bodies of {wf_id}",
    )


def wait_status(url: str, wf_id: str, want: str, timeout: float = 60) -> tuple:
    return wait_until(
        lambda: row if (row := status(url, wf_id)) is not None and row[0] == want else None,
        timeout,
        f"{wf_id} to be {want}",
    )


def check_bookkeeping(
    rows: list[tuple[int, int, float, float | None]],
    steps: int,
    max_twice: int = 1,
    strict_handoff: bool = True,
) -> Counter:
    """Every step ran; at most ``max_twice`` steps ran twice, none more often; the
    processes ran this workflow one after the other: with ``strict_handoff`` every
    body of one process ended before the next process started its first, otherwise
    (a process was paused mid-step) every body of one process *started* before the
    next one's first. Returns the run count per step."""
    runs = Counter(step for step, *_ in rows)
    assert sorted(runs) == list(range(1, steps + 1)), f"a step never ran: {rows}"
    twice = [s for s, n in runs.items() if n > 1]
    assert all(runs[s] == 2 for s in twice), f"a step ran three times or more: {runs}"
    assert len(twice) <= max_twice, f"steps {twice} ran twice: {rows}"
    pids = list(dict.fromkeys(pid for _s, pid, _st, _en in rows))
    for earlier, later in itertools.pairwise(pids):
        ends = [(en or st) if strict_handoff else st for _s, p, st, en in rows if p == earlier]
        first_start = min(st for _s, p, st, _en in rows if p == later)
        assert max(ends) <= first_start, (
            f"pid {earlier} still ran a step body after pid {later} began: {rows}"
        )
    return runs
