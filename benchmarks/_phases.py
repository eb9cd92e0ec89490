"""Where a worker's CPU goes, by phase of a workflow's life, from py-spy samples.

``py-spy record --format raw`` (without ``--gil``: every thread that is running, idle
threads left out) writes one ``frame;frame;...;leaf COUNT`` line per distinct stack.
Each stack is put in one phase: the marker frame nearest the leaf decides (a psycopg
call made inside ``_flush_records`` is checkpoint time, one made inside
``QueueService.claim`` is claim time). Multiplied by the worker's measured CPU per
workflow this gives µs per workflow by phase; the split is a sample (±1/sqrt(samples)),
the total is measured.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# (phase, substrings of a frame "function (file:line)"), checked leaf-first per stack.
MARKERS: list[tuple[str, tuple[str, ...]]] = [
    ("decode", ("start_for_row", "deserialize_args", "fresh_context_from_row", "_row_start")),
    ("claim", ("QueueService.claim ", "QueueService._claim_forever", "_claim_once")),
    ("checkpoint", ("_flush_records", "record_operation_blocking", "step_params")),
    ("completion", ("_flush_completions", "complete_blocking", "outcome_of", "_finish_sync")),
    ("notify", ("_flush_outbox", "_listen_forever", "Engine.publish", "Notifier.")),
    ("hand-off", ("Batcher._pull", "Batcher._deliver", "Batcher._kick", "submit_blocking")),
    ("batch write", ("Batcher._drain", "Batcher._flush", "_GroupWriter")),
    (
        "dispatch",
        (
            "QueueService.dispatch",
            "QueueService._run",
            "QueueService._release",
            "Runtime.submit",
            "ThreadPoolExecutor.submit",
            "_dispatch",
            "_Dispatcher",
        ),
    ),
    ("events/metrics", ("EventBus.emit", "prometheus_client")),
    ("workflow body", ("execute_sync", "_guarded_sync", "run_step_sync")),
    ("worker thread", ("thread.py", "_worker")),
    ("heartbeat/background", ("_heartbeat_forever", "_reap_forever", "_refresh_forever")),
    ("event loop", ("_run_loop",)),
]

_STRIP = re.compile(r":\d+\)$")


def phase_of(frames: list[str]) -> str:
    """The phase of one stack (root first, leaf last)."""
    for frame in reversed(frames):
        for phase, needles in MARKERS:
            if any(n in frame for n in needles):
                return phase
    return "other"


def phases(path: str | Path) -> dict[str, int]:
    """Samples per phase in a raw py-spy file."""
    out: collections.Counter[str] = collections.Counter()
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_STRIP.sub(")", f.strip()) for f in stack.split(";") if f.strip()]
        out[phase_of(frames)] += int(count)
    return dict(out.most_common())


def breakdown(paths: Sequence[str | Path], cpu_us_per_wf: float | None) -> dict[str, Any]:
    """Phases over several workers' files: samples, share, and µs per workflow."""
    total: collections.Counter[str] = collections.Counter()
    for p in paths:
        if Path(p).exists():
            total.update(phases(p))
    n = sum(total.values())
    rows = {}
    for phase, c in total.most_common():
        share = c / n if n else 0.0
        rows[phase] = {
            "samples": c,
            "pct": round(100 * share, 1),
            "us_per_wf": round(share * cpu_us_per_wf, 1) if cpu_us_per_wf else None,
        }
    return {"samples": n, "phases": rows}
