"""Checking workflow inputs read back from a row (dequeue, recovery), as DBOS does.

``@DBOS.workflow(validate_args=...)`` takes a callable ``(args, kwargs) -> (args, kwargs)``
that is run on the stored inputs before the body runs from a row; what it raises ends
the workflow in ERROR with that error (a direct call is not validated: its arguments
come from Python). ``pydantic_args_validator`` asks for one built from the function's
type hints (``make_pydantic_args_validator``). Without a validator, portable (JSON)
inputs get their ``datetime``/``date`` arguments back from ISO strings.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from dbos_queue.engine.registry import FunctionInfo, method_kind
from dbos_queue.model.serialization import PORTABLE_FORMAT
from dbos_queue.model.serialization.portable import coerce_to_hints

Args = tuple[Any, ...]  # positional inputs as stored
Kwargs = dict[str, Any]  # keyword inputs as stored
ValidateArgsCallable = Callable[[Args, Kwargs], tuple[Args, Kwargs]]
_BY_POSITION = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def pydantic_args_validator(args: Args, kwargs: Kwargs) -> tuple[Args, Kwargs]:
    """Pass as ``@DBOS.workflow(validate_args=pydantic_args_validator)``: the decorator
    replaces it with a validator built from the workflow's type hints. Never call it."""
    raise NotImplementedError(
        "pydantic_args_validator is a marker for @DBOS.workflow(validate_args=...); build a "
        "validator for a function with make_pydantic_args_validator(func)"
    )


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:
        return getattr(func, "__annotations__", {})


class _Adapters:
    """pydantic TypeAdapters for a function's parameters (self/cls skipped)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        from pydantic import TypeAdapter

        params = list(inspect.signature(func).parameters.values())
        if method_kind(func) is not None:
            params = params[1:]
        hints = _hints(func)
        self.named: list[tuple[str, Any, Any, Any]] = []
        self.var_args: tuple[str, Any] = ("", None)
        self.var_kwargs: tuple[str, Any] = ("", None)
        for p in params:
            hint = hints.get(p.name)
            adapter = TypeAdapter(hint) if hint is not None else None
            if p.kind is p.VAR_POSITIONAL:
                self.var_args = (p.name, adapter)
            elif p.kind is p.VAR_KEYWORD:
                self.var_kwargs = (p.name, adapter)
            else:
                self.named.append((p.name, adapter, p.default, p.kind))
        self.by_name = {
            n: a for n, a, _d, kind in self.named if kind is not inspect.Parameter.POSITIONAL_ONLY
        }

    def for_position(self, i: int) -> tuple[str, Any]:
        """The parameter name and adapter that the ``i``-th positional input binds to."""
        if i < len(self.named) and self.named[i][3] in _BY_POSITION:
            return self.named[i][0], self.named[i][1]
        return self.var_args

    def missing(self, args: Args, kwargs: Kwargs) -> list[str]:
        """One message per required parameter that neither args nor kwargs supplies."""
        given = {
            self.named[i][0]
            for i in range(min(len(args), len(self.named)))
            if self.named[i][3] in _BY_POSITION
        }
        given.update(k for k in kwargs if k in self.by_name)
        return [
            f"Missing required argument: '{n}'"
            for n, _a, default, _k in self.named
            if n not in given and default is inspect.Parameter.empty
        ]


def make_pydantic_args_validator(func: Callable[..., Any]) -> ValidateArgsCallable:
    """A ``validate_args`` callable that coerces and checks inputs against ``func``'s hints.

    Raises ``ValueError`` listing every argument that failed (and every required one
    missing). The pydantic adapters are built at the first call.
    """
    from pydantic import ValidationError

    built: list[_Adapters] = []

    def validate(args: Args, kwargs: Kwargs) -> tuple[Args, Kwargs]:
        if not built:
            built.append(_Adapters(func))
        ad = built[0]
        out_args, out_kwargs = list(args), dict(kwargs)
        errors: list[str] = []
        for i, value in enumerate(out_args):
            name, adapter = ad.for_position(i)
            if adapter is not None:
                try:
                    out_args[i] = adapter.validate_python(value)
                except ValidationError as e:
                    errors.append(f"Argument '{name}' (position {i}): {e}")
        for key, value in out_kwargs.items():
            adapter = ad.by_name.get(key, ad.var_kwargs[1])
            if adapter is not None:
                try:
                    out_kwargs[key] = adapter.validate_python(value)
                except ValidationError as e:
                    errors.append(f"Argument '{key}': {e}")
        errors += ad.missing(args, kwargs)
        if errors:
            raise ValueError("Argument validation failed for workflow:\n" + "\n".join(errors))
        return tuple(out_args), out_kwargs

    return validate


def resolve_validator(
    func: Callable[..., Any], validate_args: ValidateArgsCallable | None
) -> ValidateArgsCallable | None:
    """What ``@DBOS.workflow(validate_args=...)`` stores: the marker becomes a real one."""
    if validate_args is pydantic_args_validator:
        return make_pydantic_args_validator(func)
    if validate_args is not None and not callable(validate_args):
        raise TypeError(
            f"validate_args must be a callable (args, kwargs) -> (args, kwargs), got "
            f"{validate_args!r}"
        )
    return validate_args


def row_inputs(
    info: FunctionInfo, args: Args, kwargs: Kwargs, serialization: str | None
) -> tuple[Args, Kwargs]:
    """Inputs read back from a row, validated (``validate_args``) or, when portable,
    with their dates restored; raises what the validator raises."""
    if info.validate_args is not None:
        return info.validate_args(tuple(args), dict(kwargs))
    if serialization == PORTABLE_FORMAT:
        return coerce_to_hints(info.func, tuple(args), dict(kwargs), info.method is not None)
    return tuple(args), kwargs
