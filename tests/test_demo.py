"""``dbos-queue demo``, run for real: 3 workers, a producer, a SIGKILL, a takeover.

The demo runs as a subprocess against the session's Postgres; its last line is
checked, then checked again against the rows it leaves behind (``--keep``). The
other test interrupts it with SIGINT part-way and looks for leftover processes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import LiteralString

import psycopg
import pytest

from tests.plugins.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

LINE = re.compile(
    r"demo: (?P<n>\d+) workflows, (?P<workers>\d+) workers, (?P<killed>\d+) killed, "
    r"(?P<taken>\d+) taken over, (?P<lost>\d+) lost, (?P<twice>\d+) ran twice, "
    r"(?P<rate>\d+) workflows/s"
)
READY = re.compile(r"workers ready on queue (dbos-queue-demo-(\w+)) \(pids (.*)\)")
PRODUCER = re.compile(r"producer started \(pid (\d+)\)")


@pytest.fixture
def start_demo(db_url):
    """Start ``dbos-queue demo``; a demo still running when the test ends is killed."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dbos_queue.cli", "--db-url", db_url, "demo", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # the demo stops its own children
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        else:
            proc.communicate()


def child_pids(out: str) -> tuple[str, str, list[int]]:
    """(queue, run token, pids of the workers and the producer) from the demo's output."""
    ready = READY.search(out)
    producer = PRODUCER.search(out)
    assert ready and producer, out
    pids = [int(p.split()[1]) for p in ready.group(3).split(", ")]
    return ready.group(1), ready.group(2), [*pids, int(producer.group(1))]


def running_with(token: str) -> list[str]:
    """Command lines of live processes that mention the demo run's token."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline}")
    return found


def count(conn: psycopg.Connection, query: LiteralString, *params: object) -> int:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_demo_runs_the_queue_and_survives_a_killed_worker(db_url, start_demo):
    started = time.monotonic()
    proc = start_demo("--keep")
    out, err = proc.communicate(timeout=280)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, out + err
    last = out.strip().splitlines()[-1]
    m = LINE.fullmatch(last)
    assert m, f"last line: {last!r}\n{out}"
    counts = {k: int(v) for k, v in m.groupdict().items()}
    assert counts["n"] == 3000 and counts["workers"] == 3 and counts["killed"] == 1
    assert counts["taken"] >= 1 and counts["lost"] == 0 and counts["twice"] == 0
    assert counts["rate"] > 0
    assert "SIGKILL" in out and "lease of w" in out and "taken over and finished by" in out

    queue, token, pids = child_pids(out)
    assert all(gone(p) for p in pids) and running_with(token) == []

    # The line again, from the rows the demo kept.
    with psycopg.connect(db_url) as conn:
        statuses = dict(
            conn.execute(
                "SELECT status, count(*) FROM dbos.workflow_status WHERE queue_name = %s "
                "GROUP BY status",
                (queue,),
            ).fetchall()
        )
        assert statuses == {"SUCCESS": 3000}
        runs = conn.execute(
            "SELECT workflow_id, step, count(*), count(DISTINCT executor) "
            "FROM dbos_queue_demo_effects WHERE run = %s GROUP BY workflow_id, step",
            (token,),
        ).fetchall()
        assert len(runs) == 3000 * 3  # every step of every workflow ran
        reruns = [r for r in runs if r[2] > 1]
        # Only steps the kill interrupted ran again, once, by another worker.
        assert len(reruns) <= counts["taken"] and all(r[2:] == (2, 2) for r in reruns)
        finishers = count(
            conn,
            "SELECT count(DISTINCT executor_id) FROM dbos.workflow_status WHERE queue_name = %s",
            queue,
        )
        assert finishers == 3
        # A taken-over workflow has step rows from two workers: resumed, not restarted.
        split = count(
            conn,
            "SELECT count(*) FROM (SELECT workflow_id FROM dbos_queue_demo_effects "
            "WHERE run = %s GROUP BY workflow_id HAVING count(DISTINCT executor) = 2) s",
            token,
        )
        assert 1 <= split <= counts["taken"]
    print(f"demo took {elapsed:.1f}s")


def test_help_describes_the_demo_it_runs():
    from dbos_queue.cli import demo, demo_app
    from dbos_queue.cli.main import DEMO_HELP, HELP

    assert f"global concurrency of {demo_app.CONCURRENCY} " in DEMO_HELP
    assert f"executor lease of {demo_app.LEASE_SECONDS:g} s" in DEMO_HELP
    assert f"workflows of {demo_app.STEPS}\nsteps" in DEMO_HELP
    assert f"When {demo.KILL_AT:.0%} are done" in DEMO_HELP
    assert f"start {demo.WORKERS}\n`dbos-queue worker`" in DEMO_HELP
    assert f"(global concurrency {demo_app.CONCURRENCY})" in HELP
    assert "ran twice" in DEMO_HELP and "taken over" in DEMO_HELP


def test_ctrl_c_stops_every_demo_process(db_url, start_demo):
    proc = start_demo()
    assert proc.stdout is not None
    out = ""
    while PRODUCER.search(out) is None:  # the workers are up and the producer started
        line = proc.stdout.readline()
        assert line, out + proc.communicate(timeout=60)[1]
        out += line
    queue, token, pids = child_pids(out)
    with psycopg.connect(db_url, autocommit=True) as conn:
        done = wait_until(  # mid-run: some workflows finished, most not
            lambda: count(
                conn,
                "SELECT count(*) FROM dbos.workflow_status "
                "WHERE queue_name = %s AND status = 'SUCCESS'",
                queue,
            ),
            60,
            "a demo workflow to finish",
            every=0.05,
        )
    assert done < 3000 and proc.poll() is None
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + rest + err
    assert "interrupted; stopped its 4 processes" in rest
    assert all(gone(p) for p in pids), [p for p in pids if not gone(p)]
    assert running_with(token) == []
    with psycopg.connect(db_url) as conn:  # and it cleaned up after itself
        left = count(conn, "SELECT count(*) FROM dbos.workflow_status WHERE queue_name = %s", queue)
        assert left == 0
