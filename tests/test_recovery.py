"""Crash recovery with real processes killed by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.plugins.checks import must
from tests.plugins.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _spawn(db_url: str, *args: str, hang: bool) -> subprocess.Popen:
    env = dict(os.environ, CRASH_DB_URL=db_url, CRASH_HANG="1" if hang else "0")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.apps.crash_app", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _await_notify(listener: psycopg.Connection, payload: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    for n in listener.notifies(timeout=timeout):
        if n.payload == payload:
            return
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"never saw {payload}")


@pytest.fixture
def step_table(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE step_runs (workflow_id text, step int, at timestamptz DEFAULT now())"
        )
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN crash_test")
        yield listener


def _runs(db_url, wf_id):
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT step, count(*) FROM step_runs WHERE workflow_id=%s GROUP BY step ORDER BY step",
            (wf_id,),
        ).fetchall()
    return dict(rows)


def test_sigkill_mid_workflow_resumes_from_last_recorded_step(db_url, step_table):
    p = _spawn(db_url, "start", "crash-1", hang=True)
    try:
        _await_notify(step_table, "crash-1:2")
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=10)
    assert _runs(db_url, "crash-1") == {1: 1, 2: 1}
    r = _spawn(db_url, "resume", "crash-1", hang=False)
    out, err = r.communicate(timeout=60)
    assert r.returncode == 0, err
    assert out.strip() == "[10, 20, 30, 7]"
    # Step 1 completed before the crash: never re-run. Step 2 was interrupted: at most twice.
    assert _runs(db_url, "crash-1") == {1: 1, 2: 2, 3: 1}


def test_durable_sleep_keeps_its_deadline_across_a_crash(db_url, step_table):
    p = _spawn(db_url, "sleep", "sleepy", "3", hang=False)
    try:
        _await_notify(step_table, "sleepy:0")

        # wait until the sleep is recorded, then kill
        def sleep_recorded() -> bool:
            with psycopg.connect(db_url) as conn:
                return (
                    conn.execute(
                        "SELECT 1 FROM dbos.operation_outputs WHERE workflow_uuid='sleepy'"
                    ).fetchone()
                    is not None
                )

        wait_until(sleep_recorded, 20, "the durable sleep to be recorded", every=0.05)
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=10)
    with psycopg.connect(db_url) as conn:
        started = must(
            conn.execute(
                "SELECT completed_at_epoch_ms FROM dbos.operation_outputs"
                " WHERE workflow_uuid='sleepy'"
            ).fetchone()
        )[0]
    r = _spawn(db_url, "resume", "sleepy", hang=False)
    out, err = r.communicate(timeout=60)
    assert r.returncode == 0, err
    assert out.strip() == "'awake'"
    with psycopg.connect(db_url) as conn:
        done = must(
            conn.execute(
                "SELECT updated_at FROM dbos.workflow_status WHERE workflow_uuid='sleepy'"
            ).fetchone()
        )[0]
    # Woke at the original deadline (3 s after the sleep began), not 3 s after the restart.
    assert 2900 <= done - started < 3000 + 4000
    # The workflow body before the sleep is not a step: it runs again on recovery.
    assert _runs(db_url, "sleepy") == {0: 2}
