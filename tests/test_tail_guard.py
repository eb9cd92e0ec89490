"""The tail-step reading never defers a step called from application code inside the
package (the demo's app) or from a comprehension, and never leaves a record behind."""

from __future__ import annotations

import psycopg

from dbos_queue import DBOS
from dbos_queue.engine import tail


def _compile_app(source: str, module: str) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": module, "DBOS": DBOS}
    exec(compile(source, f"<{module}>", "exec"), namespace)
    return namespace


APP = """
@DBOS.step()
def tail_probe_step(k):
    return k

@DBOS.workflow()
def tail_probe_listcomp(n):
    return [tail_probe_step(k) for k in range(1, n + 1)]

@DBOS.workflow()
def tail_probe_last(n):
    tail_probe_step(0)
    return tail_probe_step(n)
"""


def _steps(url: str, wf_id: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT function_id FROM dbos.operation_outputs WHERE workflow_uuid = %s"
            " ORDER BY function_id",
            (wf_id,),
        ).fetchall()
    return [r[0] for r in rows]


def test_steps_in_a_comprehension_of_an_in_package_app_are_each_recorded(dbos, db_url):
    ns = _compile_app(APP, "dbos_queue.cli.tail_probe_app")
    listcomp = ns["tail_probe_listcomp"]
    last = ns["tail_probe_last"]
    h = DBOS.start_workflow(listcomp, 3)  # type: ignore[arg-type]
    assert h.get_result(timeout=30) == [1, 2, 3]
    assert _steps(db_url, h.workflow_id) == [1, 2, 3]
    h2 = DBOS.start_workflow(last, 5)  # type: ignore[arg-type]
    assert h2.get_result(timeout=30) == 5
    assert _steps(db_url, h2.workflow_id) == [1, 2]


def test_library_frames_are_only_wrapper_code():
    ns = _compile_app("import sys\ndef here():\n    return sys._getframe(0)\n", "dbos_queue.cli.x")
    frame = ns["here"]()  # type: ignore[operator]
    assert not tail._in_package(frame)  # an app inside the package is application code
    lib = _compile_app("import sys\ndef here():\n    return sys._getframe(0)\n", "dbos_queue.api.y")
    assert tail._in_package(lib["here"]())  # type: ignore[operator]
    comp = _compile_app(
        "import sys\ndef here():\n    return [sys._getframe(0) for _ in (1,)][0]\n",
        "dbos_queue.api.z",
    )
    assert not tail._in_package(comp["here"]())  # type: ignore[operator]
