"""Workflows started directly (no queue) in one process: throughput, latency, round trips.

    .venv/bin/python -m benchmarks.direct_workflows [--n 5000] [--steps 1] [--warmup 200]
                                                    [--threads 8] [--db-url URL]

Variants: a sync workflow of ``--steps`` steps called in a loop from one thread; the
same with 0 steps; the ``--steps`` workflow called from ``--threads`` threads at once.
Each variant runs in its own DBOS.launch()/destroy() so that the server's per-database
transaction count can be read once all its connections are closed.
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from dbos_queue import DBOS
from dbos_queue.api import dbos as _dbos

from . import _common as C
from ._counting import ServerStats, StatementCounter, cpu_time

NAME = "direct_workflows"


@DBOS.step(name="bench_step")
def bench_step(i: int) -> int:
    return i


@DBOS.workflow(name="bench_workflow")
def bench_workflow(steps: int) -> int:
    for i in range(steps):
        bench_step(i)
    return steps


def drive(
    steps: int, threads: int, n: int, progress: C.Progress | None = None
) -> tuple[float, list[float]]:
    """Call the workflow ``n`` times from ``threads`` threads; (wall seconds, latencies)."""
    shares = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    lat: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1) if threads > 1 else None

    def work(i: int) -> None:
        out, clock = lat[i], time.perf_counter
        if barrier is not None:
            barrier.wait()
        try:
            for _ in range(shares[i]):
                t0 = clock()
                if bench_workflow(steps) != steps:
                    raise RuntimeError("the workflow returned a wrong result")
                out.append(clock() - t0)
                if progress is not None:
                    progress.tick()
        except BaseException as exc:
            errors.append(exc)

    if barrier is None:
        t0 = time.perf_counter()
        work(0)
    else:
        ts = [threading.Thread(target=work, args=(i,), name=f"bench-{i}") for i in range(threads)]
        for t in ts:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in ts:
            t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return wall, [x for part in lat for x in part]


def launch(url: str) -> None:
    """Configure and launch DBOS on the benchmark database."""
    DBOS(config={"name": "bench", "system_database_url": url})
    DBOS.launch()


def engine_probes(iterations: int = 2000) -> dict[str, float]:
    """Median µs of a hop to the engine loop and back, and of ``SELECT 1`` through the engine."""
    rt = _dbos._rt()

    async def noop() -> None:
        return None

    out = {}
    for key, make in (
        ("engine_hop_us", noop),
        ("engine_select1_us", lambda: rt.sysdb.fetchone("SELECT 1")),
    ):
        samples = []
        for i in range(iterations + iterations // 5):  # the first fifth warms up
            t0 = time.perf_counter()
            rt.engine.run(make())
            if i >= iterations // 5:
                samples.append(time.perf_counter() - t0)
        out[key] = C.median_us(samples)
    return out


def cycle(
    db: C.BenchDatabase,
    stats: ServerStats,
    label: str,
    steps: int,
    threads: int,
    n: int,
    warmup: int,
) -> dict[str, Any]:
    """One launch .. destroy: warm up, measure ``n`` calls, then read the server's counters."""
    before = stats.snapshot()
    launch(db.url)
    counter = StatementCounter()
    try:
        if warmup:
            C.status(f"{label}: warming up ({warmup} workflows)")
            drive(steps, threads, warmup)
        progress = C.Progress(label, n) if n else None
        # The engine thread is running here, so it has a native id.
        engine = {"engine_thread": cast(int, _dbos._rt().engine._thread.native_id)}
        with cpu_time(db.server_pid, engine) as cpu, counter:
            wall, lat = drive(steps, threads, n, progress)
        if progress is not None:
            progress.close()
    finally:
        DBOS.destroy()
    if not stats.wait_idle():
        C.status("warning: connections to the benchmark database did not close in 30s")
    after = stats.snapshot()
    delta = {
        k: (a - b) if (a := after[k]) is not None and (b := before[k]) is not None else None
        for k in after
    }
    res: dict[str, Any] = {
        "variant": label,
        "steps": steps,
        "threads": threads,
        "n": n,
        "warmup": warmup,
        "server_delta": delta,
    }
    if n:
        client_cpu = cast(float, cpu["client_cpu_s"])  # set when the measured block ended
        res.update(
            {
                "wall_s": round(wall, 3),
                "wf_per_s": round(n / wall, 1),
                **C.latency_ms(lat),
                "client_statements_per_wf": round(counter.total / n, 3),
                "client_statements_by_kind": {
                    k: round(v / n, 3) for k, v in counter.counts.most_common()
                },
                "client_cpu_us_per_wf": round(client_cpu / n * 1e6, 1),
            }
        )
        for key in ("engine_thread", "server"):
            if (used := cpu.get(f"{key}_cpu_s")) is not None:
                res[f"{key}_cpu_us_per_wf"] = round(used / n * 1e6, 1)
        if (busy := cpu.get("machine_busy_s")) is not None and (
            server_cpu := cpu["server_cpu_s"]
        ) is not None:
            # Cores kept busy by anything else on the machine: a noisy run shows here.
            other = busy - client_cpu - server_cpu
            res["other_load_cores"] = round(max(other, 0.0) / wall, 2)
    return res


def per_wf(res: dict[str, Any], overhead: dict[str, int | None], key: str) -> float | None:
    """Server counter ``key`` per workflow: (cycle delta - empty-cycle delta) / (warmup + n)."""
    d, o = res["server_delta"].get(key), overhead.get(key)
    if d is None or o is None:
        return None
    return round((d - o) / (res["warmup"] + res["n"]), 3)


def main() -> None:
    p = C.parser(NAME, (__doc__ or "").split("\n")[0])
    p.add_argument("--n", type=int, default=5000, help="workflows measured per variant")
    p.add_argument(
        "--steps", type=int, default=1, help="steps per workflow (a 0-step variant is always added)"
    )
    p.add_argument("--warmup", type=int, default=200, help="workflows run before measuring")
    p.add_argument("--threads", type=int, default=8, help="threads of the concurrent variant")
    args = p.parse_args()
    variants = [(f"{args.steps}-step, 1 thread", args.steps, 1)]
    if args.steps != 0:
        variants.append(("0-step, 1 thread", 0, 1))
    if args.threads > 1:
        variants.append((f"{args.steps}-step, {args.threads} threads", args.steps, args.threads))

    settings = {"synchronous_commit": args.synchronous_commit} if args.synchronous_commit else None
    with C.bench_database(NAME, args.db_url, settings) as db:
        machine = C.machine_info(db.url)
        stats = ServerStats(db.admin_url, db.name)
        C.status(f"{machine['cpu_model']}, {machine['cpus_usable']} CPUs; {machine['postgres']}")
        try:
            probes = C.probe_round_trip(db.url)
            launch(db.url)  # migrates the fresh database
            probes.update(engine_probes())
            DBOS.destroy()
            stats.wait_idle()
            C.status(f"latency probes (median µs): {probes}")
            overhead = cycle(db, stats, "empty launch/destroy", 0, 1, 0, 0)["server_delta"]
            results = []
            for label, steps, threads in variants:
                res = cycle(db, stats, label, steps, threads, args.n, args.warmup)
                for key in ("xact_commit", "wal_fsyncs"):
                    res[f"server_{key}_per_wf"] = per_wf(res, overhead, key)
                results.append(res)
        finally:
            DBOS.destroy(destroy_registry=True)
    report(results, probes, overhead)
    params = {k: v for k, v in vars(args).items() if k != "json_out"}
    out = C.write_json(
        args.json_out,
        NAME,
        machine,
        params,
        results,
        {"probes_us": probes, "empty_cycle_server_delta": overhead},
    )
    print(f"code: {C.code_version()}")
    print(f"\nJSON written to {out}")


def report(
    results: list[dict[str, Any]], probes: dict[str, float], overhead: dict[str, int | None]
) -> None:
    """Print the figures table, the statements by kind and the probes."""
    print()
    C.print_table(
        results,
        [
            ("variant", "variant"),
            ("n", "n"),
            ("wf_per_s", "wf/s"),
            ("p50_ms", "p50 ms"),
            ("p99_ms", "p99 ms"),
            ("client_statements_per_wf", "stmts/wf"),
            ("server_xact_commit_per_wf", "commits/wf"),
            ("server_wal_fsyncs_per_wf", "fsyncs/wf"),
            ("client_cpu_us_per_wf", "py CPU µs/wf"),
            ("engine_thread_cpu_us_per_wf", "engine µs/wf"),
            ("server_cpu_us_per_wf", "pg CPU µs/wf"),
            ("other_load_cores", "other load"),
        ],
    )
    print("\nstatements per workflow, by kind:")
    for r in results:
        kinds = ", ".join(f"{k} {v}" for k, v in r["client_statements_by_kind"].items())
        print(f"  {r['variant']}: {kinds}")
    print(f"\nlatency probes, median µs: {probes}")
    print(f"empty launch/destroy, server delta: {overhead}")


if __name__ == "__main__":
    main()
