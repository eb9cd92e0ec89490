"""OTLP export, switched on by ``enable_otlp`` with ``otlp_traces_endpoints`` /
``otlp_logs_endpoints`` (the ``otel`` extra: opentelemetry-sdk and the OTLP/HTTP exporter).

As in DBOS: an application that installed its own tracer (logger) provider keeps it
and gets the exporters added to it; otherwise one is created, its resource named
after the application. With tracing on and a logger provider in place, the
``dbos_queue`` logger's records also go to OpenTelemetry, tagged with the
application version, executor id, workflow id, trace id and ``otlp_attributes``.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from dbos_queue.engine.context import current_workflow

logger = logging.getLogger("dbos_queue")
_NO_SDK = "OTLP export needs the OpenTelemetry SDK and exporter: pip install 'dbos-queue[otel]'"


def setup_traces(service_name: str, endpoints: list[str]) -> None:
    """Export spans to each endpoint; warn when no tracer provider will record them."""
    from opentelemetry import trace

    provider: Any = trace.get_tracer_provider()
    if endpoints:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import SERVICE_NAME, Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise ImportError(_NO_SDK) from exc
        if isinstance(provider, trace.ProxyTracerProvider):
            provider = TracerProvider(resource=Resource({SERVICE_NAME: service_name}))
            trace.set_tracer_provider(provider)
        for endpoint in endpoints:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    if isinstance(provider, trace.ProxyTracerProvider):
        logger.warning("OTLP is enabled but no tracer provider is set; spans are dropped")


class LogAttributes(logging.Filter):
    """Tags each ``dbos_queue`` log record as DBOS tags its own (applicationVersion,
    executorID, operationUUID, traceId, and the configured ``otlp_attributes``)."""

    def __init__(self, app_version: str, executor_id: str, extra: dict[str, str]) -> None:
        super().__init__()
        self.app_id = os.environ.get("DBOS__APPID", "")
        self.app_version, self.executor_id, self.extra = app_version, executor_id, extra

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp the record with DBOS's application and executor fields; keep it."""
        record.applicationID = self.app_id
        record.applicationVersion = self.app_version
        record.executorID = self.executor_id
        for key, value in self.extra.items():
            setattr(record, key, value)
        ctx = current_workflow.get()
        if ctx is not None:
            record.operationUUID = ctx.workflow_id
        from opentelemetry import trace
        from opentelemetry.trace.span import format_trace_id

        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.traceId = format_trace_id(span_context.trace_id)
        return True


_installed: list[tuple[logging.Logger, Any]] = []


def setup_logs(settings: Any, app_version: str, executor_id: str) -> None:
    """Send the ``dbos_queue`` logger's records to OpenTelemetry (tracing on only)."""
    teardown_logs()
    if not settings.enable_otlp:
        return
    log = logging.getLogger("dbos_queue")
    tagger = LogAttributes(app_version, executor_id, dict(settings.otlp_attributes or {}))
    log.addFilter(tagger)
    _installed.append((log, tagger))
    handler = _otel_handler(settings)
    if handler is not None:
        log.addHandler(handler)
        _installed.append((log, handler))


def _otel_handler(settings: Any) -> logging.Handler | None:
    try:
        from opentelemetry._logs import get_logger_provider, set_logger_provider
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    except ImportError:
        if settings.otlp_logs_endpoints:
            raise ImportError(_NO_SDK) from None
        return None  # no SDK: nothing could record the logs
    provider: Any = get_logger_provider()
    endpoints = list(settings.otlp_logs_endpoints or [])
    if endpoints:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        if not isinstance(provider, LoggerProvider):
            provider = LoggerProvider(resource=Resource({SERVICE_NAME: settings.name}))
            set_logger_provider(provider)
        for endpoint in endpoints:
            provider.add_log_record_processor(
                BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint))
            )
    if not isinstance(provider, LoggerProvider):
        return None  # the application set up no logger provider: keep logs local
    with warnings.catch_warnings():
        # The SDK marks its handler deprecated in favour of a separate package.
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=provider)
    if settings.otlp_log_level:
        handler.setLevel(settings.otlp_log_level)
    return handler


def teardown_logs() -> None:
    """Detach what ``setup_logs`` attached (at destroy, or before a new launch)."""
    while _installed:
        log, item = _installed.pop()
        if isinstance(item, logging.Handler):
            log.removeHandler(item)
            item.flush()
        else:
            log.removeFilter(item)
