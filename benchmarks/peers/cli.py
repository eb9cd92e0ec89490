"""Command line: build the venvs, start Postgres, run the plan, write the report.

python -m benchmarks.peers [--rounds 2] [--quick] [--peers ...] [--workloads ...]
                           [--workers 1,2] [--steps 1] [--herd [--herd-workers 2,16]]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import plan, report, venvs
from .pgserver import PgServer, find_bin
from .runner import DB_NAME, annotate, run_one

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_VENVS = Path("/tmp/dbosq-peers-venvs")


def build_parser() -> argparse.ArgumentParser:
    """Every option of the command (see README.md)."""
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.peers",
        description=(
            "dbos_queue side by side with pgqueuer, procrastinate and DBOS on one throwaway "
            "Postgres; prints the dbos_queue / pgqueuer ratio per workload."
        ),
    )
    ap.add_argument("--rounds", type=int, default=2, help="rounds (default 2; --quick: 1)")
    ap.add_argument("--quick", action="store_true", help="smoke test: small N, 1 round")
    ap.add_argument(
        "--peers",
        default=",".join(plan.ALL_PEERS),
        help=f"comma list from {','.join(plan.ALL_PEERS)} (default all)",
    )
    ap.add_argument(
        "--workloads",
        default=",".join(plan.DEFAULT_WORKLOADS),
        help=f"comma list from {','.join(plan.ALL_WORKLOADS)} (default W1,W2,W3)",
    )
    ap.add_argument("--workers", default="1,2", help="W1 worker process counts (default 1,2)")
    ap.add_argument("--steps", default="1", help="workflow steps for DBOS peers: 1, 0 or 1,0")
    ap.add_argument("--herd", action="store_true", help="also run the W2 herd curve")
    ap.add_argument("--herd-workers", default="2,16", help="herd worker counts (default 2,16)")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output dir (default benchmarks/out/peers/<timestamp>)",
    )
    ap.add_argument("--venvs", type=Path, default=DEFAULT_VENVS, help="venv cache dir")
    ap.add_argument("--rebuild-venvs", action="store_true", help="recreate every venv")
    ap.add_argument("--python", default=None, help="interpreter for the venvs (default: this)")
    ap.add_argument("--pg-bin", default=None, help="Postgres bin dir (default: PG 15, Debian)")
    ap.add_argument(
        "--run-timeout",
        type=float,
        default=None,
        help="seconds per run before it is killed (default 900; --quick 300)",
    )
    ap.add_argument("--no-chart", action="store_true", help="skip the PNG charts")
    return ap


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate; adds the parsed lists (peer_list, workload_list, ...)."""
    ap = build_parser()
    a = ap.parse_args(argv)
    try:
        a.peer_list = plan.parse_list(a.peers, plan.ALL_PEERS)
        a.workload_list = plan.parse_list(a.workloads, plan.ALL_WORKLOADS)
        a.worker_counts = plan.parse_ints(a.workers)
        a.step_list = plan.parse_ints(a.steps)
        a.herd_counts = plan.parse_ints(a.herd_workers) if a.herd else []
    except ValueError as exc:
        ap.error(str(exc))
    if not a.peer_list or (not a.workload_list and not a.herd_counts):
        ap.error("nothing to run")
    if any(s not in (0, 1) for s in a.step_list) or not a.step_list:
        ap.error("--steps takes 0 and/or 1")
    if a.quick:
        a.rounds = 1
    a.run_timeout = a.run_timeout or (300.0 if a.quick else 900.0)
    return a


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine() -> str:
    """Cores, memory, CPU model and platform, one line."""
    model = ""
    try:
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")
            ),
            "",
        )
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB, {platform.platform()}"


def checkout() -> str:
    """The checkout's commit (and whether the tree has uncommitted changes)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (
        " + uncommitted changes"
        if git("status", "--porcelain", "--", "dbos_queue", "migrations", "pyproject.toml")
        else ""
    )


def brief(rec: dict[str, Any]) -> str:
    """One-line outcome of a run for the progress log."""
    if not rec.get("ok"):
        return "FAILED: " + "; ".join(
            e.strip().splitlines()[-1][:160] for e in rec.get("errors") or ["verification failed"]
        )
    m = rec.get("metrics", {})
    if rec.get("workload") == "W2":
        lat = m.get("latency", {})
        return (
            f"ok p50 {lat.get('p50_ms')} ms p99 {lat.get('p99_ms')} ms, "
            f"cpu/job {m.get('cpu_ms_per_job')}"
        )
    rate = m.get("jobs_per_s") or m.get("bulk_jobs_per_s")
    return f"ok {rate} jobs/s" + (
        f" (bulk {m['bulk_jobs_per_s']}/s)" if rec.get("workload") == "W1" else ""
    )


def execute(
    runs: list[plan.Run], server: PgServer, envs: dict[str, Path], out: Path, timeout_s: float
) -> list[dict[str, Any]]:
    """Run everything in order, appending each result to runs.jsonl as it lands."""
    logdir = out / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    with (out / "runs.jsonl").open("a") as fh:
        for i, run in enumerate(runs, 1):
            log(f"[{i}/{len(runs)}] round {run.round} {run.slot.label}: {run.peer} ...")
            rec = annotate(run_one(run, server, envs[run.peer], logdir, timeout_s), run)
            fh.write(json.dumps(rec, default=str) + "\n")
            fh.flush()
            results.append(rec)
            log(f"    {run.peer}: {brief(rec)} [{rec.get('driver_wall_s', '?')} s]")
    server.drop_database(DB_NAME)
    return results


def render_charts(out: Path, a: argparse.Namespace, pip_log: Path) -> list[str]:
    """Run chart.py with an interpreter that has matplotlib (this one or a cached venv)."""
    py = sys.executable
    if importlib.util.find_spec("matplotlib") is None:
        log("matplotlib not importable here; using a cached venv (or pip install '.[bench]')")
        py = str(
            venvs.python_of(
                venvs.ensure_venv(
                    a.venvs, "chart", REPO, a.python or sys.executable, False, pip_log
                )
            )
        )
    proc = subprocess.run(
        [py, str(HERE / "chart.py"), str(out / "summary.json"), str(out)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        log(f"chart failed: {proc.stderr.strip()[-600:]}")
        return []
    return proc.stdout.split()


def write_report(
    results: list[dict[str, Any]], a: argparse.Namespace, out: Path, meta: dict[str, Any]
) -> str:
    """summary.json + summary.md; returns the ratio table (markdown)."""
    groups = report.aggregate(results)
    rows = report.headline_rows(groups, results, a.peer_list)
    (out / "summary.json").write_text(report.to_json(groups, rows, meta))
    (out / "summary.md").write_text(report.markdown(groups, rows, meta, a.peer_list))
    return report.ratio_table(rows, a.peer_list)


def loud_failures(results: list[dict[str, Any]]) -> int:
    """Print a banner for every failed run; returns how many failed."""
    bad = [r for r in results if not r.get("ok")]
    if bad:
        bar = "!" * 78
        print(
            f"\n{bar}\nFAILED: {len(bad)} of {len(results)} run(s) did not complete or failed "
            "the exactly-once check:",
            flush=True,
        )
        for r in bad:
            v = r.get("verify") or {}
            print(
                f"  - round {r.get('round')} {r.get('slot_label')} {r.get('peer')}: "
                f"missing={v.get('missing')} duplicates={v.get('duplicates')} "
                f"db={json.dumps(v.get('db'), default=str)[:200]} "
                f"errors={[e.strip().splitlines()[-1][:200] for e in r.get('errors', [])]}"
                f"\n    log: {r.get('log')}"
            )
        print(bar, flush=True)
    return len(bad)


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    sizes = plan.Sizes.quick() if a.quick else plan.Sizes()
    slots = plan.build_slots(a.workload_list, a.worker_counts, a.step_list, a.herd_counts)
    runs = plan.build_runs(slots, a.peer_list, a.rounds, sizes)
    ts = time.strftime("%Y%m%d-%H%M%S")
    out = a.out or REPO / "benchmarks" / "out" / "peers" / (("quick-" if a.quick else "") + ts)
    out.mkdir(parents=True, exist_ok=True)
    log(
        f"{len(runs)} runs ({len(slots)} slots x {len(a.peer_list)} peers x {a.rounds} "
        f"round(s)) -> {out}"
    )
    try:
        envs = venvs.ensure_all(
            a.venvs, a.peer_list, REPO, a.python, a.rebuild_venvs, out / "pip.log"
        )
    except venvs.VenvError as exc:
        print(f"venv setup failed: {exc}", file=sys.stderr)
        return 2
    server = PgServer(find_bin(a.pg_bin, envs.values())).start()
    log(f"postgres on {server.url} ({server.settings()})")
    try:
        meta = {
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "quick": a.quick,
            "command": "python -m benchmarks.peers "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "checkout": checkout(),
            "machine": machine(),
            "postgres": server.settings(),
            "rounds": a.rounds,
            "peers": a.peer_list,
            "sizes": sizes.__dict__,
            "versions": {p: venvs.versions(envs[p], p) for p in a.peer_list},
        }
        results = execute(runs, server, envs, out, a.run_timeout)
    finally:
        server.stop()
    table = write_report(results, a, out, meta)
    charts = [] if a.no_chart else render_charts(out, a, out / "pip.log")
    print(f"\n## {plan.SUBJECT} / {plan.BASELINE}\n\n{table}\n")
    print(
        f"results: {out / 'runs.jsonl'}\nsummary: {out / 'summary.md'}"
        + "".join(f"\nchart:   {c}" for c in charts)
    )
    return 1 if loud_failures(results) else 0
