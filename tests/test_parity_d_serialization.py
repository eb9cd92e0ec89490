"""DBOS 3.4 serialization formats: a child of a portable workflow is written in the
configured format unless it asks for one (DBOS's context for a new workflow starts at
DEFAULT), while the portable workflow's own events, messages and streams, from its body
or its steps, stay portable; WorkflowSerializationFormat.DEFAULT as DBOS defines it."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import psycopg

from dbos_queue import DBOS, Queue, SetWorkflowID, WorkflowSerializationFormat
from dbos_queue.model import serialization as ser

PORTABLE = WorkflowSerializationFormat.PORTABLE


def _formats(url: str, ids: list[str]) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT workflow_uuid, serialization FROM dbos.workflow_status"
            " WHERE workflow_uuid = ANY(%s)",
            (ids,),
        ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _events(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT workflow_uuid || '/' || key, value FROM dbos.workflow_events"
        ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def test_children_of_a_portable_workflow_use_the_configured_format(dbos: Any, db_url: str) -> None:
    q = Queue("d-children")

    @DBOS.workflow()
    def child(x: Any) -> Any:
        DBOS.set_event("child", x)  # DEFAULT: the child's own (configured) format
        return x

    @DBOS.workflow(serialization_type=PORTABLE)
    def portable_child(x: Any) -> Any:
        return x

    @DBOS.step()
    def step_event() -> tuple[int, int]:
        DBOS.set_event("from_step", (5, 6))  # a step takes its workflow's format
        return (7, 8)

    @DBOS.workflow(serialization_type=PORTABLE)
    def parent() -> list[Any]:
        with SetWorkflowID("d-called"):
            called = child((1, 2))
        with SetWorkflowID("d-started"):
            started = DBOS.start_workflow(child, (3,)).get_result()
        with SetWorkflowID("d-enqueued"):
            enqueued = q.enqueue(child, (4,)).get_result()
        with SetWorkflowID("d-own"):
            own = portable_child((9,))
        DBOS.set_event("parent", (1, 2))
        return [called, started, enqueued, own, step_event()]

    with SetWorkflowID("d-parent"):
        called, started, enqueued, own, stepped = parent()
    # The started and enqueued children stored their tuples natively, so their results
    # read back as tuples; a called child's value is its own; so is a step's.
    assert (called, started, enqueued, own, stepped) == ((1, 2), (3,), (4,), (9,), (7, 8))
    assert DBOS.retrieve_workflow("d-own").get_result() == [9]  # portable: a list
    formats = _formats(db_url, ["d-parent", "d-called", "d-started", "d-enqueued", "d-own"])
    native = ser.current_format()
    assert formats == {
        "d-parent": "portable_json",
        "d-called": native,
        "d-started": native,
        "d-enqueued": native,
        "d-own": "portable_json",
    }
    events = _events(db_url)
    assert json.loads(events["d-parent/parent"]) == [1, 2]
    assert json.loads(events["d-parent/from_step"]) == [5, 6]
    assert "$dbq" in events["d-called/child"]  # the tuple kept: not portable JSON
    assert DBOS.get_event("d-called", "child") == (1, 2)
    assert DBOS.retrieve_workflow("d-enqueued").get_result() == (4,)


def test_default_is_dbos_none_member_and_means_the_configured_format(
    dbos: Any, db_url: str
) -> None:
    # DBOS declares DEFAULT = None on a (str, Enum): the str mixin makes its value "None".
    class Reference(str, Enum):  # noqa: UP042  # as DBOS declares it
        PORTABLE = "portable"
        NATIVE = "native"
        DEFAULT = None  # type: ignore[assignment]

    assert {m.name: m.value for m in WorkflowSerializationFormat} == {
        m.name: m.value for m in Reference
    }
    assert WorkflowSerializationFormat.DEFAULT.value == "None"
    assert WorkflowSerializationFormat("None") is WorkflowSerializationFormat.DEFAULT
    assert ser.format_for(WorkflowSerializationFormat.DEFAULT) is None
    assert ser.format_for(None) is None

    @DBOS.workflow(serialization_type=WorkflowSerializationFormat.DEFAULT)
    def by_default(x: Any) -> Any:
        return x

    with SetWorkflowID("d-default"):
        DBOS.start_workflow(by_default, (1,)).get_result()
    # The row names a format, never the enum's value; it reads back as written.
    assert _formats(db_url, ["d-default"]) == {"d-default": ser.current_format()}
    assert DBOS.retrieve_workflow("d-default").get_result() == (1,)


def test_compat_inventory_reads_a_str_enum_value_as_dbos_holds_it() -> None:
    path = Path(__file__).resolve().parents[1] / "docs" / "compat_inventory.py"
    spec = importlib.util.spec_from_file_location("compat_inventory_under_test", path)
    assert spec is not None and spec.loader is not None
    inventory: Any = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = inventory  # dataclasses look their module up while building
    try:
        spec.loader.exec_module(inventory)
        source = 'class F(str, Enum):\n    PORTABLE = "portable"\n    NATIVE = "native"\n'
        node = ast.parse(source + "    DEFAULT = None\n").body[0]
        info = inventory.ClassInfo("F", "m", node, [], ["str", "Enum"], None)
        values = inventory.enum_values(info)
        assert values == {"PORTABLE": "portable", "NATIVE": "native", "DEFAULT": "None"}
        entry = inventory._enum_entry("g", "F", values, True, WorkflowSerializationFormat)
        assert entry.diffs == []
    finally:
        del sys.modules[spec.name]
