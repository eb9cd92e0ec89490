"""Driver entry point: ``python -m drivers.drive --peer NAME --workload W1 --url ...``.

Runs one workload against one peer and prints exactly one JSON line on stdout (the
last line); everything else goes to stderr. Exit status 0 only if the run is ok
(completed, verified exactly-once, no error).

Adapter interface (duck-typed; one module ``drivers.adapter_<peer>`` per peer, exposing
``ADAPTER``):

- ``name``; ``add_args(parser)``; ``configure(args) -> settings dict``;
  ``versions() -> dict``
- ``setup(url)``: install the library schema in the fresh database
- ``producer(url)``: (async) context manager with ``enqueue(seq, t_enq)`` (one job, own
  transaction) and ``enqueue_bulk([(seq, t_enq), ...]) -> info dict`` (fastest bulk path)
- ``worker_main(url, wctx)`` (sync or async): prepare, ``wctx.ready_wait_go()``, run the
  library's worker calling ``wctx.record(seq, t_enq)`` first in every body, return
  once ``wctx.stop`` is set
- ``db_counts(url) -> {"remaining", "completed", ["completed_distinct"], ...}`` and
  optionally a cheap ``remaining(url)``; ``run_async(coro)`` optionally picks the loop
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from typing import Any

from .workloads import WORKLOADS

DEFAULT_N = {"W1": 10_000, "W3": 5_000, "bulk": 10_000, "W2": 0}


def _parser(adapter: Any) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=f"{adapter.name} workload driver")
    ap.add_argument("--peer", required=True)
    ap.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    ap.add_argument("--workers", type=int, default=1, help="worker processes (W1, W2)")
    ap.add_argument("--n", type=int, default=None, help="jobs (W1, W3, bulk)")
    ap.add_argument("--url", required=True, help="URL of a database this run may wipe")
    ap.add_argument("--rate", type=float, default=100.0, help="W2: jobs/s")
    ap.add_argument("--duration", type=float, default=20.0, help="W2: seconds")
    ap.add_argument("--timeout", type=float, default=600.0, help="max s to wait for completion")
    ap.add_argument(
        "--grace",
        type=float,
        default=0.5,
        help="s to keep workers up after completion (duplicate detection)",
    )
    ap.add_argument("--pg-pid", type=int, default=None, help="postmaster PID (CPU accounting)")
    if hasattr(adapter, "add_args"):
        adapter.add_args(ap)
    return ap


def _load_adapter(argv: list[str]) -> Any:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--peer", required=True)
    peer = pre.parse_known_args(argv)[0].peer
    return importlib.import_module(f"drivers.adapter_{peer}").ADAPTER


def _normalize(a: argparse.Namespace) -> None:
    if a.n is None:
        a.n = DEFAULT_N[a.workload]
    if a.workload == "W2":
        a.workers = max(1, a.workers)
        a.n = int(a.rate * a.duration)
    if a.workload in ("W3", "bulk"):
        a.workers = 0


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse flags, run the workload, return the result record."""
    argv = sys.argv[1:] if argv is None else argv
    adapter = _load_adapter(argv)
    a = _parser(adapter).parse_args(argv)
    _normalize(a)
    settings = adapter.configure(a) or {}
    out: dict[str, Any] = {
        "peer": adapter.name,
        "variant": getattr(adapter, "variant", "default"),
        "workload": a.workload,
        "workers": a.workers,
        "n": a.n,
        "settings": settings,
        "versions": {"python": platform.python_version(), **(adapter.versions() or {})},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    t0 = time.time()
    try:
        metrics, verify, errors = WORKLOADS[a.workload](adapter, a)
        out.update(metrics=metrics, verify=verify, errors=[e[-2000:] for e in errors])
        out["ok"] = bool(verify.get("ok")) and not errors and not metrics.get("timed_out")
    except Exception:
        out.update(ok=False, errors=[traceback.format_exc()[-3000:]])
    out["wall_s"] = round(time.time() - t0, 2)
    return out


def main() -> int:
    out = run()
    sys.stderr.flush()
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
