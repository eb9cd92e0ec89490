"""Worker app for the tracing tests: ``dbos-queue worker tests.apps.tracing_app``.

Tracing is on (``enable_otlp``) with the SDK's tracer provider; every finished span
is written to the table ``spans`` of the test's database, so the test can read what
each worker process emitted. ``crash_once`` kills its worker the first time it runs
(the row in ``crashes`` remembers), so another worker recovers it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import psycopg
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from dbos_queue import DBOS, Queue

URL = os.environ["TRACING_APP_URL"]


class TableExporter(SpanExporter):
    """Write each finished span to ``spans`` (ids as 32/16-digit hex, as W3C writes them)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with psycopg.connect(URL, autocommit=True) as conn:
            for s in spans:
                assert s.context is not None
                conn.execute(
                    "INSERT INTO spans (trace_id, span_id, parent_span_id, name, attributes,"
                    " status, pid) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        f"{s.context.trace_id:032x}",
                        f"{s.context.span_id:016x}",
                        f"{s.parent.span_id:016x}" if s.parent is not None else None,
                        s.name,
                        json.dumps(dict(s.attributes or {})),
                        s.status.status_code.name,
                        os.getpid(),
                    ),
                )
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(TableExporter()))
trace.set_tracer_provider(provider)

DBOS(
    config={
        "name": "tracing-app",
        "system_database_url": URL,
        "executor_lease_sec": 2.0,
        "enable_otlp": True,
        "otlp_attributes": {"deployment": "test"},
    }
)

Queue("traced")


@DBOS.step()
def traced_step(tag: str) -> str:
    return tag.upper()


@DBOS.workflow()
def traced_wf(tag: str) -> str:
    return traced_step(tag)


@DBOS.workflow()
def crash_once(tag: str) -> str:
    with psycopg.connect(URL, autocommit=True) as conn:
        first = conn.execute(
            "INSERT INTO crashes (tag) VALUES (%s) ON CONFLICT DO NOTHING RETURNING tag", (tag,)
        ).fetchone()
    if first is not None:
        os._exit(3)  # die mid-workflow: another worker recovers it
    return traced_step(tag)
