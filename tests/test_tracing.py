"""OpenTelemetry as DBOS 3.4 emits it: spans per workflow/step/transaction, DBOS's attribute
names, ``DBOS.span``/``DBOS.tracer``, and the trace carried through an enqueue to whichever
process runs the workflow (``PropagateOtelContext``, ``EnqueueOptions["otel_context"]``),
across a crash and recovery too. Spans are read from the SDK's in-memory exporter here,
and from the table the worker app's exporter writes in the worker processes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from dbos_queue import DBOS, DBOSClient, PropagateOtelContext, Queue, SetWorkflowID
from dbos_queue.model.pgurl import with_database
from tests.plugins.checks import must
from tests.plugins.waiting import wait_until
from tests.plugins.workers import Worker

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _provider() -> None:
    """One SDK provider for the process (OpenTelemetry lets the global be set once)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        current.add_span_processor(SimpleSpanProcessor(EXPORTER))
    else:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)


@pytest.fixture
def launch(config: dict[str, Any]) -> Iterator[Callable[..., None]]:
    """Configure with tracing on (plus overrides), launch, and clear the exporter."""

    def go(**overrides: Any) -> None:
        DBOS(config={**config, "enable_otlp": True, **overrides})
        DBOS.launch()
        EXPORTER.clear()

    DBOS.destroy(destroy_registry=True)
    yield go
    DBOS.destroy(destroy_registry=True)


def _named(name: str) -> list[ReadableSpan]:
    return [s for s in EXPORTER.get_finished_spans() if s.name == name]


def _tracer() -> trace.Tracer:
    return trace.get_tracer("tests")


def test_workflow_and_step_spans_carry_dbos_attributes(launch) -> None:
    @DBOS.step()
    def a_step() -> None:
        assert DBOS.span is not None
        assert DBOS.span.name == a_step.__qualname__  # type: ignore[attr-defined]

    @DBOS.workflow()
    def a_workflow() -> str:
        with _tracer().start_as_current_span("manual_span"):
            a_step()
            sub = DBOS.tracer.start_span({"name": "a new span"}, parent=DBOS.span)
            sub.add_event("greeting", {"name": "event"})
            DBOS.tracer.end_span(sub)
        return DBOS.workflow_id or ""

    launch(otlp_attributes={"foo": "bar"}, application_version="v-tracing")
    wf_id = a_workflow()

    spans = EXPORTER.get_finished_spans()
    assert [s.name for s in spans] == [
        a_step.__qualname__,
        "a new span",
        "manual_span",
        a_workflow.__qualname__,
    ]
    step, sub, manual, wf = spans
    assert wf.parent is None
    assert manual.parent is not None and manual.parent.span_id == must(wf.context).span_id
    # DBOS's spans parent to whatever span is current: here the application's own.
    assert step.parent is not None and step.parent.span_id == must(manual.context).span_id
    assert sub.parent is not None and sub.parent.span_id == must(manual.context).span_id
    assert {must(s.context).trace_id for s in spans} == {must(wf.context).trace_id}
    for span in (step, sub, wf):
        attrs = span.attributes or {}
        assert attrs["applicationVersion"] == "v-tracing"
        assert attrs["executorID"] == DBOS.executor_id
        assert attrs["foo"] == "bar"
    assert wf.attributes is not None and step.attributes is not None
    assert wf.attributes["operationUUID"] == wf_id
    assert wf.attributes["operationType"] == "workflow"
    assert wf.attributes["authenticatedUserRoles"] == ""
    assert "queueName" not in wf.attributes  # a direct call: no queue
    assert step.attributes["operationUUID"] == wf_id
    assert step.attributes["operationType"] == "step"
    assert wf.status.status_code == StatusCode.OK and step.status.status_code == StatusCode.OK


def test_failures_mark_spans_and_retries_add_events(launch) -> None:
    calls = {"n": 0}

    @DBOS.step(retries_allowed=True, interval_seconds=0.01, max_attempts=3)
    def flaky() -> int:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ValueError(f"attempt {calls['n']}")
        return calls["n"]

    @DBOS.workflow()
    def failing() -> None:
        flaky()
        raise RuntimeError("workflow broke")

    launch()
    with pytest.raises(RuntimeError, match="workflow broke"):
        failing()
    (step,) = _named(flaky.__qualname__)
    (wf,) = _named(failing.__qualname__)
    assert step.status.status_code == StatusCode.OK  # the third attempt succeeded
    assert [e.name for e in step.events] == ["Step attempt 0 failed", "Step attempt 1 failed"]
    assert step.events[0].attributes is not None
    assert step.events[0].attributes["error"] == "attempt 1"
    assert wf.status.status_code == StatusCode.ERROR
    assert wf.status.description == "workflow broke"


def test_no_spans_unless_enable_otlp(config: dict[str, Any]) -> None:
    @DBOS.step()
    def quiet_step() -> int:
        return 1

    @DBOS.workflow()
    def quiet() -> int:
        assert DBOS.span is None  # nothing is current: DBOS made no span
        return quiet_step()

    DBOS.destroy(destroy_registry=True)
    DBOS(config={**config, "otlp_attributes": {"foo": "bar"}})
    DBOS.launch()
    try:
        EXPORTER.clear()
        assert quiet() == 1
        assert EXPORTER.get_finished_spans() == ()
        # The application's own spans are still what DBOS.span reports.
        with _tracer().start_as_current_span("mine") as mine:
            assert DBOS.span is mine
    finally:
        DBOS.destroy(destroy_registry=True)


def test_semconv_attribute_names(launch) -> None:
    @DBOS.workflow()
    def w() -> None:
        pass

    launch(otel_attribute_format="semconv")
    with SetWorkflowID("semconv-wf"):
        w()
    (span,) = _named(w.__qualname__)
    attrs = span.attributes or {}
    assert attrs["dbos.operation.workflow_id"] == "semconv-wf"
    assert attrs["dbos.operation.type"] == "workflow"
    assert "dbos.executor.id" in attrs and "dbos.application.version" in attrs
    assert "operationUUID" not in attrs and "executorID" not in attrs


def test_transaction_span(launch, db_url: str) -> None:
    @DBOS.transaction()
    def insert_one() -> int:
        return 1

    @DBOS.workflow()
    def with_tx() -> int:
        return insert_one()

    launch(application_database_url=with_database(db_url, db_url.rsplit("/", 1)[1] + "_app"))
    assert with_tx() == 1
    (tx,) = _named(insert_one.__qualname__)
    (wf,) = _named(with_tx.__qualname__)
    assert tx.attributes is not None and tx.attributes["operationType"] == "transaction"
    assert tx.parent is not None and tx.parent.span_id == must(wf.context).span_id


def test_background_start_inherits_caller_trace(launch) -> None:
    @DBOS.workflow()
    def bg() -> str:
        return "done"

    launch()
    with _tracer().start_as_current_span("caller") as caller:
        handle = DBOS.start_workflow(bg)
        assert handle.get_result() == "done"
    (span,) = _named(bg.__qualname__)
    assert span.parent is not None and span.parent.span_id == caller.get_span_context().span_id


def test_propagated_queued_workflow_joins_caller_trace(launch) -> None:
    q = Queue("otel_q")

    @DBOS.workflow()
    def queued(tag: str) -> str:
        return tag

    launch()
    with _tracer().start_as_current_span("producer") as producer:
        with PropagateOtelContext():
            traced = q.enqueue(queued, "traced")
        untraced = q.enqueue(queued, "untraced")
    assert traced.get_result() == "traced" and untraced.get_result() == "untraced"

    spans = {(s.attributes or {})["operationUUID"]: s for s in _named(queued.__qualname__)}
    got = spans[traced.workflow_id]
    assert must(got.context).trace_id == producer.get_span_context().trace_id
    assert got.parent is not None and got.parent.span_id == producer.get_span_context().span_id
    assert (got.attributes or {})["queueName"] == "otel_q"
    # Without the block a queued workflow roots its own trace, as in DBOS.
    assert spans[untraced.workflow_id].parent is None
    # The carrier is stored with the workflow, W3C trace context only.
    attributes = must(must(DBOS.get_workflow_status(traced.workflow_id)).attributes)
    assert set(attributes["dbos.otelContext"]) <= {"traceparent", "tracestate"}
    assert must(DBOS.get_workflow_status(untraced.workflow_id)).attributes is None


def test_carrier_keeps_no_baggage_and_bad_carrier_falls_back(launch) -> None:
    @DBOS.workflow()
    def plain() -> str:
        return "ok"

    launch()
    with _tracer().start_as_current_span("caller") as caller:
        ctx = baggage.set_baggage("tenant", "acme")
        with PropagateOtelContext(ctx):
            handle = DBOS.start_workflow(plain)
        assert handle.get_result() == "ok"
        carrier = DBOS.get_workflow_status(handle.workflow_id).attributes["dbos.otelContext"]  # type: ignore[union-attr]
        assert set(carrier) == {"traceparent"}
        # A carrier that names no trace must not stop the workflow: it parents to the caller.
        from dbos_queue.engine.options import SetWorkflowAttributes

        EXPORTER.clear()
        with SetWorkflowAttributes({"dbos.otelContext": {"traceparent": 42}}):
            handle = DBOS.start_workflow(plain)
        assert handle.get_result() == "ok"
    (span,) = _named(plain.__qualname__)
    assert span.parent is not None and span.parent.span_id == caller.get_span_context().span_id


# --- across processes ----------------------------------------------------------------------


@pytest.fixture
def tracing_db(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE spans (trace_id text, span_id text, parent_span_id text, name text,"
            " attributes jsonb, status text, pid int)"
        )
        conn.execute("CREATE TABLE crashes (tag text PRIMARY KEY)")
    return db_url


@pytest.fixture
def start_tracing_worker(tracing_db: str) -> Iterator[Callable[[], Worker]]:
    started: list[Worker] = []

    def start() -> Worker:
        w = Worker(tracing_db, ["traced"], {}, [], "tests.apps.tracing_app", "TRACING_APP_URL")
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.communicate(timeout=30)


def _worker_span(url: str, name: str, wf_id: str, deadline: float = 60) -> dict[str, Any]:
    """Wait for a worker to have exported the span of ``name`` for workflow ``wf_id``."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = wait_until(
            lambda: conn.execute(
                "SELECT trace_id, span_id, parent_span_id, attributes, status, pid FROM spans"
                " WHERE name = %s AND attributes->>'operationUUID' = %s",
                (name, wf_id),
            ).fetchone(),
            deadline,
            f"span {name} for {wf_id}",
            every=0.1,
        )
    keys = ("trace_id", "span_id", "parent_span_id", "attributes", "status", "pid")
    return dict(zip(keys, row, strict=True))


def _ids(span: Any) -> tuple[str, str]:
    ctx = span.get_span_context()
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


@pytest.mark.slow
def test_producer_trace_continues_in_worker_process(
    tracing_db: str, start_tracing_worker: Callable[[], Worker]
) -> None:
    worker = start_tracing_worker()
    with DBOSClient(system_database_url=tracing_db) as client:
        with _tracer().start_as_current_span("client-producer") as producer:
            handle = client.enqueue(
                {
                    "queue_name": "traced",
                    "workflow_name": "traced_wf",
                    "otel_context": otel_context.get_current(),
                },
                "abc",
            )
        assert handle.get_result() == "ABC"
    trace_id, span_id = _ids(producer)
    wf = _worker_span(tracing_db, "traced_wf", handle.workflow_id)
    assert wf["pid"] == worker.pid
    assert (wf["trace_id"], wf["parent_span_id"]) == (trace_id, span_id)
    assert wf["attributes"]["queueName"] == "traced"
    assert wf["attributes"]["deployment"] == "test"
    step = _worker_span(tracing_db, "traced_step", handle.workflow_id)
    assert (step["trace_id"], step["parent_span_id"]) == (trace_id, wf["span_id"])


@pytest.mark.slow
def test_trace_survives_crash_and_recovery_in_another_worker(
    tracing_db: str, start_tracing_worker: Callable[[], Worker]
) -> None:
    first = start_tracing_worker()
    with DBOSClient(system_database_url=tracing_db) as client:
        with _tracer().start_as_current_span("producer") as producer:
            handle = client.enqueue(
                {
                    "queue_name": "traced",
                    "workflow_name": "crash_once",
                    "otel_context": otel_context.get_current(),
                },
                "xyz",
            )
        assert first.proc.wait(timeout=60) == 3  # it died inside the workflow
        second = start_tracing_worker()
        assert handle.get_result() == "XYZ"
    wf = _worker_span(tracing_db, "crash_once", handle.workflow_id)
    assert wf["pid"] == second.pid and wf["status"] == "OK"
    assert (wf["trace_id"], wf["parent_span_id"]) == _ids(producer)


def test_enqueue_records_the_carrier_as_json(launch) -> None:
    q = Queue("otel_json_q")

    @DBOS.workflow()
    def noop() -> None:
        pass

    launch()
    with _tracer().start_as_current_span("p") as p, PropagateOtelContext():
        handle = q.enqueue(noop)
    handle.get_result()
    status = DBOS.get_workflow_status(handle.workflow_id)
    assert status is not None and status.attributes is not None
    traceparent = status.attributes["dbos.otelContext"]["traceparent"]
    trace_id, span_id = _ids(p)
    assert traceparent.startswith(f"00-{trace_id}-{span_id}-")  # then the trace flags
    json.dumps(status.attributes)  # what the row holds is plain JSON


def test_logs_go_to_the_logger_provider_tagged_like_dbos(launch) -> None:
    from opentelemetry._logs import get_logger_provider, set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    logs = InMemoryLogRecordExporter()
    provider = get_logger_provider()
    if not isinstance(provider, LoggerProvider):
        provider = LoggerProvider()
        set_logger_provider(provider)
    provider.add_log_record_processor(SimpleLogRecordProcessor(logs))

    @DBOS.workflow()
    def chatty() -> str:
        DBOS.logger.info("hello from a workflow")
        return DBOS.workflow_id or ""

    launch(otlp_attributes={"foo": "bar"})
    wf_id = chatty()
    (span,) = _named(chatty.__qualname__)
    (record,) = [
        r.log_record
        for r in logs.get_finished_logs()
        if r.log_record.body == "hello from a workflow"
    ]
    attrs = record.attributes or {}
    assert attrs["operationUUID"] == wf_id and attrs["foo"] == "bar"
    assert attrs["executorID"] == DBOS.executor_id and "applicationVersion" in attrs
    ctx = must(span.context)
    assert record.trace_id == ctx.trace_id and record.span_id == ctx.span_id
    assert attrs["traceId"] == f"{ctx.trace_id:032x}"
