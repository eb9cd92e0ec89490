#!/usr/bin/env python3
"""Inventory of DBOS Python's public API, checked against dbos_queue.

DBOS is read statically (``ast``) from an unpacked copy of its source, so none
of its dependencies need to be installed. dbos_queue is imported and read with
``inspect`` (plus ``ast`` on its own source for default-value text), so run
this with an interpreter that can import dbos_queue, e.g. the project venv:

    pip download --no-deps dbos==3.4.0 -d /tmp/dbos340
    python3 -m zipfile -e /tmp/dbos340/dbos-3.4.0-*.whl /tmp/dbos340/src
    .venv/bin/python docs/compat_inventory.py /tmp/dbos340/src \\
        --markdown docs/compat.md --scratch /tmp/dbos34_api.txt

``--markdown`` rewrites only the part of the file between the BEGIN/END
GENERATED markers; the hand-written text around it is kept. ``--scratch``
writes one line per name: ``name | DBOS signature | dbos_queue status``.
``--notes FILE`` appends, to the scratch file, the notes of FILE (blocks that
start with ``Name.member:``) for the names that are still missing.
``--dbos-queue PATH`` puts PATH first on ``sys.path`` (e.g. a git worktree).

What is compared: for callables, parameter names, kinds, order and defaults
(annotations are shown, not compared), and def / async def / generator; for
properties and attributes, presence and property-ness; for TypedDicts, keys
and whether they are required; for enums and Literal aliases, their values;
for exception classes, the constructor and the DBOS base classes.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import enum
import importlib
import inspect
import re
import subprocess
import sys
import textwrap
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------
# What is in scope
# --------------------------------------------------------------------------------------

# Public DBOS names left out of the inventory on purpose (see docs/compat.md,
# "Left out and why"): DBOS Conductor, the alert handler, Kafka, and the enterprise-only
# config keys (auto-upgrade, the enterprise key, a sharded system database).
LEFT_OUT = re.compile(
    r'conductor|alert_handler|kafka|auto_upgrade|transact_enterprise_key|\["sharding"\]',
    re.IGNORECASE,
)
# Names that exist only for a sharded system database: kept in the tables but
# tagged, and a missing sharding parameter does not make a signature "partial".
SHARDING = re.compile(r"shard", re.IGNORECASE)

# (group title, DBOS class): classes whose public members are listed one by one
MEMBER_GROUPS = [
    ("DBOS", "DBOS"),
    ("DBOSClient", "DBOSClient"),
    ("Queue", "Queue"),
    ("WorkflowHandle", "WorkflowHandle"),
    ("WorkflowHandleAsync", "WorkflowHandleAsync"),
]
FIELD_GROUPS = [("WorkflowStatus fields", "WorkflowStatus"), ("StepInfo fields", "StepInfo")]
CONFIG_CLASS = "DBOSConfig"
ERROR_MODULE = "_error"  # dbos.error is dbos._error
PROPERTY_DECORATORS = {"property", "classproperty", "cached_property"}
# Classes whose public ``self.x`` attributes (set in ``__init__``) are part of their API;
# DBOS's own are the singleton's plumbing, reached by no documented call.
INSTANCE_ATTRIBUTE_CLASSES = {"DBOSClient", "Queue", "WorkflowHandle", "WorkflowHandleAsync"}


# --------------------------------------------------------------------------------------
# Signatures, from either side, in one shape
# --------------------------------------------------------------------------------------

POS_ONLY, POS_OR_KW, VAR_POS, KW_ONLY, VAR_KW = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.VAR_POSITIONAL,
    inspect.Parameter.KEYWORD_ONLY,
    inspect.Parameter.VAR_KEYWORD,
)
_NO_DEFAULT = object()


@dataclass
class Param:
    name: str
    kind: Any  # an inspect.Parameter kind
    default: str | None = None  # source text of the default; None: required
    annotation: str | None = None
    value: Any = _NO_DEFAULT  # the default's value when known: DBOS's resolved constant, ours


@dataclass
class Sig:
    params: list[Param]
    returns: str | None = None
    flavor: str = "def"  # def, generator, async def, async generator

    def render(self, name: str = "") -> str:
        """``async name(a, /, b=1, *, c: int = 2, **kw) -> R``"""
        out: list[str] = []
        star_done = slash_done = False
        has_pos_only = any(p.kind is POS_ONLY for p in self.params)
        for p in self.params:
            if has_pos_only and not slash_done and p.kind is not POS_ONLY:
                out.append("/")
                slash_done = True
            if p.kind is KW_ONLY and not star_done:
                out.append("*")
                star_done = True
            if p.kind is VAR_POS:
                star_done = True
            text = {VAR_POS: "*", VAR_KW: "**"}.get(p.kind, "") + p.name
            if p.annotation:
                text += f": {p.annotation}"
            if p.default is not None:
                text += f" = {p.default}" if p.annotation else f"={p.default}"
            out.append(text)
        if has_pos_only and not slash_done:
            out.append("/")
        text = f"{name}({', '.join(out)})"
        if self.returns:
            text += f" -> {self.returns}"
        return ("async " if self.flavor.startswith("async") else "") + text

    def by_name(self) -> dict[str, Param]:
        return {p.name: p for p in self.params}

    def positional(self) -> list[str]:
        return [p.name for p in self.params if p.kind in (POS_ONLY, POS_OR_KW)]


def _unparse(node: ast.AST | None) -> str | None:
    return None if node is None else ast.unparse(node)


def _body_yields(func: ast.AST) -> bool:
    """Whether a function body yields (not counting nested functions and classes)."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def sig_from_ast(func: ast.FunctionDef | ast.AsyncFunctionDef, drop_first: bool) -> Sig:
    a = func.args
    positional = [(x, POS_ONLY) for x in a.posonlyargs] + [(x, POS_OR_KW) for x in a.args]
    pad = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    params = [
        Param(x.arg, kind, _unparse(d), _unparse(x.annotation))
        for (x, kind), d in zip(positional, pad, strict=True)
    ]
    if a.vararg:
        params.append(Param(a.vararg.arg, VAR_POS, None, _unparse(a.vararg.annotation)))
    for x, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        params.append(Param(x.arg, KW_ONLY, _unparse(d), _unparse(x.annotation)))
    if a.kwarg:
        params.append(Param(a.kwarg.arg, VAR_KW, None, _unparse(a.kwarg.annotation)))
    if drop_first and params and params[0].kind in (POS_ONLY, POS_OR_KW):
        params = params[1:]
    is_async = isinstance(func, ast.AsyncFunctionDef)
    flavor = ("async " if is_async else "") + ("generator" if _body_yields(func) else "def")
    return Sig(params, _unparse(func.returns), flavor)


# --------------------------------------------------------------------------------------
# The DBOS side: a small static model of the unpacked package
# --------------------------------------------------------------------------------------


@dataclass
class Member:
    name: str
    kind: str  # method, classmethod, staticmethod, property, attribute
    sig: Sig | None = None
    annotation: str | None = None
    default: str | None = None


@dataclass
class ClassInfo:
    name: str
    module: str
    node: ast.ClassDef
    bases: list[ClassInfo]
    base_names: list[str]  # every base, resolved or not, by its last dotted name
    tree: SourceTree

    def decorators(self) -> list[str]:
        return [_dotted_tail(d) for d in self.node.decorator_list]

    def all_base_names(self) -> list[str]:
        names = list(self.base_names)
        for b in self.bases:
            names += b.all_base_names()
        return names

    @property
    def is_typeddict(self) -> bool:
        return "TypedDict" in self.all_base_names()

    @property
    def is_enum(self) -> bool:
        return any(n.endswith("Enum") for n in self.all_base_names())

    @property
    def is_dataclass(self) -> bool:
        return "dataclass" in self.decorators()

    @property
    def is_exception(self) -> bool:
        return any(n in ("Exception", "BaseException") for n in self.all_base_names())


def _dotted_tail(node: ast.AST) -> str:
    """``dataclasses.dataclass(frozen=True)`` -> ``dataclass``; ``Generic[R]`` -> ``Generic``."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ast.unparse(node)


class SourceTree:
    """The modules of one unpacked package, with name lookup through its imports."""

    def __init__(self, src_root: Path, package: str = "dbos") -> None:
        self.package = package
        self.modules: dict[str, ast.Module] = {}
        pkg_dir = src_root / package
        if not pkg_dir.is_dir():
            raise SystemExit(f"{pkg_dir} is not a directory: pass the folder that holds {package}/")
        for path in sorted(pkg_dir.rglob("*.py")):
            parts = list(path.relative_to(src_root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            self.modules[".".join(parts)] = ast.parse(path.read_text(encoding="utf-8"))

    def _is_package(self, module: str) -> bool:
        return module == self.package or any(m.startswith(module + ".") for m in self.modules)

    def _import_target(self, module: str, node: ast.ImportFrom) -> str:
        if node.level == 0:
            return node.module or ""
        base = module.split(".")
        if not self._is_package(module):
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def lookup(self, module: str, name: str, depth: int = 0) -> tuple[str, Any]:
        """Find ``name`` as seen from ``module``: (module, node), or (submodule, "module").
        The last top-level statement that binds the name wins, as at import time."""
        if depth > 20 or module not in self.modules:
            return module, None
        found: tuple[str, Any] = (module, None)
        for stmt in self.modules[module].body:
            if isinstance(stmt, ast.ImportFrom):
                for alias in stmt.names:
                    if (alias.asname or alias.name) == name:
                        found = self._follow_import(module, stmt, alias.name, depth)
            elif name in _bound_names(stmt):
                found = (module, stmt)
        return found

    def _follow_import(
        self, module: str, stmt: ast.ImportFrom, name: str, depth: int
    ) -> tuple[str, Any]:
        target = self._import_target(module, stmt)
        if f"{target}.{name}" in self.modules:  # from . import _error as error
            return f"{target}.{name}", "module"
        if target in self.modules:
            return self.lookup(target, name, depth + 1)
        return module, None  # imported from outside the package

    def class_info(self, module: str, name: str) -> ClassInfo | None:
        mod, node = self.lookup(module, name)
        if not isinstance(node, ast.ClassDef):
            return None
        bases, base_names = [], []
        for b in node.bases:
            tail = _dotted_tail(b)
            base_names.append(tail)
            if isinstance(b, ast.Subscript):
                b = b.value
            if isinstance(b, ast.Name):
                info = self.class_info(mod, b.id)
                if info is not None:
                    bases.append(info)
        return ClassInfo(node.name, mod, node, bases, base_names, self)

    def constant(self, module: str, expr: str, depth: int = 0) -> Any:
        """The value of a default written as a literal or as a module-level constant's name."""
        try:
            return ast.literal_eval(expr)
        except (ValueError, SyntaxError, TypeError):
            pass
        if depth < 5 and expr.isidentifier():
            mod, node = self.lookup(module, expr)
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                return self.constant(mod, ast.unparse(node.value), depth + 1)
        return _NO_DEFAULT

    def resolve_defaults(self, module: str, sig: Sig) -> Sig:
        for p in sig.params:
            if p.default is not None:
                p.value = self.constant(module, p.default)
        return sig

    def all_exports(self) -> list[str]:
        for stmt in self.modules[self.package].body:
            if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in stmt.targets
            ):
                return list(ast.literal_eval(stmt.value))
        raise SystemExit(f"{self.package}/__init__.py has no __all__")


def _bound_names(stmt: ast.stmt) -> list[str]:
    """The names a top-level def, class or assignment binds."""
    if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return [stmt.name]
    if isinstance(stmt, ast.Assign):
        return [t.id for t in stmt.targets if isinstance(t, ast.Name)]
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return [stmt.target.id]
    return []


def _method_kind(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """classmethod, staticmethod, property or method; None for what to skip (an
    ``@overload`` stub, whose implementation follows, or a property's setter)."""
    decos = {_dotted_tail(d) for d in func.decorator_list}
    if decos & {"overload", "setter", "deleter"}:
        return None
    for kind in ("classmethod", "staticmethod"):
        if kind in decos:
            return kind
    return "property" if decos & PROPERTY_DECORATORS else "method"


def class_members(info: ClassInfo, public_only: bool = True) -> dict[str, Member]:
    """Members defined in the class body, then those inherited from package bases."""
    members: dict[str, Member] = {}
    for stmt in info.node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kind = _method_kind(stmt)
            if kind is None:
                continue
            sig = info.tree.resolve_defaults(
                info.module, sig_from_ast(stmt, kind != "staticmethod")
            )
            members[stmt.name] = Member(stmt.name, kind, sig)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            ann = _unparse(stmt.annotation)
            if ann and ann.startswith("ClassVar"):
                continue
            members[stmt.target.id] = Member(
                stmt.target.id, "attribute", annotation=ann, default=_unparse(stmt.value)
            )
        elif isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                if isinstance(t, ast.Name):
                    members[t.id] = Member(t.id, "attribute", default=_unparse(stmt.value))
    for base in info.bases:
        for name, m in class_members(base, public_only=False).items():
            members.setdefault(name, m)
    if public_only:
        members = {n: m for n, m in members.items() if not n.startswith("_") or n == "__init__"}
    return members


def init_attributes(info: ClassInfo) -> dict[str, Member]:
    """Public attributes that ``__init__`` assigns on ``self``."""
    out: dict[str, Member] = {}
    for stmt in info.node.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
            for node in ast.walk(stmt):
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else ([node.target] if isinstance(node, ast.AnnAssign) else [])
                )
                for t in targets:
                    if (
                        isinstance(t, ast.Attribute)
                        and isinstance(t.value, ast.Name)
                        and t.value.id == "self"
                        and not t.attr.startswith("_")
                    ):
                        ann = _unparse(node.annotation) if isinstance(node, ast.AnnAssign) else None
                        out.setdefault(t.attr, Member(t.attr, "attribute", annotation=ann))
    return out


def typeddict_keys(info: ClassInfo) -> dict[str, tuple[bool, str | None]]:
    """key -> (required, annotation), over the TypedDict's package bases too."""
    keys: dict[str, tuple[bool, str | None]] = {}
    for base in info.bases:
        keys.update(typeddict_keys(base))
    total = True
    for kw in info.node.keywords:
        if kw.arg == "total":
            total = bool(ast.literal_eval(kw.value))
    for stmt in info.node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            ann = _unparse(stmt.annotation) or ""
            required = total
            if ann.startswith("Required["):
                required = True
            elif ann.startswith("NotRequired["):
                required = False
            keys[stmt.target.id] = (required, ann)
    return keys


def enum_values(info: ClassInfo) -> dict[str, Any]:
    """The members' values as DBOS's enum holds them at run time: a ``str`` mixin turns
    a non-string literal into its ``str()`` (``DEFAULT = None`` is ``"None"``)."""
    values: dict[str, Any] = {}
    str_mixin = "str" in info.base_names
    for stmt in info.node.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            t = stmt.targets[0]
            if isinstance(t, ast.Name) and not t.id.startswith("_"):
                try:
                    value = ast.literal_eval(stmt.value)
                except ValueError:
                    values[t.id] = ast.unparse(stmt.value)
                    continue
                values[t.id] = str(value) if str_mixin and not isinstance(value, str) else value
    return values


def internal_only_init(info: ClassInfo) -> bool:
    """Whether ``__init__`` opens by refusing callers that lack an internal token, i.e.
    ``if token is not _SENTINEL: raise ...``: then user code never constructs the class."""
    for stmt in info.node.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
            body = [
                b
                for b in stmt.body
                if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))
            ]
            if not (body and isinstance(body[0], ast.If) and len(body[0].body) == 1):
                return False
            test, raise_ = body[0].test, body[0].body[0]
            params = {a.arg for a in stmt.args.args + stmt.args.kwonlyargs}
            return (
                isinstance(raise_, ast.Raise)
                and isinstance(test, ast.Compare)
                and len(test.ops) == 1
                and isinstance(test.ops[0], ast.IsNot)
                and isinstance(test.left, ast.Name)
                and test.left.id in params
                and isinstance(test.comparators[0], ast.Name)
                and test.comparators[0].id not in params
            )
    return False


def constructor_sig(info: ClassInfo) -> Sig | None:
    """The signature a caller of ``Cls(...)`` sees, when the source shows one."""
    members = class_members(info, public_only=False)
    init = members.get("__init__")
    if init is not None and init.sig is not None:
        return Sig(init.sig.params, None, "def")
    if info.is_dataclass:
        params = []
        for m in members.values():
            if m.kind == "attribute" and m.annotation:
                params.append(Param(m.name, POS_OR_KW, m.default, m.annotation))
        return info.tree.resolve_defaults(info.module, Sig(params))
    return None


def literal_alias_values(node: ast.AST) -> list[Any] | None:
    """``X = Literal["a", "b"]`` -> ["a", "b"]."""
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Subscript):
        if _dotted_tail(node.value.value) == "Literal":
            sl = node.value.slice
            elts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
            return [ast.literal_eval(e) for e in elts]
    return None


# --------------------------------------------------------------------------------------
# The dbos_queue side: what an import shows
# --------------------------------------------------------------------------------------


def _func_of(obj: Any) -> Any:
    """The plain function behind a classmethod, staticmethod or property object."""
    for attr in ("__func__", "fget"):
        inner = getattr(obj, attr, None)
        if inner is not None:
            return inner
    return obj


def _source_defaults(func: Any) -> dict[str, tuple[str | None, str | None]]:
    """name -> (default source, annotation source) read from the function's own source."""
    try:
        src = textwrap.dedent(inspect.getsource(inspect.unwrap(func)))
        tree = ast.parse(src)
    except (OSError, TypeError, SyntaxError):
        return {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return {p.name: (p.default, p.annotation) for p in sig_from_ast(node, False).params}
    return {}


def _flavor(func: Any) -> str:
    func = inspect.unwrap(func)
    if inspect.isasyncgenfunction(func):
        return "async generator"
    if inspect.iscoroutinefunction(func):
        return "async def"
    if inspect.isgeneratorfunction(func):
        return "generator"
    return "def"


def sig_from_object(obj: Any, drop_first: bool) -> Sig | None:
    func = _func_of(obj)
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    from_src = _source_defaults(func) if callable(func) else {}
    params = []
    for p in sig.parameters.values():
        src_default, src_ann = from_src.get(p.name, (None, None))
        default = value = None
        if p.default is not inspect.Parameter.empty:
            value = p.default
            default = src_default if src_default is not None else repr(p.default)
        ann = src_ann
        if ann is None and p.annotation is not inspect.Parameter.empty:
            ann = (
                p.annotation
                if isinstance(p.annotation, str)
                else inspect.formatannotation(p.annotation)
            )
        params.append(
            Param(p.name, p.kind, default, ann, value if default is not None else _NO_DEFAULT)
        )
    if drop_first and params and params[0].kind in (POS_ONLY, POS_OR_KW):
        params = params[1:]
    ret = sig.return_annotation
    returns = (
        None
        if ret is inspect.Signature.empty
        else (ret if isinstance(ret, str) else inspect.formatannotation(ret))
    )
    return Sig(params, returns, _flavor(func) if callable(func) else "def")


def static_member(cls: type, name: str) -> tuple[bool, Any]:
    for klass in cls.__mro__:
        if klass is object:
            continue
        if name in klass.__dict__:
            return True, klass.__dict__[name]
    return False, None


def instance_attributes(cls: type) -> set:
    """Attribute names a class's instances carry: annotations, dataclass fields, slots,
    and ``self.x = ...`` assignments in its methods."""
    names: set = set()
    for klass in cls.__mro__:
        if klass is object:
            continue
        names.update(getattr(klass, "__annotations__", {}) or {})
        slots = klass.__dict__.get("__slots__", ())
        names.update([slots] if isinstance(slots, str) else slots)
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name):
                    if t.value.id == "self":
                        names.add(t.attr)
    if dataclasses.is_dataclass(cls):
        names.update(f.name for f in dataclasses.fields(cls))
    return names


class Target:
    """The imported dbos_queue package."""

    def __init__(self, module_name: str = "dbos_queue") -> None:
        self.name = module_name
        self.module = importlib.import_module(module_name)
        self.error = getattr(self.module, "error", None)

    def revision(self) -> str:
        """The git commit the imported package was read from, when it lives in a checkout."""
        where = Path(self.module.__file__).resolve().parent
        try:
            rev = subprocess.run(
                ["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(where), "status", "--porcelain", "--", "."],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "an unversioned copy"
        return f"commit {rev}" + (" plus uncommitted changes" if dirty else "")

    def top(self, name: str) -> tuple[bool, Any]:
        if hasattr(self.module, name):
            return True, getattr(self.module, name)
        return False, None

    def elsewhere(self, name: str) -> str | None:
        """A loaded dbos_queue submodule that defines ``name`` without exporting it."""
        for modname, mod in sorted(sys.modules.items()):
            if modname.startswith(self.name + ".") and mod is not None:
                obj = mod.__dict__.get(name)
                if obj is not None and getattr(obj, "__module__", modname) == modname:
                    return f"{modname}.{name}"
        return None


# --------------------------------------------------------------------------------------
# Comparing
# --------------------------------------------------------------------------------------

KIND_NAMES = {
    POS_ONLY: "positional-only",
    POS_OR_KW: "positional-or-keyword",
    VAR_POS: "*args",
    KW_ONLY: "keyword-only",
    VAR_KW: "**kwargs",
}


@dataclass
class Diff:
    text: str
    level: str  # "breaking": a DBOS call may fail or behave otherwise; "extra": dbos_queue
    # accepts more than DBOS; "sharding": only a sharding parameter is absent; "note": a
    # difference no DBOS call can notice (e.g. a def that returns an async iterator)


def _defaults_equal(a: Param, b: Param) -> bool:
    """``a`` is DBOS's parameter (value: its resolved constant, if any), ``b`` ours."""
    if a.default == b.default:
        return True
    left = a.value
    if b.value is not _NO_DEFAULT and left is not _NO_DEFAULT:
        return type(left) is type(b.value) and left == b.value
    try:
        return ast.literal_eval(b.default) == left and left is not _NO_DEFAULT
    except (ValueError, SyntaxError, TypeError):
        return False


# A plain def whose return annotation names one of these serves a caller of the DBOS flavor.
_FLAVOR_STANDINS = {
    "async def": ("Awaitable", "Coroutine"),
    "async generator": ("AsyncIterator", "AsyncGenerator", "AsyncIterable"),
    "generator": ("Iterator", "Generator", "Iterable"),
}


def _compare_flavor(theirs: Sig, ours: Sig) -> Diff | None:
    if theirs.flavor == ours.flavor:
        return None
    standins = _FLAVOR_STANDINS.get(theirs.flavor, ())
    if ours.flavor == "def" and any(t in (ours.returns or "") for t in standins):
        return Diff(f"def returning {ours.returns} here, {theirs.flavor} in DBOS", "note")
    return Diff(f"{ours.flavor} here, {theirs.flavor} in DBOS", "breaking")


def compare_sigs(theirs: Sig, ours: Sig) -> list[Diff]:
    """What a caller written against DBOS's signature ``theirs`` meets in ``ours``."""
    diffs: list[Diff] = []
    flavor = _compare_flavor(theirs, ours)
    if flavor is not None:
        diffs.append(flavor)
    renamed = _renamed_positionals(theirs, ours)
    for old, new in renamed.items():
        p, q = theirs.by_name()[old], ours.by_name()[new]
        diffs.append(Diff(f"`{old}` is called `{new}` here", "breaking"))
        if p.default is not None and q.default is None:
            diffs.append(Diff(f"`{new}` required here (DBOS default {p.default})", "breaking"))
    mine = ours.by_name()
    has_var_kw = any(p.kind is VAR_KW for p in ours.params)
    swallowed = []
    for p in theirs.params:
        if p.name in renamed:
            continue
        q = mine.get(p.name)
        if q is not None:
            diffs += _compare_param(p, q, theirs, ours)
        elif p.kind in (VAR_POS, VAR_KW):
            if not any(x.kind is p.kind for x in ours.params):
                diffs.append(Diff(f"no `{_star(p)}`", "breaking"))
        elif SHARDING.search(p.name) or LEFT_OUT.search(p.name):
            text = f"`{p.name}` only through `**kwargs`" if has_var_kw else f"no `{p.name}`"
            diffs.append(Diff(text, "sharding"))
        elif has_var_kw and p.kind in (POS_OR_KW, KW_ONLY):
            swallowed.append(p.name)
        else:
            diffs.append(Diff(f"no `{_star(p)}`", "breaking"))
    if swallowed:
        names = ", ".join(f"`{n}`" for n in swallowed)
        diffs.append(Diff(f"takes {names} only through `**kwargs` (not checked)", "breaking"))
    return diffs + _extra_params(theirs, ours, set(renamed.values()))


def _renamed_positionals(theirs: Sig, ours: Sig) -> dict[str, str]:
    """DBOS positional name -> ours, where the name alone changed at the same position."""
    their_names, our_names = theirs.by_name(), ours.by_name()
    our_pos = ours.positional()
    return {
        name: our_pos[i]
        for i, name in enumerate(theirs.positional())
        if name not in our_names and i < len(our_pos) and our_pos[i] not in their_names
    }


def _compare_param(p: Param, q: Param, theirs: Sig, ours: Sig) -> list[Diff]:
    """One parameter present on both sides: kind, position, default."""
    diffs = []
    if p.kind is not q.kind:
        widened = (p.kind, q.kind) in ((POS_ONLY, POS_OR_KW), (KW_ONLY, POS_OR_KW))
        diffs.append(
            Diff(
                f"`{p.name}` {KIND_NAMES[q.kind]} here, {KIND_NAMES[p.kind]} in DBOS",
                "extra" if widened else "breaking",
            )
        )
    elif p.kind in (POS_ONLY, POS_OR_KW):
        theirs_at, ours_at = theirs.positional().index(p.name), ours.positional().index(p.name)
        if theirs_at != ours_at:
            diffs.append(Diff(f"`{p.name}` at position {ours_at}, {theirs_at} in DBOS", "breaking"))
    if p.default is not None and q.default is None:
        diffs.append(Diff(f"`{p.name}` required here (DBOS default {p.default})", "breaking"))
    elif p.default is None and q.default is not None and p.kind not in (VAR_POS, VAR_KW):
        diffs.append(Diff(f"`{p.name}` optional here (default {q.default})", "extra"))
    elif p.default is not None and not _defaults_equal(p, q):
        diffs.append(Diff(f"`{p.name}` default {q.default} (DBOS {p.default})", "breaking"))
    return diffs


def _extra_params(theirs: Sig, ours: Sig, skip: set) -> list[Diff]:
    """Our parameters DBOS does not have: harmless when optional."""
    diffs = []
    their_names = theirs.by_name()
    their_kinds = {p.kind for p in theirs.params}
    for q in ours.params:
        if q.name in skip or q.name in their_names:
            continue
        if q.kind in (VAR_POS, VAR_KW) and q.kind in their_kinds:
            continue
        if q.default is None and q.kind in (POS_ONLY, POS_OR_KW, KW_ONLY):
            diffs.append(Diff(f"extra required `{q.name}`", "breaking"))
        else:
            diffs.append(Diff(f"extra `{_star(q)}`", "extra"))
    return diffs


def _star(p: Param) -> str:
    return {VAR_POS: "*", VAR_KW: "**"}.get(p.kind, "") + p.name


@dataclass
class Entry:
    group: str
    name: str
    dbos: str  # DBOS's signature or description
    exists: bool
    diffs: list[Diff] = field(default_factory=list)
    note: str = ""  # e.g. where a missing name lives in dbos_queue
    kind: str = ""  # method, classmethod, property, attribute, key, class, ...

    @property
    def status(self) -> str:
        """missing / exists-same / exists-compatible / exists-differs."""
        if not self.exists:
            return "missing"
        if not self.diffs:
            return "exists-same"
        if all(d.level != "breaking" for d in self.diffs):
            return "exists-compatible"
        return "exists-differs"

    @property
    def sharding(self) -> bool:
        return bool(SHARDING.search(self.name))

    def diff_text(self, levels: Iterable[str] = ("breaking", "extra", "sharding", "note")) -> str:
        return "; ".join(d.text for d in self.diffs if d.level in levels)

    def scratch_status(self) -> str:
        s = self.status
        if s == "missing":
            return "missing" + (f" ({self.note})" if self.note else "")
        if s == "exists-same":
            return "exists-same" + (f" ({self.note})" if self.note else "")
        label = "exists-differs" if s == "exists-differs" else "exists-differs (compatible)"
        return f"{label}: {self.diff_text()}" + (f" ({self.note})" if self.note else "")

    def doc_status(self) -> str:
        s = self.status
        tag = " (sharding: left out)" if self.sharding and s == "missing" else ""
        if s == "missing":
            return "missing" + tag + (f"; {self.note}" if self.note else "")
        notes = [self.note] if self.note else []
        notes += [d.text for d in self.diffs if d.level in ("extra", "note")]
        notes += [f"{d.text} (left out)" for d in self.diffs if d.level == "sharding"]
        if s == "exists-differs":
            return "partial: " + "; ".join([self.diff_text(("breaking",)), *notes])
        return "implemented" + (f" ({'; '.join(notes)})" if notes else "")


def _function_entry(group: str, name: str, sig: Sig, ours_exists: bool, ours: Any) -> Entry:
    e = Entry(group, name, "def " + sig.render(name), ours_exists, kind="function")
    if ours_exists:
        our_sig = sig_from_object(ours, False)
        e.diffs = compare_sigs(sig, our_sig) if our_sig else [Diff("not callable", "breaking")]
    return e


def _alias_entry(group: str, name: str, values: list, ours_exists: bool, ours: Any) -> Entry:
    e = Entry(group, name, f"Literal{values}", ours_exists, kind="alias")
    if ours_exists:
        got = list(typing.get_args(ours))
        if set(got) != set(values):
            e.diffs.append(Diff(f"values {got}", "breaking"))
    return e


def _enum_entry(group: str, name: str, values: dict, ours_exists: bool, ours: Any) -> Entry:
    desc = f"Enum({', '.join(f'{k}={v!r}' for k, v in values.items())})"
    e = Entry(group, name, desc, ours_exists, kind="Enum")
    if not ours_exists:
        return e
    if not (isinstance(ours, type) and issubclass(ours, enum.Enum)):
        e.diffs.append(Diff("not an Enum", "breaking"))
        return e
    got = {m.name: m.value for m in ours}
    for k, v in values.items():
        if k not in got:
            e.diffs.append(Diff(f"no member {k}", "breaking"))
        elif got[k] != v:
            e.diffs.append(Diff(f"{k} = {got[k]!r} (DBOS {v!r})", "breaking"))
    e.diffs += [Diff(f"extra member {k}", "extra") for k in got if k not in values]
    return e


def _class_entry(group: str, name: str, info: ClassInfo, ours_exists: bool, ours: Any) -> Entry:
    """A class: its DBOS bases (for exceptions, our MRO must have them) and constructor.
    A Protocol is never constructed by users, nor is a class whose constructor only DBOS
    itself may call: for those only the members count."""
    internal = internal_only_init(info)
    sig = None if "Protocol" in info.base_names or internal else constructor_sig(info)
    bases = [b for b in info.base_names if b not in ("Generic", "ABC", "object")]
    head = f"class {name}({', '.join(bases)})" if bases else f"class {name}"
    if internal:
        head += " (DBOS refuses construction from user code)"
    e = Entry(group, name, head + (sig.render() if sig else ""), ours_exists, kind="class")
    if not ours_exists:
        return e
    if not isinstance(ours, type):
        e.diffs.append(Diff(f"a {type(ours).__name__}, not a class", "breaking"))
        return e
    if info.is_exception:
        mro = {k.__name__ for k in ours.__mro__}
        e.diffs += [
            Diff(f"does not subclass {b}", "breaking") for b in info.base_names if b not in mro
        ]
    if sig is not None:
        if "__init__" in _own_or_inherited(ours):
            our_sig = sig_from_object(ours.__init__, True)
        else:
            our_sig = sig_from_object(ours, False)
        if our_sig is not None:
            our_sig.returns = None
            e.diffs += compare_sigs(sig, our_sig)
    return e


class Inventory:
    def __init__(self, tree: SourceTree, target: Target) -> None:
        self.tree = tree
        self.t = target
        self.entries: list[Entry] = []
        self.left_out: list[str] = []
        self.extras: dict[str, list[str]] = {}
        self.deferred: list[tuple[str, str, ClassInfo, bool, Any]] = []  # other TypedDicts

    def keep(self, qualified: str) -> bool:
        if LEFT_OUT.search(qualified):
            self.left_out.append(qualified)
            return False
        return True

    # ---- one callable or class ---------------------------------------------------------

    def _entry_for_object(
        self, group: str, name: str, module: str, node: Any, ours_exists: bool, ours: Any
    ) -> Entry:
        """A top-level export or error class: its kind, constructor or signature."""
        if node == "module":
            return Entry(group, name, f"module {module}", ours_exists, kind="module")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            sig = self.tree.resolve_defaults(module, sig_from_ast(node, False))
            return _function_entry(group, name, sig, ours_exists, ours)
        values = literal_alias_values(node) if node is not None else None
        if values is not None:
            return _alias_entry(group, name, values, ours_exists, ours)
        info = self.tree.class_info(module, name)
        if info is None:
            return Entry(group, name, "(not found in DBOS source)", ours_exists)
        if info.is_typeddict:
            desc = f"TypedDict keys: {', '.join(typeddict_keys(info))}"
            return Entry(group, name, desc, ours_exists, kind="TypedDict")
        if info.is_enum:
            return _enum_entry(group, name, enum_values(info), ours_exists, ours)
        return _class_entry(group, name, info, ours_exists, ours)

    # ---- groups --------------------------------------------------------------------------

    def top_level(self) -> None:
        for name in self.tree.all_exports():
            if not self.keep(name):
                continue
            module, node = self.tree.lookup(self.tree.package, name)
            ok, ours = self.t.top(name)
            e = self._entry_for_object("Top-level exports", name, module, node, ok, ours)
            if not ok:
                where = self.t.elsewhere(name)
                if where:
                    e.note = f"defined as {where}, not exported"
            self.entries.append(e)
            # other exported TypedDicts: one entry per key
            info = self.tree.class_info(module, name) if node not in (None, "module") else None
            if info is not None and info.is_typeddict and name not in (CONFIG_CLASS, "StepInfo"):
                self.deferred.append((f"{name} keys", name, info, ok, ours))

    def members(self, group: str, cls_name: str) -> None:
        info = self.tree.class_info(self.tree.package, cls_name)
        if info is None:
            raise SystemExit(f"DBOS class {cls_name} not found")
        ok, ours = self.t.top(cls_name)
        seen = set()
        members = class_members(info)
        if cls_name in INSTANCE_ATTRIBUTE_CLASSES:
            for name, m in init_attributes(info).items():
                members.setdefault(name, m)
        for name, m in members.items():
            if name == "__init__" or not self.keep(f"{cls_name}.{name}"):
                continue
            seen.add(name)
            self.entries.append(self._member_entry(group, cls_name, m, ours if ok else None))
        if ok and isinstance(ours, type):
            extra = []
            for klass in ours.__mro__:
                if klass is object:
                    continue
                for n in klass.__dict__:
                    if not n.startswith("_") and n not in seen and n not in extra:
                        extra.append(n)
            extra += sorted(instance_attributes(ours) - seen - set(extra) - {""})
            self.extras[cls_name] = [n for n in extra if not n.startswith("_")]

    def _member_entry(self, group: str, cls_name: str, m: Member, ours: type | None) -> Entry:
        qual = f"{cls_name}.{m.name}"
        if m.kind == "attribute":
            desc = f"attribute {m.name}" + (f": {m.annotation}" if m.annotation else "")
        elif m.kind == "property":
            desc = f"property -> {m.sig.returns}" if m.sig and m.sig.returns else "property"
        else:
            prefix = {"classmethod": "classmethod ", "staticmethod": "staticmethod "}.get(
                m.kind, ""
            )
            desc = prefix + m.sig.render(m.name)
        e = Entry(group, qual, desc, False, kind=m.kind)
        if ours is None:
            e.note = f"no {cls_name} in dbos_queue"
            return e
        found, obj = static_member(ours, m.name)
        if not found:
            if m.name in instance_attributes(ours):
                e.exists = True
                if m.kind not in ("attribute", "property"):
                    e.diffs.append(Diff("an attribute here, a method in DBOS", "breaking"))
            return e
        e.exists = True
        our_is_prop = isinstance(obj, property) or "property" in type(obj).__name__
        if m.kind in ("property", "attribute"):
            if m.kind == "property" and not our_is_prop and callable(obj):
                e.diffs.append(Diff("a method here, a property in DBOS", "breaking"))
            return e
        if our_is_prop:
            e.diffs.append(Diff("a property here, a method in DBOS", "breaking"))
            return e
        drop = not isinstance(obj, staticmethod)
        our_sig = sig_from_object(obj, drop)
        if our_sig is None:
            e.diffs.append(Diff("signature unreadable", "breaking"))
        else:
            e.diffs += compare_sigs(m.sig, our_sig)
        return e

    def fields(self, group: str, cls_name: str) -> None:
        info = self.tree.class_info(self.tree.package, cls_name)
        ok, ours = self.t.top(cls_name)
        if not ok:
            where = self.t.elsewhere(cls_name)
            if where:
                ours = _resolve(where)
        if info.is_typeddict:
            self._keys(group, cls_name, info, ours is not None, ours)
            return
        have = instance_attributes(ours) if isinstance(ours, type) else set()
        for name, m in class_members(info).items():
            if m.kind != "attribute" or not self.keep(f"{cls_name}.{name}"):
                continue
            desc = f"{name}: {m.annotation}" + (f" = {m.default}" if m.default else "")
            e = Entry(group, f"{cls_name}.{name}", desc, name in have, kind="field")
            if ours is None:
                e.note = f"no {cls_name} in dbos_queue"
            self.entries.append(e)
        if isinstance(ours, type):
            theirs = set(class_members(info))
            self.extras[cls_name] = sorted(n for n in have - theirs if not n.startswith("_"))

    def _keys(self, group: str, cls_name: str, info: ClassInfo, ok: bool, ours: Any) -> None:
        keys = typeddict_keys(info)
        our_keys: dict[str, bool] = {}
        note = ""
        if ok and isinstance(ours, type) and hasattr(ours, "__annotations__"):
            required = getattr(ours, "__required_keys__", frozenset())
            our_keys = {k: k in required for k in _annotations(ours)}
        elif cls_name == "StepInfo":
            our_keys, note = self._step_dict_keys()
        else:
            note = f"no {cls_name} in dbos_queue"
        # dbos_queue lists the DBOS keys it accepts without acting on them in IGNORED_KEYS,
        # beside its DBOSConfig.
        ignored: set = set()
        if cls_name == CONFIG_CLASS and ok:
            ignored = set(getattr(sys.modules.get(ours.__module__), "IGNORED_KEYS", ()))
        for k, (required, ann) in keys.items():
            qual = f'{cls_name}["{k}"]'
            if not self.keep(qual):
                continue
            desc = f"{k}: {ann}" + ("" if required else " (optional)")
            e = Entry(group, qual, desc, k in our_keys, kind="key", note=note)
            if k in our_keys and our_keys[k] != required and ok:
                e.diffs.append(
                    Diff(
                        "required here, optional in DBOS"
                        if our_keys[k]
                        else "optional here, required in DBOS",
                        "breaking" if our_keys[k] else "extra",
                    )
                )
            if k in ignored:
                e.diffs.append(Diff("accepted and ignored", "breaking"))
            self.entries.append(e)
        if our_keys:
            self.extras[cls_name] = [k for k in our_keys if k not in keys]

    def _step_dict_keys(self) -> tuple[dict[str, bool], str]:
        """dbos_queue may return plain dicts from list_workflow_steps: read their keys from
        a dict literal in that method or in a function it calls by name."""
        ok, dbos_cls = self.t.top("DBOS")
        found, obj = static_member(dbos_cls, "list_workflow_steps") if ok else (False, None)
        if not found:
            return {}, "no StepInfo in dbos_queue"
        func = inspect.unwrap(_func_of(obj))
        candidates = [func]
        for node in ast.walk(_parse_source(func) or ast.Module(body=[], type_ignores=[])):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                callee = getattr(func, "__globals__", {}).get(node.func.id)
                if inspect.isfunction(callee):
                    candidates.append(callee)
        for candidate in candidates:
            for node in ast.walk(_parse_source(candidate) or ast.Module(body=[], type_ignores=[])):
                if isinstance(node, ast.Dict):
                    keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
                    if "function_id" in keys:
                        return {k: True for k in keys}, "plain dict key; no StepInfo type"
        return {}, "no StepInfo in dbos_queue"

    def errors(self) -> None:
        module = f"{self.tree.package}.{ERROR_MODULE}"
        for stmt in self.tree.modules[module].body:
            if isinstance(stmt, (ast.ClassDef, ast.FunctionDef)) and not stmt.name.startswith("_"):
                name = stmt.name
                ours = getattr(self.t.error, name, None) if self.t.error else None
                # looked up by its bare name in DBOS's module, listed as error.NAME
                e = self._entry_for_object(
                    "Errors (dbos.error)", name, module, stmt, ours is not None, ours
                )
                e.name = f"error.{name}"
                if ours is None and self.t.error is not None:
                    where = self.t.elsewhere(name)
                    if where:
                        e.note = f"defined as {where}"
                self.entries.append(e)

    def run(self) -> Inventory:
        self.top_level()
        for group, cls in MEMBER_GROUPS:
            self.members(group, cls)
        for group, cls in FIELD_GROUPS:
            self.fields(group, cls)
        self.errors()
        info = self.tree.class_info(self.tree.package, CONFIG_CLASS)
        ok, ours = self.t.top(CONFIG_CLASS)
        self._keys("DBOSConfig keys", CONFIG_CLASS, info, ok, ours)
        for args in self.deferred:
            self._keys(*args)
        return self


def _parse_source(obj: Any) -> ast.Module | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError, SyntaxError):
        return None


def _annotations(cls: type) -> list[str]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for n in getattr(klass, "__annotations__", {}) or {}:
            if n not in names:
                names.append(n)
    return names


def _own_or_inherited(cls: type) -> set:
    return {n for k in cls.__mro__ if k is not object for n in k.__dict__}


def _resolve(dotted: str) -> Any:
    module, _, attr = dotted.rpartition(".")
    try:
        mod = importlib.import_module(module)
    except ImportError:
        try:
            return importlib.import_module(dotted)
        except ImportError:
            return None
    return getattr(mod, attr, None)


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def groups_in_order(entries: list[Entry]) -> list[str]:
    out: list[str] = []
    for e in entries:
        if e.group not in out:
            out.append(e.group)
    return out


def counts(entries: list[Entry]) -> dict[str, int]:
    c = {"names": len(entries), "exist": 0, "same": 0, "compatible": 0, "differs": 0, "missing": 0}
    for e in entries:
        s = e.status
        c["exist"] += e.exists
        c["same"] += s == "exists-same"
        c["compatible"] += s == "exists-compatible"
        c["differs"] += s == "exists-differs"
        c["missing"] += s == "missing"
    return c


def counts_line(c: dict[str, int]) -> str:
    return (
        f"{c['names']} names: {c['exist']} exist in dbos_queue ({c['same']} match exactly, "
        f"{c['compatible']} compatible, {c['differs']} differ), {c['missing']} missing"
    )


COUNT_TERMS = (
    "match exactly: same names, kinds, positions and defaults; compatible: every "
    "DBOS call still works (dbos_queue only adds optional parameters, or lacks "
    "only sharding/Conductor ones); differ: some DBOS call fails or changes meaning"
)


def write_scratch(inv: Inventory, path: Path, version: str, notes: Path | None) -> None:
    lines = [
        f"# DBOS {version} public names against dbos_queue at {inv.t.revision()}"
        " (regenerate: docs/compat_inventory.py)",
        "# name | DBOS signature | dbos_queue status",
        "# status: missing / exists-same / exists-differs: what differs "
        "('(compatible)': every DBOS call still works)",
        "# " + counts_line(counts(inv.entries)),
        "# " + COUNT_TERMS,
        "",
    ]
    for g in groups_in_order(inv.entries):
        lines.append(f"## {g}")
        # " | " separates the columns, so a union annotation is written "A|B" here
        lines += [
            f"{e.name} | {_no_bar(e.dbos)} | {_no_bar(e.scratch_status())}"
            for e in inv.entries
            if e.group == g
        ]
        lines.append("")
    lines.append("## Left out on purpose (conductor, alert handler, Kafka)")
    lines += sorted(set(inv.left_out))
    lines.append("")
    if notes is not None:
        missing = {e.name for e in inv.entries if e.status == "missing"}
        blocks = parse_notes(notes.read_text(encoding="utf-8"))
        lines.append("## What each missing DBOS method does (read from DBOS's source; our words)")
        for name, text in blocks:
            if name in missing or name.endswith(":general"):
                lines.append(f"{name}: {text}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def _no_bar(text: str) -> str:
    return text.replace(" | ", "|")


def parse_notes(text: str) -> list[tuple[str, str]]:
    """Blocks of ``Name.member: text`` with indented continuation lines; # comments."""
    blocks: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and blocks:
            name, body = blocks[-1]
            blocks[-1] = (name, body + "\n    " + line.strip())
            continue
        name, _, body = line.partition(": ")
        blocks.append((name.strip(), body.strip()))
    return blocks


BEGIN = "<!-- BEGIN GENERATED: docs/compat_inventory.py -->"
END = "<!-- END GENERATED -->"


def markdown_tables(inv: Inventory, version: str) -> str:
    out = [
        BEGIN,
        "",
        f"Generated from DBOS {version}'s source and dbos_queue at {inv.t.revision()}: "
        f"{counts_line(counts(inv.entries))}.",
        "",
        "| group | names | exist | match exactly | compatible | differ | missing |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for g in [*groups_in_order(inv.entries), "all"]:
        c = counts([e for e in inv.entries if g in (e.group, "all")])
        label = "**all**" if g == "all" else f"[{g}](#{_anchor(g)})"
        out.append(
            f"| {label} | {c['names']} | {c['exist']} | {c['same']} | "
            f"{c['compatible']} | {c['differs']} | {c['missing']} |"
        )
    out += ["", f"({COUNT_TERMS}.)", ""]
    for g in groups_in_order(inv.entries):
        rows = [e for e in inv.entries if e.group == g]
        out += [
            f"### {g}",
            "",
            counts_line(counts(rows)) + ".",
            "",
            "| DBOS name | dbos_queue |",
            "| --- | --- |",
        ]
        out += [f"| `{e.name}` | {_md(e.doc_status())} |" for e in rows]
        out.append("")
    if inv.extras:
        out += ["### dbos_queue additions (not in DBOS " + version + ")", ""]
        for cls, names in inv.extras.items():
            if names:
                out.append(f"- `{cls}`: " + ", ".join(f"`{n}`" for n in names))
        out.append("")
    out += [
        "Left out of the tables (see below): "
        + ", ".join(f"`{n}`" for n in sorted(set(inv.left_out)))
        + ".",
        "",
        END,
    ]
    return "\n".join(out)


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_markdown(inv: Inventory, path: Path, version: str) -> None:
    body = markdown_tables(inv, version)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        path.write_text(head + body + tail, encoding="utf-8")
    else:
        path.write_text(old + ("\n" if old else "") + body + "\n", encoding="utf-8")


def dbos_version(src_root: Path) -> str:
    for meta in src_root.glob("dbos-*.dist-info/METADATA"):
        for line in meta.read_text(encoding="utf-8").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return "(unknown version)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dbos_src", type=Path, help="folder holding the unpacked dbos/ package")
    ap.add_argument("--dbos-queue", type=Path, help="put this folder first on sys.path")
    ap.add_argument("--markdown", type=Path, help="rewrite the generated tables in this file")
    ap.add_argument("--scratch", type=Path, help="write the one-line-per-name listing here")
    ap.add_argument("--notes", type=Path, help="notes to append for the missing names")
    args = ap.parse_args(argv)
    if args.dbos_queue:
        sys.path.insert(0, str(args.dbos_queue.resolve()))
    tree = SourceTree(args.dbos_src)
    inv = Inventory(tree, Target()).run()
    version = dbos_version(args.dbos_src)
    if args.scratch:
        write_scratch(inv, args.scratch, version, args.notes)
    if args.markdown:
        write_markdown(inv, args.markdown, version)
    for g in groups_in_order(inv.entries):
        print(f"{g}: {counts_line(counts([e for e in inv.entries if e.group == g]))}")
    print(f"TOTAL: {counts_line(counts(inv.entries))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
