"""An app run as a real subprocess by the crash tests.

``python -m tests.apps.crash_app start WFID`` starts a 3-step workflow and hangs in
step 2 (after announcing it with NOTIFY crash_test) until it is killed;
``... resume WFID`` launches again (recovery resumes the workflow) and prints the
result. Every step execution is counted in the table ``step_runs``.
"""

from __future__ import annotations

import os
import sys
import threading

import psycopg

from dbos_queue import DBOS, SetWorkflowID

URL = os.environ["CRASH_DB_URL"]
HANG = os.environ.get("CRASH_HANG") == "1"


def record(wf_id: str | None, step: int) -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("INSERT INTO step_runs (workflow_id, step) VALUES (%s, %s)", (wf_id, step))
        conn.execute("SELECT pg_notify('crash_test', %s)", (f"{wf_id}:{step}",))


@DBOS.step()
def step(n: int) -> int:
    record(DBOS.workflow_id, n)
    if n == 2 and HANG:
        threading.Event().wait()  # until SIGKILL
    return n * 10


@DBOS.workflow()
def three_steps(x: int) -> list:
    return [step(1), step(2), step(3), x]


@DBOS.workflow()
def sleeper(seconds: float) -> str:
    record(DBOS.workflow_id, 0)
    DBOS.sleep(seconds)
    return "awake"


def main() -> None:
    mode, wf_id = sys.argv[1], sys.argv[2]
    DBOS(config={"name": "crash", "system_database_url": URL, "executor_lease_sec": 2.0})
    DBOS.launch()
    if mode == "start":
        with SetWorkflowID(wf_id):
            DBOS.start_workflow(three_steps, 7)
        threading.Event().wait()
    elif mode == "sleep":
        with SetWorkflowID(wf_id):
            DBOS.start_workflow(sleeper, float(sys.argv[3]))
        threading.Event().wait()
    else:
        print(repr(DBOS.retrieve_workflow(wf_id).get_result()), flush=True)
        DBOS.destroy()


if __name__ == "__main__":
    main()
