"""OpenTelemetry spans for workflows, steps and transactions, named as DBOS names them.

Tracing is off unless the config sets ``enable_otlp`` (DBOS's switch): then every
workflow, step, transaction and stored procedure gets a span from the global
tracer provider, carrying DBOS's attribute names (``operationUUID``,
``operationType``, ``applicationVersion``, ``executorID``, ...; or the ``dbos.*``
names with ``otel_attribute_format="semconv"``). While it is off the hooks cost
one attribute test each, and the OpenTelemetry packages are not even imported.

A trace crosses process boundaries through the workflow's row: ``PropagateOtelContext``
(or ``EnqueueOptions["otel_context"]`` for ``DBOSClient``) stores the W3C trace
context (traceparent / tracestate, never baggage) in the workflow's ``attributes``
under ``"dbos.otelContext"``, as DBOS 3.4 does; whichever process runs the
workflow, first time or after recovery, parents the workflow span to it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
from collections.abc import Generator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, cast

from dbos_queue.engine.context import WorkflowContext, current_workflow

if TYPE_CHECKING:
    from opentelemetry.trace import Span

logger = logging.getLogger("dbos_queue")

# The workflow attribute that holds a propagated trace carrier (DBOS 3.4's key).
OTEL_CARRIER_ATTRIBUTE = "dbos.otelContext"

# DBOS's legacy attribute names and their OpenTelemetry-style ("semconv") equivalents.
SEMCONV_NAMES = {
    "operationUUID": "dbos.operation.workflow_id",
    "operationType": "dbos.operation.type",
    "applicationID": "dbos.application.id",
    "applicationVersion": "dbos.application.version",
    "executorID": "dbos.executor.id",
    "queueName": "dbos.queue.name",
    "authenticatedUser": "dbos.user.name",
    "authenticatedUserRoles": "dbos.user.roles",
    "authenticatedUserAssumedRole": "dbos.user.assumed_role",
}

_NULL = nullcontext()


class DBOSTracer:
    """The tracer ``DBOS.tracer`` returns: starts spans with DBOS's attributes.

    ``disable_otlp`` is True until a launch with ``enable_otlp`` turns tracing on;
    ``start_span``/``end_span`` work either way (on the global tracer provider).
    """

    def __init__(self) -> None:
        self.app_id: str | None = os.environ.get("DBOS__APPID")
        self.disable_otlp = True
        self.otlp_attributes: dict[str, str] = {}
        self.otel_attribute_format = "legacy"
        self.app_version: str | None = None
        self.executor_id: str | None = None

    def config(self, settings: Any, app_version: str, executor_id: str) -> None:
        """Apply the launch's telemetry settings; with endpoints, export spans over OTLP."""
        self.disable_otlp = not settings.enable_otlp
        self.otlp_attributes = dict(settings.otlp_attributes or {})
        self.otel_attribute_format = settings.otel_attribute_format
        self.app_version, self.executor_id = app_version, executor_id
        self.app_id = os.environ.get("DBOS__APPID")
        if self.disable_otlp:
            return
        from dbos_queue.engine import otlp

        otlp.setup_traces(settings.name, list(settings.otlp_traces_endpoints or []))

    def attribute_name(self, key: str) -> str:
        """The name a DBOS attribute is emitted under (per ``otel_attribute_format``)."""
        if self.otel_attribute_format == "semconv":
            return SEMCONV_NAMES.get(key, key)
        return key

    def start_span(self, attributes: dict[str, Any], parent: Span | None = None) -> Span:
        """Start (not activate) a span named ``attributes["name"]`` under ``parent``
        (default: the current span), with DBOS's process attributes added."""
        from opentelemetry import trace

        context = trace.set_span_in_context(parent) if parent is not None else None
        span = trace.get_tracer("dbos-tracer").start_span(attributes["name"], context=context)
        attributes["applicationID"] = self.app_id
        attributes["applicationVersion"] = self.app_version
        attributes["executorID"] = self.executor_id
        for key, value in attributes.items():
            if key != "name" and isinstance(value, str | bool | int | float):
                span.set_attribute(self.attribute_name(key), value)
        for key, value in self.otlp_attributes.items():
            span.set_attribute(key, value)  # the user's own names, passed through as given
        return span

    def end_span(self, span: Span) -> None:
        """End a span started with ``start_span``."""
        span.end()

    def get_current_span(self) -> Span | None:
        """The active span (DBOS's or the application's), or None."""
        from opentelemetry import trace

        span = trace.get_current_span()
        return span if span.get_span_context().is_valid else None


tracer = DBOSTracer()


# --- spans around operations -------------------------------------------------------------


def _operation_attributes(
    name: str, op_type: str | None, ctx: WorkflowContext | None
) -> dict[str, Any]:
    roles = ctx.authenticated_roles if ctx is not None else None
    attributes: dict[str, Any] = {
        "name": name,
        "operationUUID": ctx.workflow_id if ctx is not None else None,
        "authenticatedUser": ctx.authenticated_user if ctx is not None else None,
        "authenticatedUserRoles": json.dumps(roles) if roles is not None else "",
        "authenticatedUserAssumedRole": ctx.assumed_role if ctx is not None else None,
    }
    if op_type is not None:
        attributes["operationType"] = op_type
    return attributes


@contextmanager
def _active_span(attributes: dict[str, Any], parent: Any = None) -> Generator[Span, None, None]:
    """Start a span (under ``parent`` context, else the current one), make it current,
    and end it with status OK, or ERROR carrying the exception's text."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    token = otel_context.attach(parent) if parent is not None else None
    try:
        span = tracer.start_span(attributes)
        with trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            try:
                yield span
            except BaseException as exc:
                span.set_status(Status(StatusCode.ERROR, description=str(exc)))
                raise
            else:
                span.set_status(Status(StatusCode.OK))
            finally:
                tracer.end_span(span)
    finally:
        if token is not None:
            otel_context.detach(token)


def workflow_span(ctx: WorkflowContext, name: str) -> Any:
    """Context manager around one execution of a workflow body (a no-op while off).

    The span's parent is the propagated carrier stored with the workflow, else the
    context captured when the workflow was handed to a thread, else the current one.
    """
    if tracer.disable_otlp:
        return _NULL
    attributes = _operation_attributes(name, "workflow", ctx)
    attributes["queueName"] = ctx.queue_name
    parent = extract(ctx.otel_carrier) if ctx.otel_carrier is not None else None
    return _active_span(attributes, parent if parent is not None else ctx.otel_parent)


def step_span(name: str, op_type: str = "step") -> Any:
    """Context manager around a step, transaction or procedure called in a workflow
    (a no-op while off, outside a workflow, and inside a step, where nothing is recorded)."""
    if tracer.disable_otlp:
        return _NULL
    ctx = current_workflow.get()
    if ctx is None or ctx.in_step:
        return _NULL
    return _active_span(_operation_attributes(name, op_type, ctx))


def step_attempt_failed(attempt: int, error: BaseException, interval: float) -> None:
    """Note a failed attempt of a retried step on its span, as DBOS does."""
    if tracer.disable_otlp:
        return
    span = tracer.get_current_span()
    if span is not None:
        span.add_event(
            f"Step attempt {attempt} failed",
            {"error": str(error), "retryIntervalSeconds": interval},
        )


def capture() -> Any:
    """The caller's OpenTelemetry context, for a workflow handed to another thread or
    task (which would not inherit it); None while tracing is off."""
    if tracer.disable_otlp:
        return None
    from opentelemetry import context as otel_context

    return otel_context.get_current()


# --- carriers: the trace context stored with a workflow ------------------------------------


def inject(context: Any = None) -> dict[str, str]:
    """The W3C trace context (no baggage) of ``context`` (default: current); {} if none."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=context)
    return carrier


def extract(carrier: Any) -> Any:
    """The OpenTelemetry context a stored carrier names, or None when it names none.

    Never raises: attributes are user-writable, so a malformed carrier must not stop
    a workflow from running (it then parents to whatever context is at hand).
    """
    if not isinstance(carrier, dict):
        return None
    from opentelemetry.trace import get_current_span
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    try:
        context = TraceContextTextMapPropagator().extract(cast(dict[str, Any], carrier))
    except Exception as exc:
        logger.warning("ignoring malformed %s workflow attribute: %s", OTEL_CARRIER_ATTRIBUTE, exc)
        return None
    return context if get_current_span(context).get_span_context().is_valid else None


def carrier_of(attributes: Any) -> dict[str, Any] | None:
    """The carrier stored in a workflow's attributes (any shape tolerated)."""
    if not isinstance(attributes, dict):
        return None
    carrier: Any = cast(dict[str, Any], attributes).get(OTEL_CARRIER_ATTRIBUTE)
    return cast(dict[str, Any], carrier) if isinstance(carrier, dict) else None


# The carrier a PropagateOtelContext block gives the workflows started in it, and the
# workflow (None: none) that opened the block: a child workflow does not inherit it.
_pending: contextvars.ContextVar[tuple[dict[str, str], str | None] | None] = contextvars.ContextVar(
    "dbos_queue_otel_carrier", default=None
)


class PropagateOtelContext:
    """``with PropagateOtelContext(): queue.enqueue(wf)`` — the workflows started or
    enqueued in the block join the current trace (or ``context``'s), wherever and
    whenever they run: the trace context is stored with each workflow.

    Only traceparent/tracestate travel, not baggage. Workflows started by those
    workflows do not inherit it; use ``PropagateOtelContext`` again inside them.
    """

    def __init__(self, context: Any = None) -> None:
        self.context = context
        self._token: contextvars.Token[Any] | None = None

    def __enter__(self) -> PropagateOtelContext:
        carrier = inject(self.context)
        ctx = current_workflow.get()
        value = (carrier, ctx.workflow_id if ctx is not None else None) if carrier else None
        self._token = _pending.set(value)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _pending.reset(self._token)
            self._token = None


def with_carrier(attributes: dict[str, Any] | None) -> dict[str, Any] | None:
    """``attributes`` plus the carrier of an enclosing ``PropagateOtelContext`` block."""
    pending = _pending.get()
    if pending is None:
        return attributes
    ctx = current_workflow.get()
    if pending[1] != (ctx.workflow_id if ctx is not None else None):
        return attributes  # the block belongs to a caller of this workflow, not to it
    merged = dict(attributes) if attributes else {}
    merged[OTEL_CARRIER_ATTRIBUTE] = pending[0]
    return merged


def with_context(attributes: dict[str, Any] | None, context: Any) -> dict[str, Any] | None:
    """``attributes`` plus the carrier of an OpenTelemetry ``context`` (EnqueueOptions'
    ``otel_context``); unchanged when ``context`` is None or holds no span."""
    if context is None:
        return attributes
    carrier = inject(context)
    if not carrier:
        return attributes
    merged = dict(attributes) if attributes else {}
    merged[OTEL_CARRIER_ATTRIBUTE] = carrier
    return merged


def carrier_of_json(text: str | None) -> dict[str, Any] | None:
    """``carrier_of`` for attributes still in their jsonb text form (INIT_WORKFLOW's)."""
    if text is None or OTEL_CARRIER_ATTRIBUTE not in text:
        return None
    try:
        return carrier_of(json.loads(text))
    except ValueError:
        return None
