"""One body for a DBOS method and its ``*_async`` twin, on ``DBOS`` or ``DBOSClient``.

DBOS spells most operations twice, ``name`` and ``name_async``, and ``DBOS`` and
``DBOSClient`` share many of them. Here a method's parameters are written once, in a
*spec*: a plain function with DBOS's parameter names, kinds, defaults and annotations
(without ``cls``/``self``) and the method's docstring. Called in the caller's thread, a
spec has Python check the arguments (a misspelt keyword raises ``TypeError``), does the
caller-side part of the call (reading the calling workflow, checking values) and returns
an ``Op``: a function of the host (the launched runtime or a DBOSClient) that makes the
coroutine to run on the host's engine.

``twins(spec, on)`` builds the method and its async twin from a spec; ``on`` (an ``On``)
says which host a call acts on and how its op starts there (the facade's may record it
as a workflow step). A ``Then`` shapes what the two return from the op's result (a
``WorkflowHandle`` for the sync method, a ``WorkflowHandleAsync`` for the async one).
``as_method`` gives a hand-written body a spec's parameters, for the few methods that
run otherwise (stream readers are generators).

A generated method has, for type checkers, the spec's parameters (``ParamSpec``); for
``inspect.signature``, the spec's signature after ``cls``/``self`` (``__signature__``);
and for tools that read source through ``__wrapped__`` (``inspect.getsource``,
docs/compat_inventory.py), the spec, marked with the method's own kind (def or async
def, generator or not). The methods keep their kind: an async twin is an ``async def``
whose parameters are the spec's, so its arguments are checked when it is called, as a
DBOS ``async def`` method's are.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload

from dbos_queue.api.handles import WorkflowHandle, WorkflowHandleAsync

P = ParamSpec("P")
T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")
R_co = TypeVar("R_co", covariant=True)

# What a spec returns: host -> the coroutine to run on the host's engine.
Op = Callable[[Any], Coroutine[Any, Any, T]]
# An op that also takes options (keywords) a host's method adds (see ``with_options``).
OpWith = Callable[..., Coroutine[Any, Any, T]]
_OP_ALIASES = ("Op", "OpWith")


class Method(Protocol[P, R_co]):
    """A method built here: read through its class or an instance, a callable with the
    spec's parameters (a class method for ``DBOS``, an instance method for a client)."""

    def __get__(self, obj: Any, owner: Any, /) -> Callable[P, R_co]: ...


def _itself(first: Any) -> Any:
    return first


def _start(host: Any, op: Op[Any]) -> Coroutine[Any, Any, Any]:
    return op(host)


@dataclass(frozen=True)
class On:
    """Where the methods of a spec act: ``host(first)`` is the runtime or client a call on
    ``first`` (the class or the instance) uses, ``start(host, op)`` the coroutine it runs
    on the host's engine (made in the caller's thread)."""

    host: Callable[[Any], Any] = _itself
    classmethod: bool = False
    start: Callable[[Any, Op[Any]], Coroutine[Any, Any, Any]] = _start


ON_CLIENT = On()  # a DBOSClient's own methods: the client is the host

Shape = Callable[[Any, T, tuple[Any, ...], dict[str, Any]], U]


@dataclass(frozen=True)
class Then(Generic[T, U, V]):
    """What the sync method (``sync``) and its async twin (``async_``) return, from the
    host, the op's result and the call's positional and keyword arguments."""

    sync: Shape[T, U]
    async_: Shape[T, V]


async def discarding(coro: Coroutine[Any, Any, Any]) -> None:
    """Await ``coro`` and keep nothing of its result (DBOS's methods return None)."""
    await coro


def _named(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    """The call's first argument, given by position or as ``name``."""
    return args[0] if args else kwargs[name]


def _result_handle(host: Any, wf_id: str, _a: Any, _k: Any) -> WorkflowHandle[Any]:
    return WorkflowHandle(host, wf_id)


def _result_handle_async(host: Any, wf_id: str, _a: Any, _k: Any) -> WorkflowHandleAsync[Any]:
    return WorkflowHandleAsync(host, wf_id)


def _target_handle(host: Any, _r: Any, a: Any, k: Any) -> WorkflowHandle[Any]:
    return WorkflowHandle(host, _named(a, k, "workflow_id"))


def _target_handle_async(host: Any, _r: Any, a: Any, k: Any) -> WorkflowHandleAsync[Any]:
    return WorkflowHandleAsync(host, _named(a, k, "workflow_id"))


def _target_handles(host: Any, _r: Any, a: Any, k: Any) -> list[WorkflowHandle[Any]]:
    return [WorkflowHandle(host, w) for w in _named(a, k, "workflow_ids")]


def _target_handles_async(host: Any, _r: Any, a: Any, k: Any) -> list[WorkflowHandleAsync[Any]]:
    return [WorkflowHandleAsync(host, w) for w in _named(a, k, "workflow_ids")]


# The handle of the workflow the op returns the id of (a fork) ...
RESULT_HANDLE = Then(_result_handle, _result_handle_async)
# ... of the workflow the call names (``workflow_id``), or of each it names (``workflow_ids``).
TARGET_HANDLE: Then[Any, WorkflowHandle[Any], WorkflowHandleAsync[Any]] = Then(
    _target_handle, _target_handle_async
)
TARGET_HANDLES: Then[Any, list[WorkflowHandle[Any]], list[WorkflowHandleAsync[Any]]] = Then(
    _target_handles, _target_handles_async
)


@overload
def twins(
    spec: Callable[P, Op[T]], on: On
) -> tuple[Method[P, T], Method[P, Coroutine[Any, Any, T]]]: ...


@overload
def twins(
    spec: Callable[P, Op[T]], on: On, then: Then[T, U, V]
) -> tuple[Method[P, U], Method[P, Coroutine[Any, Any, V]]]: ...


def twins(spec: Any, on: On, then: Then[Any, Any, Any] | None = None) -> tuple[Any, Any]:
    """``spec``'s method (named as the spec, documented by it) and its ``_async`` twin."""

    def method(first: Any, /, *args: Any, **kwargs: Any) -> Any:
        op = spec(*args, **kwargs)
        host = on.host(first)
        result = host.engine.run(on.start(host, op))
        return result if then is None else then.sync(host, result, args, kwargs)

    async def method_async(first: Any, /, *args: Any, **kwargs: Any) -> Any:
        op = spec(*args, **kwargs)
        host = on.host(first)
        result = await host.engine.arun(on.start(host, op))
        if then is None:
            return result
        shaped = then.async_(host, result, args, kwargs)
        return await shaped if inspect.isawaitable(shaped) else shaped  # a shape may read

    name: str = spec.__name__
    returns = _op_result(inspect.signature(spec).return_annotation)
    sync_returns = returns if then is None else _returns(then.sync)
    async_returns = returns if then is None else _returns(then.async_)
    return (
        as_method(method, spec, on, name, returns=sync_returns),
        as_method(method_async, spec, on, f"{name}_async", async_doc(name), async_returns),
    )


def async_doc(name: str) -> str:
    """The docstring of ``name``'s async twin."""
    return f"``{name}`` from async code."


def as_method(
    face: Callable[..., Any],
    spec: Callable[..., Any],
    on: On,
    name: str,
    doc: str | None = None,
    returns: Any = inspect.Parameter.empty,
) -> Any:
    """A hand-written ``(first, /, *args, **kwargs)`` body, whose code calls
    ``spec(*args, **kwargs)`` itself, as the method ``name`` with ``spec``'s parameters
    (after ``cls``/``self``), documented by ``doc`` (else by the spec) and annotated with
    ``returns`` (else the body's own return annotation). Its caller declares its type."""
    if returns is inspect.Parameter.empty:
        returns = inspect.signature(face).return_annotation
    first = "cls" if on.classmethod else "self"
    if face.__code__.co_flags & (inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
        face = _checked_at_call(face, spec)
    _shape(face, spec, first, name, doc if doc is not None else spec.__doc__, returns)
    return classmethod(face) if on.classmethod else face


def _checked_at_call(face: Callable[..., Any], spec: Callable[..., Any]) -> Callable[..., Any]:
    """``face`` (an ``async def`` or async generator taking ``(first, /, *args,
    **kwargs)``) as a function of the same kind whose parameters are ``spec``'s, so that
    Python checks a call's arguments when the call is made (a misspelt keyword raises
    ``TypeError`` there, as DBOS's ``async def`` methods do) rather than at the first
    ``await``; it forwards them to ``face`` unchanged."""
    params, forward, env = _parameter_source(inspect.signature(spec))
    head = ", ".join(["__first", *params])
    call = ", ".join(["__first", *forward])
    if face.__code__.co_flags & inspect.CO_ASYNC_GENERATOR:
        body = f"    async for __item in __face({call}):\n        yield __item\n"
    else:
        body = f"    return await __face({call})\n"
    namespace: dict[str, Any] = {"__face": face, **env}
    exec(f"async def checked({head}):\n{body}", namespace)  # the names come from a spec
    return namespace["checked"]


def _parameter_source(sig: inspect.Signature) -> tuple[list[str], list[str], dict[str, Any]]:
    """(parameter list, forwarding arguments, defaults by name) for ``sig``'s parameters
    after a positional-only first one."""
    kinds = inspect.Parameter
    params: list[str] = []
    forward: list[str] = []
    env: dict[str, Any] = {}
    star_done = False
    values = list(sig.parameters.values())
    positional_only = [p for p in values if p.kind is kinds.POSITIONAL_ONLY]
    for i, p in enumerate(values):
        default = ""
        if p.default is not kinds.empty:
            env[f"__default{i}"] = p.default
            default = f"=__default{i}"
        if p.kind is kinds.VAR_POSITIONAL:
            params.append(f"*{p.name}")
            forward.append(f"*{p.name}")
            star_done = True
            continue
        if p.kind is kinds.VAR_KEYWORD:
            params.append(f"**{p.name}")
            forward.append(f"**{p.name}")
            continue
        if p.kind is kinds.KEYWORD_ONLY and not star_done:
            params.append("*")
            star_done = True
        params.append(f"{p.name}{default}")
        forward.append(p.name if p.kind is kinds.POSITIONAL_ONLY else f"{p.name}={p.name}")
        if positional_only and p is positional_only[-1]:
            params.append("/")
    if not positional_only:
        params.insert(0, "/")
    return params, forward, env


def with_options(
    spec: Callable[P, OpWith[T]], options: Callable[[], dict[str, Any]]
) -> Callable[P, Op[T]]:
    """``spec`` whose op also gets ``options()`` as keywords: what one host's method adds
    (taken in the caller's thread, right after the spec), e.g. the facade's fork takes its
    new id from SetWorkflowID."""

    @functools.wraps(spec)
    def prepared(*args: P.args, **kwargs: P.kwargs) -> Op[T]:
        op = spec(*args, **kwargs)
        extra = options()
        return lambda host: op(host, **extra)

    return prepared


def _shape(face: Any, spec: Any, first: str, name: str, doc: Any, ret: Any) -> None:
    """Name, document and sign ``face`` as ``spec`` with ``first`` (cls/self) before."""
    sig = inspect.signature(spec)
    head = inspect.Parameter(first, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    source: Any = inspect.unwrap(spec)
    face.__name__ = face.__qualname__ = name
    face.__doc__ = doc
    face.__module__ = source.__module__
    annotations = {k: v for k, v in source.__annotations__.items() if k != "return"}
    face.__annotations__ = annotations | {"return": ret}
    face.__dict__["__signature__"] = sig.replace(
        parameters=[head, *sig.parameters.values()], return_annotation=ret
    )
    face.__dict__["__wrapped__"] = _of_kind(source, face)


_KINDS = inspect.CO_COROUTINE | inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


def _of_kind(spec: Any, face: Any) -> Any:
    """``spec``, or a copy of it marked with ``face``'s kind (coroutine, generator): what
    ``inspect.unwrap(face)`` finds, for its source and its kind. Never called."""
    code: types.CodeType = spec.__code__
    kind = face.__code__.co_flags & _KINDS
    if code.co_flags & _KINDS == kind:
        return spec
    marked = code.replace(co_flags=(code.co_flags & ~_KINDS) | kind)
    copy = types.FunctionType(marked, spec.__globals__, spec.__name__, spec.__defaults__)
    copy.__kwdefaults__ = spec.__kwdefaults__
    copy.__annotations__ = spec.__annotations__
    copy.__qualname__, copy.__doc__ = spec.__qualname__, spec.__doc__
    return copy


def _op_result(annotation: Any) -> Any:
    """``X`` for a spec annotated ``-> Op[X]`` (or ``OpWith[X]``): what its methods return."""
    if isinstance(annotation, str):
        for alias in _OP_ALIASES:
            if annotation.startswith(f"{alias}[") and annotation.endswith("]"):
                return annotation[len(alias) + 1 : -1]
    return annotation


def _returns(shape: Callable[..., Any]) -> Any:
    return inspect.signature(shape).return_annotation
