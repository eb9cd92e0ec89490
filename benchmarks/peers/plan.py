"""What to run: the peers, their pinned versions, the workloads and the run order.

A *slot* is one workload configuration (e.g. W1 with 2 workers, 1-step workflow).
Every selected peer runs once per slot per round; within a slot the peer order
rotates by one each round (A B C, B C A, C A B, ...) so machine noise is spread evenly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# Pins: dbos is the release whose API dbos_queue matches; pgqueuer and procrastinate
# are the releases the team's yardstick was measured with, so reruns compare like with like.
PEER_SPECS: dict[str, list[str]] = {
    "dbos": ["dbos==3.4.0", "psycopg[binary]"],
    "pgqueuer": ["pgqueuer==1.6.0", "asyncpg", "psycopg[binary]"],
    "procrastinate": ["procrastinate==3.10.0", "psycopg[binary,pool]"],
    "dbos_queue": ["psycopg[binary]"],  # plus the checkout itself (see venvs.py)
}
ALL_PEERS: list[str] = ["dbos_queue", "pgqueuer", "dbos", "procrastinate"]
BASELINE = "pgqueuer"
SUBJECT = "dbos_queue"
WORKFLOW_PEERS = ("dbos", "dbos_queue")  # peers whose job is a workflow with --steps steps
ALL_WORKLOADS: list[str] = ["W1", "W2", "W3", "bulk"]
DEFAULT_WORKLOADS: list[str] = ["W1", "W2", "W3"]

# Per-peer driver flags, per workload (the reference yardstick's settings: DBOS gets a
# 0.1 s poll and, for the drain, worker_concurrency=100; everyone else library defaults).
PEER_FLAGS: dict[str, dict[str, list[str]]] = {
    "dbos": {"W1": ["--poll", "0.1", "--worker-concurrency", "100"], "W2": ["--poll", "0.1"]},
}


@dataclass(frozen=True)
class Sizes:
    """Job counts and durations; ``quick()`` gives the smoke-test sizes."""

    drain_n: int = 10_000
    single_n: int = 5_000
    bulk_n: int = 10_000
    rate: float = 100.0
    duration_s: float = 20.0

    @staticmethod
    def quick() -> Sizes:
        return Sizes(drain_n=1_000, single_n=500, bulk_n=1_000, rate=100.0, duration_s=3.0)


@dataclass(frozen=True)
class Slot:
    """One workload configuration shared by all peers (the unit of comparison)."""

    workload: str
    workers: int = 0
    steps: int | None = None  # workflow steps for DBOS-style peers (W1/W2 only)
    herd: bool = False

    @property
    def key(self) -> str:
        parts = [self.workload]
        if self.workers:
            parts.append(f"w{self.workers}")
        if self.steps is not None:
            parts.append(f"{self.steps}step")
        return ("herd-" if self.herd else "") + "-".join(parts)

    @property
    def label(self) -> str:
        names = {
            "W1": "W1 drain",
            "W2": "W2 latency",
            "W3": "W3 single enqueue",
            "bulk": "bulk enqueue",
        }
        text = names[self.workload]
        if self.workers:
            text += f", {self.workers} worker" + ("s" if self.workers > 1 else "")
        if self.steps is not None:
            text += f", {self.steps}-step wf"
        return ("herd: " if self.herd else "") + text


@dataclass(frozen=True)
class Run:
    """One driver invocation: a peer in a slot, in a round."""

    round: int
    slot: Slot
    peer: str
    args: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"r{self.round}-{self.slot.key}-{self.peer}"


def build_slots(
    workloads: Sequence[str],
    workers: Sequence[int],
    steps: Sequence[int],
    herd_workers: Sequence[int],
) -> list[Slot]:
    """The slots in execution order: workloads as given, then the herd (if any)."""
    slots: list[Slot] = []
    for wl in workloads:
        if wl == "W1":
            slots += [Slot("W1", w, s) for w in workers for s in steps]
        elif wl == "W2":
            slots += [Slot("W2", 1, s) for s in steps]
        else:
            slots.append(Slot(wl))
    slots += [Slot("W2", w, steps[0], herd=True) for w in herd_workers]
    return slots


def driver_args(slot: Slot, peer: str, sizes: Sizes) -> list[str]:
    """Driver command-line flags for ``peer`` in ``slot`` (without --url)."""
    args = ["--workload", slot.workload]
    if slot.workload == "W1":
        args += ["--workers", str(slot.workers), "--n", str(sizes.drain_n)]
    elif slot.workload == "W2":
        args += [
            "--workers",
            str(slot.workers),
            "--rate",
            f"{sizes.rate:g}",
            "--duration",
            f"{sizes.duration_s:g}",
        ]
    elif slot.workload == "W3":
        args += ["--n", str(sizes.single_n)]
    else:
        args += ["--n", str(sizes.bulk_n)]
    if peer in WORKFLOW_PEERS:
        args += ["--steps", str(slot.steps if slot.steps is not None else 1)]
    return args + PEER_FLAGS.get(peer, {}).get(slot.workload, [])


def build_runs(slots: Sequence[Slot], peers: Sequence[str], rounds: int, sizes: Sizes) -> list[Run]:
    """Every run, interleaved by slot and rotated by round."""
    runs: list[Run] = []
    for rnd in range(1, rounds + 1):
        for slot in slots:
            shift = (rnd - 1) % len(peers)
            for peer in list(peers[shift:]) + list(peers[:shift]):
                runs.append(Run(rnd, slot, peer, driver_args(slot, peer, sizes)))
    return runs


def parse_list(text: str, allowed: Sequence[str] | None = None) -> list[str]:
    """Split a comma/space separated option; reject names not in ``allowed``."""
    items = [t for t in text.replace(",", " ").split() if t]
    if allowed is not None:
        bad = [t for t in items if t not in allowed]
        if bad:
            raise ValueError(f"unknown {bad}; choose from {', '.join(allowed)}")
    return items


def parse_ints(text: str) -> list[int]:
    """``"1,2"`` -> ``[1, 2]`` (positive integers only)."""
    values = [int(t) for t in parse_list(text)]
    if any(v < 0 for v in values):
        raise ValueError(f"negative value in {text!r}")
    return values
