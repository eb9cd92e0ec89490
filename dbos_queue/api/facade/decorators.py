"""The ``DBOS`` facade: workflow, step, transaction, classes and roles."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dbos_queue.api.facade.base import classproperty
from dbos_queue.api.invoke import (
    _finish_wrapper,
    _invoke_async,
    _invoke_sync,
    _register,
    _rt,
)
from dbos_queue.engine import core as _core
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine import transaction as _transaction
from dbos_queue.engine.core import StepOptions
from dbos_queue.engine.registry import registry

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("dbos_queue")


class Decorators:
    """``DBOS`` class methods: workflow, step, transaction, classes and roles."""

    @classmethod
    def workflow(
        cls, *, name: str | None = None, max_recovery_attempts: int | None = None
    ) -> Callable[[F], F]:
        """Make a function a durable workflow."""

        def deco(func: F) -> F:
            info = _register(func, "workflow", name, max_recovery_attempts=max_recovery_attempts)
            if info.is_async:

                @functools.wraps(func)
                async def awrapper(*args: Any, **kwargs: Any) -> Any:
                    return await _invoke_async(info, args, kwargs, background=False)

                return _finish_wrapper(info, awrapper)

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return _invoke_sync(info, args, kwargs, background=False)

            return _finish_wrapper(info, wrapper)

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
    ) -> Callable[[F], F]:
        """Make a function a checkpointed step (its result is recorded once it succeeds)."""
        if max_attempts < 1 or interval_seconds < 0 or backoff_rate < 1:
            raise ValueError(
                "step needs max_attempts >= 1, interval_seconds >= 0, backoff_rate >= 1"
            )
        opts = StepOptions(retries_allowed, interval_seconds, max_attempts, backoff_rate)

        def deco(func: F) -> F:
            info = _register(func, "step", name)
            if info.is_async:

                @functools.wraps(func)
                async def awrapper(*args: Any, **kwargs: Any) -> Any:
                    _core.check_roles(info)
                    rt = registry.process
                    if rt is None:
                        return await func(*args, **kwargs)
                    with _tracing.step_span(info.name):
                        return await _core.run_step_async(
                            rt, info, opts, lambda: func(*args, **kwargs)
                        )

                return _finish_wrapper(info, awrapper)

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                _core.check_roles(info)
                rt = registry.process
                if rt is None:
                    return func(*args, **kwargs)
                with _tracing.step_span(info.name):
                    return _core.run_step_sync(rt, info, opts, lambda: func(*args, **kwargs))

            return _finish_wrapper(info, wrapper)

        return deco

    @classmethod
    def transaction(
        cls, isolation_level: str = "SERIALIZABLE", *, name: str | None = None
    ) -> Callable[[F], F]:
        """Run a function in one application-database transaction, recorded exactly once."""
        return _transaction.decorator(isolation_level, name, _register, _finish_wrapper, _rt)

    @classproperty
    def sql_session(cls) -> Any:
        """The psycopg connection of the running ``@DBOS.transaction``."""
        return _transaction.current_session()

    @classmethod
    def dbos_class(cls, class_name: str | None = None) -> Callable[[type], type]:
        def deco(klass: type) -> type:
            registry.classes[class_name or klass.__name__] = klass
            return klass

        return deco

    @classmethod
    def required_roles(cls, roles: list[str]) -> Callable[[F], F]:
        def deco(func: F) -> F:
            info = getattr(func, "__dbos_info__", None)
            if info is not None:
                info.required_roles = list(roles)
            else:
                func.__dbos_required_roles__ = list(roles)  # type: ignore[attr-defined]
            return func

        return deco

    @classmethod
    def default_required_roles(cls, roles: list[str]) -> Callable[[type], type]:
        def deco(klass: type) -> type:
            for attr in vars(klass).values():
                fn = getattr(attr, "__func__", attr)
                info = getattr(fn, "__dbos_info__", None)
                if info is not None and info.required_roles is None:
                    info.required_roles = list(roles)
            registry.classes.setdefault(klass.__name__, klass)
            return klass

        return deco
