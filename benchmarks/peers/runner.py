"""Run one driver process: fresh database, peer venv's python, one JSON line back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from .pgserver import PgServer
from .plan import Run
from .venvs import python_of

HERE = Path(__file__).resolve().parent
DB_NAME = "peerbench"


def _failure(run: Run, why: str, log: Path) -> dict[str, Any]:
    return {
        "peer": run.peer,
        "workload": run.slot.workload,
        "ok": False,
        "errors": [why],
        "log": str(log),
    }


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the driver's process group (the driver and its worker processes)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _parse(stdout: str) -> Any:
    lines = [ln for ln in stdout.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        return None


def run_one(
    run: Run, server: PgServer, venv: Path, logdir: Path, timeout_s: float
) -> dict[str, Any]:
    """Execute ``run`` and return its result record (always a dict with ``ok``)."""
    url = server.fresh_database(DB_NAME)
    log = logdir / f"{run.name}.log"
    cmd = [
        str(python_of(venv)),
        "-m",
        "drivers.drive",
        "--peer",
        run.peer,
        *run.args,
        "--url",
        url,
        "--pg-pid",
        str(server.postmaster_pid()),
        "--timeout",
        str(max(60.0, timeout_s - 60)),
    ]
    # only the drivers folder on the path: the dbos_queue under test is the installed one
    env = {**os.environ, "PYTHONPATH": str(HERE), "PYTHONUNBUFFERED": "1"}
    t0 = time.time()
    with log.open("w") as err:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
            cwd=str(HERE),
            start_new_session=True,
        )
        try:
            stdout, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return _failure(run, f"driver exceeded {timeout_s:.0f}s, killed", log)
        finally:
            _kill_group(proc)  # stray worker processes, if the driver left any
    rec = _parse(stdout)
    if not isinstance(rec, dict):
        tail = log.read_text()[-600:] if log.exists() else ""
        return _failure(
            run, f"no JSON from driver (exit {proc.returncode}); log tail:\n{tail}", log
        )
    rec.update(log=str(log), driver_wall_s=round(time.time() - t0, 2))
    return rec


def annotate(rec: dict[str, Any], run: Run) -> dict[str, Any]:
    """Add the orchestrator's view of the run (slot, round, args) to a result."""
    rec.update(
        round=run.round,
        slot=run.slot.key,
        slot_label=run.slot.label,
        herd=run.slot.herd,
        steps=run.slot.steps,
        run_workers=run.slot.workers,
        args=" ".join(run.args),
    )
    rec.setdefault("peer", run.peer)
    return rec
