"""Steps run as one-step workflows, portable serialization (incl. the SQL producer),
and argument validation of inputs read back from rows."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient, EnqueueOptions, Queue, SetWorkflowID
from dbos_queue.api.debouncer import Debouncer
from dbos_queue.engine.validation import make_pydantic_args_validator, pydantic_args_validator
from dbos_queue.model.serialization import (
    DBOSPortableJSONSerializer,
    PortableWorkflowError,
    WorkflowSerializationFormat,
)
from tests.plugins.checks import must

PORTABLE = WorkflowSerializationFormat.PORTABLE


def _row(url: str, wf_id: str) -> tuple:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status, name, inputs, output, error, serialization FROM dbos.workflow_status"
            " WHERE workflow_uuid = %s",
            (wf_id,),
        ).fetchone()
    assert row is not None
    return row


def _steps(url: str, wf_id: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT function_id, function_name FROM dbos.operation_outputs"
            " WHERE workflow_uuid = %s ORDER BY function_id",
            (wf_id,),
        ).fetchall()


# --- a step started or enqueued directly --------------------------------------------


def test_step_enqueued_or_started_runs_as_a_one_step_workflow(dbos, db_url) -> None:
    calls: list[int] = []

    @DBOS.step()
    def double(i: int) -> int:
        calls.append(i)
        return i * 2

    @DBOS.step()
    async def triple(i: int) -> int:
        return i * 3

    q = Queue("steps")
    handles = [q.enqueue(double, i) for i in range(3)]
    assert [h.get_result(timeout=30) for h in handles] == [0, 2, 4]
    started = DBOS.start_workflow(double, 5)
    assert started.get_result() == 10
    row = _row(db_url, started.workflow_id)
    assert row[0] == "SUCCESS" and row[1] == f"<temp>.{double.__qualname__}"
    assert _steps(db_url, started.workflow_id) == [(1, double.__qualname__)]
    with SetWorkflowID("step-once"):
        DBOS.start_workflow(double, 7).get_result()
    with SetWorkflowID("step-once"):  # the recorded result; the step does not run again
        assert DBOS.start_workflow(double, 7).get_result() == 14
    assert sorted(calls) == [0, 1, 2, 5, 7]
    assert double(1) == 2  # called plainly it is still a function

    async def go() -> Any:
        h = await DBOS.start_workflow_async(triple, 2)
        return await h.get_result()

    assert asyncio.run(go()) == 6


def test_a_worker_runs_an_enqueued_step_by_its_temp_name(dbos, db_url) -> None:
    @DBOS.step(name="named_step")
    def named(x: str) -> str:
        return x.upper()

    Queue("stepq")
    with DBOSClient(db_url) as client:
        h = client.enqueue({"queue_name": "stepq", "workflow_name": "<temp>.named_step"}, "hi")
        assert client.get_result(h.workflow_id, timeout=30) == "HI"


# --- portable serialization ---------------------------------------------------------


def test_portable_workflow_stores_plain_json_and_children_do_not_inherit_it(dbos, db_url) -> None:
    @DBOS.workflow()
    def child(x: Any) -> Any:
        return {"child": x}

    @DBOS.workflow(serialization_type=PORTABLE)
    def portable(values: tuple, when: datetime) -> Any:
        with SetWorkflowID("portable-child"):
            child(values)
        return {"values": values, "when": when, "n": 1.5}

    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    with SetWorkflowID("portable-parent"):
        out = portable((1, 2), when)
    assert out == {"values": (1, 2), "when": when, "n": 1.5}  # the caller gets its own value
    status, _name, inputs, output, error, fmt = _row(db_url, "portable-parent")
    assert status == "SUCCESS"
    assert fmt == "portable_json" and error is None
    assert json.loads(inputs) == {
        "namedArgs": {},
        "positionalArgs": [[1, 2], "2024-05-01T12:00:00.000Z"],
    }
    assert json.loads(output) == {"values": [1, 2], "when": "2024-05-01T12:00:00.000Z", "n": 1.5}
    assert DBOS.retrieve_workflow("portable-parent").get_result()["values"] == [1, 2]
    # As in DBOS a child takes the configured format, not its parent's.
    assert _row(db_url, "portable-child")[5] == "json"
    assert DBOS.retrieve_workflow("portable-child").get_result() == {"child": (1, 2)}


def test_portable_error_and_unportable_output(dbos, db_url) -> None:
    class Coded(Exception):
        def __init__(self, msg: str) -> None:
            super().__init__(msg)
            self.code = 42
            self.details = {"retry": False}

    @DBOS.workflow(serialization_type=PORTABLE)
    def fails() -> None:
        raise Coded("went wrong")

    @DBOS.workflow(serialization_type=PORTABLE)
    def unportable() -> Any:
        return object()

    with SetWorkflowID("portable-error"), pytest.raises(Coded):
        fails()
    err = json.loads(_row(db_url, "portable-error")[4])
    assert err == {"name": "Coded", "message": "went wrong", "code": 42, "data": {"retry": False}}
    with pytest.raises(PortableWorkflowError) as info:
        DBOS.retrieve_workflow("portable-error").get_result()
    assert (info.value.name, info.value.message, info.value.code) == ("Coded", "went wrong", 42)
    assert info.value.data == {"retry": False}
    with SetWorkflowID("portable-bad-output"), pytest.raises(TypeError, match="portable JSON"):
        unportable()
    assert _row(db_url, "portable-bad-output")[0] == "ERROR"


def test_sql_producer_enqueues_portable_args_and_reads_a_portable_result(dbos, db_url) -> None:
    @DBOS.workflow()
    def days_until(start: date, end: datetime, label: str = "") -> dict:
        assert isinstance(start, date) and isinstance(end, datetime)  # hints restored dates
        return {"label": label, "days": (end.date() - start).days, "at": end}

    @DBOS.workflow()
    def refuses(x: int) -> None:
        raise ValueError(f"no {x}")

    Queue("sqlq")
    with psycopg.connect(db_url, autocommit=True) as conn:
        wf_id = must(
            conn.execute(
                "SELECT dbos.enqueue_workflow('sqlq', %s,"
                ' \'["2024-01-01", "2024-01-31T00:00:00Z"]\', \'{"label": "jan"}\')',
                (days_until.__qualname__,),
            ).fetchone()
        )[0]
        bad = must(
            conn.execute(
                "SELECT dbos.enqueue_workflow('sqlq', %s, '[7]')", (refuses.__qualname__,)
            ).fetchone()
        )[0]
    assert DBOS.retrieve_workflow(wf_id).get_result(timeout=30)["days"] == 30
    with pytest.raises(PortableWorkflowError, match="no 7"):
        DBOS.retrieve_workflow(bad).get_result(timeout=30)
    with psycopg.connect(db_url) as conn:
        # What a non-Python consumer reads: plain JSON, and which format it is.
        got = conn.execute(
            "SELECT status, serialization, output::jsonb FROM dbos.workflow_status"
            " WHERE workflow_uuid = %s",
            (wf_id,),
        ).fetchone()
        err = conn.execute(
            "SELECT error::jsonb ->> 'name', error::jsonb ->> 'message'"
            " FROM dbos.workflow_status WHERE workflow_uuid = %s",
            (bad,),
        ).fetchone()
        with pytest.raises(psycopg.errors.RaiseException, match="serialization must be"):
            conn.execute(
                "SELECT dbos.enqueue_workflow('sqlq', 'x', serialization => 'xml')"
            ).fetchone()
    assert got == (
        "SUCCESS",
        "portable_json",
        {"label": "jan", "days": 30, "at": "2024-01-31T00:00:00.000Z"},
    )
    assert err == ("ValueError", "no 7")


def test_sql_producer_keeps_the_tagged_json_form_on_request(dbos, db_url) -> None:
    @DBOS.workflow()
    def pair(a: int, b: int) -> tuple:
        return (a, b)

    Queue("sqlq2")
    with psycopg.connect(db_url, autocommit=True) as conn:
        wf_id = must(
            conn.execute(
                "SELECT dbos.enqueue_workflow('sqlq2', %s, '[1, 2]', serialization => 'json')",
                (pair.__qualname__,),
            ).fetchone()
        )[0]
    assert DBOS.retrieve_workflow(wf_id).get_result(timeout=30) == (1, 2)  # a tuple again
    assert _row(db_url, wf_id)[5] == "json"


def test_client_enqueue_with_portable_serialization(dbos, db_url) -> None:
    @DBOS.workflow()
    def echo(x: Any) -> Any:
        return x

    Queue("portq")
    with DBOSClient(db_url) as client:
        opts: EnqueueOptions = {"queue_name": "portq", "workflow_name": echo.__qualname__}
        h = client.enqueue({**opts, "serialization_type": PORTABLE}, {"k": (1, 2)})
        assert client.get_result(h.workflow_id, timeout=30) == {"k": [1, 2]}
    assert _row(db_url, h.workflow_id)[5] == "portable_json"
    assert DBOSPortableJSONSerializer().serialize({"a": (1,)}) == '{"a":[1]}'


def test_messages_events_and_streams_in_the_portable_format(dbos, db_url) -> None:
    @DBOS.workflow(serialization_type=PORTABLE)
    def portable_events() -> Any:
        DBOS.set_event("inherited", (1, 2))  # DEFAULT: the workflow's own (portable) format
        DBOS.write_stream("s", {"at": date(2024, 1, 2)})
        DBOS.close_stream("s")
        return DBOS.recv("t", timeout_seconds=30)

    @DBOS.workflow()
    def native_events() -> None:
        DBOS.set_event("native", (1, 2))
        DBOS.set_event("asked", (3,), serialization_type=PORTABLE)

    with SetWorkflowID("pev"):
        h = DBOS.start_workflow(portable_events)
    DBOS.send("pev", {"v": (9,)}, "t", serialization_type=PORTABLE)
    assert h.get_result() == {"v": [9]}
    with SetWorkflowID("nev"):
        native_events()
    with psycopg.connect(db_url) as conn:
        events = dict(
            conn.execute(
                "SELECT workflow_uuid || '/' || key, value FROM dbos.workflow_events"
            ).fetchall()
        )
        stream = must(
            conn.execute(
                "SELECT value FROM dbos.streams WHERE workflow_uuid = 'pev' ORDER BY \"offset\""
            ).fetchone()
        )[0]
    assert json.loads(events["pev/inherited"]) == [1, 2]
    assert json.loads(events["nev/asked"]) == [3]
    assert "$dbq" in events["nev/native"]  # the native format keeps the tuple
    assert DBOS.get_event("nev", "native") == (1, 2)
    assert json.loads(stream) == {"at": "2024-01-02"}


# --- argument validation --------------------------------------------------------------


def test_pydantic_validation_of_dequeued_inputs(dbos, db_url) -> None:
    @DBOS.workflow(validate_args=pydantic_args_validator)
    def typed(n: int, when: datetime, tags: list[str] | None = None) -> tuple:
        return n, when, tags

    Queue("valq")
    with DBOSClient(db_url) as client:
        opts: Any = {"queue_name": "valq", "workflow_name": typed.__qualname__}
        ok = client.enqueue(opts, "3", "2024-02-03T04:05:06+00:00", tags=["a"])
        bad = client.enqueue(opts, "three")
        n, when, tags = client.get_result(ok.workflow_id, timeout=30)
        assert (n, when, tags) == (3, datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC), ["a"])
        with pytest.raises(ValueError, match="Argument 'n'") as info:
            client.get_result(bad.workflow_id, timeout=30)
        assert "Missing required argument: 'when'" in str(info.value)
    assert _row(db_url, bad.workflow_id)[0] == "ERROR"
    # Deliberately wrong types: a direct call is not validated.
    assert typed("direct", "calls", None) == ("direct", "calls", None)  # pyright: ignore[reportArgumentType]


def test_custom_validator_and_make_pydantic_args_validator() -> None:
    def f(a: int, *rest: float, flag: bool = False, **extra: str) -> None: ...

    validate = make_pydantic_args_validator(f)
    assert validate(("1", "2.5"), {"flag": "true", "x": "y"}) == (
        (1, 2.5),
        {"flag": True, "x": "y"},
    )
    with pytest.raises(ValueError, match="Missing required argument: 'a'"):
        validate((), {})
    with pytest.raises(NotImplementedError):
        pydantic_args_validator((), {})
    with pytest.raises(TypeError, match="validate_args"):
        DBOS.workflow(validate_args="nope")(f)  # type: ignore[arg-type]


def test_debouncer_is_exported_where_dbos_has_it() -> None:
    import dbos_queue

    for name in (
        "Debouncer",
        "DebouncerClient",
        "VersionInfo",
        "WorkflowSerializationFormat",
        "DBOSPortableJSONSerializer",
        "PortableWorkflowError",
        "pydantic_args_validator",
        "make_pydantic_args_validator",
        "SQLAlchemyDatasource",
        "AsyncSQLAlchemyDatasource",
    ):
        assert name in dbos_queue.__all__ and getattr(dbos_queue, name) is not None
    assert dbos_queue.Debouncer is Debouncer
