"""The ``DBOS`` facade: workflow, step, transaction, classes and roles."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dbos_queue.api.facade.base import classproperty
from dbos_queue.api.invoke import (
    finish_wrapper,
    invoke_async,
    invoke_sync,
    launched_runtime,
    register_function,
    require_runtime,
)
from dbos_queue.engine import core as _core
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine import transaction as _transaction
from dbos_queue.engine.context import current_workflow
from dbos_queue.engine.core import StepOptions
from dbos_queue.engine.registry import FunctionInfo, registry
from dbos_queue.model import serialization as ser

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)
# validate_args: (args, kwargs) read back from a row -> the (args, kwargs) the body gets.
ArgsValidator = Callable[[tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]]
# DBOS's name for the decorator's default: here None, meaning the config's
# max_recovery_attempts (100 unless configured, DBOS's DEFAULT_MAX_RECOVERY_ATTEMPTS).
DEFAULT_MAX_RECOVERY_ATTEMPTS: int | None = None
logger = logging.getLogger("dbos_queue")


class Decorators:
    """``DBOS`` class methods: workflow, step, transaction, classes and roles."""

    @classmethod
    def workflow(
        cls,
        *,
        name: str | None = None,
        max_recovery_attempts: int | None = DEFAULT_MAX_RECOVERY_ATTEMPTS,
        serialization_type: Any = None,
        validate_args: ArgsValidator | None = None,
        auto_upgrade: bool | None = None,
    ) -> Callable[[F], F]:
        """Make a function a durable workflow.

        ``serialization_type`` (WorkflowSerializationFormat) picks the format of its
        inputs, output and error (PORTABLE: plain JSON, readable from any language);
        ``validate_args`` checks inputs read back from a row before the body runs from it
        (``pydantic_args_validator`` validates them against the type hints).
        ``auto_upgrade`` (DBOS's enterprise auto-upgrade) is accepted and has no effect.
        """
        from dbos_queue.engine.validation import resolve_validator

        if serialization_type is not None:
            ser.WorkflowSerializationFormat(serialization_type)  # a bad value fails here

        def deco(func: F) -> F:
            info = register_function(
                func,
                "workflow",
                name,
                max_recovery_attempts=max_recovery_attempts,
                serialization_type=serialization_type,
                validate_args=resolve_validator(func, validate_args),
            )
            if info.is_async:

                @functools.wraps(func)
                async def awrapper(*args: Any, **kwargs: Any) -> Any:
                    return await invoke_async(info, args, kwargs, background=False)

                return finish_wrapper(info, awrapper)

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return invoke_sync(info, args, kwargs, background=False)

            return finish_wrapper(info, wrapper)

        return deco

    @classmethod
    def step(
        cls,
        *,
        name: str | None = None,
        retries_allowed: bool = False,
        interval_seconds: float = 1.0,
        max_attempts: int = 3,
        backoff_rate: float = 2.0,
        should_retry: Callable[[BaseException], Any] | None = None,
        preemptible: bool = False,
        timeout_seconds: float | None = None,
    ) -> Callable[[F], F]:
        """Make a function a checkpointed step (its result is recorded once it succeeds).

        With ``retries_allowed``, a failed attempt is retried up to ``max_attempts`` times
        unless ``should_retry(error)`` answers False (then that error is raised at once).
        Async steps only: ``timeout_seconds`` cancels an attempt that runs longer and fails
        it with ``DBOSStepTimeoutError``; ``preemptible`` cancels it when its workflow is
        cancelled.
        """
        from dbos_queue.engine import steps as _steps

        if max_attempts < 1 or interval_seconds < 0 or backoff_rate < 1:
            raise ValueError(
                "step needs max_attempts >= 1, interval_seconds >= 0, backoff_rate >= 1"
            )
        opts = StepOptions(
            retries_allowed,
            interval_seconds,
            max_attempts,
            backoff_rate,
            should_retry=should_retry,
            timeout_seconds=timeout_seconds,
            preemptible=preemptible,
        )

        def deco(func: F) -> F:
            import inspect

            _steps.check_options(name or func.__qualname__, inspect.iscoroutinefunction(func), opts)
            info = register_function(func, "step", name)
            if info.is_async:
                return finish_wrapper(info, _async_step(func, info, opts))
            return finish_wrapper(info, _sync_step(func, info, opts))

        return deco

    @classmethod
    def transaction(
        cls, isolation_level: str = "SERIALIZABLE", *, name: str | None = None
    ) -> Callable[[F], F]:
        """Run a function in one application-database transaction, recorded exactly once."""
        return _transaction.decorator(
            isolation_level, name, register_function, finish_wrapper, require_runtime
        )

    @classproperty
    def sql_session(cls) -> Any:
        """The SQLAlchemy Session of the running ``@DBOS.transaction`` (as in DBOS; its
        psycopg connection is ``DBOS.pg_connection``)."""
        return _transaction.current_session()

    @classmethod
    def dbos_class(cls, class_name: str | None = None) -> Callable[[C], C]:
        """Register a class whose methods are workflows (``class_name`` defaults to its name)."""

        def deco(klass: C) -> C:
            registry.classes[class_name or klass.__name__] = klass
            return klass

        return deco

    @classmethod
    def required_roles(cls, roles: list[str]) -> Callable[[F], F]:
        """Let only callers holding one of ``roles`` run the decorated function."""

        def deco(func: F) -> F:
            info: FunctionInfo | None = getattr(func, "__dbos_info__", None)
            if info is not None:
                info.required_roles = list(roles)
            else:
                # Read by the workflow/step decorator applied after this one.
                setattr(func, "__dbos_required_roles__", list(roles))  # noqa: B010
            return func

        return deco

    @classmethod
    def default_required_roles(cls, roles: list[str]) -> Callable[[C], C]:
        """Give every method of a class without its own ``required_roles`` these roles."""

        def deco(klass: C) -> C:
            for attr in vars(klass).values():
                fn: object = getattr(attr, "__func__", attr)
                info: FunctionInfo | None = getattr(fn, "__dbos_info__", None)
                if info is not None and info.required_roles is None:
                    info.required_roles = list(roles)
            registry.classes.setdefault(klass.__name__, klass)
            return klass

        return deco


def _async_step(
    func: Callable[..., Any], info: FunctionInfo, opts: StepOptions
) -> Callable[..., Any]:
    """The wrapper ``DBOS.step`` puts around an async step function."""
    from dbos_queue.engine import steps as _steps

    @functools.wraps(func)
    async def awrapper(*args: Any, **kwargs: Any) -> Any:
        _core.check_roles(info)
        rt = launched_runtime()
        if rt is None:
            _core.step_outside_runtime()  # inside a workflow whose runtime is gone
            return await func(*args, **kwargs)
        call = _steps.wrap_async(info.name, opts, lambda: func(*args, **kwargs))
        ctx = current_workflow.get()
        if ctx is None or ctx.in_step:
            with _tracing.step_span(info.name):
                return await _core.run_step_async(rt, info, opts, call)
        # Concurrent steps of one workflow: the id now, in call order, and a
        # context view of this step's own (engine/steps.py step_view).
        fid = ctx.next_function_id()
        token = current_workflow.set(_steps.step_view(ctx))
        try:
            with _tracing.step_span(info.name):
                return await _core.run_step_async(rt, info, opts, call, fid)
        finally:
            current_workflow.reset(token)

    return awrapper


def _sync_step(
    func: Callable[..., Any], info: FunctionInfo, opts: StepOptions
) -> Callable[..., Any]:
    """The wrapper ``DBOS.step`` puts around a sync step function."""
    from dbos_queue.engine import steps as _steps

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _core.check_roles(info)
        rt = launched_runtime()
        if rt is None:
            _core.step_outside_runtime()  # inside a workflow whose runtime is gone
            return func(*args, **kwargs)
        call = _steps.wrap_sync(opts, lambda: func(*args, **kwargs))
        with _tracing.step_span(info.name):
            return _core.run_step_sync(rt, info, opts, call)

    return wrapper
