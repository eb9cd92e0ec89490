"""The ``DBOS`` facade: OpenTelemetry (``DBOS.span``, ``DBOS.tracer``) and stored procedures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from dbos_queue.api.facade.base import classproperty
from dbos_queue.api.invoke import finish_wrapper, register_function, require_runtime
from dbos_queue.engine import procedures as _procedures
from dbos_queue.engine import tracing as _tracing

F = TypeVar("F", bound=Callable[..., Any])


class Tracing:
    """``DBOS`` class members: the current span, the tracer, stored procedures."""

    @classproperty
    def span(cls) -> Any:
        """The active OpenTelemetry span (the running workflow's or step's, or one the
        application started), or None."""
        return _tracing.tracer.get_current_span()

    @classproperty
    def tracer(cls) -> _tracing.DBOSTracer:
        """The DBOS tracer: ``start_span({"name": ...}, parent=...)`` and ``end_span``."""
        return _tracing.tracer

    @classmethod
    def stored_procedure(
        cls,
        *,
        name: str | None = None,
        function: str | None = None,
        procedure: bool = False,
        isolation_level: str = "SERIALIZABLE",
    ) -> Callable[[F], F]:
        """Call a function (or, with ``procedure=True``, a procedure) that lives in the
        application database, exactly once per workflow step.

        The decorated Python function is a declaration: its body never runs. Calling it
        runs ``SELECT function(args)`` (``CALL`` for a procedure) and records the
        result in the application database in the same transaction and round trip;
        a recovered workflow gets the recorded result back. ``function`` defaults to
        the Python function's name and may be schema-qualified (``"app.add_order"``).
        See docs/stored-procedures.md.
        """
        return _procedures.decorator(
            _procedures.Declaration(name, function, procedure, isolation_level),
            register_function,
            finish_wrapper,
            require_runtime,
        )


def launch_tracing(rt: Any) -> None:
    """Apply the launch's telemetry settings (before anything runs, recovery included)."""
    from dbos_queue.engine import otlp

    _tracing.tracer.config(rt.settings, rt.app_version, rt.executor_id)
    otlp.setup_logs(rt.settings, rt.app_version, rt.executor_id)


def destroy_tracing() -> None:
    """Detach the log handler a launch attached (spans stay with the tracer provider)."""
    from dbos_queue.engine import otlp

    otlp.teardown_logs()
