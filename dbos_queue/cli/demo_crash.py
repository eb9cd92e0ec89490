"""``dbos-queue demo --crash``: a workflow survives a SIGKILL and finishes from its last step.

The parent process starts a worker process running a four-step order workflow,
kills it with SIGKILL in the middle of step 3, starts it again, and shows that
steps 1 and 2 were not executed again: their recorded results were reused.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

from dbos_queue.api.dbos import DBOS
from dbos_queue.engine.context import SetWorkflowID

STEPS = ["reserve stock", "charge card", "pack parcel", "send confirmation"]
STEP_SECONDS = 0.4


@DBOS.step()
def demo_step(n: int, order: str) -> str:
    """One slow step of the demo order; reports when it starts so the demo can kill it."""
    print(f"    executing step {n}: {STEPS[n - 1]} for {order}", flush=True)
    print(f"EVENT started {n}", flush=True)
    time.sleep(STEP_SECONDS)
    return f"{STEPS[n - 1]}: ok"


@DBOS.workflow()
def order_workflow(order: str) -> list[str]:
    """The demo workflow: the four steps of an order, each checkpointed."""
    results: list[str] = []
    for n in range(1, len(STEPS) + 1):
        results.append(demo_step(n, order))
        print(f"EVENT recorded {n}", flush=True)
    return results


def _worker(wf_id: str, url: str, resume: bool) -> None:
    DBOS(config={"name": "dbos-queue-demo", "system_database_url": url})
    DBOS.launch()  # on resume, launch recovers this executor's unfinished workflows
    if not resume:
        with SetWorkflowID(wf_id):
            DBOS.start_workflow(order_workflow, "order #42")
    result = DBOS.retrieve_workflow(wf_id).get_result()
    print(f"EVENT done {result!r}", flush=True)
    DBOS.destroy()


def _spawn(wf_id: str, url: str, resume: bool) -> subprocess.Popen[str]:
    args = [sys.executable, "-u", "-m", "dbos_queue.cli.demo_crash", "--worker", wf_id, url]
    if resume:
        args.append("--resume")
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def _follow(proc: subprocess.Popen[str], executed: Counter[int], stop_at: str | None) -> str | None:
    """Echo the worker's output; return the line that matched ``stop_at`` (or the result)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        if line.startswith("EVENT started "):
            executed[int(line.split()[-1])] += 1
        elif line.startswith("EVENT done "):
            return line[len("EVENT done ") :]
        elif not line.startswith("EVENT"):
            print(line)
        if stop_at is not None and line == stop_at:
            return line
    return None


def run_demo(url: str) -> int:
    """Run a worker, kill it mid-step, restart it, and show that finished steps did not re-run."""
    from dbos_queue.model.pgurl import redact

    wf_id = f"demo-{uuid.uuid4().hex[:8]}"
    executed: Counter[int] = Counter()
    print(f"System database: {redact(url)}")
    print(f"1. Starting a worker process that runs workflow {wf_id} ({len(STEPS)} steps).")
    worker = _spawn(wf_id, url, resume=False)
    if _follow(worker, executed, stop_at="EVENT started 3") is None:
        print("The worker exited before reaching step 3; see its output above.")
        return 1
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    print(f"2. Killed the worker (pid {worker.pid}) with SIGKILL in the middle of step 3.")
    print("   Steps 1 and 2 had finished; their results are checkpointed in Postgres.")
    print("3. Starting the worker again; on launch it recovers its unfinished workflow.")
    worker = _spawn(wf_id, url, resume=True)
    result = _follow(worker, executed, stop_at=None)
    worker.wait(timeout=60)
    if result is None or worker.returncode != 0:
        print("The restarted worker did not finish the workflow.")
        return 1
    print(f"4. Workflow {wf_id} finished: {result}")
    for n, name in enumerate(STEPS, start=1):
        times = executed[n]
        note = " (interrupted by the crash, then run again)" if n == 3 else ""
        print(f"   step {n} ({name}) executed {times} time{'s' if times != 1 else ''}{note}")
    ok = executed[1] == 1 and executed[2] == 1 and executed[4] == 1 and executed[3] == 2
    print(
        "Completed steps were not re-run: the workflow resumed from its last recorded step."
        if ok
        else "Unexpected step counts!"
    )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point: the demo itself, or (``--worker``) the worker process it spawns."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--worker":
        _worker(argv[1], argv[2], resume="--resume" in argv)
        return 0
    return run_demo(argv[0])


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
